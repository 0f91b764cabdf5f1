"""Rewrite envd source so starlark-go can run it and every builtin call knows its place.

starlark-go (the Python wrapper) has no namespaces, no `load()`, and does not tell a
Python callback where it was called from. So before running a file we rewrite its
tokens (Python's tokenizer handles Starlark's lexical syntax):

* `install.apt_packages` becomes `install_apt_packages` (same length: columns keep);
* every call of a builtin gets a call-site id as its first positional argument,
  `run(` -> `run(17, `; the id maps back to the call's original line and column;
* a top-level `load("x.envd", "a", b="c")` becomes `a = _m…_a; b = _m…_c`, the names
  the evaluator gives the loaded module's globals (see `module_prefix`).

Each edit is kept per line, so any line:column that Starlark reports about the
rewritten text translates back to the user's text (`Transformed.original_column`).
Misuse that the rewrite itself can see (an unknown `install.nope`, a builtin used
without calling it) is reported here, at its exact place.
"""

from __future__ import annotations

import ast
import io
import posixpath
import tokenize
from dataclasses import dataclass, field

from envtrack.errors import LocatedError, Position
from envtrack.builtins import CONSTANT_NAMESPACES, CONSTANTS, NAMESPACES, V0_RENAMES
from envtrack.builtins import TOP_LEVEL as _BUILTIN_TOP_LEVEL
from envtrack.frontend.states import STATE_FUNCTIONS

# Every predeclared function a call site id is given to: envd's and the state functions.
TOP_LEVEL = _BUILTIN_TOP_LEVEL | STATE_FUNCTIONS.keys()

_STATEMENT_START = {tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT}
MAX_NESTING = 200   # bracket depth; Python's own parser stops at 200 too
_SKIPPED = {tokenize.COMMENT, tokenize.NL, tokenize.ENCODING, tokenize.ENDMARKER}


@dataclass(frozen=True)
class CallSite:
    """Where one builtin call is written in the user's text (1-based)."""

    kind: str
    line: int
    column: int


@dataclass(frozen=True)
class LoadBinding:
    local: str      # name bound in the loading file
    symbol: str     # global of the loaded file
    line: int
    column: int


@dataclass(frozen=True)
class Load:
    module: str     # as written: "helpers.envd"
    path: str       # resolved against the loading file (normalised, posix)
    line: int
    column: int
    bindings: tuple[LoadBinding, ...]


@dataclass(frozen=True)
class Include:
    """`lib = include("URL")` at the top of a file: envd's module of a git repo's envd files."""

    alias: str      # the name bound; `lib.f` is rewritten to `lib_f`
    url: str
    line: int
    column: int


@dataclass(frozen=True)
class Edit:
    """Replace columns [start, end) of `line` (original text, 0-based) with `text`."""

    line: int
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Transformed:
    file: str
    source: str                                  # the rewritten text
    sites: dict[int, CallSite]
    loads: tuple[Load, ...]
    functions: dict[str, tuple[int, int]]        # top-level `def NAME` -> (line, column)
    edits: dict[int, tuple[Edit, ...]] = field(default_factory=dict)
    # `ns.unknown(` calls: flat name -> the error, raised only if the call runs (as in envd,
    # where a member lookup fails when it is evaluated, not when the file is read).
    unknown: dict[str, str] = field(default_factory=dict)
    includes: tuple[Include, ...] = ()

    def original_column(self, line: int, column: int) -> int:
        """Translate a 1-based column Starlark reported on the rewritten text."""
        shift = 0  # rewritten column minus original column, left of the current edit
        for edit in self.edits.get(line, ()):
            new_start = edit.start + shift
            if column - 1 < new_start:
                break
            if column - 1 < new_start + len(edit.text):
                # Inside edited text: a same-length rename maps character for character;
                # an insertion points at the place it was inserted.
                inside = min(column - 1 - new_start, max(0, edit.end - edit.start - 1))
                return edit.start + inside + 1
            shift += len(edit.text) - (edit.end - edit.start)
        return max(1, column - shift)

    def position(self, line: int, column: int) -> Position:
        return Position(self.file, line, self.original_column(line, column))


class TokenizeError(Exception):
    """The text cannot even be tokenized; Starlark is asked for the real syntax error."""

    def __init__(self, message: str, line: int, column: int):
        super().__init__(message)
        self.line = line
        self.column = column


