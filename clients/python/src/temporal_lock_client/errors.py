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
    """400 (or 408): the request was refused as given; the message names the field. The subclasses are
    requests the service refused before reading them as the API: too large, of the wrong type, or for a
    path or method it does not serve (a wrong base URL)."""


class HeadersTooLarge(InvalidRequest):
    """431 headers_too_large: the request line and headers exceed the service's MAX_HEADER_BYTES."""


class PayloadTooLarge(InvalidRequest):
    """413 payload_too_large: the body exceeds the service's BODY_LIMIT_BYTES."""


class UnsupportedMediaType(InvalidRequest):
    """415 unsupported_media_type: the body is not JSON."""


class MethodNotAllowed(InvalidRequest):
    """405 method_not_allowed: the path exists, the method does not."""


class RouteNotFound(InvalidRequest):
    """404 not_found: no such path on the service (is the URL's path right?)."""


class KeyRefused(LockServiceError):
    """401 or 403: the API key was refused, by the service or by a gateway in front of it."""


class Unauthorized(KeyRefused):
    """401 unauthorized: no API key, or one the service does not know."""


class Forbidden(KeyRefused):
    """403 forbidden: the key may not do this (its role, or a resource outside its prefixes)."""


class RateLimited(LockServiceError):
    """429 rate_limited: this key sent more requests in a second than the service allows
    (RATE_LIMIT_PER_SECOND); ``retry_after`` says when to ask again."""


class PermitNotFound(LockServiceError):
    """404 permit_not_found: the service does not know this runId, or it is another key's permit
    (only the key that acquired a permit, or an admin, may release or renew it)."""


class PermitEnded(LockServiceError):
    """410 permit_ended: the permit was released or has expired (``state`` says which)."""


class ResourceBusy(LockServiceError):
    """409 resource_busy: no slot was free within the wait; ``retry_after`` says when to ask again."""


class CapacityConflict(LockServiceError):
    """409 capacity_conflict: the resource's holders use another capacity, named in ``capacity``."""


class RenewalRefused(LockServiceError):
    """409 max_hold_exceeded or renewal_limit: the permit stays held until its lease ends, but may not be renewed."""


class MaxHoldExceeded(RenewalRefused):
    """409 max_hold_exceeded: the renewal would hold the permit past the service's MAX_HOLD_MS."""


class RenewalLimit(RenewalRefused):
    """409 renewal_limit: the permit has been renewed as often as one permit may be (MAX_RENEWALS)."""


class ServiceUnavailable(LockServiceError):
    """The service cannot serve this now (a 5xx, or too many waiters): try again after ``retry_after``."""


class TemporalUnavailable(ServiceUnavailable):
    """503 temporal_unavailable: the service cannot reach Temporal."""


class ShuttingDown(ServiceUnavailable):
    """503 shutting_down: this replica is stopping; another one (or this one, restarted) will answer."""


class TooManyWaiters(ServiceUnavailable):
    """too_many_waiters: 429 when this key already has MAX_WAITERS_PER_KEY waiting acquires on the
    replica, 503 when the resource has MAX_WAITERS_PER_RESOURCE. Acquire without a wait, or later."""


class InternalError(ServiceUnavailable):
    """500 internal_error: a fault in the service; its log has the details under the request id."""


class ServiceUnreachable(LockError):
    """No answer: the connection failed, or the answer did not come within the timeout."""


class PermitLost(LockError):
    """A kept permit can no longer be counted on. ``reason``: ``ended`` (released by someone else,
    expired, or unknown to the service), ``unconfirmed`` (no renewal succeeded before the lease would
    run out), ``max_hold`` or ``renewal_limit`` (renewals refused with MaxHoldExceeded or RenewalLimit and
    the lease is running out), ``key_refused`` (renewals refused with 401/403, the key no longer accepted,
    and the lease is running out), or ``renewal_refused`` (renewals refused with any other error that
    asking again cannot change, such as InvalidRequest for a lease longer than the service's MAX_LEASE_MS,
    and the lease is running out). The four refusals are reported as the lease runs out: the service
    holds the permit until then."""

    def __init__(self, message: str, *, run_id: str, reason: str, state: Optional[str] = None) -> None:
        super().__init__(message)
        self.run_id = run_id
        self.reason = reason
        self.state = state


_BY_CODE: Dict[str, Type[LockServiceError]] = {
    "invalid_request": InvalidRequest,
    "headers_too_large": HeadersTooLarge,
    "payload_too_large": PayloadTooLarge,
    "unsupported_media_type": UnsupportedMediaType,
    "method_not_allowed": MethodNotAllowed,
    "not_found": RouteNotFound,
    "unauthorized": Unauthorized,
    "forbidden": Forbidden,
    "rate_limited": RateLimited,
    "permit_not_found": PermitNotFound,
    "permit_ended": PermitEnded,
    "resource_busy": ResourceBusy,
    "capacity_conflict": CapacityConflict,
    "max_hold_exceeded": MaxHoldExceeded,
    "renewal_limit": RenewalLimit,
    "temporal_unavailable": TemporalUnavailable,
    "shutting_down": ShuttingDown,
    "too_many_waiters": TooManyWaiters,
    "internal_error": InternalError,
}

# An answer that is not the lock API's (a gateway's page) still says something by its status.
_BY_STATUS: Dict[int, Type[LockServiceError]] = {401: Unauthorized, 403: Forbidden, 429: RateLimited}


def error_class(status: int, code: str) -> Type[LockServiceError]:
    """The exception class for an error answer: by the API's code, else by the status."""
    if code in _BY_CODE:
        return _BY_CODE[code]
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if status >= 500:
        return ServiceUnavailable
    return LockServiceError
