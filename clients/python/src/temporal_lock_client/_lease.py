"""The arithmetic both keepers share: when to renew, when a lease counts as lost, and why."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from .errors import KeyRefused, LockServiceError
from .models import Permit


@dataclass(frozen=True)
class LeasePlan:
    lease: float
    """Seconds each renewal asks for."""
    renew_every: float
    margin: float
    """How long before the counted lease end, without a renewal, the permit counts as lost."""

    @staticmethod
    def of(permit: Permit, lease: Optional[float], renew_every: Optional[float]) -> "LeasePlan":
        """The plan for keeping ``permit``: by default renewed every third of its lease, so two renewals
        can fail before it runs out, and lost max(0.2 s, a tenth of the lease) before its end."""
        lease_s = lease if lease is not None else permit.lease_ms / 1000
        margin = max(0.2, lease_s / 10)
        every = renew_every if renew_every is not None else lease_s / 3
        shortest = min(lease_s, permit.lease_ms / 1000)
        if not 0 < every < shortest - margin:
            raise ValueError(
                f"renew_every: {every:g} s must be more than 0 and less than the lease ({shortest:g} s) "
                f"minus the safety margin ({margin:g} s)"
            )
        return LeasePlan(lease_s, every, margin)


def refusal_reason(refusal: LockServiceError) -> str:
    """Why a permit whose renewals the service refuses is lost once its lease runs out."""
    if isinstance(refusal, KeyRefused):
        return "key_refused"
    if refusal.code == "max_hold_exceeded":
        return "max_hold"
    if refusal.code == "renewal_limit":
        return "renewal_limit"
    # A 400 (a lease this replica will not grant), another 409, a gateway's 4xx: none is the hold time.
    return "renewal_refused"


def lost_detail(run_id: str, refusal: Optional[LockServiceError]) -> str:
    """The message of a permit lost because its lease ran out on the local clock."""
    if isinstance(refusal, KeyRefused):
        return f"permit {run_id} is lost: the service refuses the API key ({refusal.message}) and the lease is running out"
    if refusal is not None:
        return f"permit {run_id} is lost: the service refuses renewals ({refusal.message}) and the lease is running out"
    return f"permit {run_id} is lost: no renewal succeeded before the lease would run out"