def resolve_module(loading_file: str, module: str) -> str:
    """The path of `module` as seen from the file that loads it."""
    return posixpath.normpath(posixpath.join(posixpath.dirname(loading_file), module))


def module_prefix(path: str) -> str:
    """The private global-name prefix a loaded module's names are kept under."""
    import hashlib  # here: loading it costs every `plan` and `build` a few ms, and only includes need it

    return "_m" + hashlib.sha1(path.encode()).hexdigest()[:12] + "_"


def transform(source: str, file: str, first_site_id: int = 1) -> Transformed:
    """Rewrite one file's text; call-site ids start at `first_site_id`."""
    return _Rewriter(source, file, first_site_id).run()


class _Rewriter:
    """One pass over a file's tokens, collecting edits, call sites, loads and defs."""

    def __init__(self, source: str, file: str, first_site_id: int):
        self.file = file
        self.lines = source.split("\n")
        self.tokens = _tokens(source)
        self.scopes = _function_scopes(self.tokens)
        self.shadowed = _shadowed_names(self.tokens, self.scopes) | _loaded_names(self.tokens, file)
        self.edits: list[Edit] = []
        self.sites: dict[int, CallSite] = {}
        self.loads: list[Load] = []
        self.functions: dict[str, tuple[int, int]] = {}
        self.unknown: dict[str, str] = {}
        self.includes = _includes(self.tokens, file)
        self.aliases = {include.alias for include in self.includes}
        self.next_id = first_site_id
        self.depth = 0  # bracket nesting: keyword arguments only exist inside calls

    def run(self) -> Transformed:
        i = 0
        while i < len(self.tokens):
            i = self._visit(i)
        by_line: dict[int, list[Edit]] = {}
        for edit in self.edits:
            by_line.setdefault(edit.line, []).append(edit)
        ordered = {line: tuple(sorted(group, key=lambda e: (e.start, e.end))) for line, group in by_line.items()}
        return Transformed(
            file=self.file,
            source=_apply(self.lines, ordered),
            sites=self.sites,
            loads=tuple(self.loads),
            functions=self.functions,
            edits=ordered,
            unknown=self.unknown,
            includes=self.includes,
        )

    def _visit(self, i: int) -> int:
        """Handle token i; return the index of the next token to visit."""
        tok, nxt = self.tokens[i], _at(self.tokens, i + 1)
        if tok.type == tokenize.OP and tok.string in ("(", "[", "{"):
            self.depth += 1
            if self.depth > MAX_NESTING:  # the interpreter's parser would recurse until it runs out of stack
                raise LocatedError(_pos(self.file, tok), f"brackets nested more than {MAX_NESTING} deep")
        elif tok.type == tokenize.OP and tok.string in (")", "]", "}"):
            self.depth = max(0, self.depth - 1)
        if tok.type != tokenize.NAME or _is_attribute(self.tokens, i):
            return i + 1
        if tok.string in self.aliases:
            return self._alias_use(i)
        if _is_shadowed(tok.string, self.scopes[i], self.shadowed):
            return i + 1
        name = tok.string
        top_level = self.depth == 0 and tok.start[1] == 0
        if name == "def" and top_level and nxt is not None and nxt.type == tokenize.NAME:
            self.functions[nxt.string] = (nxt.start[0], nxt.start[1] + 1)
        elif name == "load" and top_level and _is_op(nxt, "("):
            return self._load(i)
        elif self.depth > 0 and _is_op(nxt, "="):
            pass  # a keyword argument named like a builtin: `helper(base="x")`
        elif name in NAMESPACES:
            return self._namespace_call(i)
        elif name in TOP_LEVEL:
            if not _is_op(nxt, "("):
                raise LocatedError(_pos(self.file, tok), f"{name} is an envd builtin: call it, e.g. {name}(...)")
            return self._add_site(name, tok, i + 1)
        return i + 1

    def _alias_use(self, i: int) -> int:
        """`lib = include(...)` -> `lib = None`; `lib.f` -> `lib_f` (same length)."""
        tok, nxt, member = self.tokens[i], _at(self.tokens, i + 1), _at(self.tokens, i + 2)
        if _is_op(nxt, "=") and tok.start[1] == 0:
            call, end = self.tokens[i + 2], _matching_paren(self.tokens, i + 3)
            self.edits.append(Edit(call.start[0], call.start[1], self.tokens[end].end[1], "None"))
            return end + 1
        if _is_op(nxt, ".") and member is not None and member.type == tokenize.NAME and member.start[0] == tok.start[0]:
            self.edits.append(Edit(tok.start[0], tok.start[1], member.end[1], f"{tok.string}_{member.string}"))
            return i + 3
        return i + 1

    def _namespace_call(self, i: int) -> int:
        """`install.apt_packages(` -> `install_apt_packages(ID, `; `data.path.dgl` -> `data_path_dgl`."""
        tok = self.tokens[i]
        kind, paren_index, unknown = _namespace_member(self.tokens, i, self.file)
        end = self.tokens[paren_index - 1].end
        if end[0] != tok.start[0]:
            raise LocatedError(_pos(self.file, tok), f"write {kind} on one line")
        self.edits.append(Edit(tok.start[0], tok.start[1], end[1], kind.replace(".", "_")))
        if kind in CONSTANTS:
            return paren_index
        if unknown:
            self.unknown[kind.replace(".", "_")] = unknown
        return self._add_site(kind, tok, paren_index)

    def _add_site(self, kind: str, tok: tokenize.TokenInfo, paren_index: int) -> int:
        """Give the call whose `(` is at paren_index the next call-site id."""
        self.edits.append(_site_edit(self.tokens, paren_index, self.next_id))
        self.sites[self.next_id] = CallSite(kind, tok.start[0], tok.start[1] + 1)
        self.next_id += 1
        self.depth += 1  # the `(` we step over
        return paren_index + 1

    def _load(self, i: int) -> int:
        parsed = _parse_load(self.tokens, i, self.file)
        if parsed is None:
            return i + 1  # not well formed: Starlark reports it in its own words
        load, end_index = parsed
        self.loads.append(load)
        self.edits.extend(_load_edits(load, self.tokens[i].start, self.tokens[end_index].end, self.lines))
        return end_index + 1


