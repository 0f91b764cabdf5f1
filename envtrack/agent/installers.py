"""Who asked for what, from the installers' own command lines, read from /proc while they run.

The records an installer leaves say less than what the user typed: uv writes REQUESTED into
every dist-info, pip forgets the extras (`requests[socks]`), `pip install -r FILE` and
`uv sync` name their packages in files, `dpkg -i` leaves no trace of its .deb. So whenever the
watcher hears an installer at work, the agent reads the command lines of the installers then
running (`/proc/PID/cmdline`, their working directory through `/proc/PID/cwd`); the rows of the
batch they caused say what was asked for, and the records decide only what no command line
named. A process that exits before it is seen leaves the records as the only signal.

Standard library only, Python 3.8 syntax: ships with the agent.
"""

from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from envtrack.records import canonical_name, redact_text

PROC = "/proc"
PIPX_TARGET = "$PIPX_HOME/venvs"
SCAN_INTERVAL_SECONDS = 0.05   # at most this often, however many events an install makes
FORGET_AFTER_SECONDS = 30.0    # an exited run still explains the batch its last writes join

_PIP_REQUIREMENT = re.compile(
    r"^\s*(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(?P<extras>\[[^\]]*\])?"
    r"\s*(?P<rest>[^;]*?)\s*(?P<marker>;.*)?$")
_CONDA_SPEC = re.compile(r"^\s*(?:(?P<channel>[^:\s]+)::)?(?P<name>[A-Za-z0-9_.-]+?)(?:[=<>!~ \[].*)?$")
_APT_SPEC = re.compile(r"^(?P<name>[a-z0-9][a-z0-9+.-]*)(?::[a-z0-9-]+)?(?:[=/].*)?$")
_EGG = re.compile(r"[#&]egg=([A-Za-z0-9._-]+)")

# Options of `pip install` / `uv pip install` / `uv add` / conda / apt that take a value as the
# next word; every other option is a flag (or carries its value after `=`).
_PIP_VALUED = frozenset("""
-c --constraint -i --index-url --extra-index-url -f --find-links -t --target --prefix --root --src
--platform --python-version --implementation --abi --upgrade-strategy --progress-bar --report --log
--cache-dir --proxy --retries --timeout --exists-action --trusted-host --cert --client-cert
--global-option --config-settings -C --python -p --no-binary --only-binary --keyring-provider
--root-user-action --use-feature --use-deprecated --python-platform --index-strategy --resolution
--prerelease --index --default-index --extra --group --link-mode --reinstall-package -P
--upgrade-package --config-file --directory --project --optional --dev-group --exclude-newer
--refresh-package --no-build-package --no-binary-package --only-binary-package --tag --rev --branch
-w --with --pip-args --suffix --python-preference --override --build-constraint -b --overrides
""".split())
_CONDA_VALUED = frozenset("-c --channel -n --name -p --prefix --file --repodata-fn --solver --platform --subdir "
                          "-r --root-prefix".split())
_APT_VALUED = frozenset("-o --option -c --config-file -t --target-release -a --host-architecture".split())


@dataclass(frozen=True)
class Asked:
    """One thing an installer's command line asked for."""

    manager: str                # "pip" | "conda" | "apt"
    name: str = ""              # canonical name, "" when only a path or URL names it
    spec: str = ""              # as typed: requests[socks]==2.31.0, ./vendor/mylib, conda-forge::numpy
    path: str = ""              # a local path or file the spec installs from, absolute inside the container
    editable: bool = False
    channels: Tuple[str, ...] = ()   # conda: the run's -c channels, in order


@dataclass
class Run:
    """One installer process as its command line showed it."""

    pid: int
    manager: str
    command: str                # redacted, for the journal
    asked: List[Asked] = field(default_factory=list)
    complete: bool = True       # every argument understood: what it does not name, it did not ask for
    seen: float = 0.0           # monotonic time it was last seen running
    target: str = ""            # conda: the environment it installs into (`-n NAME` or `-p PREFIX`), "" the default
    mark: str = ""              # apt-mark: "manual" or "auto", what it makes the packages it names
    interpreter: str = ""       # pip: the Python it installs into, as the command line names it (`Installers`
                                # makes it `target`: that interpreter's sys.prefix)
    running: bool = True        # still running when last looked at (`take` tells)


