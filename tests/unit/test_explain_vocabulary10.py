"""Issue 22, tenth round: the general readings behind held-out-9's misses and silent cases -
the API server refusing a Node's labels and kbuild's modpost refusing a kernel module, both
read as lower-confidence component markers (components.yaml) that name a layer.

Texts are built from the components' format strings (each entry's source names the file
they come from), not copied from a report.
"""

from __future__ import annotations

import pytest

from gpuconform.diagnose.model import LAYER_ONLY
from tests.unit.test_explain_vocabulary7 import explanation, first


@pytest.mark.parametrize(
    ("text", "expected", "layer"),
    [
        # apimachinery NewInvalid("Node", name, errs) with IsQualifiedName's length error.
        (
            'Error from server (Invalid): Node "gpu-1" is invalid: metadata.labels: Invalid '
            'value: "example.com/' + "a" * 64 + '": name part must be no more than 63 characters',
            "layer-node-label-validation",
            "node-labels",
        ),
        # modpost's check_exports for a module that is not the NVIDIA driver's.
        (
            "ERROR: modpost: GPL-incompatible module mydrv.ko uses GPL-only symbol 'some_sym'",
            "layer-kernel-module-build",
            "driver",
        ),
    ],
)
def test_general_component_markers(text, expected, layer):
    primary = explanation(text).primary
    assert (primary.signature.id, primary.signature.layer) == (expected, layer)
    assert primary.confidence == LAYER_ONLY


def test_a_pod_label_refused_is_not_a_node_label():
    text = (
        'The Pod "train-0" is invalid: metadata.labels: Invalid value: "x(y)": a valid label '
        "must be an empty string or consist of alphanumeric characters"
    )
    assert first(text) != "layer-node-label-validation"


def test_the_nvidia_modules_modpost_refusal_keeps_its_exact_entry():
    text = "ERROR: modpost: GPL-incompatible module nvidia.ko uses GPL-only symbol 'rcu_read_lock'"
    assert first(text) == "driver-dkms-build-failed"
