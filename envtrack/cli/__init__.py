"""Command-line entry point: `envtrack`.

Ordinary command lines run through the framework-free dispatcher (cli/dispatch.py); the
rest go to the typer application (cli/app.py). Both read one option table (cli/table.py).
Every failure ends here: an EnvtrackError prints its one-line report and exits with its
code; anything else prints one line and where the full traceback was saved.
"""

from __future__ import annotations

import gc
import sys


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    try:
        code = _run(argv)
    except KeyboardInterrupt:
        code = 130
        print("envtrack: interrupted", file=sys.stderr)
    except BrokenPipeError:  # `envtrack log | head`: the reader left; nothing to report
        code = 0
        _silence_stdout()
    except SystemExit as leaving:
        raise leaving
    except BaseException as error:  # noqa: BLE001 - the last resort: no traceback reaches the user
        code = _report(error)
    _flush()
    # The interpreter's last garbage collection walks every object the command's modules made
    # (~6 ms of a 0.1 s `exec`); what is left now is freed by reference counting as modules
    # are torn down, and atexit handlers still run. Freezing only spares the walk.
    gc.freeze()
    if argv[:1] == ["exec"] and isinstance(code, int) and 0 <= code <= 255 and _nothing_left_to_finish():
        import os

        os._exit(code)   # the tear-down of every module would only free memory: ~5 ms of `exec`'s CPU
    sys.exit(code)


def _nothing_left_to_finish() -> bool:
    """True when the interpreter's shutdown would do nothing but free memory: no atexit handler
    registered, no thread but this one, both standard streams flushed. `exec` checks this before
    leaving without it: its command has ended, and the SSH agent's relay is stopped already."""
    import atexit

    threading = sys.modules.get("threading")
    count = getattr(atexit, "_ncallbacks", None)
    if count is None or count() or (threading is not None and threading.active_count() > 1):
        return False
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return False
    return True


def _run(argv: list[str]) -> int:
    from envtrack.errors import EnvtrackError

    try:
        from envtrack.cli.dispatch import dispatch

        code = dispatch(argv)
        if code is None:
            code = _run_framework(argv)
    except EnvtrackError as error:
        print(error.report(), file=sys.stderr)
        return error.exit_code
    return code


def _run_framework(argv: list[str]) -> int:
    from envtrack.cli.app import app
    # The table's commands need no import; a module that registers commands of its own
    # with `@app.command()` must be imported here, before app() runs.
    from envtrack.cli import context  # noqa: F401 - `envtrack context ...`
    try:
        app(args=argv, prog_name="envtrack")
    except SystemExit as leaving:
        return leaving.code if isinstance(leaving.code, int) else (0 if leaving.code is None else 1)
    return 0


def _report(error: BaseException) -> int:
    """One line for the user; the traceback goes to a file they can attach to a bug report."""
    where = _save_traceback(error)
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    print(f"envtrack: internal error: {type(error).__name__}{': ' + text if text else ''}", file=sys.stderr)
    print(f"hint: this is a bug in envtrack; the full traceback is in {where}" if where
          else "hint: this is a bug in envtrack (the traceback could not be saved)", file=sys.stderr)
    return 1


def _save_traceback(error: BaseException) -> str | None:
    import os
    import tempfile
    import time
    import traceback

    text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    for folder in (os.path.join(cache, "envtrack", "crashes"), tempfile.gettempdir()):
        path = os.path.join(folder, f"envtrack-crash-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}.txt")
        try:
            os.makedirs(folder, exist_ok=True)
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(f"envtrack {' '.join(sys.argv[1:])}\n{text}")
            return path
        except OSError:
            continue
    return None


def _flush() -> None:
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    import os

    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass
