"""Run a build.envd with starlark-go and record its builtin calls as Steps, in order.

The pure parts live next door: `transform` rewrites the text (namespaces, call-site
ids, load statements) and `builtins` binds arguments. This module is the shell that
reads files, drives the interpreter and turns every failure into a LocatedError that
points at the user's original text.

How `load()` works here: starlark-go has no loader, so a loaded file is run first in
the same interpreter under its own file name, and each global it defines is moved
to a private name (`_m<hash>_helper`); the load statement itself was rewritten into
assignments from those names. A module runs once however often it is loaded.
"""

from __future__ import annotations

import os
import posixpath
import re
from typing import Any, Callable

from envtrack.errors import LocatedError, Position
from envtrack.builtins import CONSTANTS, ENVD_DATA_DIR, EVALUATION
import envtrack.frontend.prelude as prelude
from envtrack.frontend.builtins import BUILTINS, BY_FLAT_NAME, ArgumentError, Builtin, bind_arguments
from envtrack.frontend.source import MAX_SOURCE_BYTES, decode_source, offset_position, read_source, source_digest
from envtrack.frontend.states import STATE_FUNCTIONS, StateRegistry
from envtrack.frontend.steps import Plan, Step
from envtrack.frontend.transform import (
    CallSite,
    Include,
    Load,
    TokenizeError,
    Transformed,
    module_prefix,
    transform,
)
from envtrack.frontend.values import Unconvertible

_DRIVER = "<envtrack>"
_FRAME = re.compile(r"^\s*(?P<file>.+?):(?P<line>\d+):(?P<column>\d+): in ", re.MULTILINE)
_LOCATION_PREFIX = re.compile(r"^.*?:\d+:\d+: ")
_LONE_CR = re.compile(r"\r(?!\n)")
_HIDDEN_MODULE_NAME = re.compile(r"^_m[0-9a-f]{12}_")  # see transform.module_prefix


def _with_suggestion(message: str) -> str:
    """`undefined: instal` -> `undefined: instal (did you mean install?)`."""
    import difflib

    from envtrack.frontend.builtins import NAMESPACES, TOP_LEVEL

    if not message.startswith("undefined: "):
        return message
    name = message.removeprefix("undefined: ")
    close = difflib.get_close_matches(name, sorted(TOP_LEVEL | NAMESPACES.keys()), n=1, cutoff=0.75)
    return f"{message} (did you mean {close[0]}?)" if close else message


def _print_to_stderr(text: str) -> None:
    import sys

    print(text, file=sys.stderr)


_NOT_A_STATE = object()   # target() returned a value Python cannot hold (a function, ...)


class _CallbackFailed(Exception):
    """Raised inside a builtin so Starlark unwinds; the real error waits in `pending`."""


def _no_mark(position: Position) -> None:
    pass


def _not_told(fetching: bool) -> None:
    pass