Reader = Callable[[str], Optional[str]]


def parse_command(argv: Sequence[str], cwd: str = "/", read: Optional[Reader] = None) -> Optional[Run]:
    """The installer run ARGV starts (None for anything else). READ(path) -> text or None reads a
    requirements or pyproject file the command names, relative to CWD."""
    program, args = _program(list(argv))
    read = read or _read_file
    command = redact_text(" ".join(argv))
    if program in ("pip", "pip3") or re.match(r"^pip3\.\d+$", program):
        run = _pip_install(args, cwd, read, command)
        if run is not None and not _elsewhere(args):
            # python -m pip, or a pip script its shebang's interpreter runs: argv[0] is that Python
            run.interpreter = argv[0] if re.match(r"^python[0-9.]*$", os.path.basename(argv[0])) else ""
        return run
    if program == "uv":
        if args[:2] == ["pip", "install"]:
            run = _pip_install(args[1:], cwd, read, command)
            python = _option(args, ("--python", "-p"))
            if run is not None and python and not _elsewhere(args):
                run.interpreter = python
            return run
        if args[:1] == ["add"]:   # adds to the project, then syncs it: its dependencies are asked for too
            run = _pip_words("pip", args[1:], cwd, read, command)
            run.asked = _uv_sync(cwd, read, command).asked + run.asked
        elif args[:1] == ["sync"]:
            run = _uv_sync(cwd, read, command)
        else:
            return None
        run.target = os.path.join(cwd, ".venv")   # the project's environment (Installers: UV_PROJECT_ENVIRONMENT)
        return run
    if program == "pipx" and args[:1] == ["install"]:
        run = _pip_words("pip", args[1:], cwd, read, command)
        run.target = PIPX_TARGET   # its apps' venvs, under PIPX_HOME (Installers resolves it)
        return run
    if program in ("conda", "mamba", "micromamba") and args[:1] and args[0] in ("install", "create"):
        return _conda(args[1:], command)
    if program in ("apt", "apt-get", "aptitude") and args[:1] and args[0] in ("install", "reinstall"):
        return _apt(args[1:], cwd, command)
    if program == "apt-mark":
        return _apt_mark(args, command)
    if program == "dpkg":
        return _dpkg(args, cwd, command)
    return None


def _program(argv: List[str]) -> Tuple[str, List[str]]:
    """(installer name, its arguments), seeing through `python -m pip` and a script's interpreter."""
    if not argv:
        return "", []
    first = os.path.basename(argv[0])
    if re.match(r"^python[0-9.]*$", first):
        rest = argv[1:]
        while rest and rest[0].startswith("-") and rest[0] != "-m":
            rest = rest[1:]   # -I, -E, -u ...
        if rest[:1] == ["-m"] and len(rest) > 1:
            return rest[1].split(".")[0], rest[2:]
        if rest:   # a console script run by its shebang: python /venv/bin/pip install ...
            return os.path.basename(rest[0]), rest[1:]
        return first, []
    return first, argv[1:]


def _pip_install(args: List[str], cwd: str, read: Reader, command: str) -> Optional[Run]:
    words = _after_global_options(args, _PIP_VALUED)
    if words[:1] != ["install"]:
        return None
    return _pip_words("pip", words[1:], cwd, read, command)


def _elsewhere(args: List[str]) -> bool:
    """Options that install somewhere other than the interpreter's own environment."""
    return any(a in ("--user", "-t", "--target", "--prefix", "--root", "--system") or
               a.startswith(("--target=", "--prefix=", "--root=")) for a in args)


def _option(args: List[str], names: Tuple[str, ...]) -> str:
    for index, word in enumerate(args):
        if word in names and index + 1 < len(args):
            return args[index + 1]
        for name in names:
            if word.startswith(name + "="):
                return word.split("=", 1)[1]
    return ""


