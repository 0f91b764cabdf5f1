"""`base(dev=True)` as envd builds it (pkg/lang/ir/v1/system.go compileDevPackages, user.go,
shell.go compilePrompt): its built-in apt packages, a user with the host user's uid and gid,
sudo, envd's prompt, and an SSH server (envd copies its own sshd binary out of an image on
ghcr.io; envtrack installs Debian's or Ubuntu's openssh-server from the base's own archive).

Stable steps come first, right after the base image (cache friendly, as in envd); the one
that depends on the uid follows them, and `finish` gives the user what later steps installed
as root (the environment's Python), as envd's compileUserOwn does at the end.
"""

from __future__ import annotations

from shlex import quote

from envtrack.agent.layout import WORKSPACE
from envtrack.devenv import AUTHORIZED_KEYS, DEV_HOME, DEV_USER, SSH_DIR, SSHD_CONFIG, SSHD_PORT, USER_LABEL, \
    dev_home, dev_user
from envtrack.frontend.steps import Step
from envtrack.llb import scripts
from envtrack.llb.context import Context, apt_mounts, fetch_step
from envtrack.state import Mkdir, Mkfile

# envd's types.BaseAptPackage, with its `libtinfo[56]`/`libncursesw[56]` patterns spelt as the
# Debian (bullseye and later) and Ubuntu (20.04 and later) archives name them; openssh-server
# stands for envd's own sshd.
BASE_APT_PACKAGES = (
    "bash-static", "libtinfo6", "libncursesw6",
    # conda dependencies
    "bzip2", "ca-certificates", "libglib2.0-0", "libsm6", "libxext6", "libxrender1", "mercurial", "procps",
    "subversion", "wget",
    # envd dependencies
    "curl", "openssh-client", "git", "sudo", "vim", "make", "zsh", "locales", "gpg", "libatomic1",
)
SSH_PACKAGES = ("openssh-server",)
OWNED_PATHS = (scripts.VENV, "/opt/conda", WORKSPACE)   # what the user owns, as envd's UserDirectories

SSHD_CONFIG_TEXT = f"""\
# envtrack's sshd for a dev environment; `up` writes {AUTHORIZED_KEYS} and starts it.
Port {SSHD_PORT}
HostKey {SSH_DIR}/ssh_host_ed25519_key
AuthorizedKeysFile {AUTHORIZED_KEYS}
PubkeyAuthentication yes
PasswordAuthentication no
ChallengeResponseAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
AllowAgentForwarding yes
AllowTcpForwarding yes
X11Forwarding no
PrintMotd no
PidFile /run/envtrack-sshd.pid
AcceptEnv LANG LC_*
Subsystem sftp internal-sftp
# The image's environment (PATH with the venv, runtime.environ), written at each start.
Include /run/envtrack-sshd-env.conf
"""

# envd's starship configuration shows `[envd]` for the container; starship comes from GitHub,
# so it is used when the image has it, and a prompt of the same shape otherwise.
PROMPT = ("\n# envd's prompt\n"
          'if command -v starship >/dev/null 2>&1; then eval "$(starship init bash)"; '
          "else PS1='\\[\\e[1;34m\\][envd]\\[\\e[0m\\] \\u@\\h:\\w\\$ '; fi\n")


def lower_dev_base(ctx: Context, step: Step) -> None:
    """After the base image: envd's packages and sshd, then the user (uid-dependent)."""
    uid, gid = ctx.owner
    packages = scripts.apt_install(BASE_APT_PACKAGES + SSH_PACKAGES, ca=ctx.ca is not None)
    ctx.state = fetch_step(ctx, _or_explain(packages, ctx.base_image), name="[internal] install built-in packages",
                           position=step.position, mounts=apt_mounts(ctx))
    ctx.state = ctx.state.file(Mkdir(SSH_DIR, mode=0o755), Mkfile(SSHD_CONFIG, SSHD_CONFIG_TEXT.encode(), mode=0o644),
                               name="[internal] configure sshd", position=step.position)
    ctx.state = ctx.state.run(shell=user_script(uid, gid), name=f"[internal] create user {dev_user(uid)}({uid}:{gid})",
                              position=step.position)
    ctx.labels[USER_LABEL] = dev_user(uid)


def finish(ctx: Context) -> None:
    """After every step: the user owns what root installed for it (find: only files not yet
    theirs, so a rebuild copies nothing else up)."""
    uid, gid = ctx.owner
    if USER_LABEL not in ctx.labels or uid == 0:
        return
    wrong = f"\\( ! -user {uid} -o ! -group {gid} \\)"
    script = "\n".join(f'[ ! -e {quote(path)} ] || find {quote(path)} {wrong} -exec chown -h {uid}:{gid} {{}} +'
                       for path in OWNED_PATHS)
    ctx.state = ctx.state.run(shell=script, name=f"[internal] configure user permissions for {DEV_USER}")


def user_script(uid: int, gid: int) -> str:
    """envd's compileUserGroup (with the host's uid and gid; root keeps root) and prompt."""
    home = dev_home(uid)
    lines = ["set -e"]
    if uid != 0:
        lines += [
            f"getent group {gid} >/dev/null || groupadd -g {gid} {DEV_USER}",
            f"id -u {DEV_USER} >/dev/null 2>&1 || useradd -o -p '' -u {uid} -g {gid} -s /bin/bash -m -d {DEV_HOME} "
            f"{DEV_USER}",
            f"usermod -a -G sudo {DEV_USER}",
            f"printf '%s\\n' '{DEV_USER} ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/{DEV_USER}",
            f"chmod 0440 /etc/sudoers.d/{DEV_USER}",
            f"install -d -o {uid} -g {gid} -m 0700 {DEV_HOME}/.config {DEV_HOME}/.cache",
            f"install -d -o {uid} -g {gid} {DEV_HOME}/.local",   # the agent watches it for a user site
            f"install -d -o {uid} -g {gid} {WORKSPACE}",
        ]
    lines.append(f"printf '%s' {quote(PROMPT)} >> {home}/.bashrc")
    return "\n".join(lines)


def _or_explain(script: str, image: str) -> str:
    """apt's own lines say what failed; the last one says what it means, in one line."""
    message = (f"envtrack: base(dev=True): apt could not install envd's built-in packages and openssh-server "
               f"from the package sources of {image} (apt's messages above say why); "
               "point config.apt_source at a mirror that serves them")
    return f"( {script}\n) || {{ echo {quote(message)} >&2; exit 1; }}"
