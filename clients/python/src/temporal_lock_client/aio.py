"""The asyncio variant: AsyncLockClient, and ``async with client.permit(...) as p`` whose renewals run
in a task and whose ``p.lost`` is an asyncio.Event."""
from __future__ import annotations

import asyncio
import logging
import ssl
import time
from datetime import datetime
from types import TracebackType
from typing import Optional, Type

from . import _wire
from ._aio_http import exchange
from ._lease import LeasePlan, lost_detail, refusal_reason
from ._wire import Answer, PermitRef, Request
from .client import check_wait, lease_clock
from .errors import LockError, LockServiceError, PermitEnded, PermitLost, PermitNotFound, ServiceUnreachable
from .hold import FIRST_RELEASE_PAUSE, RELEASE_ATTEMPTS, ReleaseOutcome
from .keeper import FIRST_RETRY, MAX_RETRY
from .models import Permit, ResourceView, permit_from_wire, resource_view_from_wire

log = logging.getLogger("temporal_lock_client")


class AsyncLockClient:
    """LockClient for asyncio: the same calls and options (``api_key``, ``ca_file`` or PERMIT_CA_FILE,
    ``ssl_context``), awaited. Cancelling a call closes its connection; a cancelled waiting acquire thus
    stops waiting on the service, which releases a slot granted meanwhile."""

    def __init__(
        self,
        url: str = "http://127.0.0.1:8080",
        *,
        api_key: Optional[str] = None,
        timeout: float = _wire.DEFAULT_TIMEOUT,
        max_wait_per_request: float = _wire.MAX_WAIT_PER_REQUEST,
        ca_file: Optional[str] = None,
        ssl_context: Optional[ssl.SSLContext] = None,
    ) -> None:
        self.url = _wire.normalize_url(url)
        self._api_key = api_key or None
        self.timeout = timeout
        self.max_wait_per_request = max_wait_per_request
        self._ssl = _wire.tls_context(ca_file, ssl_context)

    def __repr__(self) -> str:
        return f"AsyncLockClient({self.url!r})"  # never the key

    async def acquire(
        self,
        resource: str,
        *,
        lease: Optional[float] = None,
        wait: float = 0,
        capacity: Optional[int] = None,
        holder: Optional[str] = None,
        timeout: Optional[float] = None,
    ) -> Permit:
        """Claims a slot of the resource, waiting up to ``wait`` seconds (see LockClient.acquire)."""
        lease_ms = _wire.milliseconds("lease", lease)
        deadline = time.monotonic() + check_wait(wait)
        per_request = self.max_wait_per_request
        while True:
            request_wait = max(0.0, min(deadline - time.monotonic(), per_request))
            wait_ms = int(request_wait * 1000)
            request = _wire.acquire_request(resource, lease_ms=lease_ms, wait_ms=wait_ms, capacity=capacity, holder=holder)
            sent_wall, sent_mono = time.time(), time.monotonic()
            try:
                answer = await self._send(request, (timeout or self.timeout) + wait_ms / 1000)
                body = self._expect(answer, 201)
            except LockServiceError as error:
                if request_wait > 0 and _wire.refuses_wait(error):
                    per_request = 0
                    continue
                remaining = deadline - time.monotonic()
                if not error.retryable or remaining <= 0:
                    raise
                waited = error.code == "resource_busy" and request_wait > 0
                pause = 0.0 if waited else (error.retry_after if error.retry_after is not None else _wire.DEFAULT_RETRY_AFTER)
                await asyncio.sleep(min(pause, remaining))
                continue
            permit = permit_from_wire(body, answer.status)
            held_until, lease_deadline = lease_clock(sent_wall, sent_mono, permit.lease_ms, permit.waited_ms or 0)
            return permit_from_wire(body, answer.status, held_until, lease_deadline)

    async def release(self, permit: PermitRef, *, timeout: Optional[float] = None) -> None:
        """Ends the permit; its slot is free for the next acquire as soon as this returns."""
        self._expect(await self._send(_wire.release_request(_wire.run_id_of(permit)), timeout or self.timeout), 204)

    async def renew(self, permit: PermitRef, *, lease: Optional[float] = None, timeout: Optional[float] = None) -> Permit:
        """Extends the lease to now + ``lease`` (see LockClient.renew)."""
        request = _wire.renew_request(_wire.run_id_of(permit), _wire.milliseconds("lease", lease))
        sent_wall, sent_mono = time.time(), time.monotonic()
        answer = await self._send(request, timeout or self.timeout)
        body = self._expect(answer, 200)
        renewed = permit_from_wire(body, answer.status)
        held_until, lease_deadline = lease_clock(sent_wall, sent_mono, renewed.lease_ms)
        return permit_from_wire(body, answer.status, held_until, lease_deadline)

    async def status(self, permit: PermitRef, *, timeout: Optional[float] = None) -> Permit:
        """The fencing check: the permit if it is held right now, else PermitEnded or PermitNotFound."""
        answer = await self._send(_wire.status_request(_wire.run_id_of(permit)), timeout or self.timeout)
        return permit_from_wire(self._expect(answer, 200), answer.status)

    async def holders(self, resource: str, *, capacity: Optional[int] = None, timeout: Optional[float] = None) -> ResourceView:
        """The permits held on a resource."""
        answer = await self._send(_wire.holders_request(resource, capacity), timeout or self.timeout)
        return resource_view_from_wire(self._expect(answer, 200), answer.status)

    def permit(
        self,
        resource: str,
        *,
        lease: Optional[float] = None,
        wait: float = 0,
        capacity: Optional[int] = None,
        holder: Optional[str] = None,
        renew_every: Optional[float] = None,
    ) -> "AsyncPermitHold":
        """``async with client.permit("db", lease=30) as p:`` acquires, renews in a task, sets ``p.lost``
        (an asyncio.Event) if the permit is lost, and releases on every way out, cancellation included."""
        return AsyncPermitHold(self, resource, lease=lease, wait=wait, capacity=capacity, holder=holder, renew_every=renew_every)

    def _expect(self, answer: Answer, status: int) -> object:
        if answer.status != status:
            raise _wire.error_for(answer, self.url)
        return answer.body

    async def _send(self, request: Request, timeout: float) -> Answer:
        url = self.url + request.path
        headers = _wire.headers_for(request, self._api_key)
        try:
            status, answer_headers, raw = await asyncio.wait_for(
                exchange(self.url, request.method, request.path, headers, request.body, self._ssl), timeout
            )
        except asyncio.TimeoutError as error:
            raise ServiceUnreachable(f"no answer from {url} within {timeout:g} s") from error
        except (OSError, asyncio.IncompleteReadError, ValueError) as error:
            raise ServiceUnreachable(f"cannot reach the lock service at {self.url}: {error}") from error
        return _wire.decode(status, answer_headers, raw)


