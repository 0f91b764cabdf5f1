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
VENV_PYTHON = f"{VENV}/bin/python"
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
    options = apt_options(ca)
    install = f"apt-get{options} install -y --no-install-recommends {words(packages)}"
    return "\n".join([
        apt_lists(ca=ca),
        f"if ! {install}; then",
        f"  echo 'envtrack: retrying with fresh package lists' >&2",
        f"  {apt_update(ca)}",
        f"  {install}",
        "fi",
    ])


def apt_options(ca: bool) -> str:
    return f" -o Acquire::https::CAInfo={CA_PATH}" if ca else ""


def apt_update(ca: bool) -> str:
    return f'apt-get{apt_options(ca)} update && printf %s "$sig" > "$stamp"'


def apt_lists(*, ca: bool = False) -> str:
    """Package lists in the cache mount, refreshed when stale (see apt_install)."""
    return "\n".join([
        "set -e",
        # Debian images delete downloaded .debs after each install, which would keep the cache empty.
        "rm -f /etc/apt/apt.conf.d/docker-clean",
        f"mkdir -p {APT_LISTS}/partial {APT_CACHE}/archives/partial",
        f"stamp={APT_LISTS}/.envtrack-sources",
        'sig="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null | md5sum)"',
        'if [ "$(cat "$stamp" 2>/dev/null)" != "$sig" ] || '
        f'[ -n "$(find "$stamp" -mmin +{LISTS_MAX_AGE_MINUTES} 2>/dev/null)" ]; then',
        f"  {apt_update(ca)}",
        "fi",
    ])


CONDA_ROOT = "/opt/conda"                  # envd's conda root, and its environment `envd`
CONDA_ENV = f"{CONDA_ROOT}/envs/envd"


def install_python(version: str, *, micromamba_url: str, channel_alias: str, failed: str = "",
                   ca: bool = False) -> str:
    """Python VERSION and a venv of it at VENV (a distribution's own pip refuses installs, PEP 668).

    The interpreter is, first match: one the image has (`pythonX.Y`, `python3`); the
    distribution's python3 when its package is that version; else micromamba, fetched from
    MICROMAMBA_URL by the step (only then: a BuildKit download would be fetched by every
    build), creates envd's environment CONDA_ENV with python=VERSION from conda-forge below
    CHANNEL_ALIAS, as envd does on every base. FAILED: the command printing the step's one
    line when the fetch fails.
    """
    matches = (f"import sys; v='%d.%d.%d' % sys.version_info[:3]; w={version!r}; "
               "sys.exit(0 if v == w or v.startswith(w + '.') else 1)")
    micromamba = "/tmp/envtrack-micromamba"
    create = "\n".join([
        f"  ( {download_tool(ca=ca)}\n  )",
        f'  {{ if command -v curl >/dev/null 2>&1; then curl -fsSL -o {micromamba} {quote(micromamba_url)}; '
        f"else wget -q -O {micromamba} {quote(micromamba_url)}; fi; }} || {failed or 'exit 1'}",
        f"  chmod 755 {micromamba}",
        f"  MAMBA_ROOT_PREFIX={CONDA_ROOT} {micromamba} create -y -p {CONDA_ENV} --channel-alias {quote(channel_alias)} "
        f"-c conda-forge {quote('python=' + version)}",
        f"  rm -f {micromamba}",
    ])
    wrong = f"envtrack: install.python: the venv's Python is not {version}"
    return "\n".join([
        "set -e",
        f"matches() {{ \"$1\" -c {quote(matches)} 2>/dev/null; }}",
        'found=""',
        f"for name in {quote('python' + version)} python3; do",
        '  candidate="$(command -v "$name" || true)"',
        '  if [ -n "$candidate" ] && matches "$candidate"; then found="$candidate"; break; fi',
        "done",
        'if [ -z "$found" ] && command -v apt-get >/dev/null 2>&1; then',
        f"  ( {apt_lists(ca=ca)}\n  )",
        "  packaged=\"$(apt-cache policy python3 | sed -n 's/^ *Candidate: *\\([0-9]*:\\)\\{0,1\\}//p')\"",
        f'  case "$packaged" in {quote(version)}|{quote(version)}.*|{quote(version)}-*)',
        f"    ( {apt_install(['python3', 'python3-venv'], ca=ca)}\n    )",
        "    found=/usr/bin/python3 ;;",
        "  esac",
        "fi",
        'if [ -n "$found" ]; then',
        '  if ! "$found" -c "import ensurepip" 2>/dev/null && command -v apt-get >/dev/null 2>&1; then',
        f"    ( {apt_install(['python3-venv'], ca=ca)}\n    )",   # Debian keeps ensurepip in a package of its own
        "  fi",
        "else",
        create,
        f"  found={CONDA_ENV}/bin/python",
        "fi",
        f'[ -x {VENV}/bin/python ] || "$found" -m venv {VENV}',
        f"matches {VENV}/bin/python || {{ echo {quote(wrong)} >&2; exit 1; }}",
    ])


