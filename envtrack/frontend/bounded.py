"""Evaluate build.envd in a child process with a time and a memory limit.

The Python binding of starlark-go exposes neither Starlark's step limit nor thread
cancellation, and a Go allocation that fails aborts the whole process. So the
evaluation runs in a child: forked (cheap: a few milliseconds) while this process has
not loaded the Go runtime and runs one thread, otherwise a fresh interpreter. The
child has an address-space limit (RLIMIT_AS) and a deadline; it reports the Plan or
the LocatedError through a pipe. The envd files the parent has read already (build.envd,
whose bytes the build stamp and the image label fingerprint) are evaluated as read, not
read again: a forked child has them, a fresh interpreter gets them on its stdin. While it
runs it keeps "where it is" (the last builtin call, or the file and function it entered)
in a small shared page, so a child that is killed or aborted is still reported at a place
in the user's text.
"""

from __future__ import annotations

import mmap
import os
import pickle
import resource
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from envtrack.errors import EnvtrackError, LocatedError, Position
from envtrack.frontend.values import MAX_MESSAGE, bounded_text  # noqa: F401 - MAX_MESSAGE for callers

_PAGE = 4096
_HALF = _PAGE // 2
_HEADER = struct.Struct("<III")  # line, column, length of the file name that follows


@dataclass(frozen=True)
class Limits:
    """How much one evaluation may use. ENVTRACK_EVAL_SECONDS / ENVTRACK_EVAL_MEMORY_MB override."""

    seconds: float = 20.0
    memory_mb: int = 1024      # memory the evaluation may use beyond what the process already has
    max_steps: int = 100_000   # builtin calls, i.e. build steps: far beyond any real build.envd

    @classmethod
    def from_environment(cls) -> "Limits":
        default = cls()
        return cls(seconds=_number("ENVTRACK_EVAL_SECONDS", default.seconds, float),
                   memory_mb=_number("ENVTRACK_EVAL_MEMORY_MB", default.memory_mb, int),
                   max_steps=_number("ENVTRACK_EVAL_MAX_STEPS", default.max_steps, int))


def _number(name: str, default, kind):  # noqa: ANN001, ANN202 - float | int
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise EnvtrackError(f"{name} must be a number, not {raw!r}", exit_code=2) from None
    if value <= 0:
        raise EnvtrackError(f"{name} must be positive, not {raw!r}", exit_code=2)
    return value


class Progress:
    """The shared page: the last builtin call (first half) and what is running for certain (second
    half: a file's top level, or the target function); its last byte says whether include() clones."""

    def __init__(self, memory: mmap.mmap):
        self.memory = memory

    def mark(self, position: Position) -> None:
        self._write(0, position)

    def enter(self, position: Position) -> None:
        self._write(_HALF, position)

    def _write(self, at: int, position: Position) -> None:
        name = position.file.encode("utf-8", "surrogateescape")[: _HALF - 1 - _HEADER.size]
        self.memory[at: at + _HEADER.size + len(name)] = _HEADER.pack(position.line, position.column, len(name)) + name

    def fetching(self, busy: bool) -> None:
        self.memory[_PAGE - 1] = 1 if busy else 0

    def is_fetching(self) -> bool:
        return self.memory[_PAGE - 1] == 1

    def read(self, fallback: Position) -> Position:
        """The last builtin call."""
        return self._read(0) or fallback

    def running(self, fallback: Position) -> Position:
        """What was running for certain: the place a stop without a position is reported at."""
        return self._read(_HALF) or fallback

    def _read(self, at: int) -> Position | None:
        line, column, size = _HEADER.unpack(self.memory[at: at + _HEADER.size])
        if line == 0:
            return None
        name = self.memory[at + _HEADER.size: at + _HEADER.size + size].decode("utf-8", "surrogateescape")
        return Position(name, line, column)


def load_plan(path: str | Path, target: str = "build", *, given: dict[str, bytes] | None = None):  # noqa: ANN201 - a Plan
    """Evaluate the envd file PATH names (a file, or a directory holding build.envd) and call
    `target()`, bounded in time, memory and steps. GIVEN: envd files this command has read
    already (absolute path -> bytes), evaluated as they were read instead of read again; the
    file itself is read here when it is not among them. Positions name files by display_path."""
    from envtrack.frontend.source import read_source
    from envtrack.project import display_path, envd_path

    file = envd_path(path)
    name = display_path(file)
    files = dict(given or {})
    if str(file) not in files:
        files[str(file)] = read_source(str(file), name)
    return evaluate_bounded(name, target, given=files)