async def release_best_effort_async(client: AsyncLockClient, run_id: str) -> ReleaseOutcome:
    """The asyncio twin of hold.release_best_effort: a few attempts, an outcome instead of an exception."""
    pause = FIRST_RELEASE_PAUSE
    for attempt in range(1, RELEASE_ATTEMPTS + 1):
        try:
            await client.release(run_id)
            return ReleaseOutcome("released")
        except (PermitEnded, PermitNotFound) as error:
            return ReleaseOutcome("already_ended", error)
        except LockError as error:
            retry = isinstance(error, ServiceUnreachable) or (isinstance(error, LockServiceError) and error.retryable)
            if not retry or attempt == RELEASE_ATTEMPTS:
                return ReleaseOutcome("failed", error)
        await asyncio.sleep(pause)
        pause *= 2
    raise AssertionError("unreachable")


class AsyncPermitKeeper:
    """PermitKeeper for asyncio: renews in a task, sets ``lost`` (an asyncio.Event) when the service
    says the permit ended or no renewal succeeded before the lease would run out (minus the margin).
    A renewal refused for good (RenewalLimit, MaxHoldExceeded, KeyRefused, or any other error that is
    not retryable) is not asked again, and
    ``lost`` is set that margin before the lease it still has runs out, as PermitKeeper does."""

    def __init__(
        self, client: AsyncLockClient, permit: Permit, *, lease: Optional[float] = None, renew_every: Optional[float] = None
    ) -> None:
        self._client = client
        self._plan = LeasePlan.of(permit, lease, renew_every)
        self._permit = permit
        self._deadline = permit.lease_deadline if permit.lease_deadline is not None else time.monotonic() + permit.lease_ms / 1000
        self._refusal: Optional[LockServiceError] = None
        self._task: Optional["asyncio.Task[None]"] = None
        self._timer: Optional[asyncio.TimerHandle] = None
        self._stopped = False
        self.lost = asyncio.Event()
        self.lost_error: Optional[PermitLost] = None

    @property
    def permit(self) -> Permit:
        """The permit as last granted or renewed."""
        return self._permit

    @property
    def held_until(self) -> Optional[datetime]:
        """The wall-clock time by which the lease has surely not ended, as of the last successful renewal."""
        return self._permit.held_until

    def start(self) -> None:
        """Starts the renewal task; await stop() when done."""
        self._arm_lost_timer()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._renew_loop())

    async def stop(self) -> None:
        """Stops renewing (cancelling a renewal in flight). Does not release the permit."""
        self._stopped = True
        if self._timer:
            self._timer.cancel()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    def _arm_lost_timer(self) -> None:
        if self._timer:
            self._timer.cancel()
        if self._stopped or self.lost.is_set():
            return
        delay = max(0.0, self._deadline - self._plan.margin - time.monotonic())
        self._timer = asyncio.get_running_loop().call_later(delay, self._lease_running_out)

    def _lease_running_out(self) -> None:
        reason = refusal_reason(self._refusal) if self._refusal else "unconfirmed"
        self._declare_lost(PermitLost(lost_detail(self._permit.run_id, self._refusal), run_id=self._permit.run_id, reason=reason))

    def _declare_lost(self, error: PermitLost) -> None:
        if self._stopped or self.lost.is_set():
            return
        if self._timer:
            self._timer.cancel()
        self.lost_error = error
        self.lost.set()
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()

    async def _renew_loop(self) -> None:
        next_at = self._deadline - self._permit.lease_ms / 1000 + self._plan.renew_every
        retry = FIRST_RETRY
        while not self._stopped and not self.lost.is_set():
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            sent = time.monotonic()
            try:
                renewed = await self._client.renew(self._permit, lease=self._plan.lease, timeout=max(1.0, self._plan.renew_every))
            except (PermitEnded, PermitNotFound) as error:
                message = f"permit {self._permit.run_id} is lost: " + (
                    f"the service says it has ended ({error.state or 'ended'})"
                    if isinstance(error, PermitEnded)
                    else "the service no longer knows it"
                )
                self._declare_lost(PermitLost(message, run_id=self._permit.run_id, reason="ended", state=error.state))
                return
            except LockServiceError as error:
                if not error.retryable:
                    self._refusal = error
                    return  # the lost timer fires as the lease runs out
            except LockError:
                pass  # unreachable: retried below
            else:
                if self.lost.is_set():
                    return
                self._permit = renewed
                assert renewed.lease_deadline is not None
                self._deadline = renewed.lease_deadline
                self._arm_lost_timer()
                retry = FIRST_RETRY
                next_at = sent + self._plan.renew_every
                continue
            next_at = time.monotonic() + retry
            retry = min(retry * 2, MAX_RETRY)