def _after_global_options(args: List[str], valued) -> List[str]:
    """ARGS from the subcommand on (`pip --python X install ...`)."""
    index = 0
    while index < len(args) and args[index].startswith("-"):
        index += 2 if args[index] in valued else 1
    return args[index:]


def _pip_words(manager: str, args: List[str], cwd: str, read: Reader, command: str) -> Run:
    run = Run(0, manager, command)
    index = 0
    while index < len(args):
        word = args[index]
        value = args[index + 1] if index + 1 < len(args) else ""
        if word in ("-r", "--requirement") or word.startswith("--requirement="):
            name = word.split("=", 1)[1] if "=" in word else value
            index += 1 if "=" in word else 2
            _requirements_file(run, _absolute(cwd, name), read, depth=0)
            continue
        if word in ("-e", "--editable") or word.startswith("--editable="):
            target = word.split("=", 1)[1] if "=" in word else value
            index += 1 if "=" in word else 2
            _add_pip(run, target, cwd, editable=True)
            continue
        if word.startswith("-"):
            index += 2 if word in _PIP_VALUED else 1
            continue
        _add_pip(run, word, cwd)
        index += 1
    return run


def _requirements_file(run: Run, path: str, read: Reader, depth: int) -> None:
    text = read(path)
    if text is None or depth > 3:
        run.complete = False
        return
    base = os.path.dirname(path)
    for raw in text.splitlines():
        line = re.split(r"(?:^|\s)#", raw, maxsplit=1)[0].strip()
        if not line:
            continue
        words = line.split(None, 1)
        if words[0] in ("-r", "--requirement") and len(words) > 1:
            _requirements_file(run, _absolute(base, words[1].strip()), read, depth + 1)
        elif words[0] in ("-e", "--editable") and len(words) > 1:
            _add_pip(run, words[1].strip(), base, editable=True)
        elif not line.startswith("-"):
            _add_pip(run, line, base)


def _add_pip(run: Run, spec: str, cwd: str, editable: bool = False) -> None:
    spec = spec.strip()
    if _is_path(spec):
        target = spec[len("file://"):] if spec.startswith("file://") else spec
        target = target.split("#", 1)[0].split("[", 1)[0]
        egg = _EGG.search(spec)
        run.asked.append(Asked(run.manager, canonical_name(egg.group(1)) if egg else "", spec,
                               path=os.path.normpath(_absolute(cwd, target)), editable=editable))
        return
    if "://" in spec and "@" not in spec.split("://", 1)[0]:
        egg = _EGG.search(spec)   # a bare URL: git+https://host/repo#egg=name
        run.asked.append(Asked(run.manager, canonical_name(egg.group(1)) if egg else "", redact_text(spec),
                               editable=editable))
        if not egg:
            run.complete = False
        return
    match = _PIP_REQUIREMENT.match(spec)
    if match is None:
        run.complete = False
        return
    run.asked.append(Asked(run.manager, canonical_name(match.group("name")), redact_text(spec), editable=editable))


def _is_path(spec: str) -> bool:
    return (spec.startswith(("./", "../", "/", "~", "file:")) or spec in (".", "..")
            or spec.endswith((".whl", ".tar.gz", ".zip", ".tar.bz2")) and "://" not in spec)


def _absolute(cwd: str, path: str) -> str:
    path = os.path.expanduser(path)
    return path if path.startswith("/") else os.path.join(cwd, path)


def _uv_sync(cwd: str, read: Reader, command: str) -> Run:
    """`uv sync` installs the project's dependencies: pyproject.toml's [project] dependencies."""
    run = Run(0, "pip", command)
    text = read(os.path.join(cwd, "pyproject.toml"))
    dependencies = _pyproject_dependencies(text) if text is not None else None
    if dependencies is None:
        run.complete = False
        return run
    for spec in dependencies:
        _add_pip(run, spec, cwd)
    return run