def _tokens(source: str) -> list[tokenize.TokenInfo]:
    try:
        return [t for t in tokenize.generate_tokens(io.StringIO(source).readline) if t.type not in _SKIPPED]
    except tokenize.TokenError as error:
        message, (line, column) = error.args
        raise TokenizeError(message, line, column + 1) from None
    except IndentationError as error:  # also raised by the tokenizer on bad dedents
        raise TokenizeError(error.msg, error.lineno or 1, error.offset or 1) from None


def _pos(file: str, tok: tokenize.TokenInfo) -> Position:
    return Position(file, tok.start[0], tok.start[1] + 1)


def _is_op(tok: tokenize.TokenInfo | None, op: str) -> bool:
    return tok is not None and tok.type == tokenize.OP and tok.string == op


def _is_attribute(tokens: list[tokenize.TokenInfo], i: int) -> bool:
    """`x.run` is the user's attribute, not the `run` builtin."""
    return i > 0 and _is_op(tokens[i - 1], ".")


def _at_statement_start(tokens: list[tokenize.TokenInfo], i: int) -> bool:
    return i == 0 or tokens[i - 1].type in _STATEMENT_START or _is_op(tokens[i - 1], ";")


def _function_scopes(tokens: list[tokenize.TokenInfo]) -> list[int | None]:
    """For each token, the index of the top-level `def` it belongs to (None: file level)."""
    scopes: list[int | None] = []
    current: int | None = None
    for i, tok in enumerate(tokens):
        if tok.start[1] == 0 and _at_statement_start(tokens, i) and tok.type not in _STATEMENT_START:
            current = i if (tok.type == tokenize.NAME and tok.string == "def") else None
        scopes.append(current)
    return scopes


def _is_shadowed(name: str, scope: int | None, shadowed: set[tuple[int | None, str]]) -> bool:
    return (None, name) in shadowed or (scope is not None and (scope, name) in shadowed)


