"""PermitKeeper: renews a permit in a background thread and says when it can no longer be counted on."""
from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import Callable, Optional

from ._lease import LeasePlan, lost_detail, refusal_reason
from .client import LockClient
from .errors import LockError, LockServiceError, PermitEnded, PermitLost, PermitNotFound
from .models import Permit

FIRST_RETRY = 0.25
MAX_RETRY = 2.0


class PermitKeeper:
    """Renews ``permit`` every ``renew_every`` seconds (default a third of the lease), retries failed
    renewals with back-off, and sets ``lost`` when the service says the permit has ended or when no
    renewal has succeeded by the time the lease would end, minus a safety margin (max(0.2 s, lease/10)).
    A renewal the service refuses for good (RenewalLimit, MaxHoldExceeded, KeyRefused: the key was
    removed from the service's key file, say; or any other non-retryable error, such as InvalidRequest)
    is not asked again: the permit stays held until its lease runs out, and ``lost`` is set that margin
    before (reason ``renewal_limit``, ``max_hold``, ``key_refused`` or ``renewal_refused``).

    The lease is timed on the monotonic clock from when each request was *sent*, never from when its
    answer arrived, so the keeper never believes the lease ends later than the service does."""

    def __init__(
        self,
        client: LockClient,
        permit: Permit,
        *,
        lease: Optional[float] = None,
        renew_every: Optional[float] = None,
        on_event: Optional[Callable[[str, object], None]] = None,
    ) -> None:
        self._client = client
        self._plan = LeasePlan.of(permit, lease, renew_every)
        self._on_event = on_event
        self._permit = permit
        self._deadline = permit.lease_deadline if permit.lease_deadline is not None else time.monotonic() + permit.lease_ms / 1000
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._refusal: Optional[LockServiceError] = None
        self._timer: Optional[threading.Timer] = None
        self._thread: Optional[threading.Thread] = None
        self.lost = threading.Event()
        """Set when the permit can no longer be counted on; ``lost_error`` says why."""
        self.lost_error: Optional[PermitLost] = None

    @property
    def permit(self) -> Permit:
        """The permit as last granted or renewed (its ``expires_at`` and ``held_until`` move with each renewal)."""
        return self._permit

    @property
    def held_until(self) -> Optional[datetime]:
        """The wall-clock time by which the lease has surely not ended, as of the last successful renewal."""
        return self._permit.held_until

    def start(self) -> None:
        """Starts renewing in a daemon thread; call stop() when done."""
        with self._lock:
            self._arm_lost_timer()
        if self._thread is None:
            self._thread = threading.Thread(target=self._renew_loop, name=f"permit-keeper-{self._permit.run_id}", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stops renewing and waits for a renewal in flight to settle. Does not release the permit."""
        with self._lock:
            self._done.set()
            if self._timer:
                self._timer.cancel()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()

    def _arm_lost_timer(self) -> None:
        if self._timer:
            self._timer.cancel()
        if self._done.is_set():
            return
        self._timer = threading.Timer(max(0.0, self._deadline - self._plan.margin - time.monotonic()), self._lease_running_out)
        self._timer.daemon = True
        self._timer.start()

    def _lease_running_out(self) -> None:
        with self._lock:
            if self._done.is_set() or time.monotonic() < self._deadline - self._plan.margin:
                return  # stopped, or a renewal moved the deadline and armed a newer timer
            refusal = self._refusal
            reason = refusal_reason(refusal) if refusal else "unconfirmed"
            self._declare_lost(PermitLost(lost_detail(self._permit.run_id, refusal), run_id=self._permit.run_id, reason=reason))

    def _declare_lost(self, error: PermitLost) -> None:
        """Called with the lock held."""
        if self._done.is_set():
            return
        self._done.set()
        if self._timer:
            self._timer.cancel()
        self.lost_error = error
        self.lost.set()
        self._emit("lost", error)

    def _emit(self, event: str, detail: object) -> None:
        if self._on_event:
            self._on_event(event, detail)

    def _renew_loop(self) -> None:
        next_at = self._deadline - self._permit.lease_ms / 1000 + self._plan.renew_every
        retry = FIRST_RETRY
        while not self._done.wait(max(0.0, next_at - time.monotonic())):
            sent = time.monotonic()
            try:
                # A renewal that hangs must not use up the time for the next attempt.
                renewed = self._client.renew(self._permit, lease=self._plan.lease, timeout=max(1.0, self._plan.renew_every))
            except (PermitEnded, PermitNotFound) as error:
                with self._lock:
                    message = f"permit {self._permit.run_id} is lost: " + (
                        f"the service says it has ended ({error.state or 'ended'})"
                        if isinstance(error, PermitEnded)
                        else "the service no longer knows it"
                    )
                    self._declare_lost(PermitLost(message, run_id=self._permit.run_id, reason="ended", state=error.state))
                return
            except LockServiceError as error:
                if not error.retryable:
                    # max_hold_exceeded, renewal_limit, a refused key, a lease it will not grant: asking again cannot help.
                    with self._lock:
                        self._refusal = error
                    self._emit("renewal_refused", error)
                    return  # the lost timer fires as the lease runs out
                self._emit("renew_failed", error)
            except LockError as error:  # unreachable
                self._emit("renew_failed", error)
            else:
                with self._lock:
                    if self._done.is_set():
                        return
                    self._permit = renewed
                    assert renewed.lease_deadline is not None
                    self._deadline = renewed.lease_deadline
                    self._arm_lost_timer()
                self._emit("renewed", renewed)
                retry = FIRST_RETRY
                next_at = sent + self._plan.renew_every
                continue
            next_at = time.monotonic() + retry
            retry = min(retry * 2, MAX_RETRY)
