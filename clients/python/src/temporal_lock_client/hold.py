"""``with client.permit(...) as p``: acquire, keep, and release on every way out."""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Optional, Type

from .client import LockClient
from .errors import LockError, LockServiceError, PermitEnded, PermitLost, PermitNotFound, ServiceUnreachable
from .keeper import PermitKeeper
from .models import Permit

log = logging.getLogger("temporal_lock_client")

RELEASE_ATTEMPTS = 3
FIRST_RELEASE_PAUSE = 0.2


@dataclass(frozen=True)
class ReleaseOutcome:
    """How the final release went: ``released``, ``already_ended`` (nothing was held any more), or
    ``failed`` (every attempt failed; the slot stays taken until the lease runs out)."""

    outcome: str
    error: Optional[BaseException] = None


def release_best_effort(client: LockClient, run_id: str) -> ReleaseOutcome:
    """Releases, retrying a few times when the service is unreachable or unavailable, and reports what
    happened instead of raising: callers release on their way out and must not fail there."""
    pause = FIRST_RELEASE_PAUSE
    for attempt in range(1, RELEASE_ATTEMPTS + 1):
        try:
            client.release(run_id)
            return ReleaseOutcome("released")
        except (PermitEnded, PermitNotFound) as error:
            return ReleaseOutcome("already_ended", error)
        except LockError as error:
            retry = isinstance(error, ServiceUnreachable) or (isinstance(error, LockServiceError) and error.retryable)
            if not retry or attempt == RELEASE_ATTEMPTS:
                return ReleaseOutcome("failed", error)
        time.sleep(pause)
        pause *= 2
    raise AssertionError("unreachable")


class PermitHold:
    """A permit kept for the length of a ``with`` block (see LockClient.permit)."""

    def __init__(
        self,
        client: LockClient,
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
        self._keeper: Optional[PermitKeeper] = None
        self.release_outcome: Optional[ReleaseOutcome] = None
        """How the release at the end of the block went."""

    def __enter__(self) -> "PermitHold":
        if self._keeper is not None:
            raise RuntimeError("a PermitHold is entered once; call client.permit() again for another permit")
        permit = self._client.acquire(
            self._resource, lease=self._lease, wait=self._wait, capacity=self._capacity, holder=self._holder
        )
        try:
            self._keeper = PermitKeeper(self._client, permit, renew_every=self._renew_every)
            self._keeper.start()
        except BaseException:
            release_best_effort(self._client, permit.run_id)
            raise
        return self

    def __exit__(
        self, kind: Optional[Type[BaseException]], error: Optional[BaseException], traceback: Optional[TracebackType]
    ) -> None:
        keeper = self._require()
        try:
            keeper.stop()
        finally:
            self.release_outcome = release_best_effort(self._client, keeper.permit.run_id)
            if self.release_outcome.outcome == "failed":
                log.warning(
                    "permit %s could not be released (%s); its slot stays taken until the lease ends",
                    keeper.permit.run_id,
                    self.release_outcome.error,
                )

    def _require(self) -> PermitKeeper:
        if self._keeper is None:
            raise RuntimeError("the permit is not held: use `with client.permit(...) as p`")
        return self._keeper

    @property
    def permit(self) -> Permit:
        """The permit as last granted or renewed."""
        return self._require().permit

    @property
    def token(self) -> str:
        """The fencing token (= runId): pass it downstream, which compares it for equality."""
        return self._require().permit.fencing_token

    @property
    def fencing_seq(self) -> int:
        """The fencing number (see Permit.fencing_seq): send it with each write to a store that refuses
        writes carrying a lower number than the highest it has seen."""
        return self._require().permit.fencing_seq

    @property
    def lost(self) -> threading.Event:
        """Set when the permit can no longer be counted on (see ``lost_error``): stop acting under it."""
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
        """Raises PermitLost if the permit was lost; call it before each step that needs the lock."""
        error = self._require().lost_error
        if error is not None:
            raise error
