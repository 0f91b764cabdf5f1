"""HTTP/1.1 over an already connected stream socket: just what the Engine API needs.

http.client pulls in the email package and ssl (as much import time as the rest of
`envtrack status`); the Engine answers with a Content-Length, a chunked body or, for
streams, a body that ends when the connection does, and that is all this reads.

It reads with `recv` alone (`Reader`), so it takes any connected stream socket: the plain
C-level one envtrack.dial makes for a Unix socket as well as socket.socket and TLS ones.
"""

from __future__ import annotations

TYPE_CHECKING = False   # typing.TYPE_CHECKING without importing typing (see endpoints.py)
if TYPE_CHECKING:
    import socket

CHUNK = 65536


class ProtocolError(OSError):
    """The peer's answer is not HTTP/1.x as expected."""


class Reader:
    """Buffered reads from a connected socket, as `makefile("rb")` gives them: `read(n)` waits
    for N bytes or the end, `readline(limit)` for a line. The socket stays its owner's to close."""

    __slots__ = ("_sock", "_buffer")

    def __init__(self, sock: socket.socket):
        self._sock = sock
        self._buffer = bytearray()

    def _fill(self) -> bool:
        data = self._sock.recv(CHUNK)
        self._buffer += data
        return bool(data)

    def _take(self, size: int) -> bytes:
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def readline(self, limit: int = 65537) -> bytes:
        while True:
            end = self._buffer.find(b"\n", 0, limit)
            if end >= 0:
                return self._take(end + 1)
            if len(self._buffer) >= limit or not self._fill():
                return self._take(limit)

    def read(self, size: int = -1) -> bytes:
        while (size < 0 or len(self._buffer) < size) and self._fill():
            pass
        return self._take(len(self._buffer) if size < 0 else size)

    def close(self) -> None:
        self._buffer.clear()


def exchange(sock: socket.socket, method: str, target: str, body: bytes | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """Send one request on SOCK and read its whole answer: (status, lower-cased headers, body)."""
    send_request(sock, method, target, body, headers)
    reader = Reader(sock)
    status, fields = read_head(reader)
    return status, fields, _read_body(reader, fields, method)


def send_request(sock: socket.socket, method: str, target: str, body: bytes | None = None,
                 headers: dict[str, str] | None = None) -> None:
    headers = headers or {}
    # One request per connection; asking for an upgrade (a hijacked stream) replaces `close`.
    lines = [f"{method} {target} HTTP/1.1", "Host: docker", f"Connection: {'Upgrade' if 'Upgrade' in headers else 'close'}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines.append(f"Content-Length: {len(body or b'')}")
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b""))


def read_head(reader) -> tuple[int, dict[str, str]]:
    """The status line and headers; informational 1xx answers other than 101 are skipped."""
    while True:
        line = reader.readline(65537)
        parts = line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise ProtocolError(f"not an HTTP answer: {line[:80]!r}")
        status = int(parts[1])
        fields: dict[str, str] = {}
        while True:
            header = reader.readline(65537)
            if header in (b"\r\n", b"\n", b""):
                break
            name, _, value = header.decode("latin-1").partition(":")
            fields[name.strip().lower()] = value.strip()
        if status == 101 or not 100 <= status < 200:
            return status, fields


def _read_body(reader, fields: dict[str, str], method: str) -> bytes:
    if method == "HEAD":
        return b""
    if "chunked" in fields.get("transfer-encoding", "").lower():
        return _read_chunked(reader)
    if "content-length" in fields:
        length = int(fields["content-length"])
        data = reader.read(length)
        if len(data) < length:
            raise ProtocolError("the answer ended early")
        return data
    return reader.read()


def _read_chunked(reader) -> bytes:
    return b"".join(_chunks(reader))


def _chunks(reader):
    while True:
        size_line = reader.readline(65537)
        if not size_line:
            raise ProtocolError("the chunked answer ended early")
        size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            while reader.readline(65537) not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return
        yield reader.read(size)
        reader.readline(65537)  # the CRLF after each chunk


def iter_body(reader, fields: dict[str, str]):
    """The body as it arrives, chunk by chunk (a streamed answer: pull or push progress)."""
    if "chunked" in fields.get("transfer-encoding", "").lower():
        yield from _chunks(reader)
    else:
        yield _read_body(reader, fields, "GET")