UV_CACHE = "/root/.cache/envtrack-uv"    # cache mount, one per package index: uv (tool/) and its cache
UV_REQUIREMENT = "uv>=0.4"               # `uv pip install --python`, UV_LINK_MODE, UV_COMPILE_BYTECODE
UV_RETRY_MINUTES = 60                    # after pip could not install uv, how long to not ask again (a
                                         # transient index failure must not cost a day of pip speed)


def pip_install(names: Sequence[str], requirements: str | None, wheels: Sequence[str], *,
                python: str | None = VENV_PYTHON, project: str | None = None, ca: bool = False) -> str:
    """Install into PYTHON with uv, else pip. REQUIREMENTS and WHEELS are file names under INPUTS.

    uv resolves and installs the same packages in a fraction of pip's time (pip alone takes most
    of a second to start); it lives in a cache mount, installed there by pip on first use, so
    images do not carry it. Without it (no package index that has it) and whenever uv fails,
    pip does the install, so a step never fails where pip would have succeeded. pip's index
    settings (config.pip_index) are handed to uv under uv's names.

    PYTHON None is the image's own Python (no install.python(), as envd uses python:3.11-slim's).
    PROJECT is where the project's files are mounted when the requirements file installs from
    them (`-e .`): pip runs there, reading REQUIREMENTS at its place in the project, as envd runs
    it in the build context.
    """
    tool = f"{UV_CACHE}/tool"
    py = quote(python) if python else '"$python"'   # the venv's path as written: its scripts keep their digests
    targets = []
    if names:
        targets.append(words(names))
    if requirements:
        targets.append(f"-r {quote(f'{project}/{requirements}' if project else f'{INPUTS}/{requirements}')}")
    if wheels:
        targets.append(words([f"{INPUTS}/{w}" for w in wheels]))
    return "\n".join([
        "set -e",
        *([] if python else [image_python(ca=ca)]),
        *([f"cd {quote(project)}"] if project else []),
        f"uv={tool}/bin/uv",
        f"unavailable={UV_CACHE}/unavailable",
        f'if [ ! -x "$uv" ] && [ -z "$(find "$unavailable" -mmin -{UV_RETRY_MINUTES} 2>/dev/null)" ]; then',
        f"  rm -rf {tool}.new",
        f"  if {py} -m pip install -q --target {tool}.new {quote(UV_REQUIREMENT)} >/dev/null 2>&1; then",
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
        f'  if [ -x "$uv" ] && "$uv" pip install --python {py} "$@"; then return 0; fi',
        "  if [ -x \"$uv\" ]; then echo 'envtrack: uv could not install this; retrying with pip' >&2; fi",
        f'  {py} -m pip install "$@"',
        "}",
        *(f"install {target}" for target in targets),
    ])