class Evaluation:
    """One run of a file in one interpreter. MARK(position) is told each builtin call, ENTER(position)
    what is running for certain (a file's top level at its 1:1, then the target function at its
    def), so a watchdog can say where it stopped without blaming a file that had already returned."""

    def __init__(self, mark: Callable[[Position], None] = _no_mark, max_steps: int | None = None,
                 fetching: Callable[[bool], None] = _not_told, enter: Callable[[Position], None] = _no_mark,
                 given: dict[str, bytes] | None = None) -> None:
        from starlark_go import Starlark, configure_starlark

        self.mark = mark
        self.enter = enter
        self.fetching = fetching   # told True while include() clones: network time is not evaluation time
        self.max_steps = max_steps

        configure_starlark(allow_set=True)
        # print() goes to stderr, so `plan --json` output stays parseable; the
        # callable is kept on self because starlark-go holds no reference to it.
        self.print_callback = _print_to_stderr
        self.starlark = Starlark(print=self.print_callback)
        self.steps: list[Step] = []
        self.sources: dict[str, str] = {}
        self.given = dict(given or {})               # absolute path -> bytes the caller read already
        self.digests: dict[str, str] = {}            # absolute path -> source_digest of the bytes run
        self.sites: dict[int, tuple[Transformed, CallSite]] = {}
        self.files: dict[str, Transformed] = {}      # filename given to Starlark -> its rewrite
        self.exports: dict[str, frozenset[str]] = {}  # loaded module path -> its globals
        self.loading: list[str] = []                  # files being run, main file first
        self.pending: LocatedError | None = None
        self.last_position: Position | None = None   # the last builtin call, for errors without a place
        self.next_site = 1
        self.refused_result: str | None = None      # what target() returned, when the prelude kept it back
        self.unknown_defined: set[str] = set()       # flat names of members envd lacks, given a wrapper
        self.states = StateRegistry(self.sources)
        # Every builtin is a Starlark function of the prelude that measures its arguments and
        # calls the Python callback (prelude.python_name). starlark-go keeps no reference to
        # the callables it is given: we must.
        self.callbacks: dict[str, Any] = {
            prelude.python_name(builtin.flat_name): self._callback(builtin) for builtin in BUILTINS.values()
        }
        self.callbacks.update({prelude.python_name(kind): self._state_callback(kind) for kind in STATE_FUNCTIONS})
        self.callbacks[prelude.UNKNOWN] = self._unknown_callback
        self.callbacks[prelude.RESULT_REFUSED] = self._refused_result
        self.constants = {name.replace(".", "_"): value for name, value in CONSTANTS.items()}
        self.starlark.set(**self.callbacks, **self.constants)
        self.starlark.exec(prelude.PRELUDE, filename=prelude.FILENAME)
        self._restore_predeclared()

    # -- driving ---------------------------------------------------------------

    def run(self, file: str, target: str) -> Plan:
        self.loading.append(file)
        main = self._exec_file(file, text=self._read(file, None))
        returned = self._call_target(main, target)
        line, column = main.functions.get(target, (1, 1))
        result = self.states.result(returned, Position(main.file, line, column), target)
        return Plan(file=file, target=target, steps=tuple(self.steps), sources=dict(self.sources),
                    states=self.states.check(), result=result, digests=dict(self.digests))

    def _call_target(self, main: Transformed, target: str) -> Any:
        """Call `target()`; its return value (a state's name, or None)."""
        callable_names = {
            name for name in self.starlark.globals()
            if name not in _PREDECLARED and name not in self.constants and not name.startswith(prelude.PREFIX)
            and name not in self.unknown_defined and not _HIDDEN_MODULE_NAME.match(name)
        }
        if not target.isidentifier() or target not in callable_names:
            defined = ", ".join(f"{name}()" for name in sorted(main.functions)) or "none"
            raise LocatedError(Position(main.file, 1, 1), f"no function {target}() defined (functions: {defined})")
        line, column = main.functions.get(target, (1, 1))  # (1, 1) when bound by assignment
        self.enter(Position(main.file, line, column))
        try:
            returned = self._exec(f"{prelude.RESULT}({target}())", _DRIVER, evaluate=True)
            return Unconvertible(self.refused_result) if self.refused_result is not None else returned
        except LocatedError as error:
            wrong_arity = error.reason.startswith((f"function {target} missing", f"function {target} accepts"))
            if error.position.file == _DRIVER or wrong_arity:
                raise LocatedError(Position(main.file, line, column), f"calling {target}(): {error.reason}") from None
            raise

    def _exec_file(self, file: str, text: str, *, as_module: bool = False) -> Transformed:
        self.sources[file] = text
        self.enter(Position(file, 1, 1))
        nul = text.find("\0")
        if nul >= 0:  # Starlark cannot be handed a NUL; no envd file holds one
            raise LocatedError(offset_position(file, text, nul), "NUL byte in the file (is it a binary file?)")
        lone_cr = _LONE_CR.search(text)
        if lone_cr:  # Starlark would end a line there and Python's tokenizer would not: positions disagree
            raise LocatedError(offset_position(file, text, lone_cr.start()),
                               "carriage return (CR) without a line feed; use LF or CRLF line endings")
        try:
            rewritten = transform(text, file, self.next_site)
        except TokenizeError as error:
            raise self._syntax_error(file, text, error) from None
        self.files[file] = rewritten
        wrappers = [prelude.unknown_wrapper(name) for name in rewritten.unknown if name not in self.unknown_defined]
        if wrappers:
            self.unknown_defined |= rewritten.unknown.keys()
            self._exec("".join(wrappers), prelude.FILENAME)
        for site_id, site in rewritten.sites.items():
            self.sites[site_id] = (rewritten, site)
        self.next_site += len(rewritten.sites)
        for load in rewritten.loads:
            self._load(file, load)
        for include in rewritten.includes:
            self._include(file, include)
        before = set(self.starlark.globals())  # after the loads: their names are not ours
        self._exec(rewritten.source, file)
        # Functions of loaded files look builtins up in the shared globals at call time:
        # a file that rebinds `shell` for itself must not change it for the others.
        self._restore_predeclared()
        if as_module:
            self._hide_module_globals(file, [name for name in self.starlark.globals() if name not in before])
        return rewritten

    def _load(self, file: str, load: Load) -> None:
        where = Position(file, load.line, load.column)
        if load.path in self.loading:
            chain = " -> ".join([*self.loading[self.loading.index(load.path):], load.path])
            raise LocatedError(where, f"load cycle: {chain}")
        if load.path not in self.exports:
            if not load.module.endswith(".envd"):
                raise LocatedError(where, f"cannot load {load.module!r}: only local .envd files can be loaded")
            text = self._read(load.path, where)
            self.loading.append(load.path)
            try:
                self._exec_file(load.path, text, as_module=True)
            finally:
                self.loading.pop()
                self.enter(Position(file, 1, 1))   # back in the loading file
        exported = self.exports[load.path]
        for binding in load.bindings:
            place = Position(file, binding.line, binding.column)
            if binding.symbol.startswith("_"):
                raise LocatedError(place, f"load: symbol {binding.symbol!r} is private to {load.module}")
            if binding.symbol not in exported:
                raise LocatedError(place, f"load: {load.module} does not define {binding.symbol!r}")

    def _include(self, file: str, include: Include) -> None:
        """Run the repository's envd files as modules; `alias_name` becomes each public global."""
        from envtrack.frontend.include import include_files

        where = Position(file, include.line, include.column)
        members: dict[str, str] = {}
        self.fetching(True)
        try:
            paths = include_files(include.url, file, where)
        finally:
            self.fetching(False)
        for path in paths:
            name = posixpath.normpath(str(path))
            if name not in self.exports:
                self.loading.append(name)
                try:
                    self._exec_file(name, self._read(name, where), as_module=True)
                finally:
                    self.loading.pop()
                    self.enter(Position(file, 1, 1))   # back in the including file
            for symbol in sorted(self.exports[name]):
                if symbol.startswith("_"):
                    continue
                if symbol in members:
                    raise LocatedError(where, f"include: {include.url} defines {symbol!r} twice "
                                              f"({members[symbol]} and {name})")
                members[symbol] = name
        if members:
            self._exec("\n".join(f"{include.alias}_{symbol} = {module_prefix(path)}{symbol}"
                                  for symbol, path in members.items()), _DRIVER)

    def _hide_module_globals(self, path: str, defined: list[str]) -> None:
        """Move a loaded module's globals to private names, so files cannot see each other's."""
        from starlark_go import ConversionToPythonFailed

        prefix = module_prefix(path)
        if defined:
            self._exec("\n".join(f"{prefix}{name} = {name}" for name in defined), _DRIVER)
            # pop() hands back the value, converted: make it None first (a module's huge list stays in Starlark).
            self._exec("\n".join(f"{name} = None" for name in defined), _DRIVER)
        for name in defined:
            try:
                self.starlark.pop(name)
            except ConversionToPythonFailed:
                pass  # functions cannot be converted, but pop removed them all the same
        self.exports[path] = frozenset(defined)

    def _read(self, name: str, where: Position | None) -> str:
        """The text of the envd file NAME (as positions spell it): the bytes the caller already
        read when it handed them over, else read now; either way fingerprinted, once."""
        absolute = os.path.abspath(name)
        data = self.given.pop(absolute, None)
        if data is None or len(data) > MAX_SOURCE_BYTES:   # too large: refused as read_source refuses it
            data = read_source(absolute, name, where)
        self.digests[absolute] = source_digest(data)
        return decode_source(name, data)

    def _restore_predeclared(self) -> None:
        self.starlark.exec(prelude.RESTORE, filename=prelude.FILENAME)
        self.starlark.set(**self.constants)

    # -- builtins --------------------------------------------------------------

    def _site_position(self, site_id: Any, kind: str) -> Position:
        found = self.sites.get(site_id) if isinstance(site_id, int) and not isinstance(site_id, bool) else None
        if found is None or found[1].kind != kind:
            # Only when the file rebinds a builtin's name and still calls the builtin:
            # the rewrite leaves every use of a rebound name alone.
            raise RuntimeError(f"cannot call {kind} here: this file also uses {kind.split('.')[0]!r} as a name of its own")
        rewritten, site = found
        return Position(rewritten.file, site.line, site.column)

    def _callback(self, builtin: Builtin) -> Callable[..., Any]:
        def call(site_id: Any, refused: dict[Any, str], /, *args: Any, **kwargs: Any) -> Any:
            args, kwargs = _put_back(refused, args, kwargs)
            position = self._site_position(site_id, builtin.kind)
            self.mark(position)
            self.last_position = position
            if self.max_steps is not None and len(self.steps) >= self.max_steps:
                self.pending = LocatedError(position, f"more than {self.max_steps} build steps: an endless loop? "
                                                      "(ENVTRACK_EVAL_MAX_STEPS raises the limit)")
                raise _CallbackFailed
            try:
                state = self.states.into(builtin.kind, kwargs.pop("into"), position) if "into" in kwargs else None
                bound = bind_arguments(builtin, args, kwargs)
            except ArgumentError as error:
                self.pending = LocatedError(position, str(error))
                raise _CallbackFailed from None
            except LocatedError as error:
                self.pending = error
                raise _CallbackFailed from None
            if builtin.stage == EVALUATION:
                return self._evaluate_value(builtin, bound, position)
            self.steps.append(Step(builtin.kind, bound, position, state))
            return None

        call.__name__ = builtin.flat_name  # starlark-go names the failing builtin by this
        return call

    def _unknown_callback(self, site_id: Any) -> None:
        """A call of a member envd does not have fails when it runs, at its own place; its
        wrapper hands over only the call-site id (prelude.unknown_wrapper)."""
        found = self.sites.get(site_id) if isinstance(site_id, int) and not isinstance(site_id, bool) else None
        if found is None:
            raise RuntimeError("a member envd does not have was called without its call-site id")
        rewritten, site = found
        self.pending = LocatedError(Position(rewritten.file, site.line, site.column),
                                    rewritten.unknown[site.kind.replace(".", "_")])
        raise _CallbackFailed

    def _refused_result(self, kind: str) -> None:
        self.refused_result = kind

    def _evaluate_value(self, builtin: Builtin, bound: dict[str, Any], position: Position) -> Any:
        """Builtins that return a value while the file is evaluated (envd's data.envd, include)."""
        if builtin.kind == "data.envd":
            return posixpath.join(ENVD_DATA_DIR, bound["name"])
        self.pending = LocatedError(position, f"{builtin.kind}: use it as `name = {builtin.kind}(...)` at the top "
                                              "of the file, then call name.function()")
        raise _CallbackFailed

    def _state_callback(self, kind: str) -> Callable[..., str]:
        """scratch(), image(), branch(), merge(), diff(): define a state, return its name."""
        def call(site_id: Any, refused: dict[Any, str], /, *args: Any, **kwargs: Any) -> str:
            args, kwargs = _put_back(refused, args, kwargs)
            position = self._site_position(site_id, kind)
            self.mark(position)
            try:
                return self.states.define(kind, position, args, kwargs)
            except LocatedError as error:
                self.pending = error
                raise _CallbackFailed from None

        call.__name__ = kind
        return call

    # -- errors ----------------------------------------------------------------

    def _exec(self, source: str, filename: str, *, evaluate: bool = False) -> Any:
        """Run SOURCE; with EVALUATE it is an expression and its value is returned."""
        from starlark_go import ConversionToPythonFailed, EvalError, ResolveError
        from starlark_go import SyntaxError as StarlarkSyntaxError

        try:
            if evaluate:
                return self.starlark.eval(source, filename=filename)
            self.starlark.exec(source, filename=filename)
        except ConversionToPythonFailed:
            return _NOT_A_STATE
        except StarlarkSyntaxError as error:
            raise LocatedError(self._position(error.filename, error.line, error.column), error.msg) from None
        except ResolveError as error:
            item = error.errors[0]
            message = self._include_member_message(filename, item.msg) or _with_suggestion(item.msg)
            raise LocatedError(self._position(filename, item.line, item.column), message) from None
        except EvalError as error:
            raise self._eval_error(error) from None
        except Exception as error:  # the binding itself failed (it cannot build its own error)
            if "EvalError" in str(error):
                raise MemoryError from None   # no memory left to build the error: bounded.py says so
            raise self._unreadable(source, filename, error) from None

    def _unreadable(self, source: str, filename: str, error: Exception) -> LocatedError:
        """Starlark could not even report what it disliked: find the bad string literal ourselves."""
        from envtrack.frontend.transform import bad_escape

        found = bad_escape(source)
        if found is not None:
            (line, column), escape = found
            return LocatedError(self._position(filename, line, column), f"invalid escape sequence {escape}")
        # The last builtin call only if it is in this text: it may be in a file that has returned since.
        last = self.last_position
        where = last if last is not None and last.file == filename else self._position(filename, 1, 1)
        return LocatedError(where, f"starlark cannot evaluate this text ({type(error).__name__}: {error})")

    def _include_member_message(self, filename: str, message: str) -> str | None:
        """`undefined: lib_nope` for `lib.nope` of an included repository."""
        rewritten = self.files.get(filename)
        name = message.removeprefix("undefined: ").split(" ")[0]
        for include in rewritten.includes if rewritten else ():
            if name.startswith(include.alias + "_"):
                return f"include: {include.url} defines no {name[len(include.alias) + 1:]!r}"
        return None

    def _eval_error(self, error: Any) -> LocatedError:
        if self.pending is not None:
            pending, self.pending = self.pending, None
            return pending
        message = _LOCATION_PREFIX.sub("", str(error.error)).strip()
        if error.filename == "<builtin>":
            return self._builtin_error(error, message)
        return LocatedError(self._position(error.filename, error.line, error.column), message)

    def _builtin_error(self, error: Any, message: str) -> LocatedError:
        """A builtin refused its arguments before our code ran (starlark-go could not
        convert a value): blame the call site of the innermost user frame."""
        builtin = BY_FLAT_NAME.get(error.function_name)
        if builtin is not None:
            message = f"{builtin.kind}: {message}"
        frames = [m for m in _FRAME.finditer(error.backtrace or "") if m["file"] in self.files]
        if not frames:  # no user frame in the backtrace: the last call we saw is the best place
            main = self.loading[0] if self.loading else _DRIVER
            return LocatedError(self.last_position or Position(main, 1, 1), message)
        frame = frames[-1]
        rewritten = self.files[frame["file"]]
        line, column = int(frame["line"]), rewritten.original_column(int(frame["line"]), int(frame["column"]))
        on_line = [site for site in rewritten.sites.values() if site.line == line and site.column <= column]
        if builtin is not None:
            on_line = [site for site in on_line if site.kind == builtin.kind] or on_line
        if on_line:
            column = max(site.column for site in on_line)
        return LocatedError(Position(rewritten.file, line, column), message)

    def _position(self, filename: str, line: int, column: int) -> Position:
        rewritten = self.files.get(filename)
        if rewritten is None:
            return Position(filename, line, column)
        return rewritten.position(line, column)

    def _syntax_error(self, file: str, text: str, error: TokenizeError) -> LocatedError:
        """The tokenizer gave up; let Starlark name the problem in its own words."""
        from starlark_go import Starlark, StarlarkError
        from starlark_go import SyntaxError as StarlarkSyntaxError

        try:
            Starlark(print=_print_to_stderr).exec(text, filename=file)
        except StarlarkSyntaxError as starlark_error:
            return LocatedError(Position(file, starlark_error.line, starlark_error.column), starlark_error.msg)
        except StarlarkError:
            pass
        return LocatedError(Position(file, error.line, error.column), str(error))


_PREDECLARED = frozenset(prelude.WRAPPED) | {"fail"}


def _put_back(refused: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The arguments with an Unconvertible where the prelude kept a value back (its keys:
    a keyword, or the position in the call, 1 being the first after the call-site id)."""
    if not refused or not isinstance(refused, dict):
        return args, kwargs
    args = tuple(Unconvertible(refused[i + 1]) if i + 1 in refused else value for i, value in enumerate(args))
    kwargs = {key: Unconvertible(refused[key]) if key in refused else value for key, value in kwargs.items()}
    return args, kwargs
