"""The shell scripts build steps run, as pure functions of their arguments.

Each returns a script for `sh -c`, starting with `set -e` so the first failing
command fails the step. Arguments are quoted with shlex, never interpolated raw.
"""

from __future__ import annotations

from shlex import quote
from typing import Sequence

APT_CACHE = "/var/cache/apt"
APT_LISTS = "/var/lib/apt/lists"
VENV = "/opt/envtrack/venv"
PIP_CACHE = "/root/.cache/pip"
CONDA_PKGS = "/var/cache/envtrack/conda-pkgs"
INPUTS = "/run/envtrack/inputs"     # host files a step reads (requirements, wheels, env files)
CA_PATH = "/run/envtrack/ca.pem"    # the host CA bundle, bind-mounted read-only
LISTS_MAX_AGE_MINUTES = 24 * 60


def words(values: Sequence[str]) -> str:
    return " ".join(quote(v) for v in values)


def apt_install(packages: Sequence[str], *, ca: bool = False) -> str:
    """Install PACKAGES, refreshing the (cache-mounted) lists only when needed.

    The lists are refreshed when the cache is empty, older than a day, or was filled
    from other apt sources (a signature of the sources files is kept beside it), and
    once more if an install from the cached lists fails (a package the old lists lack,
    or versions the mirror no longer has). So adding a package usually downloads only
    that package.
    """
    options = f" -o Acquire::https::CAInfo={CA_PATH}" if ca else ""
    install = f"apt-get{options} install -y --no-install-recommends {words(packages)}"
    update = f'apt-get{options} update && printf %s "$sig" > "$stamp"'
    return "\n".join([
        "set -e",
        # Debian images delete downloaded .debs after each install, which would keep the cache empty.
        "rm -f /etc/apt/apt.conf.d/docker-clean",
        f"mkdir -p {APT_LISTS}/partial {APT_CACHE}/archives/partial",
        f"stamp={APT_LISTS}/.envtrack-sources",
        'sig="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null | md5sum)"',
        'if [ "$(cat "$stamp" 2>/dev/null)" != "$sig" ] || '
        f'[ -n "$(find "$stamp" -mmin +{LISTS_MAX_AGE_MINUTES} 2>/dev/null)" ]; then',
        f"  {update}",
        "fi",
        f"if ! {install}; then",
        f"  echo 'envtrack: retrying with fresh package lists' >&2",
        f"  {update}",
        f"  {install}",
        "fi",
    ])


def install_python(version: str, *, ca: bool = False) -> str:
    """Debian's python3 plus a venv at VENV (Debian's own pip refuses installs, PEP 668)."""
    check = "\n".join([
        "have=\"$(python3 -c 'import platform; print(platform.python_version())')\"",
        f'case "$have" in {quote(version)}|{quote(version)}.*) ;; *)',
        f'  echo "envtrack: install.python(version={version!r}) cannot be met: '
        'the base image provides Python $have" >&2',
        "  exit 1 ;;",
        "esac",
    ])
    return "\n".join([
        apt_install(["python3", "python3-venv", "python3-pip"], ca=ca),
        check,
        f"[ -x {VENV}/bin/python ] || python3 -m venv {VENV}",
    ])


UV_CACHE = "/root/.cache/envtrack-uv"    # cache mount, one per package index: uv (tool/) and its cache
UV_REQUIREMENT = "uv>=0.4"               # `uv pip install --python`, UV_LINK_MODE, UV_COMPILE_BYTECODE
UV_RETRY_MINUTES = 60                    # after pip could not install uv, how long to not ask again (a
                                         # transient index failure must not cost a day of pip speed)


