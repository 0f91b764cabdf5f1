"""Find the install calls of build.envd in its libcst tree and decide which can be edited. Pure.

A declared package is edited where its list literal is written when that list feeds only
this call, once: in the call (`install.python_packages(name=["six", "tomli"])`), a module
variable read once (`TOOLS = [...]`), a helper the file calls once, or the iterable of a loop
whose variable only fills `name=[p]`, or an inner list of a loop over lists
(`for group in [[...], [...]]: ...(name=group)`). Anything else (a list read by several calls, a helper
called twice, an expression, a loaded file) is evaluated by the frontend but not editable
as text; sync then writes a new call and says why.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from envtrack.frontend.steps import Plan, Step
from envtrack.requirements import Requirement, parse_requirement

from envtrack.builtins import KIND_OF_MANAGER, MANAGER_OF_KIND  # noqa: F401 - rewrite.py reads them here


@dataclass(eq=False)
class CallSite:
    """One install call as written. `reason` is None when its `name` list is editable."""

    kind: str
    call: cst.Call
    line: int
    column: int                                   # 0-based, as libcst counts
    elements: tuple[cst.Element, ...] | None      # the literal list that feeds `name`, when there is one
    reason: str | None
    is_final_statement: bool = False
    values: cst.List | None = None   # that list: the call's own, a module variable's, or a loop's iterable
    via: str = ""                    # "" (written in the call), "variable PKGS", "loop", "loop list"
    values_line: int = 0             # where that list is written
    inner_lines: tuple[int, ...] = ()   # "loop list": where each inner list of the iterable is written

    @property
    def where(self) -> str:
        """`line 4`, or `line 1 (variable TOOLS of the call at line 12)`, for notes."""
        if not self.via:
            return f"line {self.line}"
        return f"line {self.values_line} ({self.via} of the call at line {self.line})"


@dataclass(frozen=True)
class Declared:
    """A package named by the plan, and where its text lives when it can be edited."""

    requirement: Requirement
    text: str                     # the entry as the frontend evaluated it
    step: Step
    order: int                    # index of the step in the plan
    site: CallSite | None         # None: not editable in place
    index: int                    # index in the literal list (when site is set)
    reason: str | None            # why not editable, for the warning


@dataclass(frozen=True)
class Statement:
    """One statement of a function body: its lines, the names it calls, whether it can return."""

    start: int
    end: int
    calls: frozenset[str]      # called names: `helper`, `lib.f` (and its root `lib`)
    may_return: bool


@dataclass
class SourceMap:
    module: cst.Module
    target: cst.FunctionDef
    sites: list[CallSite] = field(default_factory=list)
    quote: str = '"'
    body: tuple[Statement, ...] = ()                             # the target function's statements
    functions: dict[str, Statement] = field(default_factory=dict)   # module-level functions, whole
    loaded: frozenset[str] = frozenset()                         # names bound by load() or include()


def map_source(module: cst.Module, target: str) -> SourceMap:
    """Every install call in MODULE, with its position and whether it is editable."""
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    finder = _CallFinder(target, module)
    wrapper.visit(finder)
    function = next((s for s in module.body if isinstance(s, cst.FunctionDef) and s.name.value == target), None)
    if function is None:
        from envtrack.errors import EnvtrackError

        raise EnvtrackError(f"no function {target}() in the envd file", exit_code=2)
    last = function.body.body[-1] if function.body.body else None
    for site in finder.sites:
        site.is_final_statement = site.reason is None and not site.via and finder.statement_of[id(site)] is last
    positions = wrapper.resolve(PositionProvider)
    functions = {s.name.value: _statement(s, positions) for s in module.body if isinstance(s, cst.FunctionDef)}
    return SourceMap(module, function, finder.sites, _dominant_quote(finder.quotes),
                     tuple(_statement(s, positions) for s in function.body.body), functions, _loaded_names(module))


def _statement(node: cst.CSTNode, positions) -> Statement:  # noqa: ANN001 - libcst's position mapping
    where = positions[node]
    calls = _Calls()
    node.visit(calls)
    return Statement(where.start.line, where.end.line, frozenset(calls.names), calls.returns)


class _Calls(cst.CSTVisitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()
        self.returns = False
        self.depth = 0   # inside a nested def or lambda, a return leaves only that

    def visit_Call(self, node: cst.Call) -> None:
        name = dotted_name(node.func)
        if name:
            self.names.update({name, name.split(".")[0]})

    def visit_Return(self, node: cst.Return) -> None:
        self.returns = self.returns or self.depth == 0

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.depth += 1

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self.depth -= 1

    def visit_Lambda(self, node: cst.Lambda) -> None:
        self.depth += 1

    def leave_Lambda(self, original_node: cst.Lambda) -> None:
        self.depth -= 1


def _loaded_names(module: cst.Module) -> frozenset[str]:
    """Names a module-level `load("f.envd", "g", h="i")` or `lib = include(...)` binds."""
    names: set[str] = set()
    for statement in module.body:
        for small in statement.body if isinstance(statement, cst.SimpleStatementLine) else ():
            value = small.value if isinstance(small, (cst.Expr, cst.Assign)) else None
            if not isinstance(value, cst.Call):
                continue
            if dotted_name(value.func) == "load":
                names.update(a.keyword.value if a.keyword else (_string_value(a.value) or "") for a in value.args[1:])
            elif dotted_name(value.func) == "include" and isinstance(small, cst.Assign):
                names.update(t.target.value for t in small.targets if isinstance(t.target, cst.Name))
    return frozenset(names - {""})


def declared_packages(plan: Plan, source: SourceMap, envd_file: Path) -> list[Declared]:
    """The packages every install step of PLAN names, in plan order, with their editable text."""
    counts: dict[tuple[str, int, int], int] = {}
    ordinals = []   # how many earlier steps ran the same call: a loop's iteration
    for step in plan.steps:
        key = (step.position.file, step.position.line, step.position.column)
        ordinals.append(counts.get(key, 0))
        counts[key] = counts.get(key, 0) + 1
    declared = []
    for order, step in enumerate(plan.steps):
        manager = MANAGER_OF_KIND.get(step.kind)
        if manager is None:
            continue
        site, reason = _site_of(step, source, envd_file, plan, counts, ordinals[order])
        for index, text in enumerate(step.args.get("name") or []):
            requirement = parse_requirement(manager, str(text))
            if requirement is not None:
                at = ordinals[order] if site is not None and site.via == "loop" else index
                declared.append(Declared(requirement, str(text), step, order, site, at, reason))
    return declared


def _site_of(step: Step, source: SourceMap, envd_file: Path, plan: Plan, counts,
             ordinal: int) -> tuple[CallSite | None, str | None]:
    position = step.position
    if not same_file(position.file, envd_file, plan):
        return None, f"declared in a loaded file ({_relative(position.file, envd_file)})"
    site = _find_site(step, source)
    runs = counts[(position.file, position.line, position.column)]
    if runs > 1 and (site is None or site.via not in ("loop", "loop list")):
        return None, f"line {position.line} runs more than once (a loop or a helper called twice)"
    if site is None:
        return None, f"no install call found at line {position.line}"
    if site.reason is not None:
        return None, f"line {position.line}: {site.reason}"
    names = [str(n) for n in step.args.get("name") or []]
    if site.via == "loop list":
        return _iteration_site(site, runs, ordinal, names, position.line)
    literal = [_string_value(e.value) for e in site.elements or ()]
    if site.via == "loop":
        written = len(literal) == runs and literal[ordinal:ordinal + 1] == names
    else:
        written = literal == names
    if not written:
        return None, f"line {position.line}: the names are not all written as string literals"
    return site, None


def _iteration_site(site: CallSite, runs: int, ordinal: int, names: list[str],
                    line: int) -> tuple[CallSite | None, str | None]:
    """The inner list a loop over a list of lists gives its ORDINAL-th iteration, as a site of its own."""
    outer = site.values.elements if site.values is not None else ()
    inner = outer[ordinal].value if len(outer) == runs and ordinal < len(outer) else None
    if not isinstance(inner, cst.List) or [_string_value(e.value) for e in inner.elements] != names:
        return None, f"line {line}: the names are not all written as string literals"
    return replace(site, elements=tuple(inner.elements), values=inner, via="loop list",
                   values_line=site.inner_lines[ordinal] if ordinal < len(site.inner_lines) else site.values_line), None


def same_file(file: str, envd_file: Path, plan: Plan) -> bool:
    if file == plan.file:
        return True
    try:
        return Path(file).resolve() == envd_file.resolve()
    except OSError:
        return False


def _relative(file: str, envd_file: Path) -> str:
    try:
        return str(Path(file).resolve().relative_to(envd_file.resolve().parent))
    except (OSError, ValueError):
        return file


def _find_site(step: Step, source: SourceMap) -> CallSite | None:
    """The call written at the step's position (columns may count from 0 or 1)."""
    candidates = [s for s in source.sites if s.kind == step.kind and s.line == step.position.line]
    if not candidates:
        return None
    return min(candidates, key=lambda s: min(abs(s.column - step.position.column), abs(s.column + 1 - step.position.column)))


