"""Rewrite build.envd so it asks for what the environment now has. Pure: text in, text out.

Edits stay as late in the file as possible so BuildKit keeps the cache of every
earlier step: declared entries are edited where they are written, and new packages
go into new install calls at the end of the target function (or into the final
install call when that is the function's last statement).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import libcst as cst

from envtrack.errors import EnvtrackError
from envtrack.frontend.steps import Plan
from envtrack.sync.into import Destination, destination
from envtrack.sync.changes import MANAGERS, NetChange, conda_channel, unreproducible_reason, vcs_url
from envtrack.sync.result import Note, Rewrite
from envtrack.sync.sites import KIND_OF_MANAGER, CallSite, Declared, SourceMap, declared_packages, map_source
from envtrack.requirements import format_requirement

UNINSTALL = {"pip": "pip uninstall -y {}", "apt": "apt-get remove -y {}", "conda": "conda remove -y {}"}
WRAP_AT = 88   # new calls longer than this put one package per line


@dataclass
class _CallEdit:
    removed: set[int] = field(default_factory=set)
    replaced: dict[int, str] = field(default_factory=dict)
    appended: list[str] = field(default_factory=list)


@dataclass
class _Edits:
    calls: dict[int, tuple[CallSite, _CallEdit]] = field(default_factory=dict)
    new_installs: dict[str, list[str]] = field(default_factory=dict)   # manager -> entries
    uninstall_commands: list[str] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)

    def of(self, site: CallSite) -> _CallEdit:
        return self.calls.setdefault(id(site), (site, _CallEdit()))[1]


def rewrite_source(text: str, plan: Plan, changes: list[NetChange], *, envd_file: Path,
                   pin: str = "exact", target: str = "build", into: str | None = None) -> Rewrite:
    """TEXT (the envd file PLAN was evaluated from) with CHANGES written in.

    New calls go to the state that becomes the image, or to INTO (see envtrack.sync.into).
    """
    try:
        module = cst.parse_module(text)
    except cst.ParserSyntaxError as error:
        raise EnvtrackError(f"{envd_file}: cannot parse for rewriting: {error.message}", exit_code=2) from error
    source = map_source(module, target)
    declared = declared_packages(plan, source, envd_file)
    into_state = destination(plan, into, source.target, source.quote)
    edits = _plan_edits(_one_per_package(changes), declared, pin, target, _run_commands(plan))
    _place_new_packages(edits, plan, source, into_state)
    if not any(n.level == "edit" for n in edits.notes):
        return Rewrite(text, tuple(edits.notes))
    new_module = module.visit(_Rewriter(edits, source))
    new_module = _append_statements(new_module, source, edits, into_state)
    return Rewrite(new_module.code, tuple(edits.notes))


# -- deciding what to change ---------------------------------------------------------------

def _run_commands(plan: Plan) -> list[tuple[int, str]]:
    """(step index, command) of every run step, to see whether an uninstall is already written."""
    return [(order, str(command)) for order, step in enumerate(plan.steps) if step.kind == "run"
            for command in step.args.get("commands") or []]


def _one_per_package(changes: list[NetChange]) -> list[NetChange]:
    """One net change per (manager, package) from the per-environment ones: while any
    environment still has the package (the venv's six after the system's was removed),
    the declaration stays and follows that copy's version; it goes when every copy went."""
    groups: dict[tuple[str, str], list[NetChange]] = {}
    for change in changes:
        groups.setdefault((change.manager, change.name), []).append(change)
    chosen = []
    for group in groups.values():
        installed = [c for c in group if not c.removed]
        if installed:
            chosen.append(max(installed, key=lambda c: c.last_id))
            continue
        chosen.append(max(group, key=lambda c: c.last_id))
    return sorted(chosen, key=lambda c: c.last_id)