def _shadowed_names(tokens: list[tokenize.TokenInfo], scopes: list[int | None]) -> set[tuple[int | None, str]]:
    """Builtin names the file binds itself (def, assignment, parameter, loop variable),
    as (scope, name): Starlark lets a file or a function shadow a predeclared name.

    A binding at file level shadows the name in the whole file; one inside a top-level
    function (its parameters included) only in that function.
    """
    reserved = TOP_LEVEL | NAMESPACES.keys()
    shadowed: set[tuple[int | None, str]] = set()
    in_def_params = 0
    for i, tok in enumerate(tokens):
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        prev = tokens[i - 1] if i > 0 else None
        if tok.type == tokenize.NAME and tok.string == "def":
            in_def_params = -1  # waiting for the opening parenthesis
            continue
        if in_def_params == -1 and _is_op(tok, "("):
            in_def_params = 1
            continue
        if in_def_params > 0:
            if _is_op(tok, "(") or _is_op(tok, "[") or _is_op(tok, "{"):
                in_def_params += 1
            elif _is_op(tok, ")") or _is_op(tok, "]") or _is_op(tok, "}"):
                in_def_params -= 1
        if tok.type != tokenize.NAME or tok.string not in reserved or _is_attribute(tokens, i):
            continue
        if prev is not None and prev.type == tokenize.NAME and prev.string == "def":
            shadowed.add((None if prev.start[1] == 0 else scopes[i], tok.string))
        elif _in_for_target(tokens, i):
            shadowed.add((scopes[i], tok.string))
        elif _in_assignment_target(tokens, i):
            shadowed.add((scopes[i], tok.string))
        elif in_def_params == 1 and (_is_op(nxt, ",") or _is_op(nxt, ")") or _is_op(nxt, "=")) and (
            _is_op(prev, "(") or _is_op(prev, ",") or _is_op(prev, "*") or _is_op(prev, "**")
        ):
            shadowed.add((scopes[i], tok.string))
    return shadowed


def _in_for_target(tokens: list[tokenize.TokenInfo], i: int) -> bool:
    """Is token i one of the names a `for` binds (`for run, x in ...`)?"""
    j = i - 1
    while j >= 0 and (tokens[j].type == tokenize.NAME and tokens[j].string not in ("for", "in") or _is_op(tokens[j], ",")):
        j -= 1
    return j >= 0 and tokens[j].type == tokenize.NAME and tokens[j].string == "for"


def _in_assignment_target(tokens: list[tokenize.TokenInfo], i: int) -> bool:
    """Is token i a name assigned at the start of a statement (`run = ...`, `base, x = ...`)?"""
    j = i
    while j > 0 and _is_op(tokens[j - 1], ",") and j >= 2 and tokens[j - 2].type == tokenize.NAME:
        j -= 2
    if not _at_statement_start(tokens, j):
        return False
    k = i + 1
    while _is_op(_at(tokens, k), ",") and _at(tokens, k + 1) is not None and tokens[k + 1].type == tokenize.NAME:
        k += 2
    return _is_op(_at(tokens, k), "=")


def _includes(tokens: list[tokenize.TokenInfo], file: str) -> tuple[Include, ...]:
    """Top-level `NAME = include("URL")` / `include(git="URL")` statements, on one line."""
    found = []
    for i, tok in enumerate(tokens):
        if not (tok.type == tokenize.NAME and tok.start[1] == 0 and _is_op(_at(tokens, i + 1), "=")):
            continue
        call = _at(tokens, i + 2)
        if call is None or call.string != "include" or not _is_op(_at(tokens, i + 3), "("):
            continue
        j = i + 4
        if _at(tokens, j) is not None and tokens[j].string == "git" and _is_op(_at(tokens, j + 1), "="):
            j += 2
        url_tok = _at(tokens, j)
        url = _string_value(url_tok) if url_tok is not None and url_tok.type == tokenize.STRING else None
        if url is None or not _is_op(_at(tokens, j + 1), ")") or tokens[j + 1].start[0] != tok.start[0]:
            raise LocatedError(_pos(file, call), 'include: write it as NAME = include("URL") on one line')
        found.append(Include(tok.string, url, call.start[0], call.start[1] + 1))
    return tuple(found)


def _matching_paren(tokens: list[tokenize.TokenInfo], i: int) -> int:
    depth = 0
    for j in range(i, len(tokens)):
        if _is_op(tokens[j], "("):
            depth += 1
        elif _is_op(tokens[j], ")"):
            depth -= 1
            if depth == 0:
                return j
    return len(tokens) - 1