def _string_value(node: cst.BaseExpression) -> str | None:
    if isinstance(node, cst.SimpleString):
        value = node.evaluated_value
        return value if isinstance(value, str) else None
    return None


def dotted_name(node: cst.BaseExpression) -> str | None:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        prefix = dotted_name(node.value)
        return f"{prefix}.{node.attr.value}" if prefix else None
    return None


def _dominant_quote(counts: dict[str, int]) -> str:
    return "'" if counts.get("'", 0) > counts.get('"', 0) else '"'


class _CallFinder(cst.CSTVisitor):
    METADATA_DEPENDENCIES = (PositionProvider,)

    def __init__(self, target: str, module: cst.Module):
        super().__init__()
        self.target = target
        self.functions: list[str] = []
        self.loops = 0
        self.loop_lists: list[tuple[cst.For, cst.List | None]] = []
        self.uses = _name_uses(module)
        self.module_lists = _module_lists(module)
        self.module_functions = {s.name.value for s in module.body if isinstance(s, cst.FunctionDef)}
        self.statement: cst.SimpleStatementLine | None = None
        self.sites: list[CallSite] = []
        self.statement_of: dict[int, cst.SimpleStatementLine | None] = {}
        self.quotes: dict[str, int] = {}

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.functions.append(node.name.value)

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self.functions.pop()

    def visit_For(self, node: cst.For) -> None:
        self.loops += 1
        self.loop_lists.append((node, node.iter if isinstance(node.iter, cst.List) else None))

    def leave_For(self, original_node: cst.For) -> None:
        self.loops -= 1
        self.loop_lists.pop()

    def visit_While(self, node: cst.While) -> None:
        self.loops += 1

    def leave_While(self, original_node: cst.While) -> None:
        self.loops -= 1

    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
        self.statement = node

    def leave_SimpleStatementLine(self, original_node: cst.SimpleStatementLine) -> None:
        self.statement = None

    def visit_SimpleString(self, node: cst.SimpleString) -> None:
        quote = node.quote[0]
        self.quotes[quote] = self.quotes.get(quote, 0) + 1

    def visit_Call(self, node: cst.Call) -> None:
        kind = dotted_name(node.func)
        if kind not in MANAGER_OF_KIND:
            return
        start = self.get_metadata(PositionProvider, node).start
        values, via, reason = self._values(node)
        site = CallSite(kind, node, start.line, start.column, tuple(values.elements) if values else None, reason,
                        values=values, via=via, values_line=self._line_of(values) if values else start.line,
                        inner_lines=tuple(self._line_of(e.value) for e in values.elements) if via == "loop list" else ())
        self.sites.append(site)
        self.statement_of[id(site)] = self.statement

    def _values(self, node: cst.Call) -> tuple[cst.List | None, str, str | None]:
        """The list literal whose entries become this call's `name`, how it gets there, and why
        there is none. Edited where it is written only when nothing else reads it: a variable or a
        helper used once in the file, the iterable of a loop whose variable only fills `name=[p]`."""
        arg = _name_arg(node)
        if self.functions[:1] != [self.target] and not self._helper_used_once():
            where = self.functions[-1] + "()" if self.functions else "module level"
            if self.functions[-1:] != ["build"] and len(self.functions) == 1 and self.functions[0] != self.target:
                return None, "", f"called from {where}, which the file calls more than once"
            return None, "", f"called from {where}, not directly in {self.target}()"
        if not _is_whole_statement(self.statement, node):
            return None, "", "part of a larger expression"
        if self.loops:
            return self._loop_values(arg)
        if arg is not None and isinstance(arg.value, cst.List):
            return arg.value, "", None
        if arg is not None and isinstance(arg.value, cst.Name):
            name = arg.value.value
            if name in self.module_lists and self.uses.get(name) == 2:   # its assignment and this call
                return self.module_lists[name], f"variable {name}", None
            return None, "", f"the name list {name} is read elsewhere too (or is not a list literal)"
        return None, "", "the name list is an expression"

    def _line_of(self, node: cst.CSTNode) -> int:
        try:
            return self.get_metadata(PositionProvider, node).start.line
        except KeyError:
            return 0

    def _helper_used_once(self) -> bool:
        """Inside one module-level helper that the file calls once (its def and that call); not
        build(), the default target, which is an environment of its own."""
        return (len(self.functions) == 1 and self.functions[0] in self.module_functions
                and self.functions[0] != "build" and self.uses.get(self.functions[0]) == 2)

    def _loop_values(self, arg: cst.Arg | None) -> tuple[cst.List | None, str, str | None]:
        loop, values = self.loop_lists[-1]
        single = (arg is not None and isinstance(arg.value, cst.List) and len(arg.value.elements) == 1
                  and isinstance(arg.value.elements[0].value, cst.Name))
        variable = arg.value.elements[0].value.value if single else None
        if (self.loops == 1 and values is not None and variable is not None and isinstance(loop.target, cst.Name)
                and loop.target.value == variable and self.uses.get(variable) == 2
                and len(loop.body.body) == 1 and not loop.orelse):
            return values, "loop", None
        # `for group in [["a", "b"], ["c"]]: install.python_packages(name=group)`: each iteration's
        # list is one inner literal, edited where it is written (declared_packages picks it).
        grouped = arg is not None and isinstance(arg.value, cst.Name) and isinstance(loop.target, cst.Name)
        if (grouped and self.loops == 1 and values is not None and loop.target.value == arg.value.value
                and self.uses.get(arg.value.value) == 2 and len(loop.body.body) == 1 and not loop.orelse
                and values.elements and all(isinstance(e.value, cst.List) for e in values.elements)):
            return values, "loop list", None
        return None, "", "inside a loop"


