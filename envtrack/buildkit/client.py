"""BuildKit's control API over grpcio: Solve with progress from the Status stream.

Two transports share one client: the BuildKit embedded in the Docker Engine (through
`EngineRelay`, over whatever carries the Engine's API), the default; or a standalone
buildkitd address (`unix://PATH`, `tcp://HOST:PORT`, TLS from ENVTRACK_BUILDKIT_TLS_CA/_CERT/_KEY
or the envtrack context): whichever the `Endpoints` handed to `connect` name.
"""

from __future__ import annotations

import os
import threading
import uuid
from contextlib import contextmanager
from typing import Callable, Iterator

import grpc

from envtrack.endpoints import TLS, BuilderEndpoint, Endpoints
from envtrack.errors import EnvtrackError
from envtrack.pb import control_pb2, control_pb2_grpc, ops_pb2

MAX_MESSAGE = 256 * 1024 * 1024  # io.copy embeds files in the definition
CHANNEL_OPTIONS = [("grpc.max_send_message_length", MAX_MESSAGE),
                   ("grpc.max_receive_message_length", MAX_MESSAGE)]
DOCTOR_HINT = "run `envtrack doctor`"


class SolveFailure(Exception):
    """BuildKit refused or failed the solve; `details` is its message (exit code only in text)."""

    def __init__(self, details: str, code: str):
        super().__init__(details)
        self.details = details
        self.code = code


@contextmanager
def connect(endpoints: Endpoints) -> Iterator["BuildKit"]:
    """The builder ENDPOINTS name: a standalone buildkitd, or the BuildKit of their Engine."""
    chosen = endpoints.builder
    if chosen.address is None:
        from envtrack.buildkit.relay import EngineRelay

        endpoint = endpoints.engine
        if endpoint.is_local and not os.path.exists(endpoint.socket_path):
            raise EnvtrackError(f"cannot reach the Docker Engine at {endpoint.display}", hint=DOCTOR_HINT)
        with EngineRelay(endpoint) as relay, grpc.insecure_channel(relay.address, CHANNEL_OPTIONS) as channel:
            yield BuildKit(channel, f"Docker Engine at {endpoint.display}")
        return
    with _channel_for(chosen) as channel:
        yield BuildKit(channel, f"buildkitd at {chosen.address}")


def _channel_for(chosen: BuilderEndpoint) -> grpc.Channel:
    address = chosen.address or ""
    if address.startswith("unix://"):
        return grpc.insecure_channel(address, CHANNEL_OPTIONS)
    target = address[len("tcp://"):]
    if chosen.tls is None:
        return grpc.insecure_channel(target, CHANNEL_OPTIONS)
    return grpc.secure_channel(target, _tls_credentials(chosen.tls), CHANNEL_OPTIONS)


def _tls_credentials(tls: TLS) -> grpc.ChannelCredentials:
    def read(path: str | None) -> bytes | None:
        if not path:
            return None
        try:
            with open(path, "rb") as file:
                return file.read()
        except OSError as error:
            raise EnvtrackError(f"builder TLS file {path}: {error.strerror}", exit_code=2) from None

    return grpc.ssl_channel_credentials(read(tls.ca), read(tls.key), read(tls.cert))


class BuildKit:
    def __init__(self, channel: grpc.Channel, description: str):
        self._stub = control_pb2_grpc.ControlStub(channel)
        self.description = description

    def solve(self, definition: bytes | None, *, exporter: str, exporter_attrs: dict[str, str],
              on_status: Callable[[control_pb2.StatusResponse], None], frontend: str = "",
              frontend_inputs: dict[str, ops_pb2.Definition] | None = None,
              frontend_attrs: dict[str, str] | None = None,
              cache_to: str = "", cache_from: str = "") -> dict[str, str]:
        """Solve DEFINITION (or FRONTEND, given FRONTEND_INPUTS instead of session sources and
        FRONTEND_ATTRS, its options) and export it; every Status message goes to ON_STATUS as it arrives. CACHE_TO / CACHE_FROM: a
        registry reference the build cache is exported to / imported from (BuildKit's `registry`
        cache, mode=max)."""
        ref = f"envtrack-{uuid.uuid4().hex}"
        # Status is started first: it waits for the job, and it ends when the solve ends.
        stream = self._stub.Status(control_pb2.StatusRequest(Ref=ref))
        reader = threading.Thread(target=_drain, args=(stream, on_status), daemon=True)
        reader.start()
        request = control_pb2.SolveRequest(
            Ref=ref, Definition=ops_pb2.Definition.FromString(definition) if definition else None,
            Exporter=exporter, ExporterAttrs=exporter_attrs, Frontend=frontend, FrontendInputs=frontend_inputs,
            FrontendAttrs=frontend_attrs,
            Cache=control_pb2.CacheOptions(
                Exports=[control_pb2.CacheOptionsEntry(Type="registry", Attrs={"ref": cache_to, "mode": "max"})]
                if cache_to else [],
                Imports=[control_pb2.CacheOptionsEntry(Type="registry", Attrs={"ref": cache_from})] if cache_from else []),
        )
        try:
            response = self._stub.Solve(request)
        except grpc.RpcError as error:
            reader.join(timeout=5)
            if error.code() == grpc.StatusCode.UNAVAILABLE:
                raise EnvtrackError(f"cannot reach BuildKit ({self.description})", hint=DOCTOR_HINT) from None
            raise SolveFailure(error.details() or str(error), error.code().name) from None
        reader.join(timeout=10)
        return dict(response.ExporterResponse)

    def version(self, timeout: float = 10) -> str | None:
        """BuildKit's version ("v0.13.2", "" when unstamped), or None when it predates the Info call."""
        try:
            return self._stub.Info(control_pb2.InfoRequest(), timeout=timeout).buildkitVersion.version
        except grpc.RpcError as error:
            if error.code() == grpc.StatusCode.UNIMPLEMENTED:
                return None
            raise EnvtrackError(f"BuildKit ({self.description}) did not answer Info: "
                                f"{error.code().name} {error.details()}", hint=DOCTOR_HINT) from None

    def list_workers(self, timeout: float = 10) -> list[control_pb2.WorkerRecord]:
        try:
            return list(self._stub.ListWorkers(control_pb2.ListWorkersRequest(), timeout=timeout).record)
        except grpc.RpcError as error:
            raise EnvtrackError(f"BuildKit ({self.description}) did not list its workers: "
                                f"{error.code().name} {error.details()}", hint=DOCTOR_HINT) from None


def _drain(stream, on_status) -> None:
    try:
        for message in stream:
            on_status(message)
    except grpc.RpcError:
        pass  # the solve's own result says what went wrong
