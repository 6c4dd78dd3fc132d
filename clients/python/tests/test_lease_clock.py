"""The service's clock counts whole milliseconds: a lease counted from a send later within the same
millisecond would end after the service's expiresAt, so the client counts from that millisecond's start."""
from __future__ import annotations

from datetime import datetime, timezone

from temporal_lock_client.client import lease_clock


def test_a_lease_is_counted_from_the_start_of_the_millisecond_it_was_sent_in() -> None:
    # Sent 0.9 ms into a millisecond whose start the service read as the lease's start.
    held_until, deadline = lease_clock(1_700_000_000.1239, 500.0009, lease_ms=30_000, waited_ms=2)
    service_expires_at = datetime.fromtimestamp(1_700_000_000.123 + 30.002, tz=timezone.utc)
    assert held_until <= service_expires_at
    assert abs((service_expires_at - held_until).total_seconds()) < 1e-6
    assert abs(deadline - (500.0 + 30.002)) < 1e-6
