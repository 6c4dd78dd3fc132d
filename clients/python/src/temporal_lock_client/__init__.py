"""A client of temporal-lock-service: permits on named resources over HTTP.

    from temporal_lock_client import LockClient

    client = LockClient("http://127.0.0.1:8080")
    with client.permit("db", lease=30) as p:   # renewed in the background, released on every way out
        migrate(p.token, stop=p.lost)

The standard library only. ``temporal_lock_client.aio`` has the asyncio variant.
"""
from .client import LockClient
from .errors import (
    CapacityConflict,
    Forbidden,
    HeadersTooLarge,
    InternalError,
    InvalidRequest,
    KeyRefused,
    LockError,
    LockServiceError,
    MaxHoldExceeded,
    MethodNotAllowed,
    PayloadTooLarge,
    PermitEnded,
    PermitLost,
    PermitNotFound,
    RateLimited,
    RenewalLimit,
    RenewalRefused,
    ResourceBusy,
    RouteNotFound,
    ServiceUnavailable,
    ServiceUnreachable,
    ShuttingDown,
    TemporalUnavailable,
    TooManyWaiters,
    Unauthorized,
    UnsupportedMediaType,
)
from .hold import PermitHold, ReleaseOutcome, release_best_effort
from .keeper import PermitKeeper
from .models import Permit, ResourceView, ViewedPermit

__all__ = [
    "CapacityConflict",
    "Forbidden",
    "HeadersTooLarge",
    "InternalError",
    "InvalidRequest",
    "KeyRefused",
    "LockClient",
    "LockError",
    "LockServiceError",
    "MaxHoldExceeded",
    "MethodNotAllowed",
    "PayloadTooLarge",
    "Permit",
    "PermitEnded",
    "PermitHold",
    "PermitKeeper",
    "PermitLost",
    "PermitNotFound",
    "RateLimited",
    "ReleaseOutcome",
    "RenewalLimit",
    "RenewalRefused",
    "ResourceBusy",
    "ResourceView",
    "RouteNotFound",
    "ServiceUnavailable",
    "ServiceUnreachable",
    "ShuttingDown",
    "TemporalUnavailable",
    "TooManyWaiters",
    "Unauthorized",
    "UnsupportedMediaType",
    "ViewedPermit",
    "release_best_effort",
]
