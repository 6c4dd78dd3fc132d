"""What the Python client promises beyond the shared scenarios: every way out of a permit block
releases, p.lost is a threading.Event (an asyncio.Event in the asyncio variant), errors carry
retry_after, a CA file (ca_file= or PERMIT_CA_FILE) is what an https:// service is trusted through,
and the installed package is typed."""
from __future__ import annotations

import asyncio
import importlib.resources
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest

from temporal_lock_client import LockClient, PermitEnded, PermitLost, ResourceBusy, ServiceUnreachable
from temporal_lock_client.aio import AsyncLockClient

from conformance_runner import SERVICE_URL, SERVICES, lock_waiters

needs_service = pytest.mark.skipif(not SERVICE_URL, reason="LOCK_SERVICE_URL is not set: `npm test` runs these against a real service")
needs_secure_service = pytest.mark.skipif(
    "secure" not in SERVICES, reason="LOCK_CONFORMANCE_SERVICES has no secure service: `npm test` starts one"
)


async def until_waiters(count: int) -> None:
    """Waits until `count` acquires wait on the service (its lock_waiters gauge)."""
    for _ in range(500):
        if lock_waiters() == count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"lock_waiters never became {count}")


def resource() -> str:
    return f"py-{uuid.uuid4().hex[:10]}"


def assert_released(client: LockClient, run_id: str) -> None:
    with pytest.raises(PermitEnded) as ended:
        client.status(run_id)
    assert ended.value.state == "released"


@needs_service
def test_a_keyboard_interrupt_inside_the_block_still_releases() -> None:
    client = LockClient(SERVICE_URL)
    with pytest.raises(KeyboardInterrupt):
        with client.permit(resource(), lease=30) as p:
            run_id = p.permit.run_id
            assert isinstance(p.lost, threading.Event) and not p.lost.is_set()
            raise KeyboardInterrupt
    assert_released(client, run_id)


@needs_service
def test_a_busy_resource_raises_resource_busy_with_retry_after_and_the_block_never_runs() -> None:
    client = LockClient(SERVICE_URL)
    name = resource()
    held = client.acquire(name, lease=30)
    ran = False
    with pytest.raises(ResourceBusy) as busy:
        with client.permit(name, lease=30):
            ran = True
    assert not ran
    assert busy.value.retry_after is not None and busy.value.retry_after >= 1
    assert busy.value.status == 409 and busy.value.code == "resource_busy"
    client.release(held)


@needs_service
def test_check_raises_permit_lost_once_the_permit_is_released_by_someone_else() -> None:
    client = LockClient(SERVICE_URL)
    with client.permit(resource(), lease=30, renew_every=0.5) as p:
        client.release(p.permit.run_id)
        assert p.lost.wait(10), "the loss was not noticed"
        with pytest.raises(PermitLost) as lost:
            p.check()
        assert lost.value.reason == "ended" and lost.value.state == "released"
    assert p.release_outcome is not None and p.release_outcome.outcome == "already_ended"


@needs_service
def test_a_cancelled_async_block_still_releases_and_its_lost_event_is_an_asyncio_event() -> None:
    async def scenario() -> str:
        client = AsyncLockClient(SERVICE_URL)
        entered = asyncio.Event()
        run_ids = []

        async def work() -> None:
            async with client.permit(resource(), lease=30) as p:
                assert isinstance(p.lost, asyncio.Event)
                run_ids.append(p.permit.run_id)
                entered.set()
                await asyncio.sleep(3600)  # cancelled below

        task = asyncio.ensure_future(work())
        await entered.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return run_ids[0]

    run_id = asyncio.run(scenario())
    assert_released(LockClient(SERVICE_URL), run_id)


@needs_service
def test_a_cancelled_waiting_async_acquire_leaves_no_permit_behind() -> None:
    async def scenario() -> None:
        client = AsyncLockClient(SERVICE_URL)
        name = resource()
        held = await client.acquire(name, lease=30)
        waiting = asyncio.ensure_future(client.acquire(name, lease=30, wait=20))
        await until_waiters(1)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        await until_waiters(0)  # the service saw the connection close and stopped the wait
        await client.release(held)
        # The freed slot goes to a new acquire, not to the cancelled one.
        fresh = await client.acquire(name, lease=30, wait=5)
        view = await client.holders(name)
        assert [p.run_id for p in view.held] == [fresh.run_id]
        await client.release(fresh)

    asyncio.run(scenario())


@needs_secure_service
def test_an_https_service_is_trusted_through_ca_file_or_permit_ca_file_and_not_without_either(monkeypatch: pytest.MonkeyPatch) -> None:
    secure = SERVICES["secure"]
    key = secure["keys"]["client-a"]
    name = f"conf-{resource()}"
    monkeypatch.delenv("PERMIT_CA_FILE", raising=False)
    with pytest.raises(ServiceUnreachable, match="CERTIFICATE_VERIFY_FAILED"):
        LockClient(secure["url"], api_key=key).holders(name)

    monkeypatch.setenv("PERMIT_CA_FILE", secure["caFile"])
    assert LockClient(secure["url"], api_key=key).holders(name).held == ()

    async def held_async() -> int:
        return len((await AsyncLockClient(secure["url"], api_key=key).holders(name)).held)

    assert asyncio.run(held_async()) == 0

    # An explicit ca_file is used instead of the environment's.
    monkeypatch.setenv("PERMIT_CA_FILE", "/nonexistent/ca.pem")
    assert LockClient(secure["url"], api_key=key, ca_file=secure["caFile"]).holders(name).held == ()
    with pytest.raises(ValueError, match="^PERMIT_CA_FILE: /nonexistent/ca.pem does not exist$"):
        LockClient(secure["url"], api_key=key)
    with pytest.raises(ValueError, match="^ca_file: /nonexistent/other.pem does not exist$"):
        AsyncLockClient(secure["url"], api_key=key, ca_file="/nonexistent/other.pem")


def test_a_url_with_credentials_is_refused_and_the_key_never_shows() -> None:
    with pytest.raises(ValueError, match="api_key"):
        LockClient("http://user:secret@127.0.0.1:8080")
    assert "secret-key" not in repr(LockClient("http://127.0.0.1:8080", api_key="secret-key"))


def test_the_installed_package_is_typed_and_passes_mypy_strict() -> None:
    package = importlib.resources.files("temporal_lock_client")
    assert package.joinpath("py.typed").is_file(), "py.typed is not installed with the package"
    # The tests run against the installed package, as a user has it, not the source tree.
    installed = Path(str(package)).resolve()
    assert "site-packages" in installed.parts, installed
    checked = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "-p", "temporal_lock_client"], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