def pip_install(names: Sequence[str], requirements: str | None, wheels: Sequence[str]) -> str:
    """Install into the venv with uv, else pip. REQUIREMENTS and WHEELS are file names under INPUTS.

    uv resolves and installs the same packages in a fraction of pip's time (pip alone takes most
    of a second to start); it lives in a cache mount, installed there by pip on first use, so
    images do not carry it. Without it (no package index that has it) and whenever uv fails,
    pip does the install, so a step never fails where pip would have succeeded. pip's index
    settings (config.pip_index) are handed to uv under uv's names.
    """
    python = f"{VENV}/bin/python"
    tool = f"{UV_CACHE}/tool"
    targets = []
    if names:
        targets.append(words(names))
    if requirements:
        targets.append(f"-r {quote(f'{INPUTS}/{requirements}')}")
    if wheels:
        targets.append(words([f"{INPUTS}/{w}" for w in wheels]))
    return "\n".join([
        "set -e",
        f"uv={tool}/bin/uv",
        f"unavailable={UV_CACHE}/unavailable",
        f'if [ ! -x "$uv" ] && [ -z "$(find "$unavailable" -mmin -{UV_RETRY_MINUTES} 2>/dev/null)" ]; then',
        f"  rm -rf {tool}.new",
        f"  if {python} -m pip install -q --target {tool}.new {quote(UV_REQUIREMENT)} >/dev/null 2>&1; then",
        f"    rm -rf {tool} && mv {tool}.new {tool}",
        "  else",
        f'    rm -rf {tool}.new && touch "$unavailable"',
        "    echo 'envtrack: uv could not be installed from the package index; installing with pip' >&2",
        "  fi",
        "fi",
        'if [ -n "${PIP_INDEX_URL:-}" ]; then export UV_INDEX_URL="$PIP_INDEX_URL"; fi',
        'if [ -n "${PIP_EXTRA_INDEX_URL:-}" ]; then export UV_EXTRA_INDEX_URL="$PIP_EXTRA_INDEX_URL"; fi',
        'if [ -n "${PIP_TRUSTED_HOST:-}" ]; then export UV_INSECURE_HOST="$PIP_TRUSTED_HOST"; fi',
        "install() {",
        f'  if [ -x "$uv" ] && "$uv" pip install --python {python} "$@"; then return 0; fi',
        "  if [ -x \"$uv\" ]; then echo 'envtrack: uv could not install this; retrying with pip' >&2; fi",
        f'  {python} -m pip install "$@"',
        "}",
        *(f"install {target}" for target in targets),
    ])


def install_conda_tool(tool: str, *, ca: bool = False) -> str:
    """The venv envtrack's conda command runs in: py-rattler and PyYAML from the package index."""
    return "\n".join([
        apt_install(["python3", "python3-venv"], ca=ca),
        f"[ -x {tool}/bin/python ] || python3 -m venv {tool}",
        f"{tool}/bin/python -m pip install py-rattler pyyaml",
    ])


def conda_install(names: Sequence[str], channels: Sequence[str], env_file: str | None, base_image: str,
                  env: str | None = None) -> str:
    """With ENV (install.conda's environment) into it, as envd does; else into the base image's conda."""
    missing = (f"envtrack: install.conda_packages needs install.conda() or conda in the base image, "
               f"and {base_image} has neither")
    flags = [part for c in channels for part in ("-c", c)]
    lines = [
        "set -e",
        "if command -v mamba >/dev/null 2>&1; then conda=mamba",
        "elif command -v conda >/dev/null 2>&1; then conda=conda",
        f"else echo {quote(missing)} >&2; exit 127; fi",
    ]
    target = ["-n", env] if env else []
    if names:
        lines.append(f'"$conda" install -y {words([*target, *flags, *names])}')
    if env_file:
        lines.append(f'"$conda" env update {words(target)} -f {quote(f"{INPUTS}/{env_file}")}'.replace("  ", " "))
    return "\n".join(lines)


def run_commands(commands: Sequence[str]) -> str:
    return "\n".join(["set -e", *commands])


def bake_ca(target: str) -> str:
    """Copy the mounted bundle into the image and let the distro's tool merge it, if present."""
    return "\n".join([
        "set -e",
        f"mkdir -p {quote(target.rsplit('/', 1)[0])}",
        f"cp {CA_PATH} {quote(target)}",
        "if command -v update-ca-certificates >/dev/null 2>&1; then update-ca-certificates; fi",
    ])
