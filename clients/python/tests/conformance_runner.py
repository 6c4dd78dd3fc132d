"""Runs clients/conformance/scenarios.json against a real service through an adapter per client
flavour (blocking or asyncio). The step language is defined in clients/conformance/README.md."""
from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
import time
import urllib.request
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Coroutine, Dict, List, Optional, Type, TypeVar

import temporal_lock_client
from temporal_lock_client import KeyRefused, LockClient, LockServiceError, Permit, ResourceView, ServiceUnreachable
from temporal_lock_client.aio import AsyncLockClient

CONFORMANCE_DIR = Path(__file__).resolve().parents[2] / "conformance"
SCENARIOS_PATH = CONFORMANCE_DIR / "scenarios.json"
SERVICE_URL = os.environ.get("LOCK_SERVICE_URL", "")
CONTROL_URL = os.environ.get("LOCK_CONFORMANCE_CONTROL_URL", "")
SERVICES: Dict[str, Dict[str, Any]] = json.loads(os.environ.get("LOCK_CONFORMANCE_SERVICES") or "{}")
"""The further services of scenarios.json, by name: url, caFile, keys (name -> secret)."""
UNKNOWN_KEY = "lsk_unknown-to-this-service"
"""What a step sends for a key name its service does not have."""

T = TypeVar("T")


def load_scenarios() -> List[Dict[str, Any]]:
    scenarios: List[Dict[str, Any]] = json.loads(SCENARIOS_PATH.read_text())["scenarios"]
    return scenarios


def load_error_entries() -> List[Dict[str, Any]]:
    """clients/conformance/errors.json: every error code, its statuses, and the exception class it raises."""
    entries: List[Dict[str, Any]] = json.loads((CONFORMANCE_DIR / "errors.json").read_text())["errors"]
    return entries


def class_of_code() -> Dict[str, Type[LockServiceError]]:
    """Each error code's own exception class, as errors.json names it."""
    return {entry["code"]: getattr(temporal_lock_client, entry["python"]) for entry in load_error_entries()}


@dataclass(frozen=True)
class Target:
    """How a step reaches its service: the URL, the key, the CA file and the timeout of its client."""

    url: str
    api_key: Optional[str]
    ca_file: Optional[str]
    timeout: float


class WorkFailed(Exception):
    """Raised inside a hold by `endHold` with `fail: true`."""


class Hold:
    def __init__(self) -> None:
        self.permit: Optional[Permit] = None
        self.entered = threading.Event()
        self.lost_at: Optional[float] = None
        self.lost_reason: Optional[str] = None
        self.lost_seen = threading.Event()
        self.failure: Optional[BaseException] = None
        self.raised: Optional[BaseException] = None
        self.done = threading.Event()


