"""The host's SSH agent inside `shell` and `exec`, while they run; nothing is copied anywhere.

A listening socket in a folder of the project's state folder that is bind-mounted into the
container (.envtrack/ itself at STATE_MOUNT for root; `ssh-agent/` at devenv.AGENT_DIR for a
dev environment's user, who cannot enter .envtrack/) is relayed to SSH_AUTH_SOCK by a child process: the agent's keys never leave it,
and the socket goes when the command ends (the child follows its parent, which for `shell` is
the docker CLI exec'd in place). Only a local Engine shares the folder; over a remote Engine
the agent reaches the environment through `envtrack ssh` (ForwardAgent).

Loaded only when SSH_AUTH_SOCK is set: standard library, no threads.
"""

from __future__ import annotations

import os
import select
import signal
import socket

CHECK_PARENT_SECONDS = 1.0


def start_relay(folder, container_folder: str, host_socket: str,
                owner: tuple[int, int] | None = None) -> tuple[str, int] | None:
    """A socket in FOLDER (CONTAINER_FOLDER inside), owned by OWNER (uid, gid) when given:
    (the socket's path in the container, the relay's pid), or None when it cannot be made."""
    name = f"ssh-agent-{os.getpid()}.sock"
    path = os.path.join(str(folder), name)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        if os.path.lexists(path):
            os.unlink(path)
        listener.bind(path if len(path) < 100 else _short_path(folder, name))
        os.chmod(path, 0o600)
        if owner is not None and os.getuid() == 0:
            os.chown(path, *owner)
        listener.listen(8)
    except OSError:
        listener.close()
        return None
    parent = os.getpid()
    child = os.fork()
    if child == 0:  # the relay: never returns into the caller's code
        try:
            _serve(listener, host_socket, parent)
        finally:
            try:
                os.unlink(path)
            except OSError:
                pass
            os._exit(0)
    listener.close()
    return f"{container_folder}/{name}", child


def stop_relay(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
        os.waitpid(pid, 0)
    except OSError:
        pass


def _short_path(state_dir, name: str) -> str:
    """A path under 108 bytes for a deep project: the folder through a descriptor of it."""
    fd = os.open(str(state_dir), os.O_RDONLY)
    return f"/proc/self/fd/{fd}/{name}"


def _serve(listener: socket.socket, host_socket: str, parent: int) -> None:
    signal.signal(signal.SIGTERM, _exit)
    peers: dict[socket.socket, socket.socket] = {}
    while os.getppid() == parent:
        ready, _, _ = select.select([listener, *peers], [], [], CHECK_PARENT_SECONDS)
        for sock in ready:
            if sock is listener:
                _accept(listener, host_socket, peers)
                continue
            try:
                data = sock.recv(65536)
                if data:
                    peers[sock].sendall(data)
                    continue
            except OSError:
                pass
            _close_pair(sock, peers)


def _exit(*_signal) -> None:
    raise SystemExit(0)   # through _serve's caller, which removes the socket


def _accept(listener: socket.socket, host_socket: str, peers: dict) -> None:
    inside, _ = listener.accept()
    agent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        agent.connect(host_socket)
    except OSError:
        inside.close()
        agent.close()
        return
    peers[inside], peers[agent] = agent, inside


def _close_pair(sock: socket.socket, peers: dict) -> None:
    other = peers.pop(sock, None)
    if other is not None:
        peers.pop(other, None)
        other.close()
    sock.close()
