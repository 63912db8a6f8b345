"""Which path hands out GPUs (profile `allocation`), and NVIDIA's DRA driver installed for a
run (mode install) or found (mode existing)."""

from __future__ import annotations

from typing import Any

from kubernetes.client.rest import ApiException

from gpuconform import dra
from gpuconform.profile import ChartSource, Profile


def device_class_exists(custom: Any) -> bool:
    try:
        custom.get_cluster_custom_object(
            "resource.k8s.io", "v1", "deviceclasses", dra.settings()["device_class"]
        )
    except ApiException as err:
        if err.status == 404:  # no such DeviceClass, or no resource.k8s.io/v1 at all
            return False
        raise
    return True


def resolve_allocation(profile: Profile, custom: Any) -> tuple[str, str]:
    """("dra" | "device-plugin", why): `auto` prefers DRA when its DeviceClass exists."""
    device_class = dra.settings()["device_class"]
    if profile.allocation == "dra":
        return "dra", "the profile says allocation: dra"
    if profile.allocation == "device-plugin":
        return "device-plugin", "the profile says allocation: device-plugin"
    if device_class_exists(custom):
        return "dra", f"allocation auto, and DeviceClass {device_class} exists"
    return "device-plugin", f"allocation auto, and DeviceClass {device_class} does not exist"


def chart_source(profile: Profile, repo: str | None) -> ChartSource:
    """The DRA driver's chart as helm installs it: the profile's `dra.chart`, plus the sets
    the suite always needs (dra.yaml)."""
    source = profile.dra
    return ChartSource(
        repo=repo,
        name=source.name,
        path=None,
        oci=None,
        manifest=None,
        version=source.version,
        values=list(source.values),
        set=[*dra.settings()["chart"]["set"], *source.set],
    )
