"""`envtrack context ls | use | create | rm`: envtrack's own named choice of Engine and builder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from envtrack.cli.app import app, fail
from envtrack.cli.table import GROUPS
from envtrack.errors import EnvtrackError

context_app = typer.Typer(help=GROUPS["context"], no_args_is_help=True)
app.add_typer(context_app, name="context")

PROJECT_OPTION = typer.Option(None, "--project", "-p",
                              help="Choose for this project directory (written to DIR/.envtrack/context.json).")


@context_app.command("ls")
def ls(json_out: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Every context, and which Engine and builder a command here would use."""
    from envtrack.endpoints import context_listing

    try:
        listing = context_listing()
    except EnvtrackError as error:
        fail(error)
        return
    if json_out:
        print(json.dumps(listing, indent=2, sort_keys=True))
        return
    for row in listing["contexts"]:
        mark = "*" if row["name"] == listing["context"] else " "
        builder = row["builder"] or "the Engine's BuildKit"
        print(f"{mark} {row['name']:<16} engine {row['engine'] or '(docker default)'}   builder {builder}")
    print(f"in use: engine {listing['engine']}; builder {listing['builder']}")


@context_app.command("create")
def create(
    name: str = typer.Argument(..., help="The context's name."),
    engine: Optional[str] = typer.Option(None, "--engine", help="unix:///PATH, tcp://HOST:PORT or ssh://USER@HOST[:PORT]."),
    cert_path: Optional[Path] = typer.Option(None, "--cert-path",
                                             help="TLS for a tcp:// Engine: a folder with ca.pem, cert.pem, key.pem."),
    tls_verify: bool = typer.Option(True, "--tls-verify/--no-tls-verify", help="Verify the Engine by ca.pem."),
    builder: Optional[str] = typer.Option(None, "--builder", help="A standalone buildkitd: unix:///PATH or tcp://HOST:PORT."),
    builder_cert_path: Optional[Path] = typer.Option(None, "--builder-cert-path",
                                                     help="TLS for a tcp:// buildkitd: ca.pem, cert.pem, key.pem."),
    description: str = typer.Option("", "--description", help="A note shown by `context ls --json`."),
    use: bool = typer.Option(False, "--use", help="Use it from now on (for the user, or --project)."),
    project: Optional[Path] = PROJECT_OPTION,
) -> None:
    """Create (or replace) a context; with --use, switch to it."""
    from envtrack.endpoints import create_context, use_context

    try:
        path = create_context(name, engine=engine, cert_path=cert_path, tls_verify=tls_verify, builder=builder,
                              builder_cert_path=builder_cert_path, description=description)
        print(f"context {name} saved in {path}")
        if use:
            print(f"using {name} ({use_context(name, project)})")
    except EnvtrackError as error:
        fail(error)


@context_app.command("use")
def use(
    name: str = typer.Argument(..., help="A context's name, or `default` to follow DOCKER_HOST / docker's context."),
    project: Optional[Path] = PROJECT_OPTION,
) -> None:
    """Use NAME for every later command (for the user, or for one project with --project)."""
    from envtrack.endpoints import use_context

    try:
        print(f"using {name} ({use_context(name, project)})")
    except EnvtrackError as error:
        fail(error)


@context_app.command("rm")
def rm(name: str = typer.Argument(..., help="The context to remove.")) -> None:
    """Remove a context (the user's choice falls back to `default` if it was in use)."""
    from envtrack.endpoints import remove_context

    try:
        print(f"removed {name} from {remove_context(name)}")
    except EnvtrackError as error:
        fail(error)