class AsyncPermitHold:
    """A permit kept for the length of an ``async with`` block (see AsyncLockClient.permit)."""

    def __init__(
        self,
        client: AsyncLockClient,
        resource: str,
        *,
        lease: Optional[float],
        wait: float,
        capacity: Optional[int],
        holder: Optional[str],
        renew_every: Optional[float],
    ) -> None:
        self._client = client
        self._resource = resource
        self._lease, self._wait, self._capacity, self._holder = lease, wait, capacity, holder
        self._renew_every = renew_every
        self._keeper: Optional[AsyncPermitKeeper] = None
        self.release_outcome: Optional[ReleaseOutcome] = None

    async def __aenter__(self) -> "AsyncPermitHold":
        if self._keeper is not None:
            raise RuntimeError("an AsyncPermitHold is entered once; call client.permit() again for another permit")
        permit = await self._client.acquire(
            self._resource, lease=self._lease, wait=self._wait, capacity=self._capacity, holder=self._holder
        )
        try:
            self._keeper = AsyncPermitKeeper(self._client, permit, renew_every=self._renew_every)
            self._keeper.start()
        except BaseException:
            await asyncio.shield(release_best_effort_async(self._client, permit.run_id))
            raise
        return self

    async def __aexit__(
        self, kind: Optional[Type[BaseException]], error: Optional[BaseException], traceback: Optional[TracebackType]
    ) -> None:
        keeper = self._require()
        try:
            await keeper.stop()
        finally:
            # Shielded: a block left by cancellation still releases, instead of leaving the slot to its lease.
            self.release_outcome = await asyncio.shield(release_best_effort_async(self._client, keeper.permit.run_id))
            if self.release_outcome.outcome == "failed":
                log.warning(
                    "permit %s could not be released (%s); its slot stays taken until the lease ends",
                    keeper.permit.run_id,
                    self.release_outcome.error,
                )

    def _require(self) -> AsyncPermitKeeper:
        if self._keeper is None:
            raise RuntimeError("the permit is not held: use `async with client.permit(...) as p`")
        return self._keeper

    @property
    def permit(self) -> Permit:
        """The permit as last granted or renewed."""
        return self._require().permit

    @property
    def token(self) -> str:
        """The fencing token (= runId)."""
        return self._require().permit.fencing_token

    @property
    def fencing_seq(self) -> int:
        """The fencing number (see Permit.fencing_seq): send it with each write to a store that refuses lower ones."""
        return self._require().permit.fencing_seq

    @property
    def lost(self) -> asyncio.Event:
        """Set when the permit can no longer be counted on (see ``lost_error``)."""
        return self._require().lost

    @property
    def lost_error(self) -> Optional[PermitLost]:
        """Why the permit was lost, once ``lost`` is set."""
        return self._require().lost_error

    @property
    def held_until(self) -> Optional[datetime]:
        """The wall-clock time by which the lease has surely not ended, as of the last renewal."""
        return self._require().held_until

    def check(self) -> None:
        """Raises PermitLost if the permit was lost."""
        error = self._require().lost_error
        if error is not None:
            raise error
