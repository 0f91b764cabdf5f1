"""docker SDK clients: one per Engine endpoint, kept for the rest of the process."""

from __future__ import annotations

from functools import lru_cache

from envtrack.endpoints import EngineEndpoint
from envtrack.errors import EnvtrackError

# Engine 20.10's API version, which every newer Engine still serves. Fixed rather than asked
# for: asking costs a round trip before the client can be configured (see trust_env below).
API_VERSION = "1.41"


def sdk_client(endpoint: EngineEndpoint, timeout: int):
    """A docker SDK client for ENDPOINT (not yet pinged): TLS files as TLSConfig, ssh through the ssh CLI."""
    import docker

    if endpoint.scheme == "ssh":  # the SDK's own ssh support needs paramiko; envtrack's ssh dialer does not
        return docker.DockerClient(base_url=ssh_forward(endpoint).address, timeout=timeout, version=API_VERSION)
    tls = None
    if endpoint.tls is not None:
        client_cert = (endpoint.tls.cert, endpoint.tls.key) if endpoint.tls.cert else None
        tls = docker.tls.TLSConfig(client_cert=client_cert, ca_cert=endpoint.tls.ca, verify=bool(endpoint.tls.ca))
    client = docker.DockerClient(base_url=endpoint.host, timeout=timeout, tls=tls or False, version=API_VERSION)
    # requests lets REQUESTS_CA_BUNDLE (set wherever HTTPS is intercepted) replace the Engine's own
    # CA for every request; the Engine is reached directly, so the environment has no say.
    client.api.trust_env = False
    return client


@lru_cache(maxsize=4)
def ssh_forward(endpoint: EngineEndpoint):
    """A private Unix socket, open for the rest of the process, spliced to the Engine over ssh."""
    import atexit

    from envtrack.dial import LocalForward, dial

    forward = LocalForward(lambda: (dial(endpoint), b"")).__enter__()
    atexit.register(forward.__exit__, None, None, None)
    return forward


@lru_cache(maxsize=4)
def docker_client(endpoint: EngineEndpoint):
    """A docker SDK client for ENDPOINT that has answered a ping, or a one-line error naming the
    fix. Remembered by endpoint: two projects on two Engines get one client each."""
    try:
        client = sdk_client(endpoint, timeout=600)
        client.ping()
    except Exception as error:  # noqa: BLE001 - any failure means: unreachable
        from envtrack.engine.api import ping

        reason = ping(endpoint) or type(error).__name__  # envtrack's transport says why in a few words
        raise EnvtrackError(
            f"cannot reach the Docker Engine at {endpoint.display} ({reason})",
            hint="run `envtrack doctor`" + ("" if not endpoint.is_local else
                                            " (or `envtrack engine setup` to start it)"),
        ) from None
    return client
