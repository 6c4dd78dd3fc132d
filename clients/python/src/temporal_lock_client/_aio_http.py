"""One HTTP/1.1 exchange over asyncio streams: the standard library has no asyncio HTTP client.

Each request has a connection of its own (``Connection: close``): closing it is how a cancelled
acquire tells the service to stop waiting, and the service then releases a slot granted meanwhile."""
from __future__ import annotations

import asyncio
import ssl
from typing import Dict, Optional, Tuple
from urllib.parse import urlsplit

MAX_HEAD_LINES = 100


async def exchange(
    base_url: str, method: str, path: str, headers: Dict[str, str], body: Optional[bytes], ssl_context: Optional[ssl.SSLContext]
) -> Tuple[int, Dict[str, str], bytes]:
    """Sends one request and returns (status, headers with lower-case names, body). Raises OSError,
    asyncio.IncompleteReadError or ValueError when the connection or the answer breaks."""
    parts = urlsplit(base_url)
    secure = parts.scheme == "https"
    host = parts.hostname or ""
    port = parts.port or (443 if secure else 80)
    context = (ssl_context or ssl.create_default_context()) if secure else None
    reader, writer = await asyncio.open_connection(host, port, ssl=context)
    try:
        lines = [f"{method} {parts.path}{path} HTTP/1.1", f"host: {parts.netloc}", "connection: close"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        if body is not None or method in ("POST", "PUT", "PATCH"):
            lines.append(f"content-length: {len(body or b'')}")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b""))
        await writer.drain()

        status_line = (await reader.readline()).decode("latin-1")
        fields = status_line.split(" ", 2)
        if len(fields) < 2 or not fields[0].startswith("HTTP/") or not fields[1].isdigit():
            raise ValueError(f"not an HTTP answer: {status_line[:80]!r}")
        status = int(fields[1])
        answer_headers: Dict[str, str] = {}
        for _ in range(MAX_HEAD_LINES):
            line = (await reader.readline()).decode("latin-1").rstrip("\r\n")
            if not line:
                break
            name, _, value = line.partition(":")
            answer_headers[name.strip().lower()] = value.strip()
        else:
            raise ValueError("the answer's head is too long")

        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            return status, answer_headers, b""
        if "chunked" in answer_headers.get("transfer-encoding", "").lower():
            return status, answer_headers, await _read_chunked(reader)
        if "content-length" in answer_headers:
            return status, answer_headers, await reader.readexactly(int(answer_headers["content-length"]))
        return status, answer_headers, await reader.read()
    finally:
        writer.close()


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while True:
        size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
        if size == 0:
            while (await reader.readline()).strip():
                pass  # trailers
            return bytes(body)
        body += await reader.readexactly(size)
        await reader.readexactly(2)  # the CRLF after each chunk
