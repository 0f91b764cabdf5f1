"""An Engine behind ssh: `ssh ... docker system dial-stdio` on a socketpair (envtrack.dial's ssh://).

Apart from envtrack.dial so that dialling a local socket loads neither socket.py nor
subprocess or threading: only an ssh:// Engine imports this.
"""

from __future__ import annotations

import socket
import subprocess
import threading


class SshSocket(socket.socket):
    """One end of a socketpair whose other end is an ssh process's stdin and stdout."""

    process: subprocess.Popen | None = None
    collector: threading.Thread | None = None
    errors: list[str]

    def ssh_error(self) -> str:
        """ssh's last error line, once it has ended (it ends soon after a failed exchange)."""
        if self.collector is not None:
            self.collector.join(timeout=3)
        return (self.errors[-1] if self.errors else "").strip()


def dial_ssh(command: list[str], timeout: float | None) -> SshSocket:
    """Run COMMAND (envtrack.dial.ssh_command's) with its stdin and stdout on a socketpair; our end."""
    mine, theirs = socket.socketpair()
    sock = SshSocket(mine.family, mine.type, fileno=mine.detach())
    sock.errors = []
    try:
        sock.process = subprocess.Popen(command, stdin=theirs, stdout=theirs,
                                        stderr=subprocess.PIPE, start_new_session=True)
    except OSError as error:
        sock.close()
        raise OSError(f"cannot run ssh: {error}") from None
    finally:
        theirs.close()
    sock.collector = threading.Thread(target=_collect, args=(sock.process, sock.errors), daemon=True)
    sock.collector.start()
    sock.settimeout(timeout)
    return sock


def _collect(process: subprocess.Popen, errors: list[str]) -> None:
    """Keep ssh's error lines for the message, and reap the process when it ends."""
    for line in process.stderr:
        errors.append(line.decode(errors="replace"))
    process.wait()
