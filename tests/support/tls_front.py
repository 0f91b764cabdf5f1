"""A TLS-on-TCP front for a real Engine's Unix socket, with certificates made here.

Two modes, both in front of a real Docker Engine (no fake answers anything):
- plain: each TLS connection is spliced to the Engine socket, so the Engine's own API is
  served on tcp://127.0.0.1:PORT with mutual TLS: what `dockerd --tlsverify -H tcp://` serves;
- grpc: each TLS connection is first switched to BuildKit with the Engine's `POST /grpc`
  upgrade, so the port speaks BuildKit's gRPC over TLS: what `buildkitd --addr tcp://
  --tlscacert ...` serves.

Test-side code: the upgrade here is written apart from envtrack's relay, so a bug there
cannot hide; only the byte copying (`envtrack.dial.splice`) is shared.
"""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from envtrack.dial import splice

UPGRADE = (b"POST /grpc HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n"
           b"Content-Length: 0\r\n\r\n")


@dataclass(frozen=True)
class Certificates:
    ca: Path
    server_cert: Path
    server_key: Path
    client_dir: Path   # ca.pem, cert.pem, key.pem: a DOCKER_CERT_PATH


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certificates(directory: Path) -> Certificates:
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate, all signed by it."""
    directory.mkdir(parents=True, exist_ok=True)
    client = directory / "client"
    client.mkdir(exist_ok=True)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=envtrack test CA",
             "-keyout", "ca-key.pem", "-out", "ca.pem", cwd=directory)
    (directory / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    (directory / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    for name in ("server", "client"):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout", f"{name}-key.pem",
                 "-out", f"{name}.csr", cwd=directory)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial",
                 "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.pem", cwd=directory)
    for source, target in (("ca.pem", "ca.pem"), ("client.pem", "cert.pem"), ("client-key.pem", "key.pem")):
        (client / target).write_bytes((directory / source).read_bytes())
    return Certificates(directory / "ca.pem", directory / "server.pem", directory / "server-key.pem", client)


class TlsFront:
    """Serve tcp://127.0.0.1:PORT with mutual TLS in front of the Engine socket; a context manager.

    With UNIX_PATH instead of certificates: a plain Unix socket there (buildkitd's default form).
    """

    def __init__(self, engine_socket: str, certificates: Certificates | None, grpc: bool = False,
                 unix_path: Path | None = None):
        self.engine_socket = engine_socket
        self.grpc = grpc
        self.context = None
        if certificates is not None:
            self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(certificates.ca))
            self.context.verify_mode = ssl.CERT_REQUIRED
            self.context.load_cert_chain(str(certificates.server_cert), str(certificates.server_key))
            if grpc:
                self.context.set_alpn_protocols(["h2"])
        if unix_path is not None:
            self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.listener.bind(str(unix_path))
            self.listener.listen(16)
            self.address = f"unix://{unix_path}"
        else:
            self.listener = socket.create_server(("127.0.0.1", 0))
            self.address = f"tcp://127.0.0.1:{self.listener.getsockname()[1]}"
        self.refused = 0   # handshakes that failed (wrong or missing client certificate)

    def __enter__(self) -> "TlsFront":
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.listener.close()

    def _accept(self) -> None:
        while True:
            try:
                raw, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(raw,), daemon=True).start()

    def _serve(self, raw: socket.socket) -> None:
        try:
            client = self.context.wrap_socket(raw, server_side=True) if self.context else raw
        except (OSError, ssl.SSLError):
            self.refused += 1
            raw.close()
            return
        engine = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        engine.connect(self.engine_socket)
        if self.grpc:
            engine.sendall(UPGRADE)
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = engine.recv(65536)
                if not chunk:
                    break
                head += chunk
            _, _, rest = head.partition(b"\r\n\r\n")
            if rest:
                client.sendall(rest)
        splice(client, engine)