def closed_port_url() -> str:
    """A loopback URL nobody listens on: a port the system just handed out and that was closed again."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class SyncAdapter:
    """The blocking LockClient and `with client.permit(...)`."""

    name = "sync"

    def __init__(self) -> None:
        self.clients: Dict[Target, LockClient] = {}
        self.pool = ThreadPoolExecutor(max_workers=8)

    def client(self, target: Target) -> LockClient:
        if target not in self.clients:
            self.clients[target] = LockClient(target.url, api_key=target.api_key, ca_file=target.ca_file, timeout=target.timeout)
        return self.clients[target]

    def acquire(self, target: Target, resource: str, step: Dict[str, Any]) -> Permit:
        return self.client(target).acquire(
            resource, lease=ms(step.get("leaseMs")), wait=(step.get("waitMs") or 0) / 1000, capacity=step.get("capacity")
        )

    def background(self, call: Callable[[], T]) -> "Future[T]":
        return self.pool.submit(call)

    def release(self, target: Target, run_id: str) -> None:
        self.client(target).release(run_id)

    def renew(self, target: Target, run_id: str, lease_ms: Optional[int]) -> Permit:
        return self.client(target).renew(run_id, lease=ms(lease_ms))

    def status(self, target: Target, run_id: str) -> Permit:
        return self.client(target).status(run_id)

    def holders(self, target: Target, resource: str) -> ResourceView:
        return self.client(target).holders(resource)

    def hold(self, target: Target, resource: str, step: Dict[str, Any], hold: Hold, end: threading.Event, fail: Dict[str, bool]) -> None:
        client = self.client(target)

        def keep() -> None:
            try:
                with client.permit(resource, lease=ms(step["leaseMs"]), renew_every=ms(step.get("renewEveryMs"))) as p:
                    assert p.fencing_seq == p.permit.fencing_seq, "the block's fencing number is its permit's"
                    hold.permit = p.permit

                    def watch() -> None:
                        p.lost.wait()
                        hold.lost_at = time.time()
                        hold.lost_reason = p.lost_error.reason if p.lost_error else None
                        hold.lost_seen.set()

                    threading.Thread(target=watch, daemon=True).start()
                    hold.entered.set()
                    end.wait()
                    if fail["fail"]:
                        hold.failure = WorkFailed("the work failed")
                        raise hold.failure
            except BaseException as error:  # noqa: BLE001 - the runner checks what reached the caller
                hold.raised = error
            finally:
                hold.entered.set()
                hold.done.set()

        threading.Thread(target=keep, daemon=True).start()

    def close(self) -> None:
        self.pool.shutdown(wait=False)


class AsyncAdapter:
    """AsyncLockClient and `async with client.permit(...)`, on an event loop in a thread of its own."""

    name = "asyncio"

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.clients: Dict[Target, AsyncLockClient] = {}

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def client(self, target: Target) -> AsyncLockClient:
        if target not in self.clients:
            self.clients[target] = AsyncLockClient(target.url, api_key=target.api_key, ca_file=target.ca_file, timeout=target.timeout)
        return self.clients[target]

    def acquire(self, target: Target, resource: str, step: Dict[str, Any]) -> Permit:
        client = self.client(target)
        return self.run(
            client.acquire(resource, lease=ms(step.get("leaseMs")), wait=(step.get("waitMs") or 0) / 1000, capacity=step.get("capacity"))
        )

    def background(self, call: Callable[[], T]) -> "Future[T]":
        future: "Future[T]" = Future()

        def run() -> None:
            try:
                future.set_result(call())
            except BaseException as error:  # noqa: BLE001
                future.set_exception(error)

        threading.Thread(target=run, daemon=True).start()
        return future

    def release(self, target: Target, run_id: str) -> None:
        self.run(self.client(target).release(run_id))

    def renew(self, target: Target, run_id: str, lease_ms: Optional[int]) -> Permit:
        return self.run(self.client(target).renew(run_id, lease=ms(lease_ms)))

    def status(self, target: Target, run_id: str) -> Permit:
        return self.run(self.client(target).status(run_id))

    def holders(self, target: Target, resource: str) -> ResourceView:
        return self.run(self.client(target).holders(resource))

    def hold(self, target: Target, resource: str, step: Dict[str, Any], hold: Hold, end: threading.Event, fail: Dict[str, bool]) -> None:
        client = self.client(target)

        async def watch(lost: asyncio.Event, p: Any) -> None:
            await lost.wait()
            hold.lost_at = time.time()
            hold.lost_reason = p.lost_error.reason if p.lost_error else None
            hold.lost_seen.set()

        async def keep() -> None:
            try:
                async with client.permit(resource, lease=ms(step["leaseMs"]), renew_every=ms(step.get("renewEveryMs"))) as p:
                    assert p.fencing_seq == p.permit.fencing_seq, "the block's fencing number is its permit's"
                    hold.permit = p.permit
                    watcher = asyncio.ensure_future(watch(p.lost, p))
                    hold.entered.set()
                    await asyncio.get_running_loop().run_in_executor(None, end.wait)
                    watcher.cancel()
                    if fail["fail"]:
                        hold.failure = WorkFailed("the work failed")
                        raise hold.failure
            except BaseException as error:  # noqa: BLE001
                hold.raised = error
            finally:
                hold.entered.set()
                hold.done.set()

        asyncio.run_coroutine_threadsafe(keep(), self.loop)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)


def ms(value: Optional[int]) -> Optional[float]:
    return None if value is None else value / 1000


CALM_NETWORK: Dict[str, Any] = {"delayMs": 0, "stalled": False, "upstream": None}
"""Every scenario starts and ends with no delay, no stall, and the proxy relaying to the service it started with."""


def post_network(change: Dict[str, Any]) -> None:
    request = urllib.request.Request(
        CONTROL_URL + "/network", data=json.dumps(change).encode(), method="POST", headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 204, response.status


def post_keys(service: str, without: List[str]) -> None:
    """The harness rewrites the service's key file without those keys and answers once the service refuses them."""
    request = urllib.request.Request(
        CONTROL_URL + "/keys",
        data=json.dumps({"service": service, "without": without}).encode(),
        method="POST",
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 204, response.status


def lock_waiters() -> float:
    with urllib.request.urlopen(SERVICE_URL + "/metrics", timeout=10) as response:
        for line in response.read().decode().splitlines():
            if line.startswith("lock_waiters "):
                return float(line.split()[1])
    return 0.0


def check_error(error: BaseException, expected: Dict[str, Any], where: str) -> None:
    if expected.get("unreachable"):
        assert isinstance(error, ServiceUnreachable), f"{where}: expected ServiceUnreachable, got {error!r}"
        return
    assert isinstance(error, LockServiceError), f"{where}: expected LockServiceError, got {error!r}"
    if "code" in expected:
        assert error.code == expected["code"], f"{where}: code {error.code!r}, expected {expected['code']!r} ({error})"
        cls = class_of_code()[expected["code"]]
        assert isinstance(error, cls), f"{where}: {type(error).__name__} is not {cls.__name__}"
    if "keyRefused" in expected:
        assert isinstance(error, KeyRefused) == expected["keyRefused"], f"{where}: {type(error).__name__} is {'not ' if expected['keyRefused'] else ''}KeyRefused"
    for key, attribute in (("status", "status"), ("state", "state"), ("capacity", "capacity")):
        if key in expected:
            assert getattr(error, attribute) == expected[key], f"{where}: {attribute} {getattr(error, attribute)!r}, expected {expected[key]!r}"
    if expected.get("retryAfter"):
        assert error.retry_after is not None and error.retry_after >= 0, f"{where}: no retry_after ({error!r})"
    if "messageIncludes" in expected:
        assert expected["messageIncludes"] in error.message, f"{where}: {error.message!r} does not name {expected['messageIncludes']!r}"


def check_permit(
    permit: Any, expected: Dict[str, Any], saved: Dict[str, Permit], named: Callable[[str], Permit], previous: Optional[Permit], where: str
) -> None:
    if "state" in expected:
        assert permit.state == expected["state"], f"{where}: state {permit.state!r}"
    if "held" in expected:
        shown = sorted(p.run_id for p in permit.held if p.run_id is not None)
        assert shown == sorted(saved[name].run_id for name in expected["held"]), f"{where}: held {shown}"
        hidden = sum(1 for p in permit.held if p.run_id is None)
        assert hidden == expected.get("hidden", 0), f"{where}: {hidden} permit(s) shown without their token"
    if expected.get("fencingSeq"):
        seq = permit.fencing_seq
        assert isinstance(seq, int) and not isinstance(seq, bool) and seq >= 0, f"{where}: fencing_seq {seq!r}"
    if "sameFencingSeq" in expected:
        other = named(expected["sameFencingSeq"]).fencing_seq
        assert permit.fencing_seq == other, f"{where}: fencing_seq {permit.fencing_seq} != {other}"
    if "fencingSeqAbove" in expected:
        earlier = named(expected["fencingSeqAbove"]).fencing_seq
        assert permit.fencing_seq > earlier, f"{where}: fencing_seq {permit.fencing_seq} is not above {earlier}"
    if "extendedByAtLeastMs" in expected:
        assert previous is not None
        extended = (permit.expires_at - previous.expires_at).total_seconds() * 1000
        assert extended >= expected["extendedByAtLeastMs"], f"{where}: extended by only {extended:.0f} ms"
    if "sameExpiresAt" in expected:
        other = saved[expected["sameExpiresAt"]]
        assert permit.expires_at == other.expires_at, f"{where}: expiresAt {permit.expires_at} != {other.expires_at}"
    if "leaseClock" in expected:
        assert permit.held_until is not None, f"{where}: the client does not count this lease"
        early = (permit.expires_at - permit.held_until).total_seconds() * 1000
        assert early >= 0, f"{where}: the client counts the lease until {permit.held_until}, {-early:.0f} ms after the service's {permit.expires_at}"
        assert early <= expected["leaseClock"]["maxEarlyMs"], f"{where}: the client counts the lease {early:.0f} ms short"


def run_scenario(adapter: Any, scenario: Dict[str, Any]) -> None:
    """Runs one scenario's steps in order; an AssertionError names the failing step."""
    resources: Dict[str, str] = {}
    saved: Dict[str, Permit] = {}
    background: Dict[str, "Future[Permit]"] = {}
    holds: Dict[str, Hold] = {}
    ends: Dict[str, threading.Event] = {}
    fails: Dict[str, Dict[str, bool]] = {}
    stalled_at: Optional[float] = None

    def resource(name: str) -> str:
        if name.startswith("literal:"):
            return name[len("literal:"):]
        return resources.setdefault(name, f"conf-py-{adapter.name}-{name}-{uuid.uuid4().hex[:8]}")

    def named(name: str) -> Permit:
        """A saved permit, or the permit of a hold."""
        if name in holds:
            permit = holds[name].permit
            assert permit is not None
            return permit
        return saved[name]

    def run_id(step: Dict[str, Any]) -> str:
        return str(step["runId"]) if "runId" in step else named(step["permit"]).run_id

    service: Dict[str, Any] = {"url": SERVICE_URL, "keys": {}}
    if "service" in scenario:
        assert scenario["service"] in SERVICES, f"the harness did not start the service {scenario['service']!r}"
        service = SERVICES[scenario["service"]]

    def target(step: Dict[str, Any]) -> Target:
        key_name = step["key"] if "key" in step else scenario.get("key")
        return Target(
            url=closed_port_url() if step.get("via") == "closedPort" else service["url"],
            api_key=service["keys"].get(key_name, UNKNOWN_KEY) if key_name else None,
            ca_file=None if step.get("caFile") is False else service.get("caFile"),
            timeout=(step.get("timeoutMs") or 10_000) / 1000,
        )

    if CONTROL_URL:
        post_network(CALM_NETWORK)
    try:
        for index, step in enumerate(scenario["steps"]):
            where = f"step {index + 1} ({step['do']})"
            kind = step["do"]
            previous = saved.get(step.get("save", ""))
            try:
                result: Any = None
                if kind == "acquire" and "background" in step:
                    name, to = resource(step["resource"]), target(step)
                    background[step["background"]] = adapter.background(lambda s=step, n=name, t=to: adapter.acquire(t, n, s))
                    continue
                if kind == "acquire":
                    result = adapter.acquire(target(step), resource(step["resource"]), step)
                elif kind == "await":
                    result = background.pop(step["background"]).result(timeout=60)
                elif kind == "release":
                    adapter.release(target(step), run_id(step))
                elif kind == "renew":
                    result = adapter.renew(target(step), run_id(step), step.get("leaseMs"))
                elif kind == "status":
                    result = adapter.status(target(step), run_id(step))
                elif kind == "holders":
                    result = adapter.holders(target(step), resource(step["resource"]))
                elif kind == "untilWaiting":
                    deadline = time.monotonic() + 10
                    while lock_waiters() != step["count"]:
                        assert time.monotonic() < deadline, f"{where}: {step['count']} acquire(s) never waited"
                        time.sleep(0.02)
                elif kind == "network":
                    change = {key: step[key] for key in ("delayMs", "stalled", "upstream") if key in step}
                    post_network(change)
                    if step.get("stalled") is True:
                        stalled_at = time.time()
                elif kind == "keys":
                    assert "service" in scenario, f"{where}: a keys step needs the scenario's service"
                    post_keys(scenario["service"], step["without"])
                elif kind == "hold":
                    hold, end, fail = Hold(), threading.Event(), {"fail": False}
                    holds[step["name"]], ends[step["name"]], fails[step["name"]] = hold, end, fail
                    adapter.hold(target(step), resource(step["resource"]), step, hold, end, fail)
                    assert hold.entered.wait(30), f"{where}: the hold was not entered"
                    if hold.raised is not None:
                        raise hold.raised
                elif kind == "untilLost":
                    hold = holds[step["hold"]]
                    assert hold.lost_seen.wait(step["withinMs"] / 1000), f"{where}: the loss was not noticed within {step['withinMs']} ms"
                    assert hold.lost_reason == step["reason"], f"{where}: reason {hold.lost_reason!r}, expected {step['reason']!r}"
                    if "beforeLeaseEndMs" in step:
                        assert stalled_at is not None and hold.lost_at is not None
                        late = (hold.lost_at - stalled_at) * 1000 - step["beforeLeaseEndMs"]
                        assert late <= 0, f"{where}: the loss was noticed {late:.0f} ms after the lease had surely ended"
                elif kind == "endHold":
                    hold = holds[step["hold"]]
                    fails[step["hold"]]["fail"] = bool(step.get("fail"))
                    ends[step["hold"]].set()
                    assert hold.done.wait(30), f"{where}: the hold did not end"
                    if step.get("fail"):
                        assert hold.raised is hold.failure and hold.failure is not None, f"{where}: the caller got {hold.raised!r}"
                    elif hold.raised is not None:
                        raise hold.raised
                else:
                    raise AssertionError(f"{where}: unknown step")
            except AssertionError:
                raise
            except Exception as error:
                if "expectError" not in step:
                    raise AssertionError(f"{where}: unexpected {error!r}") from error
                check_error(error, step["expectError"], where)
                continue
            assert "expectError" not in step, f"{where}: expected {step['expectError']}, got {result!r}"
            if "expect" in step:
                check_permit(result, step["expect"], saved, named, previous, where)
            if "save" in step:
                saved[step["save"]] = result
    finally:
        for end in ends.values():
            end.set()
        if CONTROL_URL:
            post_network(CALM_NETWORK)
        # A scenario that removes keys puts them back even when it fails, so later scenarios have them.
        if CONTROL_URL and any(step["do"] == "keys" for step in scenario["steps"]):
            post_keys(scenario["service"], [])
