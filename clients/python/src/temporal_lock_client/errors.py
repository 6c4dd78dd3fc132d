"""The exceptions every call raises: one class per kind of answer, so callers catch what they handle."""
from __future__ import annotations

from typing import Dict, Optional, Type


class LockError(Exception):
    """Base of every exception this package raises."""


class LockServiceError(LockError):
    """The service answered with an error. ``code`` is the API's error code (or ``unexpected_response``
    for an answer that did not come from the lock API), ``retry_after`` the seconds it asked to wait."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str,
        retry_after: Optional[float] = None,
        state: Optional[str] = None,
        capacity: Optional[int] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.retry_after = retry_after
        self.state = state
        self.capacity = capacity

    @property
    def retryable(self) -> bool:
        """True for answers that may succeed when asked again later: busy, 5xx, 429."""
        return self.code == "resource_busy" or self.status >= 500 or self.status == 429

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status}, code={self.code!r}, message={self.message!r})"


class InvalidRequest(LockServiceError):
    """400: the request was refused as given; the message names the field."""


class PermitNotFound(LockServiceError):
    """404 permit_not_found: the service does not know this runId."""


class PermitEnded(LockServiceError):
    """410 permit_ended: the permit was released or has expired (``state`` says which)."""


class ResourceBusy(LockServiceError):
    """409 resource_busy: no slot was free within the wait; ``retry_after`` says when to ask again."""


class CapacityConflict(LockServiceError):
    """409 capacity_conflict: the resource's holders use another capacity, named in ``capacity``."""


class RenewalRefused(LockServiceError):
    """409 max_hold_exceeded or renewal_limit: the permit stays held until its lease ends, but may not be renewed."""


class ServiceUnavailable(LockServiceError):
    """503 (temporal_unavailable, shutting_down, too_many_waiters) or another 5xx: try again after ``retry_after``."""


class ServiceUnreachable(LockError):
    """No answer: the connection failed, or the answer did not come within the timeout."""


class PermitLost(LockError):
    """A kept permit can no longer be counted on. ``reason``: ``ended`` (released by someone else,
    expired, or unknown to the service), ``unconfirmed`` (no renewal succeeded before the lease would
    run out), ``max_hold`` or ``renewal_limit`` (renewals refused and the lease is running out)."""

    def __init__(self, message: str, *, run_id: str, reason: str, state: Optional[str] = None) -> None:
        super().__init__(message)
        self.run_id = run_id
        self.reason = reason
        self.state = state


_BY_CODE: Dict[str, Type[LockServiceError]] = {
    "permit_not_found": PermitNotFound,
    "permit_ended": PermitEnded,
    "resource_busy": ResourceBusy,
    "capacity_conflict": CapacityConflict,
    "max_hold_exceeded": RenewalRefused,
    "renewal_limit": RenewalRefused,
}


def error_class(status: int, code: str) -> Type[LockServiceError]:
    """The exception class for an error answer."""
    if code in _BY_CODE:
        return _BY_CODE[code]
    if status >= 500:
        return ServiceUnavailable
    if status == 400 and code == "invalid_request":
        return InvalidRequest
    return LockServiceError
