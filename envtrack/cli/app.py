"""The typer application, built from the option table (cli/table.py).

Ordinary command lines never load it (cli/dispatch.py runs them); it handles what the
dispatcher leaves: unknown options and commands, missing values, no command at all, and
any command a module registers with `@app.command()` itself.
"""

from __future__ import annotations

import inspect
from typing import List, Optional

import typer

from envtrack import __version__
from envtrack.cli.table import APP_HELP, COMMANDS, GROUPS, Command, Opt
from envtrack.errors import EnvtrackError

app = typer.Typer(
    name="envtrack",
    help=APP_HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
engine_app = typer.Typer(help=GROUPS["engine"], no_args_is_help=True)
app.add_typer(engine_app, name="engine")
_GROUP_APPS = {"engine": engine_app}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"envtrack {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """envtrack: an ordered, cached envd builder that records what you change at runtime."""


def fail(error: EnvtrackError) -> None:
    """Hand ERROR to the one top-level handler (envtrack.cli.main), which prints it and exits."""
    raise error


def _parameter(option: Opt) -> inspect.Parameter:
    if option.positional:
        default = typer.Argument(... if option.required else option.default, help=option.help)
        annotation = str if option.required else Optional[str]
    else:
        flags = option.flags if not option.negation else (f"{option.flags[0]}/{option.negation}", *option.flags[1:])
        default = typer.Option(option.default, *flags, help=option.help, envvar=option.envvar)
        annotation = bool if option.flag else Optional[str]
    return inspect.Parameter(option.dest, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default,
                             annotation=annotation)


def _register(command: Command) -> None:
    from envtrack.cli.dispatch import run

    parameters = [_parameter(option) for option in command.options]
    if command.rest:
        parameters.insert(0, inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                                annotation=typer.Context))

    def callback(**options) -> None:
        if command.rest:
            words: List[str] = list(options.pop("ctx").args)
            options[command.rest] = words[1:] if words[:1] == ["--"] else words
        code = run(command, options)
        if code:
            raise typer.Exit(code)

    callback.__signature__ = inspect.Signature(parameters)
    callback.__annotations__ = {p.name: p.annotation for p in parameters}
    callback.__doc__ = command.help
    group, _, name = command.name.rpartition(" ")
    settings = {"allow_extra_args": True, "ignore_unknown_options": True} if command.rest else {}
    (_GROUP_APPS[group] if group else app).command(name, context_settings=settings)(callback)


for _command in COMMANDS:
    _register(_command)