def _loaded_names(tokens: list[tokenize.TokenInfo], file: str) -> set[tuple[int | None, str]]:
    """Builtin names a top-level `load(...)` binds (`load("x.envd", run="helper")`):
    like any file-level binding, they shadow the builtin in the whole file."""
    reserved = TOP_LEVEL | NAMESPACES.keys()
    names: set[tuple[int | None, str]] = set()
    for i, tok in enumerate(tokens):
        if tok.type == tokenize.NAME and tok.string == "load" and tok.start[1] == 0 and _is_op(_at(tokens, i + 1), "("):
            parsed = _parse_load(tokens, i, file)
            if parsed is not None:
                names |= {(None, b.local) for b in parsed[0].bindings if b.local in reserved}
    return names


def _namespace_member(tokens: list[tokenize.TokenInfo], i: int, file: str) -> tuple[str, int, str]:
    """Check `ns.member(` at token i; return the builtin's kind, the index of `(` (for a
    constant: of the token after it) and, for a member envd does not have, the error."""
    ns = tokens[i]
    members = NAMESPACES[ns.string]
    example = f"{ns.string}.{sorted(members)[0]}(...)"
    if not (_is_op(_at(tokens, i + 1), ".") and _at(tokens, i + 2) is not None and tokens[i + 2].type == tokenize.NAME):
        raise LocatedError(_pos(file, ns), f"{ns.string} is an envd namespace: call one of its functions, e.g. {example}")
    member = tokens[i + 2].string
    kind = f"{ns.string}.{member}"
    if kind in V0_RENAMES:
        raise LocatedError(_pos(file, ns), f"{kind} is envd v0 syntax; in envd v1 it is {V0_RENAMES[kind]}")
    if kind in CONSTANT_NAMESPACES:
        return _constant(tokens, i, file, kind)
    unknown = ""
    if member not in members:
        import difflib

        names = [f"{ns.string}.{m}" for m in sorted(members) if f"{ns.string}.{m}" not in CONSTANT_NAMESPACES]
        close = difflib.get_close_matches(kind, names, n=1, cutoff=0.75)
        unknown = (f"unknown function {kind} (did you mean {close[0]}?)" if close
                   else f"unknown function {kind} (known: {', '.join(names)})")
    if not _is_op(_at(tokens, i + 3), "("):
        if unknown:
            raise LocatedError(_pos(file, ns), unknown)
        raise LocatedError(_pos(file, ns), f"{kind} is an envd builtin: call it, e.g. {kind}(...)")
    return kind, i + 3, unknown


def _constant(tokens: list[tokenize.TokenInfo], i: int, file: str, namespace: str) -> tuple[str, int, str]:
    """`data.path.huggingface`: a value, not a call."""
    names = sorted(c for c in CONSTANTS if c.startswith(namespace + "."))
    member = _at(tokens, i + 4)
    kind = f"{namespace}.{member.string}" if member is not None and _is_op(_at(tokens, i + 3), ".") else ""
    if kind not in CONSTANTS:
        raise LocatedError(_pos(file, tokens[i]), f"{namespace} holds {', '.join(names)}")
    return kind, i + 5, ""


def _at(tokens: list[tokenize.TokenInfo], i: int) -> tokenize.TokenInfo | None:
    return tokens[i] if i < len(tokens) else None


def _site_edit(tokens: list[tokenize.TokenInfo], paren_index: int, site_id: int) -> Edit:
    """Insert the call-site id right after the call's `(`."""
    paren = tokens[paren_index]
    closes_at_once = _is_op(_at(tokens, paren_index + 1), ")")
    text = f"{site_id}" if closes_at_once else f"{site_id}, "
    return Edit(paren.end[0], paren.end[1], paren.end[1], text)


