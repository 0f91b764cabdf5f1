"""The host side of `ssh PROJECT.envtrack`: envtrack's key pair and its own ssh_config file.

envd's rule for the key (pkg/ssh/config/key.go): a key pair of its own in its config folder,
made on first use, whose public half every dev environment authorises. envtrack's is
`~/.config/envtrack/id_ed25519_envtrack` (ENVTRACK_SSH_KEY names another private key; its
public half is beside it, `.pub`).

Host entries go into a file envtrack owns, `~/.config/envtrack/ssh_config`; the user's
`~/.ssh/config` gets one `Include` line for it at the top (an Include inside a Host block
would apply to that host only) and is otherwise never edited. `down` removes the entry.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from envtrack.errors import EnvtrackError
from envtrack.fsutil import write_atomic

KEY_ENV = "ENVTRACK_SSH_KEY"
KEY_NAME = "id_ed25519_envtrack"
CONFIG_NAME = "ssh_config"
MARK = "# envtrack: "


def _config_dir() -> Path:
    from envtrack.endpoints import config_dir

    return config_dir()


def config_path() -> Path:
    return _config_dir() / CONFIG_NAME


def host_alias(project_name: str) -> str:
    from envtrack.project import resource_names   # every name a project gives has one spelling

    return resource_names(project_name).host_alias


def key_pair() -> tuple[Path, str]:
    """(private key path, public key text); envtrack's own pair is made when missing."""
    named = os.environ.get(KEY_ENV, "").strip()
    private = Path(os.path.expanduser(named)) if named else _config_dir() / KEY_NAME
    public = private.with_name(private.name + ".pub")
    if not named and not public.is_file():
        private.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "envtrack", "-f", str(private)],
                           check=True, capture_output=True, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.CalledProcessError) as error:
            detail = getattr(error, "stderr", b"") or str(error).encode()
            raise EnvtrackError(f"cannot make envtrack's SSH key {private}: {detail.decode(errors='replace').strip()}",
                                hint="install openssh-client (ssh-keygen), or name a key with ENVTRACK_SSH_KEY") from None
    try:
        return private, public.read_text().strip()
    except OSError as error:
        raise EnvtrackError(f"cannot read the SSH public key {public}: {error.strerror}",
                            hint=f"{KEY_ENV} names the private key; its public key must be beside it (.pub)") from None


def entry(alias: str, *, host: str, port: int, user: str, identity: Path, jump: str | None) -> str:
    """A Host block as envd writes one (pkg/ssh/config/entry.go), agent forwarding on."""
    lines = [f"{MARK}{alias}", f"Host {alias}", f"  HostName {host}", f"  Port {port}", f"  User {user}",
             f'  IdentityFile "{identity}"', "  IdentitiesOnly yes", "  ForwardAgent yes",
             "  StrictHostKeyChecking no", "  UserKnownHostsFile /dev/null", "  LogLevel ERROR"]
    if jump:
        lines.append(f"  ProxyJump {jump}")
    return "\n".join(lines) + "\n"


def without_entry(text: str, alias: str) -> str:
    """TEXT (envtrack's file) without ALIAS's block: from its mark to the next mark."""
    blocks = re.split(rf"(?m)^(?={re.escape(MARK)})", text)
    return "".join(b for b in blocks if b and not b.startswith(f"{MARK}{alias}\n"))


def has_entry(alias: str) -> bool:
    path = config_path()
    return path.is_file() and f"{MARK}{alias}\n" in path.read_text()


def write_entry(alias: str, block: str) -> Path:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    old = path.read_text() if path.is_file() else ""
    write_atomic(path, without_entry(old, alias) + block, mode=0o600)
    include_from_user_config(path)
    return path


def remove_entry(alias: str) -> bool:
    """Remove ALIAS's block; whether there was one."""
    path = config_path()
    if not path.is_file():
        return False
    old = path.read_text()
    new = without_entry(old, alias)
    if new != old:
        write_atomic(path, new, mode=0o600)
    return new != old


def include_line(path: Path) -> str:
    return f'Include "{path}"'


def include_from_user_config(path: Path) -> None:
    """One Include line for PATH at the top of ~/.ssh/config, once; nothing else there changes."""
    user_config = Path(os.path.expanduser("~/.ssh/config"))
    line = include_line(path)
    old = user_config.read_text() if user_config.is_file() else ""
    if line in old.splitlines():
        return
    user_config.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_atomic(user_config, f"# envtrack's dev environments (their Host entries: envtrack up writes them, down removes them)\n{line}\n" + old,
                 mode=None if old else 0o600)