def _name_arg(call: cst.Call) -> cst.Arg | None:
    for position, arg in enumerate(call.args):
        is_name = arg.keyword.value == "name" if arg.keyword else (position == 0 and not arg.star)
        if is_name:
            return arg
    return None


def _name_uses(module: cst.Module) -> dict[str, int]:
    """How often each name is written anywhere in MODULE (definitions and assignments included)."""
    counter = _NameCounter()
    module.visit(counter)
    return counter.counts


class _NameCounter(cst.CSTVisitor):
    def __init__(self) -> None:
        super().__init__()
        self.counts: dict[str, int] = {}

    def visit_Name(self, node: cst.Name) -> None:
        self.counts[node.value] = self.counts.get(node.value, 0) + 1


def _module_lists(module: cst.Module) -> dict[str, cst.List]:
    """Module-level `NAME = [...]` assignments (one target, a list literal)."""
    found: dict[str, cst.List] = {}
    for statement in module.body:
        for small in statement.body if isinstance(statement, cst.SimpleStatementLine) else ():
            if (isinstance(small, cst.Assign) and len(small.targets) == 1 and isinstance(small.targets[0].target, cst.Name)
                    and isinstance(small.value, cst.List)):
                found[small.targets[0].target.value] = small.value
    return found


def _is_whole_statement(statement: cst.SimpleStatementLine | None, call: cst.Call) -> bool:
    return (
        statement is not None
        and len(statement.body) == 1
        and isinstance(statement.body[0], cst.Expr)
        and statement.body[0].value is call
    )


