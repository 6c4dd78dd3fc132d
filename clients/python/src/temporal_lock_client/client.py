"""LockClient: the lock service's HTTP API over the standard library (urllib), blocking."""
from __future__ import annotations

import http.client
import math
import ssl
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone
from email.message import Message
from typing import TYPE_CHECKING, Optional

from . import _wire
from ._wire import Answer, PermitRef, Request
from .errors import LockServiceError, ServiceUnreachable
from .models import Permit, ResourceView, permit_from_wire, resource_view_from_wire

if TYPE_CHECKING:
    from .hold import PermitHold


def lease_clock(sent_wall: float, sent_mono: float, lease_ms: int, waited_ms: int = 0) -> "tuple[datetime, float]":
    """The end of a lease counted from when its request was sent (plus the service's own wait): on the
    wall clock, to compare with the service's times, and on the monotonic clock, to time it."""
    # From the start of the millisecond it was sent in: the service's clock (and so its expiresAt and
    # waitedMs) counts whole milliseconds, and a send later within the same millisecond than the
    # service's reading would count the lease past the service's own end.
    past_ms = (sent_wall * 1000 % 1) / 1000
    seconds = (waited_ms + lease_ms) / 1000
    return datetime.fromtimestamp(sent_wall - past_ms + seconds, tz=timezone.utc), sent_mono - past_ms + seconds


def check_wait(wait: float) -> float:
    """A wait in seconds, 0 (try once) to math.inf (until a slot frees)."""
    if not isinstance(wait, (int, float)) or isinstance(wait, bool) or math.isnan(wait) or wait < 0:
        raise ValueError(f"wait: {wait!r} must be 0 or more seconds (math.inf waits without limit)")
    return float(wait)