def _plan_edits(changes: list[NetChange], declared: list[Declared], pin: str, target: str,
                run_commands: list[tuple[int, str]]) -> _Edits:
    by_name: dict[tuple[str, str], list[Declared]] = {}
    for entry in declared:
        by_name.setdefault((entry.requirement.manager, entry.requirement.name), []).append(entry)
    edits = _Edits()
    for change in sorted(changes, key=lambda c: (MANAGERS.index(c.manager) if c.manager in MANAGERS else 9, c.last_id)):
        if change.manager not in KIND_OF_MANAGER:
            continue
        entries = by_name.get((change.manager, change.name), [])
        if change.removed:
            _remove(change, entries, edits, target, run_commands)
        else:
            _keep(change, entries, edits, pin, target, run_commands)
    return edits


def _remove(change: NetChange, entries: list[Declared], edits: _Edits, target: str,
            run_commands: list[tuple[int, str]]) -> None:
    for entry in entries:
        if entry.site is not None:
            edits.of(entry.site).removed.add(entry.index)
            edits.notes.append(Note("edit", f"line {entry.site.line}: removed {change.manager} {entry.text}"))
        else:
            command = UNINSTALL[change.manager].format(entry.requirement.name)
            if _uninstalled_after(entry, change, run_commands):
                continue   # an earlier sync already appended it
            if command not in edits.uninstall_commands:
                edits.uninstall_commands.append(command)
            edits.notes.append(Note("warning", f"{change.manager} {change.name} was uninstalled but {entry.reason}: "
                                               f"appending run(commands=[\"{command}\"]) to {target}() instead"))
            edits.notes.append(Note("edit", f"appended `{command}`"))


def _keep(change: NetChange, entries: list[Declared], edits: _Edits, pin: str, target: str,
          run_commands: list[tuple[int, str]]) -> None:
    reason = unreproducible_reason(change)
    if reason is not None:
        if change.requested or entries:
            edits.notes.append(Note("warning", f"{change.manager} {change.name} {change.version}: {reason}; not written"))
        return
    if not entries:
        if change.requested:
            channel = conda_channel(change)
            head = f"{channel}::{change.name}" if channel else change.name
            entry = format_requirement(head, change.manager, change.version or "", pin, url=vcs_url(change))
            edits.new_installs.setdefault(change.manager, []).append(entry)
        return
    effective = entries[-1]   # the last declaration is what the build ends up installing
    wanted = format_requirement(effective.requirement.head, change.manager, change.version or "", pin,
                                url=vcs_url(change), tail=effective.requirement.tail)
    if _uninstalled_after(effective, change, run_commands):
        # An earlier sync appended its uninstall; the build must install it again after that.
        edits.notes.append(Note("warning", f"{change.manager} {change.name} was reinstalled after an appended "
                                           f"uninstall: adding {wanted!r} at the end of {target}()"))
        edits.new_installs.setdefault(change.manager, []).append(wanted)
        return
    if wanted == effective.text:
        return
    if effective.site is not None:
        edits.of(effective.site).replaced[effective.index] = wanted
        edits.notes.append(Note("edit", f"line {effective.site.line}: {effective.text} -> {wanted}"))
        return
    edits.notes.append(Note("warning", f"{change.manager} {change.name} is now {change.version} but {effective.reason}: "
                                       f"adding {wanted!r} at the end of {target}() instead"))
    edits.new_installs.setdefault(change.manager, []).append(wanted)


def _uninstalled_after(entry: Declared, change: NetChange, run_commands: list[tuple[int, str]]) -> bool:
    command = UNINSTALL[change.manager].format(entry.requirement.name)
    return any(order > entry.order and written == command for order, written in run_commands)


def _place_new_packages(edits: _Edits, plan: Plan, source: SourceMap, into_state: Destination) -> None:
    """Put new packages into the final install call when it is the last statement, else new calls
    (always new calls when the file names states: the final call may build another one)."""
    final = None if plan.states else _final_install_site(plan, source)
    for manager in MANAGERS:
        entries = edits.new_installs.get(manager)
        if not entries:
            continue
        if final is not None and final.kind == KIND_OF_MANAGER[manager]:
            edits.of(final).appended.extend(entries)
            edits.new_installs[manager] = []
            edits.notes.append(Note("edit", f"line {final.line}: added {manager} {', '.join(entries)} to the final install call"))
        else:
            edits.notes.append(Note("edit", f"added {manager} {', '.join(entries)} in a new call"))
            if manager == "pip" and not into_state.has_python:
                edits.notes.append(Note("edit", "added install.python() before it (pip needs a Python environment)"))