def _parse_load(tokens: list[tokenize.TokenInfo], i: int, file: str) -> tuple[Load, int] | None:
    """Read `load("m", "a", b="c")` starting at token i; None if it is not well formed
    (then Starlark itself reports the syntax error at its place)."""
    start = tokens[i]
    j = i + 2
    module_tok = _at(tokens, j)
    if module_tok is None or module_tok.type != tokenize.STRING:
        return None
    module = _string_value(module_tok)
    bindings: list[LoadBinding] = []
    j += 1
    while True:
        tok = _at(tokens, j)
        if _is_op(tok, ")"):
            break
        if not _is_op(tok, ","):
            return None
        j += 1
        tok = _at(tokens, j)
        if _is_op(tok, ")"):
            break
        if tok is not None and tok.type == tokenize.STRING:
            symbol = _string_value(tok)
            bindings.append(LoadBinding(symbol, symbol, tok.start[0], tok.start[1] + 1))
            j += 1
        elif tok is not None and tok.type == tokenize.NAME and _is_op(_at(tokens, j + 1), "="):
            value = _at(tokens, j + 2)
            if value is None or value.type != tokenize.STRING:
                return None
            bindings.append(LoadBinding(tok.string, _string_value(value), tok.start[0], tok.start[1] + 1))
            j += 3
        else:
            return None
    if module is None or any(b.symbol is None for b in bindings):
        return None
    for text, tok in [(module, module_tok), *((b.symbol, b) for b in bindings)]:
        if not _is_clean_text(text):
            line, column = (tok.start[0], tok.start[1] + 1) if isinstance(tok, tokenize.TokenInfo) else (tok.line, tok.column)
            raise LocatedError(Position(file, line, column), f"load: {text!r} holds a NUL or a lone surrogate; "
                                                            "it cannot name a file or a symbol")
    if not bindings:
        raise LocatedError(_pos(file, start), "load: name at least one symbol to import")
    load = Load(module, resolve_module(file, module), start.start[0], start.start[1] + 1, tuple(bindings))
    return load, j


def _is_clean_text(text: str) -> bool:
    """No NUL, and encodable as UTF-8 (a `\\ud800` escape gives a lone surrogate)."""
    if "\0" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# Starlark's escapes after a backslash in a non-raw string: the simple ones, octal, \x, \u, \U.
_SIMPLE_ESCAPES = set("\n\\'\"abfnrtv")
_HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}


def bad_escape(source: str) -> tuple[tuple[int, int], str] | None:
    """The place (line, 1-based column) and text of the first escape Starlark rejects, if any.

    Only used to locate an error the interpreter could not report itself (it fails to
    build its error message when the escape is cut off before a multi-byte character).
    """
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError):
        return None
    for tok in tokens:
        if tok.type != tokenize.STRING:
            continue
        prefix = tok.string[: len(tok.string) - len(tok.string.lstrip("rRbB"))]
        if "r" in prefix.lower():
            continue
        offset = _bad_escape_offset(tok.string, len(prefix))
        if offset is not None:
            before = tok.string[:offset]
            line = tok.start[0] + before.count("\n")
            column = (offset - before.rfind("\n")) if "\n" in before else tok.start[1] + offset + 1
            return (line, column), tok.string[offset: offset + 4]
    return None


def _bad_escape_offset(literal: str, start: int) -> int | None:
    i = literal.find("\\", start)
    while i >= 0:
        kind = literal[i + 1: i + 2]
        if kind in _HEX_ESCAPES:
            digits = literal[i + 2: i + 2 + _HEX_ESCAPES[kind]]
            if len(digits) < _HEX_ESCAPES[kind] or any(c not in "0123456789abcdefABCDEF" for c in digits):
                return i
        elif kind not in _SIMPLE_ESCAPES and not kind.isdigit():
            return i
        i = literal.find("\\", i + 2)
    return None


def _string_value(tok: tokenize.TokenInfo) -> str | None:
    try:
        value = ast.literal_eval(tok.string)
    except (ValueError, SyntaxError):
        return None
    return value if isinstance(value, str) else None


def _load_edits(load: Load, start: tuple[int, int], end: tuple[int, int], lines: list[str]) -> list[Edit]:
    """Replace the load statement by assignments, keeping every later line where it was."""
    prefix = module_prefix(load.path)
    text = "; ".join(f"{b.local} = {prefix}{b.symbol}" for b in load.bindings)
    first_line, first_col = start
    last_line, last_col = end
    if first_line == last_line:
        return [Edit(first_line, first_col, last_col, text)]
    edits = [Edit(first_line, first_col, len(lines[first_line - 1]), text)]
    edits += [Edit(n, 0, len(lines[n - 1]), "") for n in range(first_line + 1, last_line)]
    edits.append(Edit(last_line, 0, last_col, ""))
    return edits


def _apply(lines: list[str], edits: dict[int, tuple[Edit, ...]]) -> str:
    out = list(lines)
    for line, group in edits.items():
        text = out[line - 1]
        for edit in reversed(group):
            text = text[: edit.start] + edit.text + text[edit.end :]
        out[line - 1] = text
    return "\n".join(out)