class LockClient:
    """A client of the lock service's HTTP API. Times are in seconds. Every call raises a
    LockServiceError subclass when the service refuses, or ServiceUnreachable when it does not answer.
    ``api_key`` is sent as ``authorization: Bearer <key>`` (a service with API_KEYS_FILE refuses requests
    without one: Unauthorized, Forbidden). ``ca_file`` is the PEM file of the CA that signed an https://
    service's certificate, when the system does not trust it; without it the file named by the
    environment variable PERMIT_CA_FILE is used, if any. ``ssl_context`` replaces both."""

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
        return f"LockClient({self.url!r})"  # never the key

    def acquire(
        self,
        resource: str,
        *,
        lease: Optional[float] = None,
        wait: float = 0,
        capacity: Optional[int] = None,
        holder: Optional[str] = None,
        timeout: Optional[float] = None,
    ) -> Permit:
        """Claims a slot of the resource. Waits up to ``wait`` seconds (0: try once; math.inf: until a slot
        frees), asking again after each refusal, then raises ResourceBusy with ``retry_after``."""
        lease_ms = _wire.milliseconds("lease", lease)
        deadline = time.monotonic() + check_wait(wait)
        per_request = self.max_wait_per_request
        while True:
            request_wait = max(0.0, min(deadline - time.monotonic(), per_request))
            try:
                return self._acquire_once(resource, lease_ms, int(request_wait * 1000), capacity, holder, timeout)
            except LockServiceError as error:
                if request_wait > 0 and _wire.refuses_wait(error):
                    per_request = 0  # this service allows shorter waits (its MAX_WAIT_MS): wait on this side
                    continue
                remaining = deadline - time.monotonic()
                if not error.retryable or remaining <= 0:
                    raise
                # Busy after a server-side wait means "still busy": ask again at once. Any other refusal
                # asks for a pause first.
                waited = error.code == "resource_busy" and request_wait > 0
                pause = 0.0 if waited else (error.retry_after if error.retry_after is not None else _wire.DEFAULT_RETRY_AFTER)
                time.sleep(min(pause, remaining))

    def _acquire_once(
        self, resource: str, lease_ms: Optional[int], wait_ms: int, capacity: Optional[int], holder: Optional[str], timeout: Optional[float]
    ) -> Permit:
        request = _wire.acquire_request(resource, lease_ms=lease_ms, wait_ms=wait_ms, capacity=capacity, holder=holder)
        sent_wall, sent_mono = time.time(), time.monotonic()
        answer = self._send(request, (timeout or self.timeout) + wait_ms / 1000)
        body = self._expect(answer, 201)
        permit = permit_from_wire(body, answer.status)
        held_until, deadline = lease_clock(sent_wall, sent_mono, permit.lease_ms, permit.waited_ms or 0)
        return permit_from_wire(body, answer.status, held_until, deadline)

    def release(self, permit: PermitRef, *, timeout: Optional[float] = None) -> None:
        """Ends the permit; its slot is free for the next acquire as soon as this returns."""
        self._expect(self._send(_wire.release_request(_wire.run_id_of(permit)), timeout or self.timeout), 204)

    def renew(self, permit: PermitRef, *, lease: Optional[float] = None, timeout: Optional[float] = None) -> Permit:
        """Extends the lease to now + ``lease`` (default: the length it was acquired with); raises
        PermitEnded if it has already ended, RenewalRefused past the service's limits."""
        request = _wire.renew_request(_wire.run_id_of(permit), _wire.milliseconds("lease", lease))
        sent_wall, sent_mono = time.time(), time.monotonic()
        answer = self._send(request, timeout or self.timeout)
        body = self._expect(answer, 200)
        renewed = permit_from_wire(body, answer.status)
        # The service extends the lease from a moment after it received the request.
        held_until, deadline = lease_clock(sent_wall, sent_mono, renewed.lease_ms)
        return permit_from_wire(body, answer.status, held_until, deadline)

    def status(self, permit: PermitRef, *, timeout: Optional[float] = None) -> Permit:
        """The fencing check: the permit if it is held right now, else PermitEnded or PermitNotFound."""
        answer = self._send(_wire.status_request(_wire.run_id_of(permit)), timeout or self.timeout)
        return permit_from_wire(self._expect(answer, 200), answer.status)

    def holders(self, resource: str, *, capacity: Optional[int] = None, timeout: Optional[float] = None) -> ResourceView:
        """The permits held on a resource."""
        answer = self._send(_wire.holders_request(resource, capacity), timeout or self.timeout)
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
    ) -> "PermitHold":
        """``with client.permit("db", lease=30) as p:`` acquires on entry, renews in a background thread
        every third of the lease, sets ``p.lost`` (a threading.Event) if the permit is lost, and releases
        on every way out of the block, exceptions included."""
        from .hold import PermitHold

        return PermitHold(self, resource, lease=lease, wait=wait, capacity=capacity, holder=holder, renew_every=renew_every)

    def _expect(self, answer: Answer, status: int) -> object:
        if answer.status != status:
            raise _wire.error_for(answer, self.url)
        return answer.body

    def _send(self, request: Request, timeout: float) -> Answer:
        url = self.url + request.path
        outgoing = urllib.request.Request(
            url, data=request.body, method=request.method, headers=_wire.headers_for(request, self._api_key)
        )
        try:
            with urllib.request.urlopen(outgoing, timeout=timeout, context=self._ssl) as response:
                return _wire.decode(response.status, _lower(response.headers), response.read())
        except urllib.error.HTTPError as error:  # 4xx and 5xx carry the API's JSON error body
            with error:
                return _wire.decode(error.code, _lower(error.headers), error.read())
        except (OSError, http.client.HTTPException) as error:
            reason = getattr(error, "reason", None) or error
            if isinstance(reason, TimeoutError) or "timed out" in str(reason):
                raise ServiceUnreachable(f"no answer from {url} within {timeout:g} s") from error
            raise ServiceUnreachable(f"cannot reach the lock service at {self.url}: {reason}") from error


def _lower(headers: "Message[str, str]") -> "dict[str, str]":
    return {name.lower(): value for name, value in headers.items()}
