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
    InvalidRequest,
    LockError,
    LockServiceError,
    PermitEnded,
    PermitLost,
    PermitNotFound,
    RenewalRefused,
    ResourceBusy,
    ServiceUnavailable,
    ServiceUnreachable,
)
from .hold import PermitHold, ReleaseOutcome, release_best_effort
from .keeper import PermitKeeper
from .models import Permit, ResourceView

__all__ = [
    "CapacityConflict",
    "InvalidRequest",
    "LockClient",
    "LockError",
    "LockServiceError",
    "Permit",
    "PermitEnded",
    "PermitHold",
    "PermitKeeper",
    "PermitLost",
    "PermitNotFound",
    "ReleaseOutcome",
    "RenewalRefused",
    "ResourceBusy",
    "ResourceView",
    "ServiceUnavailable",
    "ServiceUnreachable",
    "release_best_effort",
]