def _final_install_site(plan: Plan, source: SourceMap) -> CallSite | None:
    if not plan.steps:
        return None
    last_step = plan.steps[-1]
    return next((s for s in source.sites if s.is_final_statement and s.kind == last_step.kind
                 and s.line == last_step.position.line), None)


# -- changing the tree ---------------------------------------------------------------------

class _Rewriter(cst.CSTTransformer):
    """Applies the per-call edits; drops a call whose list became empty, keeping its comments."""

    def __init__(self, edits: _Edits, source: SourceMap):
        super().__init__()
        self.by_call = {id(site.call): (site, edit) for site, edit in edits.calls.values()}
        self.quote = source.quote
        self.emptied: set[int] = set()

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.Call:
        found = self.by_call.get(id(original_node))
        if found is None:
            return updated_node
        _, edit = found
        args = []
        for position, arg in enumerate(updated_node.args):
            if _is_name_arg(arg, position) and isinstance(arg.value, cst.List):
                new_list = _edited_list(arg.value, edit, self.quote)
                if not new_list.elements and len(updated_node.args) == 1:   # nothing else asked of it
                    self.emptied.add(id(original_node))
                arg = arg.with_changes(value=new_list)
            args.append(arg)
        return updated_node.with_changes(args=args)

    def leave_IndentedBlock(self, original_node: cst.IndentedBlock, updated_node: cst.IndentedBlock) -> cst.IndentedBlock:
        kept, carried = [], []
        for original, updated in zip(original_node.body, updated_node.body):
            if self._is_emptied(original):
                carried.extend(updated.leading_lines)
                carried.extend(_inner_comment_lines(updated))
                continue
            if carried:
                updated = updated.with_changes(leading_lines=[*carried, *updated.leading_lines])
                carried = []
            kept.append(updated)
        if len(kept) == len(updated_node.body):
            return updated_node
        if not kept:
            kept = [cst.SimpleStatementLine([cst.Pass()], leading_lines=carried)]
            carried = []
        return updated_node.with_changes(body=kept, footer=[*carried, *updated_node.footer])

    def _is_emptied(self, statement: cst.BaseStatement) -> bool:
        return (isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1
                and isinstance(statement.body[0], cst.Expr) and id(statement.body[0].value) in self.emptied)


class _CommentLines(cst.CSTVisitor):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[cst.EmptyLine] = []

    def visit_EmptyLine(self, node: cst.EmptyLine) -> None:
        if node.comment is not None:
            self.lines.append(node.with_changes(indent=True, whitespace=cst.SimpleWhitespace("")))


def _inner_comment_lines(statement: cst.SimpleStatementLine) -> list[cst.EmptyLine]:
    """The full-line comments written inside a statement (between the lines of its call)."""
    finder = _CommentLines()
    for part in statement.body:
        part.visit(finder)
    return finder.lines


def _is_name_arg(arg: cst.Arg, position: int) -> bool:
    return arg.keyword.value == "name" if arg.keyword else position == 0


def _edited_list(node: cst.List, edit: _CallEdit, quote: str) -> cst.List:
    """NODE with entries removed, replaced and appended; every untouched byte kept."""
    elements = list(node.elements)
    kept: list[cst.Element] = []
    lbracket = node.lbracket
    for i, element in enumerate(elements):
        if i in edit.removed:
            # Its own comment (same line) goes with it; full-line comments after it document
            # the next entry and stay, in the whitespace before that entry.
            lines = _comment_lines(element.comma)
            if lines and kept:
                kept[-1] = kept[-1].with_changes(comma=_with_comment_lines(kept[-1].comma, lines))
            elif lines:
                lbracket = lbracket.with_changes(whitespace_after=_ws_with_lines(lbracket.whitespace_after, lines))
            continue
        kept.append(element.with_changes(value=_string(edit.replaced[i], quote, element.value))
                    if i in edit.replaced else element)
    node = node.with_changes(lbracket=lbracket)
    if not kept and not edit.appended:
        return node.with_changes(elements=[])
    rbracket = node.rbracket
    last = elements[-1] if elements else None
    if kept and last is not None and kept[-1].value is not last.value and edit.removed:
        kept[-1], rbracket = _as_last(kept[-1], last, rbracket)
    if edit.appended:
        between = _separator(node)
        # the list's trailing-comma style (an empty list has none)
        tail_comma = kept[-1].comma if kept else (last.comma if last is not None else cst.MaybeSentinel.DEFAULT)
        kept = [*kept[:-1], kept[-1].with_changes(comma=between)] if kept else []
        new = [cst.Element(_string(t, quote), comma=between) for t in edit.appended]
        kept += [*new[:-1], new[-1].with_changes(comma=tail_comma)]
    return node.with_changes(elements=kept, rbracket=rbracket)