def _pyproject_dependencies(text: str) -> Optional[List[str]]:
    """The strings of `[project] dependencies = [...]` (no TOML parser before Python 3.11)."""
    section = re.search(r"(?ms)^\[project\]\s*$(.*?)(?=^\[|\Z)", text)
    if section is None:
        return None
    found = re.search(r"(?ms)^dependencies\s*=\s*\[(.*?)\]", section.group(1))
    if found is None:
        return []
    return [double or single for double, single in re.findall(r"\"([^\"]*)\"|'([^']*)'", found.group(1))]


def _conda(args: List[str], command: str) -> Run:
    run = Run(0, "conda", command)
    channels: List[str] = []
    specs: List[str] = []
    index = 0
    while index < len(args):
        word = args[index]
        if word in ("-c", "--channel"):
            if index + 1 < len(args):
                channels.append(redact_text(args[index + 1]))
            index += 2
        elif word.startswith("--channel="):
            channels.append(redact_text(word.split("=", 1)[1]))
            index += 1
        elif word in ("-n", "--name", "-p", "--prefix") and index + 1 < len(args):
            value = args[index + 1].rstrip("/")
            run.target = value if word in ("-p", "--prefix") else "/envs/" + value
            index += 2
        elif word.startswith("-"):
            index += 2 if word in _CONDA_VALUED else 1
        else:
            specs.append(word)
            index += 1
    for spec in specs:
        match = _CONDA_SPEC.match(spec)
        if match is None:
            run.complete = False
            continue
        run.asked.append(Asked("conda", match.group("name").lower(), spec, channels=tuple(channels)))
    return run


def _apt(args: List[str], cwd: str, command: str) -> Run:
    run = Run(0, "apt", command)
    index = 0
    while index < len(args):
        word = args[index]
        if word.startswith("-"):
            index += 2 if word in _APT_VALUED else 1
            continue
        index += 1
        if word.endswith(".deb"):
            run.asked.append(Asked("apt", _deb_name(word), word, path=os.path.normpath(_absolute(cwd, word))))
            continue
        match = _APT_SPEC.match(word)
        if match is None:
            run.complete = False   # a pattern (~n...) or a task
            continue
        run.asked.append(Asked("apt", match.group("name"), word))
    return run


def _apt_mark(args: List[str], command: str) -> Optional[Run]:
    """`apt-mark manual|auto NAME...`: the user's word on which packages were asked for."""
    words = _after_global_options(args, _APT_VALUED)
    if words[:1] not in (["manual"], ["auto"]):
        return None   # hold, showmanual, ...: no requested flag changes
    run = _apt(words[1:], "/", command)
    run.mark = words[0]
    return run


def _dpkg(args: List[str], cwd: str, command: str) -> Optional[Run]:
    if not any(a in ("-i", "--install") for a in args):
        return None
    debs = [a for a in args if not a.startswith("-")]
    return Run(0, "apt", command, [Asked("apt", _deb_name(d), d, path=os.path.normpath(_absolute(cwd, d)))
                                   for d in debs])


def _deb_name(path: str) -> str:
    """name_version_arch.deb -> name (Debian's file naming)."""
    return os.path.basename(path).split("_")[0].lower()


def _read_file(path: str) -> Optional[str]:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read(1 << 20)
    except OSError:
        return None


