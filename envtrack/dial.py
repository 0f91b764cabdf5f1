"""Open a byte stream to a Docker Engine, whatever its address: the one home of the transports.

- unix:///PATH   a Unix socket;
- tcp://HOST:PORT plain TCP, or TLS when the endpoint carries TLS files (server verified
  against its CA when one is given, client certificate sent when one is given);
- ssh://[USER@]HOST[:PORT] the system ssh client running `docker system dial-stdio` on the
  far side, as the docker CLI does; its stdin/stdout are one end of a socketpair, so
  callers get a real socket either way (envtrack.sshdial, loaded for ssh:// only).

The Engine API client (`engine.api`) and the BuildKit relay (`buildkit.relay`) both dial here.
"""

from __future__ import annotations

import os

# socket, ssl, subprocess, threading, tempfile and urllib.parse are imported where TCP, TLS,
# ssh and the relay need them: a command on the local socket (`exec`, `status`) dials with
# the C-level socket alone and must not pay for them (socket.py's enums and selectors: ~3 ms).
from envtrack.endpoints import EngineEndpoint, TLS
from envtrack.errors import EnvtrackError

TYPE_CHECKING = False   # typing.TYPE_CHECKING without importing typing (see endpoints.py)
if TYPE_CHECKING:
    import socket
    import ssl
    from typing import Callable

SSH_OPTIONS = ("-o", "BatchMode=yes", "-o", "ConnectTimeout=10")


def dial(endpoint: EngineEndpoint, timeout: float | None = 60) -> socket.socket:
    """A connected stream socket to ENDPOINT's Engine; OSError when it cannot be reached.

    A Unix socket's is the C-level `_socket.socket` (what socket.socket is made of): recv,
    sendall, settimeout, setblocking, shutdown, fileno and close as usual, but no makefile;
    engine/wire.Reader reads any of them."""
    if endpoint.scheme == "unix":
        import _socket

        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(endpoint.socket_path)
        except OSError:
            sock.close()
            raise
        return sock
    if endpoint.scheme == "tcp":
        import socket

        host, port = endpoint.address
        sock = socket.create_connection((host, port), timeout=timeout)
        if endpoint.tls is None:
            return sock
        try:
            return tls_context(endpoint.tls).wrap_socket(sock, server_hostname=host)
        except OSError:
            sock.close()
            raise
    if endpoint.scheme == "ssh":
        from envtrack.sshdial import dial_ssh

        return dial_ssh(ssh_command(endpoint.host), timeout)
    raise EnvtrackError(f"cannot dial {endpoint.host}", exit_code=2)


def tls_context(tls: TLS) -> ssl.SSLContext:
    """Verify the server by TLS.ca (hostnames included) when given; present TLS.cert/key when given."""
    import ssl

    if tls.ca:
        context = ssl.create_default_context(cafile=tls.ca)
    else:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if tls.cert:
        context.load_cert_chain(tls.cert, tls.key)
    return context


def ssh_command(host: str) -> list[str]:
    """`ssh [-l USER] [-p PORT] HOST docker system dial-stdio` for ssh://[USER@]HOST[:PORT]."""
    from urllib.parse import urlsplit

    parts = urlsplit(host)
    if not parts.hostname:
        raise EnvtrackError(f"{host}: want ssh://[USER@]HOST[:PORT]", exit_code=2)
    command = ["ssh", *SSH_OPTIONS]
    if parts.username:
        command += ["-l", parts.username]
    if parts.port:
        command += ["-p", str(parts.port)]
    return command + ["--", parts.hostname, "docker", "system", "dial-stdio"]


def failure_detail(sock: socket.socket | None, error: BaseException) -> str:
    """What to tell the user about a failed exchange: ssh's own words when ssh was in the way."""
    ssh_error = getattr(sock, "ssh_error", None)   # envtrack.sshdial's socket
    if ssh_error is not None and ssh_error():
        return ssh_error()  # ssh prefixes its own lines with "ssh:"
    return str(error) or type(error).__name__


def splice(first: socket.socket, second: socket.socket, chunk: int = 65536) -> None:
    """Copy bytes both ways until both directions have ended, then close both.

    One thread serves both directions, so a TLS socket is never read and written at the same
    time from two threads (OpenSSL's objects are not safe for that); bytes TLS has already
    decrypted (`pending()`) count as readable although select() cannot see them. An end of
    one direction is passed on as a half-close (`docker exec -i` ends stdin that way) where the
    other side is plain; Python cannot half-close TLS, so an end towards a TLS side ends both.
    """
    import selectors
    import socket
    import ssl

    peers = {first: second, second: first}
    open_sources = set(peers)
    with selectors.DefaultSelector() as selector:
        for sock in peers:
            sock.setblocking(True)
            selector.register(sock, selectors.EVENT_READ)
        try:
            while open_sources:
                ready = [s for s in open_sources if isinstance(s, ssl.SSLSocket) and s.pending()]
                ready = ready or [key.fileobj for key, _ in selector.select()]
                for source in ready:
                    try:
                        data = source.recv(chunk)
                    except ssl.SSLWantReadError:
                        continue
                    if data:
                        peers[source].sendall(data)
                        continue
                    if isinstance(peers[source], ssl.SSLSocket):
                        return   # no half-close for TLS: its peer would wait for an end forever
                    open_sources.discard(source)
                    selector.unregister(source)
                    peers[source].shutdown(socket.SHUT_WR)
        except OSError:
            return
        finally:
            for sock in peers:
                _close(sock)


def _close(sock: socket.socket) -> None:
    import socket

    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


class LocalForward:
    """A private Unix socket (folder 0700, socket 0600) whose every connection is spliced to a
    fresh one from CONNECT, which returns the connected socket and bytes it already read for
    the client. A context manager; `address` is what clients that only dial addresses use."""

    def __init__(self, connect: Callable[[], tuple[socket.socket, bytes]], name: str = "engine.sock"):
        import socket
        import tempfile
        import threading

        self._connect = connect
        self._dir = tempfile.mkdtemp(prefix="envtrack-relay-")
        self.path = os.path.join(self._dir, name)
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._closed = threading.Event()

    @property
    def address(self) -> str:
        return f"unix://{self.path}"

    def __enter__(self):
        import threading

        os.chmod(self._dir, 0o700)
        self._listener.bind(self.path)
        os.chmod(self.path, 0o600)
        self._listener.listen(16)
        threading.Thread(target=self._accept_loop, name="envtrack-relay", daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._closed.set()
        self._listener.close()
        for remove, path in ((os.remove, self.path), (os.rmdir, self._dir)):
            try:
                remove(path)
            except OSError:
                pass

    def _accept_loop(self) -> None:
        import threading

        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            peer, leftover = self._connect()
        except (OSError, EnvtrackError):
            client.close()
            return
        if leftover:
            client.sendall(leftover)
        splice(client, peer)
