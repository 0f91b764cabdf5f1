"""Carry out sync's decisions (envtrack.sync.decide.Edits) on the libcst tree. Pure.

Every untouched byte stays: entries are removed, replaced and appended inside the list as
written (comments kept), a call whose list became empty is dropped with its comments kept,
and new calls go where envtrack.sync.decide.insertion_index says.
"""

from __future__ import annotations

from typing import Sequence

import libcst as cst

from envtrack.builtins import BUILTINS
from envtrack.sync.changes import MANAGERS
from envtrack.sync.decide import CallEdit, Edits
from envtrack.sync.into import Destination
from envtrack.sync.sites import KIND_OF_MANAGER, SourceMap, dotted_name

WRAP_AT = 88   # new calls longer than this put one package per line


class EditApplier(cst.CSTTransformer):
    """Applies the per-call edits and puts the new statements at Edits.insert_at of the target's
    body; drops a call whose list became empty when nothing else is asked of it, keeping its comments."""

    def __init__(self, edits: Edits, source: SourceMap, new_statements: list[cst.BaseStatement]):
        super().__init__()
        self.by_call = {id(site.call): (site, edit) for site, edit in edits.calls.values()}
        self.by_list = {id(site.values): edit for site, edit in edits.calls.values() if site.values is not None}
        # A loop's inner list emptied by removals leaves the loop's list: one iteration fewer.
        self.groups = {id(site.values) for site, _ in edits.calls.values() if site.via == "loop list"}
        self.dropped: set[int] = set()
        self.quote = source.quote
        self.emptied: set[int] = set()
        self.target_block = source.target.body
        self.new_statements = new_statements
        self.insert_at = edits.insert_at
        self.run_replaced = edits.run_replaced   # run commands edited (or removed: None) where written

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.Call:
        found = self.by_call.get(id(original_node))
        if found is None:
            if self.run_replaced and dotted_name(updated_node.func) == "run" and _commands_emptied(updated_node):
                self.emptied.add(id(original_node))   # its last command removed: the call goes
            return updated_node
        site, _ = found
        for position, arg in enumerate(updated_node.args):
            if (_is_name_arg(arg, position) and not site.via and isinstance(arg.value, cst.List)
                    and not arg.value.elements and _asks_nothing_else(site.kind, updated_node.args, arg)):
                self.emptied.add(id(original_node))
        return updated_node

    def leave_List(self, original_node: cst.List, updated_node: cst.List) -> cst.List:
        """The entries of a list that feeds an install call: in the call, a variable or a loop."""
        gone = {i for i, e in enumerate(updated_node.elements) if id(e.value) in self.dropped}
        if self.run_replaced:
            updated_node = self._edit_commands(updated_node, gone)
        if gone:
            updated_node = _edited_list(updated_node, CallEdit(removed=gone), self.quote)
        edit = self.by_list.get(id(original_node))
        if edit is None:
            return updated_node
        edited = _edited_list(updated_node, edit, self.quote)
        if id(original_node) in self.groups and not edited.elements:
            self.dropped.add(id(edited))
        return edited

    def leave_IndentedBlock(self, original_node: cst.IndentedBlock, updated_node: cst.IndentedBlock) -> cst.IndentedBlock:
        inserting = original_node is self.target_block and bool(self.new_statements)
        kept, carried = [], []
        for index, (original, updated) in enumerate(zip(original_node.body, updated_node.body)):
            if inserting and index == self.insert_at:
                kept.extend(self.new_statements)
            if self._is_emptied(original):
                carried.extend(updated.leading_lines)
                carried.extend(_inner_comment_lines(updated))
                continue
            if inserting and _is_lone_pass(updated):
                continue   # the new statements fill the body
            if carried:
                updated = updated.with_changes(leading_lines=[*carried, *updated.leading_lines])
                carried = []
            kept.append(updated)
        if inserting and self.insert_at >= len(original_node.body):
            kept.extend(self.new_statements)
        if not inserting and len(kept) == len(updated_node.body):
            return updated_node
        if not kept:
            kept = [cst.SimpleStatementLine([cst.Pass()], leading_lines=carried)]
            carried = []
        return updated_node.with_changes(body=kept, footer=[*carried, *updated_node.footer])

    def _edit_commands(self, node: cst.List, gone: set[int]) -> cst.List:
        """NODE with the run commands sync edits replaced in place (quotes as written); the removed
        ones are added to GONE."""
        elements = list(node.elements)
        for index, element in enumerate(elements):
            value = _literal(element.value) if isinstance(element.value, cst.SimpleString) else None
            if not isinstance(value, str) or value not in self.run_replaced:
                continue
            new = self.run_replaced[value]
            if new is None:
                gone.add(index)
            else:
                elements[index] = element.with_changes(value=_string(new, self.quote, element.value))
        return node.with_changes(elements=elements)

    def _is_emptied(self, statement: cst.BaseStatement) -> bool:
        return (isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1
                and isinstance(statement.body[0], cst.Expr) and id(statement.body[0].value) in self.emptied)


