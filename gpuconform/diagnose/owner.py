"""Whose failure a finding is: a signature with `layer_by: image` (an image that could not be
pulled) belongs to the layer of the component that owns the image, not to one fixed layer.

The owner is the component the failed image reference names (`nvcr.io/nvidia/k8s-device-plugin`
-> device-plugin, `nvcr.io/nvidia/cuda` -> workload), else the one the pod (the evidence's
subject) names (`nvidia-device-plugin-daemonset-x` -> device-plugin). An image and pod that
name no GPU-stack component are the workload's own; with neither known (a bare ErrImagePull),
the signature's own layer stands.
"""

from __future__ import annotations

import re
from dataclasses import replace

from gpuconform.diagnose.catalogue import Catalogue
from gpuconform.diagnose.fallback import innermost_component
from gpuconform.diagnose.model import Evidence, Finding

# The kubelet's words (pkg/kubelet/images/image_manager.go): `Failed to pull image "%s": %v`,
# `Back-off pulling image "%s"`, `Pulling image "%s"`; containerd's, in the pod's waiting
# message: `failed to pull and unpack image "%s"`.
IMAGE_REF = re.compile(r'(?:pull(?:ing)?|pull and unpack) image \\?"(?P<image>[^"\\]+)\\?"', re.I)
WORKLOAD = "workload"


def _named_layer(text: str, catalogue: Catalogue) -> str | None:
    component = innermost_component(text, catalogue, fall_back_to_weak=False)
    return component.signature.layer if component else None


def owner_layer(finding: Finding, item: Evidence, catalogue: Catalogue) -> str | None:
    """The layer that owns the image in the finding's lines (see the module's docstring)."""
    images = [m.group("image") for line in finding.lines for m in IMAGE_REF.finditer(line)]
    for image in images:
        if layer := _named_layer(image, catalogue):
            return layer
    if item.source != "file" and (layer := _named_layer(item.subject, catalogue)):
        return layer
    return WORKLOAD if images else None


def attributed(finding: Finding, item: Evidence, catalogue: Catalogue) -> Finding:
    """The finding, filed under its owner's layer where its signature says `layer_by: image`."""
    if finding.signature.layer_by != "image":
        return finding
    layer = owner_layer(finding, item, catalogue)
    if layer is None or layer == finding.signature.layer:
        return finding
    return replace(finding, signature=replace(finding.signature, layer=layer))