class Installers:
    """The installer runs seen lately, refreshed from /proc at most every SCAN_INTERVAL_SECONDS.

    `scan` is called from the watcher's thread on every event; `take` by the main loop when it
    journals a batch, which then forgets the runs that have exited.
    """

    def __init__(self, proc: str = PROC, enabled: bool = True) -> None:
        self.proc = proc
        self.enabled = enabled
        self._lock = threading.Lock()
        self._runs: Dict[Tuple[int, str], Run] = {}
        self._last_scan = 0.0

    def scan(self, force: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (not force and now - self._last_scan < SCAN_INTERVAL_SECONDS):
            return
        self._last_scan = now
        for pid, started, argv, cwd in _processes(self.proc, self._known()):
            key = (pid, started)
            with self._lock:
                if key in self._runs:
                    self._runs[key].seen = now
                    continue
            if argv is None:
                continue
            run = parse_command(argv, cwd, lambda path, pid=pid: _read_file(self._in_process(pid, path)))
            if run is not None:
                run.pid, run.seen = pid, now
                if run.interpreter:
                    run.target = self._prefix(pid, run.interpreter, cwd)
                elif run.target == PIPX_TARGET or run.target.endswith("/.venv"):
                    run.target = _home_target(run.target, _environ(self.proc, pid), cwd)
                with self._lock:
                    self._runs[key] = run

    def _in_process(self, pid: int, path: str) -> str:
        """PATH as process PID sees it (its root may not be ours: the companion agent)."""
        return os.path.join(self.proc, str(pid), "root", path.lstrip("/"))

    def _prefix(self, pid: int, interpreter: str, cwd: str) -> str:
        """sys.prefix of INTERPRETER as process PID names it: a venv's root when a pyvenv.cfg sits
        above its bin/ (found through the process's PATH when the name is bare), else the prefix
        of the binary /proc/PID/exe runs; "" when neither can be read."""
        path = interpreter
        if "/" not in path:
            search = _environ(self.proc, pid).get("PATH", "/usr/local/bin:/usr/bin:/bin")
            path = next((os.path.join(d, path) for d in search.split(":") if d.startswith("/")
                         and os.path.exists(self._in_process(pid, os.path.join(d, path)))), "")
        elif not path.startswith("/"):
            path = os.path.normpath(os.path.join(cwd, path))
        if path and os.path.isfile(self._in_process(pid, os.path.join(path, "pyvenv.cfg"))):
            return path.rstrip("/")   # uv pip install --python VENV
        if path:
            prefix = os.path.dirname(os.path.dirname(path))
            if os.path.isfile(self._in_process(pid, os.path.join(prefix, "pyvenv.cfg"))):
                return prefix
        try:
            exe = os.readlink(os.path.join(self.proc, str(pid), "exe"))
        except OSError:
            return ""
        return os.path.dirname(os.path.dirname(exe)) if exe.startswith("/") else ""

    def _known(self) -> Dict[int, str]:
        with self._lock:
            return {pid: started for pid, started in self._runs}

    def take(self) -> List[Run]:
        """The runs to explain the batch being journaled; the exited ones are then forgotten."""
        self.scan(force=True)
        now = time.monotonic()
        with self._lock:
            runs = list(self._runs.values())
            for key, run in list(self._runs.items()):
                run.running = _start_time(self.proc, key[0]) == key[1]
                if now - run.seen > FORGET_AFTER_SECONDS or not run.running:
                    del self._runs[key]
        return runs


def _processes(proc: str, known: Dict[int, str]) -> Iterable[Tuple[int, str, Optional[List[str]], str]]:
    """(pid, start time, argv or None when already known, cwd) of every process."""
    try:
        names = os.listdir(proc)
    except OSError:
        return
    own = os.getpid()
    for name in names:
        if not name.isdigit() or int(name) == own:
            continue
        pid = int(name)
        started = _start_time(proc, pid)
        if started is None:
            continue
        if known.get(pid) == started:
            yield pid, started, None, ""
            continue
        argv = _cmdline(proc, pid)
        if argv is None or not _maybe_installer(argv):
            continue
        try:
            cwd = os.readlink(os.path.join(proc, name, "cwd"))
        except OSError:
            cwd = "/"
        yield pid, started, argv, cwd


def _start_time(proc: str, pid: int) -> Optional[str]:
    """Field 22 of /proc/PID/stat: tells a reused pid from the process first seen with it."""
    try:
        with open(os.path.join(proc, str(pid), "stat"), "rb") as handle:
            stat = handle.read().decode("utf-8", "replace")
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else None


def _home_target(target: str, environ: Dict[str, str], cwd: str) -> str:
    """Where a pipx or uv project run installs, as its environment says (pipx's default home as
    pipx >= 1.2 has it; "" when the environment leaves it unknown, so the run explains any)."""
    if target == PIPX_TARGET:
        if environ.get("PIPX_HOME", "").startswith("/"):
            return os.path.join(environ["PIPX_HOME"], "venvs")
        # ~/.local/share/pipx (pipx >= 1.2) or ~/.local/pipx (older ones)
        return os.path.join(environ["HOME"], ".local") if environ.get("HOME", "").startswith("/") else ""
    project = environ.get("UV_PROJECT_ENVIRONMENT", "")
    return os.path.normpath(os.path.join(cwd, project)) if project else target


def _environ(proc: str, pid: int) -> Dict[str, str]:
    try:
        with open(os.path.join(proc, str(pid), "environ"), "rb") as handle:
            raw = handle.read()
    except OSError:
        return {}
    pairs = (part.decode("utf-8", "replace").partition("=") for part in raw.split(b"\0") if b"=" in part)
    return {key: value for key, _, value in pairs}


def _cmdline(proc: str, pid: int) -> Optional[List[str]]:
    try:
        with open(os.path.join(proc, str(pid), "cmdline"), "rb") as handle:
            raw = handle.read()
    except OSError:
        return None
    return [part.decode("utf-8", "replace") for part in raw.split(b"\0")[:-1]] or None


_INSTALLER_WORDS = ("pip", "uv", "pipx", "conda", "mamba", "micromamba", "apt", "apt-get", "aptitude", "apt-mark",
                    "dpkg")


def _maybe_installer(argv: List[str]) -> bool:
    """Cheap filter before parsing: an installer's name among the first three words."""
    return any(os.path.basename(word).split(".")[0].rstrip("0123456789") in _INSTALLER_WORDS
               or os.path.basename(word) in _INSTALLER_WORDS for word in argv[:3])


def asked_for(runs: Iterable[Run], manager: str, env: str = "") -> Tuple[Dict[str, Asked], Dict[str, Asked], bool]:
    """What RUNS of MANAGER named: ({name: Asked}, {path: Asked}, whether every run was understood).
    A run whose environment is known (conda's `-n`/`-p`, the prefix of the Python a pip run installs
    into) explains only changes in that one (ENV: their prefix or site directory)."""
    by_name: Dict[str, Asked] = {}
    by_path: Dict[str, Asked] = {}
    complete = True
    any_run = False
    for run in runs:
        if run.manager != manager or run.mark:
            continue   # (apt-mark asks for nothing: it only says which are asked for, see apt_marks)
        if run.target and env and not _installs_into(run, env):
            continue
        any_run = True
        complete = complete and run.complete
        for asked in run.asked:
            if asked.name:
                by_name[asked.name] = asked
            if asked.path:
                by_path[asked.path.rstrip("/")] = asked
    return by_name, by_path, any_run and complete


def _installs_into(run: Run, env: str) -> bool:
    """Whether RUN, which names its environment, installs into ENV (a conda prefix, a site dir)."""
    if run.target.startswith("$"):
        return True   # a place only the process's environment could say
    if run.manager == "pip":
        return env.startswith(run.target.rstrip("/") + "/")
    return env == run.target or env.endswith(run.target)


def apt_marks(runs: Iterable[Run]) -> Dict[str, bool]:
    """{name: requested} as the apt-mark runs among RUNS made them, the last seen winning."""
    marks: Dict[str, bool] = {}
    for run in sorted((r for r in runs if r.manager == "apt" and r.mark), key=lambda r: r.seen):
        for asked in run.asked:
            marks[asked.name] = run.mark == "manual"
    return marks


def apt_running(runs: Iterable[Run]) -> bool:
    """Whether an apt front-end among RUNS (apt, apt-get, aptitude, apt-mark, dpkg) still runs: until
    it exits, apt's records may lag what it does (dpkg is done before apt writes extended_states)."""
    return any(run.manager == "apt" and run.running for run in runs)
