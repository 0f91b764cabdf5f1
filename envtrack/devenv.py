"""A dev environment (`base(dev=True)`): who its user is and where its SSH server listens.

The contract between the build (envtrack/llb/dev.py makes the user, installs sshd, writes its
configuration) and `up`/`shell`/`exec`/`ssh` (which run as that user and reach that server).
Pure and import-free: `exec` reads the user's name from a container label without loading more.

envd makes a user named `envd` with the host user's uid and gid (pkg/lang/ir/v1/user.go); a
host user who is root gets root, which is what envd's `envd` alias of uid 0 amounts to.
"""

from __future__ import annotations

DEV_USER = "envd"                    # envd's name for the environment's user
DEV_HOME = "/home/envd"
USER_LABEL = "envtrack.dev.user"     # image and container label: the user shell/exec/ssh run as
OWNER_LABEL = "envtrack.dev.owner"   # container label: that user's "uid:gid"
AGENT_DIR = "/run/envtrack/ssh-agent"   # the host's SSH agent for shell/exec (container/agent_relay.py)
HOST_AGENT_DIR = "ssh-agent"         # ... bind-mounted from this folder of .envtrack/, owned by the user
SSHD_PORT = 2222                     # envd's SSHPortInContainer
SSH_DIR = "/etc/envtrack/ssh"        # sshd's configuration, host key and authorised keys
SSHD_CONFIG = f"{SSH_DIR}/sshd_config"
AUTHORIZED_KEYS = f"{SSH_DIR}/authorized_keys"
HOST_SUFFIX = ".envtrack"            # `ssh PROJECT.envtrack` (envd: NAME.envd)


def dev_user(uid: int) -> str:
    """The environment's user for a host user with UID: envd's user, or root for root."""
    return "root" if uid == 0 else DEV_USER


def dev_home(uid: int) -> str:
    return "/root" if uid == 0 else DEV_HOME