def _comment_lines(comma) -> list[cst.EmptyLine]:  # noqa: ANN001 - a Comma or MaybeSentinel
    """The full-line comments in the whitespace after COMMA (the lines before the next entry)."""
    if isinstance(comma, cst.Comma) and isinstance(comma.whitespace_after, cst.ParenthesizedWhitespace):
        return [line for line in comma.whitespace_after.empty_lines if line.comment is not None]
    return []


def _with_comment_lines(comma, lines: list[cst.EmptyLine]):  # noqa: ANN001, ANN202
    if not isinstance(comma, cst.Comma):
        comma = cst.Comma()
    return comma.with_changes(whitespace_after=_ws_with_lines(comma.whitespace_after, lines))


def _ws_with_lines(whitespace, lines: list[cst.EmptyLine]):  # noqa: ANN001, ANN202
    """WHITESPACE (before an entry) with comment LINES added just before that entry."""
    if isinstance(whitespace, cst.ParenthesizedWhitespace):
        return whitespace.with_changes(empty_lines=[*whitespace.empty_lines, *lines])
    indent = lines[0].indent
    return cst.ParenthesizedWhitespace(first_line=cst.TrailingWhitespace(), empty_lines=lines, indent=indent,
                                       last_line=lines[-1].whitespace)   # the entry lines up with the comment


def _as_last(element: cst.Element, old_last: cst.Element, rbracket: cst.RightSquareBracket):
    """ELEMENT moved to the end of its list: the old last entry's comma style, its own comment kept."""
    own = element.comma
    own_ws = own.whitespace_after if isinstance(own, cst.Comma) else None
    has_comments = isinstance(own_ws, cst.ParenthesizedWhitespace) and (
        own_ws.first_line.comment is not None or any(line.comment is not None for line in own_ws.empty_lines))
    if has_comments and not isinstance(rbracket.whitespace_before, cst.ParenthesizedWhitespace):
        return element, rbracket   # `]` shares the last line: keep the comma and the comments after it
    if isinstance(old_last.comma, cst.Comma):
        comma = old_last.comma.with_changes(
            whitespace_before=own.whitespace_before if isinstance(own, cst.Comma) else cst.SimpleWhitespace(""))
    else:
        comma = old_last.comma
    # A comment after the old last entry sits before `]` and leaves with that entry; the new
    # last entry's own comment (which sat in its comma) moves there instead.
    if (isinstance(own, cst.Comma) and isinstance(own.whitespace_after, cst.ParenthesizedWhitespace)
            and isinstance(rbracket.whitespace_before, cst.ParenthesizedWhitespace)):
        closing = rbracket.whitespace_before
        rbracket = rbracket.with_changes(whitespace_before=closing.with_changes(
            first_line=own.whitespace_after.first_line,
            empty_lines=[*_comment_lines(own), *closing.empty_lines]))
    return element.with_changes(comma=comma), rbracket


def _separator(node: cst.List) -> cst.Comma:
    """The comma and line break the list already uses between entries, without comments."""
    for element in node.elements[:-1]:
        if isinstance(element.comma, cst.Comma):
            return _without_comment(element.comma)
    opening = node.lbracket.whitespace_after
    if isinstance(opening, cst.ParenthesizedWhitespace):
        return cst.Comma(whitespace_after=_without_comment_ws(opening))
    return cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))


def _without_comment(comma: cst.Comma) -> cst.Comma:
    return comma.with_changes(whitespace_after=_without_comment_ws(comma.whitespace_after))


def _without_comment_ws(whitespace):
    if isinstance(whitespace, cst.ParenthesizedWhitespace):
        return whitespace.with_changes(first_line=cst.TrailingWhitespace(), empty_lines=[])
    return whitespace


def _string(text: str, quote: str, like: cst.BaseExpression | None = None) -> cst.SimpleString:
    if isinstance(like, cst.SimpleString) and like.prefix == "" and len(like.quote) == 1:
        quote = like.quote
    return cst.SimpleString(_quoted(text, quote))


def _quoted(text: str, quote: str) -> str:
    escaped = text.replace("\\", "\\\\").replace(quote, "\\" + quote)
    return f"{quote}{escaped}{quote}"


def _append_statements(module: cst.Module, source: SourceMap, edits: _Edits, into_state: Destination) -> cst.Module:
    into = into_state.keyword
    statements = [_run_statement(edits.uninstall_commands, source, module, into)] if edits.uninstall_commands else []
    for manager in MANAGERS:
        entries = edits.new_installs.get(manager)
        if entries:
            if manager == "pip" and not into_state.has_python:   # pip packages need a Python environment first
                python = f"install.python({into.removeprefix(', ')})"
                statements.append(cst.parse_statement(python + module.default_newline))
            statements.append(_install_statement(KIND_OF_MANAGER[manager], entries, source, module, into))
    if not statements:
        return module
    new_body = []
    for statement in module.body:
        if isinstance(statement, cst.FunctionDef) and statement.name.value == source.target.name.value:
            statement = statement.with_changes(body=statement.body.with_changes(
                body=_insert_before_return([s for s in statement.body.body if not _is_lone_pass(s)], statements)))
        new_body.append(statement)
    return module.with_changes(body=new_body)


def _insert_before_return(body: list[cst.BaseStatement], statements: list[cst.BaseStatement]) -> list[cst.BaseStatement]:
    """BODY with STATEMENTS at its end, or before the first statement that can return
    (`return`, `if not GPU: return`): code after a return may never run."""
    at = next((i for i, statement in enumerate(body) if _may_return(statement)), len(body))
    return [*body[:at], *statements, *body[at:]]


class _ReturnFinder(cst.CSTVisitor):
    def __init__(self) -> None:
        super().__init__()
        self.found = False

    def visit_Return(self, node: cst.Return) -> bool:
        self.found = True
        return False

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False   # a nested function's return leaves only that function

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False


def _may_return(statement: cst.BaseStatement) -> bool:
    finder = _ReturnFinder()
    statement.visit(finder)
    return finder.found


def _is_lone_pass(statement: cst.BaseStatement) -> bool:
    return (isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1
            and isinstance(statement.body[0], cst.Pass) and not statement.leading_lines)


def _install_statement(kind: str, entries: list[str], source: SourceMap, module: cst.Module,
                       into: str = "") -> cst.BaseStatement:
    return _call_statement(kind, "name", entries, source, module, into)


def _run_statement(commands: list[str], source: SourceMap, module: cst.Module, into: str = "") -> cst.BaseStatement:
    return _call_statement("run", "commands", commands, source, module, into)


def _call_statement(function: str, keyword: str, values: list[str], source: SourceMap, module: cst.Module,
                    into: str = "") -> cst.BaseStatement:
    """`function(keyword=[values...]INTO)`, where INTO is "" or `, into=STATE`."""
    indent = source.target.body.indent or module.default_indent
    strings = [_quoted(v, source.quote) for v in values]
    one_line = f"{function}({keyword}=[{', '.join(strings)}]{into})"
    if len(indent) + len(one_line) <= WRAP_AT:
        code = one_line
    else:  # continuation lines are indented relative to the block the statement lands in
        lines = "".join(f"{module.default_indent}{s},{module.default_newline}" for s in strings)
        code = f"{function}({keyword}=[{module.default_newline}{lines}]{into})"
    return cst.parse_statement(code + module.default_newline, config=module.config_for_parsing)
