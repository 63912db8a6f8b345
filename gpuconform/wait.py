"""The one wait primitive: list once, then watch, until a condition over the objects holds.

Bounded by an explicit timeout, driven by watch events (never a per-object polling loop),
with progress lines during long waits. tenacity retries only transient API errors of the
list call; a condition that does not hold is never retried, it times out.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import urllib3
from kubernetes import watch
from kubernetes.client.rest import ApiException
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential

# How long one watch request may stay open before it is renewed; also the longest silence
# between two progress lines.
WATCH_WINDOW_S = 10


class WaitTimeout(TimeoutError):
    """The condition did not hold in time; `progress` says how far it got."""

    def __init__(self, what: str, timeout_s: float, progress: str) -> None:
        super().__init__(f"timed out after {timeout_s:.0f}s waiting for {what}: {progress}")
        self.what = what
        self.progress = progress


def is_transient(error: BaseException) -> bool:
    if isinstance(error, ApiException):
        return error.status in (429, 500, 502, 503, 504) or error.status == 0
    return isinstance(error, urllib3.exceptions.HTTPError | ConnectionError)


api_retry = retry(
    retry=retry_if_exception(is_transient),
    stop=stop_after_attempt(5),
    wait=wait_exponential(multiplier=0.2, max=3),
    reraise=True,
)


@dataclass
class Progress:
    """Prints what is awaited at most every `every_s` seconds (or not at all)."""

    what: str
    timeout_s: float
    emit: Callable[[str], None] | None
    every_s: float = 5.0
    started: float = 0.0
    last: float = 0.0

    def __post_init__(self) -> None:
        self.started = self.last = time.monotonic()

    def tick(self, state: str, force: bool = False) -> None:
        now = time.monotonic()
        if self.emit and (force or now - self.last >= self.every_s):
            self.emit(
                f"waiting for {self.what}: {state} "
                f"({now - self.started:.0f}s of {self.timeout_s:.0f}s)"
            )
            self.last = now


def wait_for(
    list_fn: Callable[..., Any],
    condition: Callable[[dict[str, Any]], tuple[bool, str]],
    *,
    what: str,
    timeout_s: float,
    progress: Callable[[str], None] | None = None,
    **list_kwargs: Any,
) -> dict[str, Any]:
    """Wait until `condition(objects)` is true; objects are keyed by namespace/name.

    `list_fn` is a kubernetes-client list call (e.g. `CoreV1Api.list_node`), `list_kwargs`
    its selectors. `condition` returns (done, a short description of the current state).
    Returns the objects at the moment the condition held; raises WaitTimeout.
    """
    deadline = time.monotonic() + timeout_s
    objects, resource_version = _list(list_fn, list_kwargs)
    reporter = Progress(what, timeout_s, progress)
    done, state = condition(objects)
    while not done:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise WaitTimeout(what, timeout_s, state)
        reporter.tick(state)
        window = max(1, int(min(remaining, WATCH_WINDOW_S)))
        try:
            for event in watch.Watch().stream(
                list_fn,
                resource_version=resource_version,
                timeout_seconds=window,
                allow_watch_bookmarks=True,
                _request_timeout=window + 5,
                **list_kwargs,
            ):
                resource_version = _apply(event, objects)
                if event["type"] == "BOOKMARK":
                    continue
                done, state = condition(objects)
                if done or time.monotonic() >= deadline:
                    break
        except ApiException as err:
            if err.status != 410 and not is_transient(err):
                raise
            objects, resource_version = _list(list_fn, list_kwargs)
            done, state = condition(objects)
        except urllib3.exceptions.ReadTimeoutError:
            pass
        except urllib3.exceptions.ProtocolError:
            # The connection dropped mid-watch (a load balancer's idle cut, an API server
            # restart): list again and go on watching, within the same deadline.
            objects, resource_version = _list(list_fn, list_kwargs)
            done, state = condition(objects)
    return objects


def _apply(event: dict[str, Any], objects: dict[str, Any]) -> str:
    """One watch event applied to `objects`; returns the resourceVersion to resume from."""
    if event["type"] == "ERROR":
        # The watch ended with a Status (e.g. 410 Gone): list again.
        raise ApiException(status=(event.get("raw_object") or {}).get("code", 410))
    if event["type"] == "BOOKMARK":  # left undeserialized by the client
        return event["raw_object"]["metadata"]["resourceVersion"]
    obj = event["object"]
    if event["type"] == "DELETED":
        objects.pop(_key(obj), None)
    else:
        objects[_key(obj)] = obj
    return obj.metadata.resource_version


def _list(list_fn: Callable[..., Any], list_kwargs: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """List (retrying transient errors): the objects by key, and the list's resourceVersion."""
    listing = api_retry(list_fn)(**list_kwargs)
    return {_key(obj): obj for obj in listing.items}, listing.metadata.resource_version


def _key(obj: Any) -> str:
    meta = obj.metadata
    return f"{meta.namespace}/{meta.name}" if meta.namespace else meta.name
