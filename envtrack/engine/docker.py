"""The Docker Engine connection every command shares."""

from __future__ import annotations

from functools import lru_cache

from envtrack.endpoints import EngineEndpoint, engine
from envtrack.errors import EnvtrackError


def sdk_client(endpoint: EngineEndpoint, timeout: int):
    """A docker SDK client for ENDPOINT (not yet pinged): TLS files as TLSConfig, ssh through the ssh CLI."""
    import docker

    if endpoint.scheme == "ssh":
        return docker.DockerClient(base_url=endpoint.host, timeout=timeout, use_ssh_client=True)
    tls = None
    if endpoint.tls is not None:
        client_cert = (endpoint.tls.cert, endpoint.tls.key) if endpoint.tls.cert else None
        tls = docker.tls.TLSConfig(client_cert=client_cert, ca_cert=endpoint.tls.ca, verify=bool(endpoint.tls.ca))
    return docker.DockerClient(base_url=endpoint.host, timeout=timeout, tls=tls or False)


@lru_cache(maxsize=1)
def docker_client():
    """A docker SDK client that has answered a ping, or a one-line error naming the fix."""
    endpoint = engine()
    try:
        client = sdk_client(endpoint, timeout=600)
        client.ping()
    except Exception as error:  # noqa: BLE001 - any failure means: unreachable
        from envtrack.engine.api import ping

        reason = ping() or type(error).__name__  # envtrack's transport says why in a few words
        raise EnvtrackError(
            f"cannot reach the Docker Engine at {endpoint.display} ({reason})",
            hint="run `envtrack doctor`" + ("" if not endpoint.is_local else
                                            " (or `envtrack engine setup` to start it)"),
        ) from None
    return client