def evaluate_bounded(file: str, target: str, limits: Limits | None = None, *,
                     given: dict[str, bytes] | None = None):  # noqa: ANN201 - a Plan
    """The Plan of FILE's TARGET(), evaluated within LIMITS; a LocatedError if it is not. GIVEN
    (absolute path -> bytes) is handed to the child, which evaluates those bytes instead of reading."""
    limits = limits or Limits.from_environment()
    progress_fd = os.memfd_create("envtrack-progress")
    os.ftruncate(progress_fd, _PAGE)
    progress = Progress(mmap.mmap(progress_fd, _PAGE))
    read_end, write_end = os.pipe()
    crash_log = open(os.memfd_create("envtrack-eval-stderr"), "w+b")  # as the progress page: no tempfile import
    try:
        process = _start(file, target, limits, write_end, progress_fd, crash_log.fileno(), read_end, given or {})
        os.close(write_end)
        write_end = -1
        payload, timed_out = _collect(read_end, limits.seconds, progress.is_fetching)
        if timed_out:
            process.kill()
        status = process.wait()
        start = Position(file, 1, 1)
        return _outcome(payload, timed_out, status, limits, progress.running(start), progress.read(start),
                        _head(crash_log))
    finally:
        for fd in (read_end, write_end, progress_fd):
            if fd >= 0:
                os.close(fd)
        progress.memory.close()
        crash_log.close()


# -- the parent ------------------------------------------------------------------------------

class _Forked:
    def __init__(self, pid: int):
        self.pid = pid

    def kill(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def wait(self) -> int:
        return os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])


def _start(file: str, target: str, limits: Limits, result_fd: int, progress_fd: int, crash_fd: int,
           parent_end: int, given: dict[str, bytes]):  # noqa: ANN202
    budget = limits.memory_mb * 1024 * 1024
    if "starlark_go" not in sys.modules and threading.active_count() == 1:
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            _die_with(parent, parent_end)
            _child(file, target, budget, limits.max_steps, result_fd, progress_fd, crash_fd, given)
        return _Forked(pid)
    # The Go runtime does not survive a fork (its threads stay behind), nor do other threads' locks.
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
    code = "import sys; from envtrack.frontend.bounded import _spawned; _spawned(sys.argv[1:])"
    argv = [sys.executable, "-c", code, file, target, str(budget), str(limits.max_steps),
            str(result_fd), str(progress_fd), str(crash_fd)]
    process = subprocess.Popen(argv, pass_fds=(result_fd, progress_fd, crash_fd), env=env, stdin=subprocess.PIPE)
    try:   # the files already read reach the child on its stdin, which it reads first
        process.stdin.write(pickle.dumps(given))
        process.stdin.close()
    except OSError:   # it died before reading: its exit status and crash log say why
        try:
            process.stdin.close()
        except OSError:
            pass
    return process


def _die_with(parent: int, parent_end: int) -> None:
    """A forked child holds copies of every descriptor, the project lock's among them: it must
    not outlive a parent that was killed (a later command would wait on the lock for ever).
    So the kernel kills it with its parent, and it drops the pipe's read end, so a result
    larger than the pipe's buffer fails to write instead of blocking with nobody reading."""
    os.close(parent_end)
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:   # the parent died before prctl took effect
        os._exit(1)


_PR_SET_PDEATHSIG = 1


def _address_space() -> int:
    """This process's virtual size: a forked child starts with all of it."""
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _collect(fd: int, seconds: float, fetching) -> tuple[bytes, bool]:  # noqa: ANN001 - () -> bool
    """Everything the child wrote, and whether the deadline passed first. While the child
    clones for include() the deadline waits (git has its own timeout)."""
    chunks = []
    deadline = time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0 and fetching():
            deadline, left = time.monotonic() + 1, 1
        if left <= 0:
            return b"".join(chunks), True
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return b"".join(chunks), False
        chunks.append(chunk)


def _head(log) -> str:  # noqa: ANN001 - a binary file
    """The start of what the child wrote to fd 2: a Go abort names its cause on the first lines."""
    log.seek(0)
    return log.read(8192).decode("utf-8", "replace")