@dataclass(frozen=True)
class RunLiteral:
    """A string literal that is one command of a run() call: editable in place when it is the only
    literal of its value in the file; removable when its list keeps another command, or is the
    call's own (the call then goes)."""

    count: int
    removable: bool


def run_literals(module: cst.Module) -> dict[str, RunLiteral]:
    """Every command written as a literal in a `run(commands=[...])` list (or a module variable's
    list only a run reads), by value; `count` counts every literal of that value in the file."""
    finder = _RunFinder(_module_lists(module), _name_uses(module))
    module.visit(finder)
    return {value: RunLiteral(finder.strings.get(value, 0), removable)
            for value, removable in finder.commands.items()}


class _RunFinder(cst.CSTVisitor):
    def __init__(self, module_lists: dict[str, cst.List], uses: dict[str, int]) -> None:
        super().__init__()
        self.module_lists = module_lists
        self.uses = uses
        self.commands: dict[str, bool] = {}
        self.strings: dict[str, int] = {}

    def visit_SimpleString(self, node: cst.SimpleString) -> None:
        value = _string_value(node)
        if value is not None:
            self.strings[value] = self.strings.get(value, 0) + 1

    def visit_Call(self, node: cst.Call) -> None:
        if dotted_name(node.func) != "run":
            return
        arg = _name_arg(node)   # `commands` is run's first parameter, as `name` is an install's
        if arg is not None and arg.keyword is not None and arg.keyword.value != "commands":
            arg = next((a for a in node.args if a.keyword and a.keyword.value == "commands"), None)
        if arg is None:
            arg = next((a for a in node.args if a.keyword and a.keyword.value == "commands"), None)
        values, direct = None, False
        if arg is not None and isinstance(arg.value, cst.List):
            values, direct = arg.value, True
        elif arg is not None and isinstance(arg.value, cst.Name) and self.uses.get(arg.value.value) == 2:
            values = self.module_lists.get(arg.value.value)
        for element in values.elements if values is not None else ():
            value = _string_value(element.value)
            if value is not None:
                self.commands[value] = direct or len(values.elements) > 1