def _commands_emptied(call: cst.Call) -> bool:
    """A run() whose commands list is written in the call and is now empty."""
    for position, arg in enumerate(call.args):
        if (arg.keyword.value == "commands" if arg.keyword else position == 0) and isinstance(arg.value, cst.List):
            return not arg.value.elements
    return False


def _asks_nothing_else(kind: str, args: Sequence[cst.Arg], name_arg: cst.Arg) -> bool:
    """Every argument but the name list is written with its default (`requirements=""`), so the
    call does nothing once the list is empty."""
    params = BUILTINS[kind].params
    for position, arg in enumerate(args):
        if arg is name_arg:
            continue
        param = next((p for p in params if p.name == arg.keyword.value), None) if arg.keyword else (
            params[position] if position < len(params) and not arg.star else None)
        if param is None or param.required or _literal(arg.value) != param.default:
            return False
    return True


def _literal(node: cst.BaseExpression) -> object:
    """The value of an empty list or a string/bool literal; a marker for anything else."""
    if isinstance(node, cst.List) and not node.elements:
        return []
    if isinstance(node, cst.SimpleString):
        return node.evaluated_value
    if isinstance(node, cst.Name) and node.value in ("True", "False"):
        return node.value == "True"
    return _literal


class _CommentLines(cst.CSTVisitor):
    """Every comment written inside a statement, as full-line comments to keep above the next one."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[cst.EmptyLine] = []

    def visit_EmptyLine(self, node: cst.EmptyLine) -> None:
        if node.comment is not None:
            self.lines.append(node.with_changes(indent=True, whitespace=cst.SimpleWhitespace("")))

    def visit_TrailingWhitespace(self, node: cst.TrailingWhitespace) -> None:
        if node.comment is not None:   # `install.apt_packages(  # why`: the end of a line of the call
            self.lines.append(cst.EmptyLine(indent=True, whitespace=cst.SimpleWhitespace(""), comment=node.comment))


def _inner_comment_lines(statement: cst.SimpleStatementLine) -> list[cst.EmptyLine]:
    """The comments written inside a statement: between the lines of its call and at their ends.
    The comment after the statement's last line stays its entries' (`name=["jq"])  # jq for x`)."""
    finder = _CommentLines()
    for part in statement.body:
        part.visit(finder)
    return finder.lines


def _is_name_arg(arg: cst.Arg, position: int) -> bool:
    return arg.keyword.value == "name" if arg.keyword else position == 0


def _edited_list(node: cst.List, edit: CallEdit, quote: str) -> cst.List:
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


def new_statements(module: cst.Module, source: SourceMap, edits: Edits, into_state: Destination) -> list[cst.BaseStatement]:
    """The calls sync adds, in order: the uninstall commands, then one install call per manager."""
    into = into_state.keyword
    statements = [_run_statement(edits.uninstall_commands, source, module, into)] if edits.uninstall_commands else []
    for manager in MANAGERS:
        entries = edits.new_installs.get(manager)
        if entries:
            if manager == "pip" and edits.python_version is not None:   # pip needs a Python environment first
                version = [f"version={_quoted(edits.python_version, source.quote)}"] if edits.python_version else []
                python = f"install.python({', '.join([*version, *([into.removeprefix(', ')] if into else [])])})"
                statements.append(cst.parse_statement(python + module.default_newline))
            channels = edits.conda_channels if manager == "conda" else []
            extra = f", channel=[{', '.join(_quoted(c, source.quote) for c in channels)}]" if channels else ""
            statements.append(_install_statement(KIND_OF_MANAGER[manager], entries, source, module, extra + into))
    if edits.pipx_commands:   # after the installs: one of them may bring pipx
        statements.append(_run_statement(edits.pipx_commands, source, module, into))
    if edits.env_commands:    # another environment, made from an interpreter the steps before may bring
        statements.append(_run_statement(edits.env_commands, source, module, into))
    return statements


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
