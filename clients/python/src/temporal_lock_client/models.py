"""The service's answers as typed, immutable values."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, List, Mapping, Optional, Tuple

from .errors import LockServiceError


@dataclass(frozen=True)
class Permit:
    """A permit as the service describes it. ``fencing_token`` equals ``run_id``: pass it downstream and
    compare it for equality. ``fencing_seq`` is the fencing number: larger for every later grant of the
    same slot (of the resource, at capacity 1), so a store that refuses writes carrying a number lower
    than the highest it has seen refuses a holder whose lease ran out. The service sends it as a decimal
    string (it may exceed 2**53); it is an exact ``int`` here.

    ``held_until`` is this client's own bound for the lease, on the local clock: it counts from when the
    request that granted the lease was *sent* (plus, for an acquire, the ``waited_ms`` the service spent
    before the lease began), never from when the answer arrived, so it is never later than the service's
    ``expires_at``, however slowly the answer came. ``lease_deadline`` is the same moment on
    ``time.monotonic()``. Both are None for a permit read by ``status`` or ``holders``."""

    run_id: str
    fencing_token: str
    fencing_seq: int
    workflow_id: str
    resource: str
    slot: int
    capacity: int
    lease_ms: int
    holder: Optional[str]
    acquired_at: datetime
    expires_at: datetime
    state: Optional[str] = None
    waited_ms: Optional[int] = None
    held_until: Optional[datetime] = None
    lease_deadline: Optional[float] = None


@dataclass(frozen=True)
class ViewedPermit:
    """A permit as a resource view lists it. With API keys, ``run_id`` and ``fencing_token`` are there only
    for the key that holds the permit, and for admin keys; None for everyone else."""

    run_id: Optional[str]
    fencing_token: Optional[str]
    fencing_seq: int
    workflow_id: str
    resource: str
    slot: int
    capacity: int
    lease_ms: int
    holder: Optional[str]
    acquired_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class ResourceView:
    """The permits held on a resource. ``consistency`` is ``strong`` (every slot read) or ``eventual``."""

    resource: str
    capacity: int
    held: Tuple[ViewedPermit, ...]
    consistency: str


FENCING_SEQ = re.compile(r"0|[1-9][0-9]{0,18}")
"""The wire's fencing number: a decimal int64 without leading zeros."""


def _unexpected(status: int, problem: str) -> LockServiceError:
    return LockServiceError(
        f"the answer (HTTP {status}) is not what the lock service sends: {problem}", status=status, code="unexpected_response"
    )


def _field(body: Mapping[str, Any], name: str, kind: Any, status: int, nullable: bool = False) -> Any:
    value = body.get(name)
    if value is None and nullable:
        return None
    # bool is an int in Python; JSON true is never a number here.
    if not isinstance(value, kind) or isinstance(value, bool):
        raise _unexpected(status, f"{name}: expected {getattr(kind, '__name__', kind)}, got {value!r}")
    return value


def parse_time(text: str) -> datetime:
    """Parses the service's ISO-8601 UTC times (``2026-11-27T22:50:05.695Z``)."""
    return datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)


def _fencing_seq(body: Mapping[str, Any], status: int) -> int:
    text = _field(body, "fencingSeq", str, status)
    if not FENCING_SEQ.fullmatch(text):
        raise _unexpected(status, f"fencingSeq: expected a decimal integer, got {text!r}")
    return int(text)


def _times(body: Any, status: int) -> "tuple[datetime, datetime]":
    if not isinstance(body, Mapping):
        raise _unexpected(status, "body: expected a JSON object")
    try:
        return parse_time(_field(body, "acquiredAt", str, status)), parse_time(_field(body, "expiresAt", str, status))
    except ValueError as error:
        raise _unexpected(status, f"a time is not ISO-8601: {error}") from None


def permit_from_wire(
    body: Any, status: int, held_until: Optional[datetime] = None, lease_deadline: Optional[float] = None
) -> Permit:
    """A Permit from a JSON answer, or LockServiceError ``unexpected_response`` if it is not one."""
    acquired_at, expires_at = _times(body, status)
    state = _field(body, "state", str, status, nullable=True)
    waited_ms = _field(body, "waitedMs", int, status, nullable=True)
    return Permit(
        run_id=_field(body, "runId", str, status),
        fencing_token=_field(body, "fencingToken", str, status),
        fencing_seq=_fencing_seq(body, status),
        workflow_id=_field(body, "workflowId", str, status),
        resource=_field(body, "resource", str, status),
        slot=_field(body, "slot", int, status),
        capacity=_field(body, "capacity", int, status),
        lease_ms=_field(body, "leaseMs", int, status),
        holder=_field(body, "holder", str, status, nullable=True),
        acquired_at=acquired_at,
        expires_at=expires_at,
        state=state,
        waited_ms=waited_ms,
        held_until=held_until,
        lease_deadline=lease_deadline,
    )


def viewed_permit_from_wire(body: Any, status: int) -> ViewedPermit:
    """A permit of a resource view, whose token only its holder (and admins) see."""
    acquired_at, expires_at = _times(body, status)
    return ViewedPermit(
        run_id=_field(body, "runId", str, status, nullable=True),
        fencing_token=_field(body, "fencingToken", str, status, nullable=True),
        fencing_seq=_fencing_seq(body, status),
        workflow_id=_field(body, "workflowId", str, status),
        resource=_field(body, "resource", str, status),
        slot=_field(body, "slot", int, status),
        capacity=_field(body, "capacity", int, status),
        lease_ms=_field(body, "leaseMs", int, status),
        holder=_field(body, "holder", str, status, nullable=True),
        acquired_at=acquired_at,
        expires_at=expires_at,
    )


def resource_view_from_wire(body: Any, status: int) -> ResourceView:
    """A ResourceView from a JSON answer, or LockServiceError ``unexpected_response``."""
    if not isinstance(body, Mapping):
        raise _unexpected(status, "body: expected a JSON object")
    held: List[Any] = _field(body, "held", list, status)
    return ResourceView(
        resource=_field(body, "resource", str, status),
        capacity=_field(body, "capacity", int, status),
        held=tuple(viewed_permit_from_wire(item, status) for item in held),
        consistency=_field(body, "consistency", str, status),
    )
