"""Run a command line without the CLI framework, reading the option table (cli/table.py).

Loading typer costs more than most of what `status`, `exec` or a cached `build` do, so
ordinary command lines are parsed here and `--help` is drawn from the same table. Anything
the parser does not take for certain (unknown options, missing values, a command it does
not know, no command at all) returns None, and the typer application, built from the same
table, handles it with its own messages.
"""

from __future__ import annotations

import os
import sys

from envtrack.cli.table import APP_HELP, BY_NAME, COMMANDS, GROUPS, Command, Opt


def find_command(argv: list[str]) -> tuple[Command, list[str]] | None:
    """The command ARGV names and the words after its name."""
    for words in (2, 1):
        name = " ".join(argv[:words])
        if len(argv) >= words and name in BY_NAME:
            return BY_NAME[name], argv[words:]
    return None


def parse(command: Command, argv: list[str]) -> dict | None:
    """Keyword arguments for COMMAND's function, or None when ARGV is not plainly valid."""
    values: dict = {}
    positionals = [o for o in command.options if o.positional]
    by_flag = {flag: o for o in command.options for flag in o.flags}
    negations = {o.negation: o for o in command.options if o.negation}
    rest = list(argv)
    while rest:
        word = rest.pop(0)
        if command.rest and (word == "--" or not word.startswith("-") and not positionals):
            values[command.rest] = rest if word == "--" else [word, *rest]
            break
        if word == "--" or word == "-" or not word.startswith("-"):
            if word == "--" or not positionals:
                return None
            values[positionals.pop(0).dest] = word
            continue
        name, equals, value = word.partition("=")
        if name in negations and not equals:
            values[negations[name].dest] = False
            continue
        option = by_flag.get(name)
        if option is None or (option.flag and equals):
            return None
        if option.flag:
            values[option.dest] = True
            continue
        if not equals:
            if not rest:
                return None
            value = rest.pop(0)
        values[option.dest] = value
    if any(o.required for o in positionals):
        return None
    return {o.dest: values.get(o.dest, _default(o)) for o in command.options} | (
        {command.rest: values.get(command.rest, [])} if command.rest else {})


def _default(option: Opt):
    if option.envvar and os.environ.get(option.envvar):
        return os.environ[option.envvar]
    return option.default


def run(command: Command, options: dict) -> int:
    """Call the command's function; its exit code."""
    module, _, function = command.run.partition(":")
    __import__(module)  # not importlib.import_module: importlib and warnings would cost every command
    code = getattr(sys.modules[module], function)(**options)
    return int(code or 0)


def dispatch(argv: list[str]) -> int | None:
    """Run ARGV here when it is an ordinary command line or a request for help; None otherwise."""
    if argv == ["--help"]:
        sys.stdout.write(app_help())
        return 0
    found = find_command(argv)
    if found is None:
        return None
    command, words = found
    if "--help" in words[: words.index("--") if "--" in words else len(words)]:
        sys.stdout.write(command_help(command))
        return 0
    options = parse(command, words)
    return None if options is None else run(command, options)


# --- help text, from the same table ---------------------------------------------------------

def app_help() -> str:
    width = max(len(name) for name in _top_level())
    lines = ["Usage: envtrack [OPTIONS] COMMAND [ARGS]...", "", f"  {APP_HELP}", "",
             "Options:", "  --version  Print the version and exit.", "  --help     Show this message and exit.",
             "", "Commands:"]
    lines += [f"  {name:<{width}}  {summary}" for name, summary in _top_level().items()]
    return "\n".join(lines) + "\n"


def _top_level() -> dict[str, str]:
    """Commands in table order, then the groups of subcommands (as typer lists them)."""
    names = {c.name: c.summary for c in COMMANDS if " " not in c.name}
    return names | {group: summary for group, summary in GROUPS.items()}


def command_help(command: Command) -> str:
    arguments = " ".join(o.dest.upper() if o.required else f"[{o.dest.upper()}]"
                         for o in command.options if o.positional)
    usage = f"Usage: envtrack {command.name} [OPTIONS] {arguments}".rstrip()
    if command.rest:
        usage += f" -- {command.rest.upper()} [ARGS]..."
    rows = [(o.dest.upper(), o.help) for o in command.options if o.positional]
    rows += [(_flags(o), o.help + (f" [env: {o.envvar}]" if o.envvar else "")) for o in command.options
             if not o.positional]
    rows.append(("--help", "Show this message and exit."))
    width = max(len(left) for left, _ in rows)
    lines = [usage, "", f"  {command.help}", "", "Options:"]
    lines += [f"  {left:<{width}}  {right}" for left, right in rows]
    return "\n".join(lines) + "\n"


def _flags(option: Opt) -> str:
    flags = ", ".join(option.flags) + (f" / {option.negation}" if option.negation else "")
    return flags if option.flag else f"{flags} VALUE"
