"""The wait primitive survives a dropped watch connection within its bound."""

from __future__ import annotations

from types import SimpleNamespace

import urllib3

from gpuconform import wait
from gpuconform.conditions import all_ready


def listing(items, version):
    return SimpleNamespace(items=items, metadata=SimpleNamespace(resource_version=version))


def obj(name, ready):
    return SimpleNamespace(
        metadata=SimpleNamespace(name=name, namespace=None, resource_version="1"), ready=ready
    )


def test_a_connection_reset_mid_watch_relists_and_goes_on(monkeypatch):
    calls = []

    def list_fn(**kwargs):
        calls.append(kwargs)
        # First list: not ready. After the reset the list shows the object ready.
        return listing([obj("a", ready=len(calls) > 1)], str(len(calls)))

    class ResettingWatch:
        def stream(self, *args, **kwargs):
            raise urllib3.exceptions.ProtocolError("Connection broken: ConnectionResetError(104)")

    monkeypatch.setattr(wait.watch, "Watch", ResettingWatch)
    objects = wait.wait_for(
        list_fn,
        lambda objs: (all(o.ready for o in objs.values()), "not ready"),
        what="a",
        timeout_s=5,
    )
    assert objects["a"].ready and len(calls) == 2


def test_waiting_for_nodes_names_those_not_ready_and_why():
    def node(status: str, reason: str, message: str) -> SimpleNamespace:
        ready = SimpleNamespace(type="Ready", status=status, reason=reason, message=message)
        return SimpleNamespace(status=SimpleNamespace(conditions=[ready]))

    done, progress = all_ready(["a", "b", "c"])(
        {
            "a": node("True", "KubeletReady", "kubelet is posting ready status"),
            "b": node("False", "KubeletNotReady", "container runtime network not ready"),
        }
    )
    assert not done
    assert progress == (
        "1/3 Ready (b: KubeletNotReady: container runtime network not ready; c: not registered)"
    )