def _outcome(payload: bytes, timed_out: bool, status: int, limits: Limits, running: Position, last_call: Position,
             crash: str):  # noqa: ANN202
    """A child stopped from outside, or by the Go runtime, says nothing of where it was: the error is
    put at what was running for certain (the file's top level, or the target's def); the last
    builtin call, which may be in a file that has returned since, is only named in the text."""
    if timed_out:
        called = f"; its last builtin call was {last_call}" if last_call != Position(running.file, 1, 1) else ""
        raise LocatedError(running, f"evaluation did not finish within {limits.seconds:g} s (an endless loop?) "
                                    f"in the function or file that starts here{called} "
                                    "(ENVTRACK_EVAL_SECONDS raises the limit)")
    result = _unpickle(payload)
    if result is None:
        raise LocatedError(running, _abort_reason(status, crash, limits))
    kind, *rest = result
    if kind == "plan":
        return rest[0]
    if kind == "located":
        file, line, column, reason = rest
        raise LocatedError(Position(file, line, column), reason)
    message, exit_code, hint = rest
    raise EnvtrackError(message, exit_code=exit_code, hint=hint)


def _unpickle(payload: bytes):  # noqa: ANN202
    try:
        return pickle.loads(payload) if payload else None
    except Exception:  # a child cut off mid-write
        return None


# What a child that hit its address-space limit leaves on fd 2: Python's MemoryError, or the
# Go runtime's abort when an allocation, a thread or a stack could not get memory.
_MEMORY_SIGNS = ("out of memory", "cannot allocate memory", "MemoryError", "pthread_create failed",
                 "failed to create new OS thread", "runtime: mmap", "runtime: cannot map pages")


_NO_PLACE = "in the function or file that starts here (the Go runtime stopped without saying where)"


def _abort_reason(status: int, crash: str, limits: Limits) -> str:
    """One message for one cause, whatever the last builtin call was: the same file gives the same answer."""
    if "stack exceeds" in crash or "stack overflow" in crash:
        return f"evaluation nested too deeply (recursion or deeply nested brackets) {_NO_PLACE}"
    if any(sign in crash for sign in _MEMORY_SIGNS):
        return (f"evaluation needed more than {limits.memory_mb} MiB of memory {_NO_PLACE} "
                "(ENVTRACK_EVAL_MEMORY_MB raises the limit)")
    return f"evaluation stopped (exit status {status}) {_NO_PLACE}"


# -- the child ---------------------------------------------------------------------------------

def _spawned(argv: list[str]) -> None:
    file, target, budget, max_steps, result_fd, progress_fd, crash_fd = argv
    given = pickle.loads(sys.stdin.buffer.read())
    _child(file, target, int(budget), int(max_steps), int(result_fd), int(progress_fd), int(crash_fd), given)


def _child(file: str, target: str, budget: int, max_steps: int, result_fd: int, progress_fd: int, crash_fd: int,
           given: dict[str, bytes]) -> None:
    """Evaluate, write the outcome to RESULT_FD, and exit without running the parent's cleanup."""
    code = 0
    try:
        _quiet_stderr(crash_fd)
        from envtrack.frontend.evaluate import Evaluation

        progress = Progress(mmap.mmap(progress_fd, _PAGE))
        evaluation = Evaluation(progress.mark, max_steps, progress.fetching, progress.enter, given)
        # Limited only now: the Go runtime and starlark-go map gigabytes of address space
        # they never touch (4 GiB for small integers alone) when they start.
        limit = _address_space() + budget
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        try:
            outcome = ("plan", evaluation.run(file, target))
        except LocatedError as error:
            outcome = ("located", error.position.file, error.position.line, error.position.column,
                       bounded_text(error.reason))
        except EnvtrackError as error:
            outcome = ("error", bounded_text(error.message), error.exit_code, error.hint)
        except MemoryError:
            raise
        except RecursionError:
            where = progress.running(Position(file, 1, 1))
            outcome = ("located", where.file, where.line, where.column,
                       "evaluation nested too deeply in the function or file that starts here")
        _write_all(result_fd, pickle.dumps(outcome))
    except MemoryError:
        os.write(crash_fd, b"MemoryError")
        code = 3
    except BaseException as error:  # noqa: BLE001 - the parent turns this into one located line
        os.write(crash_fd, f"{type(error).__name__}: {error}".encode("utf-8", "replace"))
        code = 4
    finally:
        os._exit(code)


def _quiet_stderr(crash_fd: int) -> None:
    """Keep stderr for Starlark's print(); anything else on fd 2 (a Go runtime abort) goes to the crash log."""
    import faulthandler

    faulthandler.disable()  # a test runner's handler would print the Go abort as a Python crash
    user_stderr = os.fdopen(os.dup(2), "w", buffering=1, encoding="utf-8", errors="replace")
    os.dup2(crash_fd, 2)
    sys.stderr = user_stderr


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
