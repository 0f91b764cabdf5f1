"""Every command's options, as data: the one definition the fast dispatcher, the help text
and the typer application all read, so they cannot drift apart.

Pure and import-free on purpose: it is read on every run, before any framework loads.
A command's function (`run`, "module:function") takes the options as keyword arguments
named by `dest` and returns its exit code (None for 0).
"""

from __future__ import annotations

from collections import namedtuple

# Plain namedtuples, not dataclasses: see envtrack.errors.Position.
_OPT_FIELDS = (
    "dest",      # str: the keyword argument's name
    "flags",     # tuple[str, ...]: empty for a positional argument
    "help",      # str
    "default",   # the value when not given
    "flag",      # bool: takes no value; True when given
    "negation",  # str | None: the flag that sets it False again (`--no-build`)
    "envvar",    # str | None: read when the option is not given
    "required",  # bool: positional arguments only
)


class Opt(namedtuple("Opt", _OPT_FIELDS, defaults=((), "", None, False, None, None, False))):
    __slots__ = ()

    @property
    def positional(self) -> bool:
        return not self.flags


_COMMAND_FIELDS = (
    "name",      # str: as typed; "engine setup" for a subcommand
    "help",      # str: its first line is the summary in the command list
    "run",       # str: "module:function"
    "options",   # tuple[Opt, ...]
    "rest",      # str | None: dest of the trailing command (`exec -- CMD ARGS`)
)


class Command(namedtuple("Command", _COMMAND_FIELDS, defaults=((), None))):
    __slots__ = ()

    @property
    def summary(self) -> str:
        return self.help.split("\n", 1)[0]


APP_HELP = "Keep a machine-learning dev environment and its build.envd in step."
GROUPS = {"engine": "Set up and inspect the container engine.",
          "context": "Named Engines and builders (like `docker context`, per user or per project)."}

_PROJECT_FILE = Opt("file", ("--file", "-f"), "build.envd or its directory (default: .)")
_ROOT = Opt("root", ("--root",), "Run as root in a dev environment (base(dev=True)), not as its user.", False,
            flag=True)
_JSON = Opt("as_json", ("--json",), "Print the result as JSON.", False, flag=True)

