"""The Starlark side of every predeclared function: each argument is looked at before Python sees it.

starlark-go converts every argument of a Python callback to a Python value before the
callback runs: `base(image=range(1000000000))` became a list of a billion ints (seconds,
a gigabyte) before envtrack could say anything, and a value it cannot convert (a
function, a set) failed with the binding's own words. So each builtin of the registry
(envtrack/builtins) and each state function is predeclared as a small Starlark function,
generated here, that measures each argument where it lives (its kind, its items and
characters, against values.py's bounds) and calls the Python callback with the arguments
that pass, None in place of the others, and a dict saying what those others were
(`{"image": "range"}`). The callback puts an Unconvertible there, so binding refuses it
like any wrong type, at the call: `base: for parameter 'image': got range, want string`.

`fail` is wrapped too: its message is cut to values.MAX_MESSAGE while still in Starlark, and
the value `target()` returns passes the same measure.

Pure text generation; the evaluator runs PRELUDE once, then RESTORE (after every file too,
so a file that rebinds `base` for itself does not change it for the others).
"""

from __future__ import annotations

from envtrack.builtins import BUILTINS
from envtrack.frontend.states import STATE_FUNCTIONS
from envtrack.frontend.values import MAX_INT, MAX_ITEMS, MAX_MESSAGE, MAX_TEXT, bounded_tail_format

PREFIX = "_envtrack_"            # every global the prelude defines starts so; users' names do not
FILENAME = "<envtrack prelude>"  # never one of the user's files: backtraces skip its frames
KIND_DEPTH = 4                   # how deep a kind is described: `list containing list containing ...`


def python_name(flat_name: str) -> str:
    """The global the Python callback of FLAT_NAME is set as."""
    return f"{PREFIX}py_{flat_name}"


def wrapper_name(flat_name: str) -> str:
    return f"{PREFIX}builtin_{flat_name}"


UNKNOWN = f"{PREFIX}unknown"   # Python: the message of a member envd does not have, by call-site id
RESULT = f"{PREFIX}result"     # Starlark: the measured value of target()
RESULT_REFUSED = f"{PREFIX}py_refused_result"   # Python: told what target() returned instead

# The predeclared names the prelude wraps: envd's builtins and the state functions.
WRAPPED: tuple[str, ...] = tuple(sorted({b.flat_name for b in BUILTINS.values()} | set(STATE_FUNCTIONS)))


def _kind_functions() -> str:
    """`kind_0(value)`: the kind of VALUE, as frontend/builtins._type_name spells a Python value's;
    one function per level, since Starlark has no recursion."""
    functions = []
    for level in range(KIND_DEPTH + 1):
        inner = f"{PREFIX}kind_{level + 1}(item)" if level < KIND_DEPTH else "type(item)"
        functions.append(f'''
def {PREFIX}kind_{level}(value):
    t = type(value)
    if t == "NoneType":
        return "None"
    if t == "dict":
        return "dict with non-string items" if value else "dict"
    if t != "list" and t != "tuple":
        return t
    kinds = {{}}
    for i in range(min(len(value), {MAX_ITEMS})):
        item = value[i]
        if type(item) != "string":
            kinds[{inner}] = True
    if not kinds:
        return t
    return t + " containing " + ", ".join(sorted(kinds))
''')
    return "".join(functions)


_MEASURE = f'''
def {PREFIX}measure(value):
    """"" when VALUE can be handed to Python as it is, else what it is."""
    t = type(value)
    if t == "string":
        if len(value) > {MAX_TEXT}:
            return "string of %d characters (at most {MAX_TEXT})" % len(value)
        return ""
    if t == "int":
        if value < -{MAX_INT} or value >= {MAX_INT}:
            return "int beyond 64 bits"
        return ""
    if t == "bool" or t == "float" or t == "NoneType":
        return ""
    if t != "list" and t != "tuple" and t != "dict":
        return {PREFIX}kind_0(value)
    pending = [value]
    items = 0
    text = 0
    for _ in range({MAX_ITEMS} + 1):
        if not pending:
            return ""
        container = pending.pop()
        items += len(container)
        if items > {MAX_ITEMS}:
            return "%s of more than {MAX_ITEMS} items" % t
        elements = list(container.keys()) + list(container.values()) if type(container) == "dict" else container
        for element in elements:
            kind = type(element)
            if kind == "string":
                text += len(element)
            elif kind == "list" or kind == "tuple" or kind == "dict":
                pending.append(element)
            elif kind == "int":
                if element < -{MAX_INT} or element >= {MAX_INT}:
                    return {PREFIX}kind_0(value)
            elif kind != "bool" and kind != "float" and kind != "NoneType":
                return {PREFIX}kind_0(value)
        if text > {MAX_TEXT}:
            return "%s holding more than {MAX_TEXT} characters" % t
    return "%s of more than {MAX_ITEMS} items" % t

def {PREFIX}call(callback, args, kwargs):
    """CALLBACK(site id, what was kept back, *arguments, **keywords): args[0] is the call-site id."""
    refused = {{}}
    for i in range(1, len(args)):
        why = {PREFIX}measure(args[i])
        if why:
            refused[i] = why
    for key in kwargs:
        why = {PREFIX}measure(kwargs[key])
        if why:
            refused[key] = why
    if not refused:
        return callback(*(args[:1] + (refused,) + args[1:]), **kwargs)
    kept = [None if i in refused else args[i] for i in range(1, len(args))]
    return callback(*(list(args[:1]) + [refused] + kept), **{{k: None if k in refused else kwargs[k] for k in kwargs}})

def {PREFIX}fail(*args, sep = " "):
    message = sep.join([str(a) for a in args])
    if len(message) > {MAX_MESSAGE}:
        message = message[:{MAX_MESSAGE}] + "{bounded_tail_format()}" % len(message)
    fail(message)

def {RESULT}(value):
    why = {PREFIX}measure(value)
    if why:
        {RESULT_REFUSED}(why)
        return None
    return value
'''


def _wrappers() -> str:
    return "".join(f'''
def {wrapper_name(name)}(*args, **kwargs):
    return {PREFIX}call({python_name(name)}, args, kwargs)
''' for name in WRAPPED)


PRELUDE = _kind_functions() + _MEASURE + _wrappers()

# Binds each predeclared name to its wrapper; run after the prelude and after every file.
RESTORE = "\n".join([*(f"{name} = {wrapper_name(name)}" for name in WRAPPED), f"fail = {PREFIX}fail"])


def unknown_wrapper(flat_name: str) -> str:
    """A member envd does not have (`install.cudaa`): whatever its arguments, only the call-site id goes to Python."""
    return f'''
def {wrapper_name(flat_name)}(*args, **kwargs):
    return {UNKNOWN}(args[0] if args and type(args[0]) == "int" else None)
{flat_name} = {wrapper_name(flat_name)}
'''