def image_python(*, ca: bool = False) -> str:
    """Set $python to the image's own python3 (or python), with pip: a distribution's Python
    gets its pip package when it lacks one. Installs into it go where pip puts them for that
    Python (Debian's: /usr/local/lib/pythonX.Y/dist-packages, beside the packages dpkg owns),
    so its EXTERNALLY-MANAGED marker, written for interactive use, does not stop the build."""
    missing = "envtrack: install.python_packages: the base image has no Python; call install.python() first"
    no_pip = "envtrack: install.python_packages: the image's Python $python has no pip; call install.python() first"
    return "\n".join([
        'python="$(command -v python3 || command -v python || true)"',
        f'if [ -z "$python" ]; then echo {quote(missing)} >&2; exit 1; fi',
        "export PIP_BREAK_SYSTEM_PACKAGES=1 UV_BREAK_SYSTEM_PACKAGES=1",
        'if ! "$python" -m pip --version >/dev/null 2>&1; then',
        '  if command -v apt-get >/dev/null 2>&1 && dpkg -S "$(readlink -f "$python")" >/dev/null 2>&1; then',
        f"    ( {apt_install(['python3-pip'], ca=ca)}\n    )",
        "  fi",
        f'  "$python" -m pip --version >/dev/null 2>&1 || {{ echo "{no_pip}" >&2; exit 1; }}',
        "fi",
    ])


def install_conda_tool(tool: str, *, ca: bool = False) -> str:
    """The venv envtrack's conda command runs in: py-rattler and PyYAML from the package index."""
    return "\n".join([
        apt_install(["python3", "python3-venv"], ca=ca),
        f"[ -x {tool}/bin/python ] || python3 -m venv {tool}",
        f"{tool}/bin/python -m pip install py-rattler pyyaml",
    ])


def install_miniconda(installer: str, root: str) -> str:
    """envd's install_conda.sh: batch install into ROOT, conda in root's bash, caches trimmed."""
    return "\n".join([
        f"bash {quote(installer)} -b -u -p {root}",
        "touch ~/.bashrc",
        f"grep -q {root}/etc/profile.d/conda.sh ~/.bashrc || "
        f"printf '%s\\n' '. {root}/etc/profile.d/conda.sh' 'conda activate base' >> ~/.bashrc",
        f"find {root}/ -follow -type f -name '*.a' -delete",
        f"find {root}/ -follow -type f -name '*.js.map' -delete",
        f"{root}/bin/conda clean -afy",
    ])


def install_micromamba(binary: str, root: str) -> str:
    """envd's installMicroMamba steps after the copy: /usr/bin/conda is micromamba, bash initialised."""
    return "\n".join([
        f"install -m 755 {quote(binary)} {root}/bin/micromamba",
        f"update-alternatives --install /usr/bin/conda conda {root}/bin/micromamba 1",
        f"{root}/bin/micromamba shell init --shell bash",
    ])


def download_tool(*, ca: bool = False) -> str:
    """curl (or wget) for a step that fetches by itself, apt-installed when the image has neither."""
    return "\n".join([
        "set -e",
        "if ! command -v curl >/dev/null 2>&1 && ! command -v wget >/dev/null 2>&1; then",
        apt_install(["curl", "ca-certificates"], ca=ca),
        "fi",
    ])


def conda_install(names: Sequence[str], channels: Sequence[str], env_file: str | None, base_image: str,
                  env: str | None = None) -> str:
    """With ENV (install.conda's environment) into it, as envd does; else into the base image's conda."""
    missing = (f"envtrack: install.conda_packages needs install.conda() or conda in the base image, "
               f"and {base_image} has neither")
    flags = [part for c in channels for part in ("-c", c)]
    lines = [
        "set -e",
        # micromamba has no `env update`: envd runs `micromamba update -n envd --file FILE`.
        "if command -v mamba >/dev/null 2>&1; then conda=mamba; update='env update'",
        "elif command -v micromamba >/dev/null 2>&1; then conda=micromamba; update='update -y'",
        "elif command -v conda >/dev/null 2>&1; then conda=conda; update='env update'",
        f"else echo {quote(missing)} >&2; exit 127; fi",
    ]
    target = ["-n", env] if env else []
    if names:
        lines.append(f'"$conda" install -y {words([*target, *flags, *names])}')
    if env_file:
        lines.append(f'"$conda" $update {words(target)} -f {quote(f"{INPUTS}/{env_file}")}'.replace("  ", " "))
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