COMMANDS: tuple[Command, ...] = (
    Command("engine setup", "Install docker.io and debootstrap, start dockerd, create the local base images (idempotent).",
            "envtrack.cli.engine:setup",
            (Opt("engine_only", ("--engine-only",), "Only install and start the engine; leave the base images alone.",
                 False, flag=True),
             Opt("base", ("--base",), "Base images to make, envtrack/base:SUITE, comma-separated: bullseye "
                 "(Python 3.9), bookworm (3.11, the default), trixie (3.13), bookworm-nopython (no python3)."))),
    Command("doctor", "Check the engine, BuildKit, base image, disk, CA and proxy (of the Engine and builder in use).",
            "envtrack.cli.engine:doctor",
            (Opt("as_json", ("--json",), "Print the checks as JSON.", False, flag=True),
             Opt("builder", ("--builder",), "Check this buildkitd instead of the one in use.",
                 envvar="ENVTRACK_BUILDKIT_HOST"))),
    Command("init", "Write build.envd for a project from the dependency files it has (never replaces one).",
            "envtrack.cli.init:init", (Opt("directory", (), "The project directory (default: .)."),)),
    Command("plan", "Evaluate build.envd and print its steps with their places in the source.",
            "envtrack.cli.plan:plan",
            (Opt("file", (), "The envd file, or a directory holding build.envd (default: ./build.envd)."),
             Opt("target", ("--target", "-t"), "The function to call.", "build"),
             Opt("as_json", ("--json",), "Print the plan as stable JSON.", False, flag=True),
             Opt("output_format", ("--format",), "text, json, or dot (Graphviz: states and where they merge).",
                 "text"))),
    Command("build", "Build the environment on BuildKit, in exactly the order build.envd says.",
            "envtrack.cli.build:build",
            (Opt("file", (), "build.envd, or a directory holding one (default: ./build.envd)."),
             Opt("progress", ("--progress",), "auto, tty, plain or quiet.", "auto"),
             Opt("builder", ("--builder",), "A standalone buildkitd (unix:///PATH or tcp://HOST:PORT); "
                 "default: the Docker Engine's BuildKit.", envvar="ENVTRACK_BUILDKIT_HOST"),
             Opt("bake_ca", ("--bake-ca",), "Also install the host CA bundle into the image.", False, flag=True),
             Opt("pull", ("--pull",), "Pull every image build.envd names again, even when the Engine has it "
                 "(like `docker build --pull`).", False, flag=True),
             Opt("cache_to", ("--cache-to", "--export-cache"), "Export the build cache to this registry "
                 "reference (BuildKit's registry cache, every step), where the BuildKit can."),
             Opt("cache_from", ("--cache-from", "--import-cache"), "Import a build cache from this registry reference."),
             _JSON)),
    Command("up", "Build if needed, start (or reuse) the project's container, and start the change agent.",
            "envtrack.cli.env:up",
            (Opt("file", (), "build.envd or its directory (default: .)"),
             Opt("progress", ("--progress",), "Build progress: auto, plain, quiet.", "auto"),
             Opt("host_ca", ("--host-ca",), "Mount this machine's CA bundle so pip/requests trust an intercepting proxy.",
                 True, flag=True, negation="--no-host-ca"),
             Opt("build", ("--build",), "Build the image if build.envd changed.", True, flag=True, negation="--no-build"),
             Opt("as_json", ("--json",), "Print the container status as JSON.", False, flag=True),
             Opt("locked", ("--locked",), "Build with each requested package at the lock's version "
                 "(envtrack.lock beside build.envd, or a lock file given as FILE / --lock).", False, flag=True),
             Opt("lock", ("--lock",), "The lock file for --locked."),
             Opt("from_ref", ("--from",), "Run this pushed environment (REGISTRY/NAME:TAG) instead of building; "
                 "its build.envd and lock are written here when missing."),
             Opt("pull", ("--pull",), "Pull every image build.envd names again, even when the Engine has it "
                 "(like `docker build --pull`).", False, flag=True))),
    Command("down", "Stop and remove the project's container. The journal stays.", "envtrack.cli.env:down",
            (_PROJECT_FILE,)),
    Command("status", "The container, its image, the agent's health and how many changes are recorded.",
            "envtrack.cli.env:status", (_PROJECT_FILE, Opt("as_json", ("--json",), "Machine-readable output.", False,
                                                           flag=True))),
    Command("shell", "An interactive shell in the project's container (a dev environment's user; --root for root).",
            "envtrack.cli.env:shell", (_PROJECT_FILE, _ROOT)),
    Command("exec", "Run a command in the project's container: envtrack exec -- CMD ARGS. Exits with its code.",
            "envtrack.cli.env:exec_", (_PROJECT_FILE, _ROOT), rest="command"),
    Command("ssh", "Log in to a dev environment over SSH, or run a command there: envtrack ssh [-- CMD ARGS].",
            "envtrack.cli.env:ssh", (_PROJECT_FILE,), rest="command"),
    Command("log", "The recorded package changes, oldest first; requested packages apart from dependencies.",
            "envtrack.cli.env:log",
            (_PROJECT_FILE,
             Opt("since", ("--since",), "Only changes after this ID, or at/after this ISO time."),
             Opt("as_json", ("--json",), "One JSON list of change rows.", False, flag=True))),
    Command("sync", "Rewrite build.envd with the packages installed, upgraded or removed since the last sync.",
            "envtrack.cli.sync:sync",
            (Opt("file", (), "build.envd or its directory (default: current directory)."),
             Opt("dry_run", ("--dry-run",), "Print the diff; change nothing.", False, flag=True),
             Opt("pin", ("--pin",), "How to pin packages: exact (pkg==1.2.3), compatible (pkg~=1.2.3; apt unpinned) "
                 "or none.", "exact"),
             Opt("yes", ("--yes", "-y"), "Write without asking, even on a terminal.", False, flag=True),
             Opt("target", ("--target",), "The envd function to rewrite.", "build"),
             Opt("as_json", ("--json",), "Print a JSON report (never asks).", False, flag=True),
             Opt("into", ("--into",), "The state new packages go to (default: the one that becomes the image)."))),
    Command("snapshot", "Lock the running environment's packages, or check it against the lock (for CI).",
            "envtrack.cli.snapshot:snapshot",
            (Opt("file", (), "build.envd or its directory (default: current directory)."),
             Opt("output", ("-o", "--output"), "Lock file (default: envtrack.lock beside build.envd)."),
             Opt("check", ("--check",), "Compare the running environment with the lock; exit 1 on drift.", False,
                 flag=True),
             Opt("as_json", ("--json",), "Print a JSON report.", False, flag=True))),
    Command("push", "Push the environment (the running container, else the built image) with its build.envd "
            "and lock attached.", "envtrack.cli.share:push",
            (Opt("ref", (), "REGISTRY/NAME:TAG (default: the one last pushed or pulled here)."), _PROJECT_FILE,
             Opt("progress", ("--progress",), "Build progress when it builds: auto, plain, quiet.", "auto"))),
    Command("pull", "Pull a pushed environment and write its build.envd and lock here (never over existing files).",
            "envtrack.cli.share:pull",
            (Opt("ref", (), "REGISTRY/NAME:TAG, as given to `envtrack push`.", required=True),
             Opt("directory", ("--dir", "-C"), "The project directory (default: .)."))),
    Command("diff", "Show packages added, removed and changed from A to B. Exit 0 equal, 1 different, 2 error.",
            "envtrack.cli.snapshot:diff",
            (Opt("a", (), "Lock file, image (REGISTRY/NAME:TAG: pulled, its pushed lock read), container, or project directory "
                 "(prefix lock:/image:/container:/project: to force).", required=True),
             Opt("b", (), "The same kinds as A.", required=True),
             Opt("as_json", ("--json",), "Print a JSON report.", False, flag=True))),
)

BY_NAME = {command.name: command for command in COMMANDS}
