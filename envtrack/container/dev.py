"""A dev environment's container: its SSH server, the key it accepts, the port it is reached on.

The server is the container's own: a daemon of its first process (spec.Runtime), so it is
restarted whenever it exits, as runtime.daemon commands are. Its configuration is the image's
(envtrack/llb/dev.py); what depends on this machine (the host key, the authorised public key,
the image's environment for SSH sessions) is written when the container starts or by `up`.
"""

from __future__ import annotations

import os

from envtrack.devenv import AUTHORIZED_KEYS, SSH_DIR, SSHD_CONFIG, SSHD_PORT
from envtrack.endpoints import EngineEndpoint

SSH_PORT_ENV = "ENVTRACK_SSH_PORT"       # the host port for the SSH server (0 or unset: a free one)
SSH_LISTEN_ENV = "ENVTRACK_SSH_LISTEN"   # the host address it is published on (default 127.0.0.1)
SSHD_ENV_CONF = "/run/envtrack-sshd-env.conf"
PROFILE_ENV = "/etc/profile.d/envtrack-env.sh"
_NOT_SESSION_ENV = "^(export )?(HOME|HOSTNAME|PWD|OLDPWD|SHLVL|_|TERM|USER|LOGNAME|SSH_[A-Z_]*)="

# sshd gives sessions a PATH of its own and Debian's /etc/profile another: both get the image's
# environment back (the venv's PATH, runtime.environ), as `docker exec` sees it.
SSHD_COMMAND = "\n".join([
    "mkdir -p /run/sshd",
    f"[ -s {SSH_DIR}/ssh_host_ed25519_key ] || ssh-keygen -q -t ed25519 -N '' -f {SSH_DIR}/ssh_host_ed25519_key",
    # one SetEnv line: sshd keeps only the first of several
    f"{{ printf 'SetEnv'; env | grep -Ev '{_NOT_SESSION_ENV}' | sed 's/\"/\\\\\"/g; s/^/ \"/; s/$/\"/' | tr -d '\\n'; "
    f"echo; }} > {SSHD_ENV_CONF}",
    f"export -p | grep -Ev '{_NOT_SESSION_ENV}' > {PROFILE_ENV}",
    f"exec /usr/sbin/sshd -D -e -f {SSHD_CONFIG}",
])


def prepare_agent_dir(state_dir, owner: tuple[int, int]) -> None:
    """The folder the host's SSH agent socket appears in for shell/exec, the dev user's alone."""
    from envtrack.devenv import HOST_AGENT_DIR

    path = os.path.join(str(state_dir), HOST_AGENT_DIR)
    os.makedirs(path, mode=0o700, exist_ok=True)
    if os.getuid() == 0 and owner != (0, 0):   # config.owner may name another user than this one
        os.chown(path, *owner)


def ssh_listen(environ=os.environ) -> tuple[str, int]:
    """(host address, host port) the SSH server is published on; port 0 lets the Engine choose."""
    port = environ.get(SSH_PORT_ENV, "").strip() or "0"
    if not port.isdigit() or int(port) > 65535:
        from envtrack.errors import EnvtrackError

        raise EnvtrackError(f"{SSH_PORT_ENV}={port!r} is not a port number", exit_code=2)
    return environ.get(SSH_LISTEN_ENV, "").strip() or "127.0.0.1", int(port)


def ssh_route(engine_host: str, listen: str) -> tuple[str, str | None]:
    """(HostName, ProxyJump or None) that reach the SSH server from here. A local Engine publishes
    it on this machine; a remote Engine's port is on the engine host: reached directly when it is
    published beyond the loopback address, else through the engine host (ssh://USER@HOST:PORT's
    own login, or HOST for tcp://), as `ssh -J` does."""
    from urllib.parse import urlsplit

    scheme, _, rest = engine_host.partition("://")
    if scheme == "unix":
        return "127.0.0.1", None
    parts = urlsplit(engine_host)
    if listen not in ("127.0.0.1", "localhost", "::1"):
        return parts.hostname or listen, None
    if scheme == "ssh":
        return "127.0.0.1", rest.split("/", 1)[0]
    return "127.0.0.1", parts.hostname


def published_port(document: dict) -> int | None:
    """The host port the Engine published the SSH server on, from a container inspect document."""
    bindings = ((document.get("NetworkSettings") or {}).get("Ports") or {}).get(f"{SSHD_PORT}/tcp") or []
    for binding in bindings:
        if str(binding.get("HostPort") or "").isdigit():
            return int(binding["HostPort"])
    return None


def authorize_key(endpoint: EngineEndpoint, container_id: str, public_key: str) -> None:
    """Make PUBLIC_KEY the one the SSH server accepts (envd writes its key with the comment `envd`)."""
    from envtrack.engine import api
    from envtrack.errors import EnvtrackError

    line = " ".join(public_key.split()[:2]) + " envtrack"
    script = f'umask 022; mkdir -p {SSH_DIR} && printf "%s\\n" "$1" > {AUTHORIZED_KEYS}.new && ' \
             f'mv {AUTHORIZED_KEYS}.new {AUTHORIZED_KEYS}'
    code, output = api.exec_run(endpoint, container_id, ["sh", "-c", script, "sh", line])
    if code != 0:
        raise EnvtrackError(f"cannot authorise the SSH key in the container: {output.decode(errors='replace').strip()}")
