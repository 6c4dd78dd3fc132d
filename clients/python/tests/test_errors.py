"""Every error code the service answers with (clients/conformance/errors.json) becomes its own
exception class, carrying the status, the code, retry_after, state and capacity, in the blocking and
the asyncio client; fencing numbers stay exact past 2**53."""
from __future__ import annotations

import asyncio
import json
from typing import Any, Dict, Iterator

import pytest

from temporal_lock_client import KeyRefused, LockClient, LockServiceError, PermitEnded, PermitNotFound, RateLimited, Unauthorized
from temporal_lock_client.aio import AsyncLockClient

from conformance_runner import class_of_code, load_error_entries
from stub_server import Stub, stub_server

RETRY_AFTER = 7

PERMIT = {
    "runId": "0b7c3c1e-6d0e-4c43-9d0c-2f1f8a0a9f10",
    "fencingToken": "0b7c3c1e-6d0e-4c43-9d0c-2f1f8a0a9f10",
    "workflowId": "permit:db:0",
    "resource": "db",
    "slot": 0,
    "capacity": 1,
    "leaseMs": 30000,
    "holder": None,
    "acquiredAt": "2026-01-01T00:00:00.000Z",
    "expiresAt": "2026-01-01T00:00:30.000Z",
    "state": "held",
}


@pytest.fixture(scope="module")
def stub() -> Iterator[Stub]:
    with stub_server() as running:
        yield running


def status_error(stub: Stub, flavour: str) -> BaseException:
    """The exception a fencing check raises against the stub's current answer."""
    try:
        if flavour == "sync":
            LockClient(stub.url).status("a-run-id")
        else:
            asyncio.run(AsyncLockClient(stub.url).status("a-run-id"))
    except BaseException as error:  # noqa: BLE001 - the caller checks what it is
        return error
    raise AssertionError("no error")


@pytest.mark.parametrize("flavour", ["sync", "asyncio"])
@pytest.mark.parametrize("entry", load_error_entries(), ids=lambda entry: entry["code"])
def test_every_error_code_raises_its_own_exception_class_with_its_fields(stub: Stub, flavour: str, entry: Dict[str, Any]) -> None:
    cls = class_of_code()[entry["code"]]
    assert cls.__module__ == "temporal_lock_client.errors" and cls is not LockServiceError
    body: Dict[str, Any] = {"error": entry["code"], "message": f"stub {entry['code']}"}
    if "state" in entry:
        body["state"] = entry["state"]
    if "capacity" in entry:
        body["capacity"] = entry["capacity"]
    headers = {"content-type": "application/json"}
    if entry.get("retryAfter"):
        headers["retry-after"] = str(RETRY_AFTER)
    for status in entry["status"]:
        stub.set(status, headers, json.dumps(body).encode())
        error = status_error(stub, flavour)
        where = f"{entry['code']} {status}"
        assert type(error) is cls, f"{where}: {error!r}"
        assert isinstance(error, LockServiceError)
        assert (error.status, error.code, error.message) == (status, entry["code"], f"stub {entry['code']}"), where
        assert error.retry_after == (RETRY_AFTER if entry.get("retryAfter") else None), where
        assert error.state == entry.get("state"), where
        assert error.capacity == entry.get("capacity"), where
        assert error.retryable == bool(entry.get("retryable")), f"{where}: retryable"
        assert isinstance(error, KeyRefused) == bool(entry.get("keyRefused")), f"{where}: KeyRefused"
        assert isinstance(error, (PermitEnded, PermitNotFound)) == bool(entry.get("permitGone")), f"{where}: permit gone"


@pytest.mark.parametrize("flavour", ["sync", "asyncio"])
def test_a_gateway_page_is_an_unexpected_response_whose_class_still_follows_its_status(stub: Stub, flavour: str) -> None:
    stub.set(401, {"content-type": "text/html"}, b"<h1>Sign in</h1>")
    refused = status_error(stub, flavour)
    assert isinstance(refused, Unauthorized) and refused.code == "unexpected_response" and "Sign in" in refused.message
    stub.set(429, {"content-type": "text/html", "retry-after": "3"}, b"slow down")
    throttled = status_error(stub, flavour)
    assert isinstance(throttled, RateLimited) and throttled.retry_after == 3 and throttled.retryable


def test_a_fencing_number_past_2_to_the_53_stays_exact_and_a_malformed_one_is_refused(stub: Stub) -> None:
    exact = 2**63 - 1
    stub.set(200, {"content-type": "application/json"}, json.dumps({**PERMIT, "fencingSeq": str(exact)}).encode())
    permit = LockClient(stub.url).status("a-run-id")
    assert permit.fencing_seq == exact and float(exact) != exact
    view = {"resource": "db", "capacity": 1, "consistency": "strong", "held": [{**PERMIT, "fencingSeq": str(exact)}]}
    del view["held"][0]["runId"], view["held"][0]["fencingToken"], view["held"][0]["state"]
    stub.set(200, {"content-type": "application/json"}, json.dumps(view).encode())
    held = LockClient(stub.url).holders("db").held[0]
    assert held.fencing_seq == exact and held.run_id is None and held.fencing_token is None
    with pytest.raises(ValueError, match="runId is not shown to this key"):
        LockClient(stub.url).release(held)
    for malformed in ("01", "-1", "1e3", 12):
        stub.set(200, {"content-type": "application/json"}, json.dumps({**PERMIT, "fencingSeq": malformed}).encode())
        with pytest.raises(LockServiceError) as refused:
            LockClient(stub.url).status("a-run-id")
        assert refused.value.code == "unexpected_response" and "fencingSeq" in refused.value.message
