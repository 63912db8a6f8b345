"""The wait primitive survives a dropped watch connection within its bound."""

from __future__ import annotations

from types import SimpleNamespace

import urllib3

from gpuconform import wait


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
