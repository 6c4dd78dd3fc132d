"""What the sync and the asyncio clients share: requests as data, answers to values or exceptions.
Neither sends anything here, so both speak the API the same way."""
from __future__ import annotations

import json
import math
import os
import re
import ssl
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Dict, Mapping, Optional, Union
from urllib.parse import quote, urlsplit

from .errors import LockServiceError, error_class
from .models import Permit, ViewedPermit

DEFAULT_TIMEOUT = 10.0
"""Seconds one request may take, not counting the time an acquire waits on the service."""
MAX_WAIT_PER_REQUEST = 60.0
"""The longest wait one acquire request asks the service for; longer waits are several requests."""
DEFAULT_RETRY_AFTER = 1.0
"""The pause before asking again when a refusal carries no Retry-After."""
USER_AGENT = "temporal-lock-client-python/0.1.0"

PermitRef = Union[Permit, ViewedPermit, str]


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: Optional[bytes]


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    """Header names in lower case."""
    body: Any
    """Parsed JSON when the answer is JSON, else the text."""


def normalize_url(url: str) -> str:
    """The base URL without a trailing slash; refuses what is not an http(s) URL, or carries credentials."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f'url: "{url}" is not an http:// or https:// URL such as http://127.0.0.1:8080')
    if parts.username or parts.password:
        # Messages quote the URL: a key belongs in api_key.
        raise ValueError("url: must not contain a user name or password; pass a key as api_key instead")
    return url.rstrip("/")


def tls_context(ca_file: Optional[str], ssl_context: Optional[ssl.SSLContext]) -> Optional[ssl.SSLContext]:
    """What verifies an https:// service: ``ssl_context`` as given, or one that trusts only the CA in
    ``ca_file`` (default: the file named by PERMIT_CA_FILE, as for the ``permit`` command), or None for
    the system's CAs. Raises ValueError naming the option when the file cannot be used."""
    if ssl_context is not None:
        if ca_file is not None:
            raise ValueError("ca_file: give ca_file or ssl_context, not both")
        return ssl_context
    name = "ca_file"
    if ca_file is None:
        name, ca_file = "PERMIT_CA_FILE", os.environ.get("PERMIT_CA_FILE") or None
    if ca_file is None:
        return None
    if not os.path.isfile(ca_file):
        raise ValueError(f"{name}: {ca_file} does not exist")
    try:
        return ssl.create_default_context(cafile=ca_file)
    except (ssl.SSLError, OSError) as error:
        raise ValueError(f"{name}: {ca_file} is not a PEM file of CA certificates ({error})") from None


def headers_for(request: Request, api_key: Optional[str]) -> Dict[str, str]:
    """The headers of a request: JSON in and out, and the gateway key when there is one."""
    headers = {"accept": "application/json", "user-agent": USER_AGENT}
    if request.body is not None:
        headers["content-type"] = "application/json"
    if api_key:
        headers["authorization"] = f"Bearer {api_key}"
    return headers


def milliseconds(name: str, seconds: Optional[float]) -> Optional[int]:
    """Seconds as the API's whole milliseconds."""
    if seconds is None:
        return None
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or math.isnan(seconds) or seconds < 0:
        raise ValueError(f"{name}: {seconds!r} must be a number of seconds, 0 or more")
    return int(round(seconds * 1000))


def run_id_of(permit: PermitRef) -> str:
    """The runId of a permit, or the string itself."""
    if isinstance(permit, str):
        return permit
    if permit.run_id is None:
        raise ValueError("permit: its runId is not shown to this key (only to the key that holds it, and to admin keys)")
    return permit.run_id


def _json(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body).encode()


def acquire_request(
    resource: str, *, lease_ms: Optional[int], wait_ms: int, capacity: Optional[int], holder: Optional[str]
) -> Request:
    """POST /resources/{resource}/acquire."""
    body: Dict[str, Any] = {"waitMs": wait_ms}
    if lease_ms is not None:
        body["leaseMs"] = lease_ms
    if capacity is not None:
        body["capacity"] = capacity
    if holder is not None:
        body["holder"] = holder
    return Request("POST", f"/resources/{quote(resource, safe='')}/acquire", _json(body))


def release_request(run_id: str) -> Request:
    """DELETE /permits/{runId}."""
    return Request("DELETE", f"/permits/{quote(run_id, safe='')}", None)


def renew_request(run_id: str, lease_ms: Optional[int]) -> Request:
    """POST /permits/{runId}/renew."""
    return Request("POST", f"/permits/{quote(run_id, safe='')}/renew", _json({} if lease_ms is None else {"leaseMs": lease_ms}))


def status_request(run_id: str) -> Request:
    """GET /permits/{runId}: the fencing check."""
    return Request("GET", f"/permits/{quote(run_id, safe='')}", None)


def holders_request(resource: str, capacity: Optional[int]) -> Request:
    """GET /resources/{resource}."""
    query = "" if capacity is None else f"?capacity={int(capacity)}"
    return Request("GET", f"/resources/{quote(resource, safe='')}{query}", None)


def decode(status: int, headers: Mapping[str, str], raw: bytes) -> Answer:
    """An answer from its status, headers (lower-case names) and raw body."""
    text = raw.decode("utf-8", errors="replace")
    body: Any = text
    if "json" in headers.get("content-type", "") and text:
        try:
            body = json.loads(text)
        except ValueError:
            pass  # left as text: the caller reports it as an unexpected answer
    return Answer(status, headers, body)


def retry_after(headers: Mapping[str, str]) -> Optional[float]:
    """Retry-After in seconds: either delay-seconds or an HTTP date."""
    value = headers.get("retry-after", "").strip()
    if not value:
        return None
    if re.fullmatch(r"\d+", value):
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def error_for(answer: Answer, base_url: str) -> LockServiceError:
    """The exception an answer with an unexpected status stands for."""
    body = answer.body
    seconds = retry_after(answer.headers)
    if isinstance(body, Mapping) and isinstance(body.get("error"), str) and isinstance(body.get("message"), str):
        code: str = body["error"]
        state = body.get("state") if isinstance(body.get("state"), str) else None
        capacity = body.get("capacity") if isinstance(body.get("capacity"), int) else None
        cls = error_class(answer.status, code)
        return cls(body["message"], status=answer.status, code=code, retry_after=seconds, state=state, capacity=capacity)
    excerpt = (body if isinstance(body, str) else json.dumps(body))[:200]
    cls = error_class(answer.status, "unexpected_response")
    return cls(
        f"unexpected answer HTTP {answer.status} (is {base_url} the lock service?)" + (f": {excerpt}" if excerpt else ""),
        status=answer.status,
        code="unexpected_response",
        retry_after=seconds,
    )


def refuses_wait(error: LockServiceError) -> bool:
    """The service names the offending field first (``body.waitMs: Too big: …``): a shorter MAX_WAIT_MS."""
    return error.code == "invalid_request" and error.message.startswith("body.waitMs:")
