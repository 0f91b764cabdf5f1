"""envtrack's conda-compatible command, installed by install.conda as conda, mamba and micromamba.

Not imported by envtrack: lowering writes this file into the image, where it runs on
the tool venv's Python with py-rattler (the conda library behind pixi) and PyYAML.
It reads .condarc channels, solves with rattler and installs into a prefix, then
appends to conda-meta/history in conda's own format, so the envtrack agent, `sync`
and locks see its installs exactly as they see conda's. Standard library otherwise,
Python 3.8 syntax.

Supported: install / create / remove (-n NAME | -p PREFIX, -c CHANNEL, -y), env update /
env create (-n NAME, -f FILE), list. Failures print one line and exit 1.
"""

import argparse
import asyncio
import datetime
import glob
import json
import os
import re
import sys

ROOT = "/opt/conda"
DEFAULT_ENV = "envd"


def prefix_of(args):
    if getattr(args, "prefix", None):
        return os.path.abspath(args.prefix)
    name = getattr(args, "name", None) or os.environ.get("CONDA_DEFAULT_ENV") or DEFAULT_ENV
    return ROOT if name == "base" else os.path.join(ROOT, "envs", name)


def read_condarc(path):
    import yaml

    try:
        with open(path) as handle:
            data = yaml.safe_load(handle) or {}
    except OSError:
        return {}
    return data if isinstance(data, dict) else {}


def configured_channels(prefix):
    """The environment's .condarc wins over the root one (config.conda_channel writes it)."""
    for path in (os.path.join(prefix, ".condarc"), os.path.join(ROOT, ".condarc")):
        rc = read_condarc(path)
        if rc.get("channels"):
            return expand_channels(rc["channels"], rc)
    return []


def expand_channels(channels, rc):
    """`defaults` becomes default_channels; a name in custom_channels gets its mirror's URL."""
    found = []
    custom = rc.get("custom_channels") or {}
    for channel in channels:
        channel = str(channel)
        if channel == "defaults" and rc.get("default_channels"):
            found += [str(c) for c in rc["default_channels"]]
        elif channel in custom:
            found.append(str(custom[channel]).rstrip("/") + "/" + channel)
        else:
            found.append(channel)
    return found


def history_specs(prefix):
    specs = []
    try:
        with open(os.path.join(prefix, "conda-meta", "history")) as handle:
            text = handle.read()
    except OSError:
        return specs
    import ast

    for line in text.splitlines():
        match = re.match(r"#\s*(update|install|remove) specs:\s*(.*)$", line.strip())
        if not match:
            continue
        try:
            listed = [str(s) for s in ast.literal_eval(match.group(2))]
        except (ValueError, SyntaxError):
            continue
        names = {spec_name(s) for s in listed}
        specs = [s for s in specs if spec_name(s) not in names]
        if match.group(1) != "remove":
            specs += listed
    return specs


def spec_name(spec):
    found = re.match(r"[A-Za-z0-9_.\-]+", spec.split("::")[-1].strip())
    return found.group(0).lower() if found else spec


def installed_records(prefix):
    import rattler

    return [rattler.PrefixRecord.from_path(path) for path in sorted(glob.glob(os.path.join(prefix, "conda-meta", "*.json")))]


def append_history(prefix, argv, records, before, kind, specs):
    old = {os.path.basename(p)[:-5] for p in before}
    now = {"{}-{}-{}".format(r.name.normalized, r.version, r.build) for r in records}
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
    lines = ["==> {} <==".format(stamp), "# cmd: conda " + " ".join(argv), "# conda version: envtrack"]
    lines += ["-" + name for name in sorted(old - now)]
    lines += ["+" + name for name in sorted(now - old)]
    lines.append("# {} specs: {!r}".format(kind, list(specs)))
    os.makedirs(os.path.join(prefix, "conda-meta"), exist_ok=True)
    with open(os.path.join(prefix, "conda-meta", "history"), "a") as handle:
        handle.write("\n".join(lines) + "\n")


async def solve_and_install(prefix, channels, specs):
    import rattler

    if specs and not channels:
        raise RuntimeError("no channels configured: name one with -c, or config.conda_channel(...)")
    channels = list(dict.fromkeys(c.rstrip("/") for c in channels))   # rattler crashes on a repeated channel
    platform = str(rattler.Platform.current())
    installed = installed_records(prefix) if os.path.isdir(os.path.join(prefix, "conda-meta")) else []
    records = []
    cache = os.environ.get("CONDA_PKGS_DIRS") or None   # the build's cache mount; else rattler's own
    if specs:
        # conda reads repodata.json, not the sharded index: the same files, and no sharded cache
        # that some servers answer with 304s rattler cannot use.
        gateway = rattler.Gateway(cache_dir=cache, default_config=rattler.SourceConfig(sharded_enabled=False))
        records = await rattler.solve(sources=[rattler.Channel(c) for c in channels], specs=specs, gateway=gateway,
                                      platforms=[platform, "noarch"],
                                      virtual_packages=rattler.VirtualPackage.detect(),
                                      timestamp_policy="allow-missing")  # conda itself does not require them
    await rattler.install(records, target_prefix=prefix, installed_packages=installed, show_progress=False,
                          cache_dir=cache)
    return records


def run_change(argv, prefix, channels, new_specs, kind="update", removed=()):
    before = glob.glob(os.path.join(prefix, "conda-meta", "*.json"))
    kept = [s for s in history_specs(prefix) if spec_name(s) not in {spec_name(n) for n in list(new_specs) + list(removed)}]
    records = asyncio.run(solve_and_install(prefix, channels, kept + list(new_specs)))
    append_history(prefix, argv, records, before, kind, new_specs or removed)


def env_file(path):
    import yaml

    with open(path) as handle:
        data = yaml.safe_load(handle) or {}
    deps = [str(d) for d in data.get("dependencies") or [] if not isinstance(d, dict)]
    if any(isinstance(d, dict) for d in data.get("dependencies") or []):
        print("conda: pip: entries of {} are not installed by this conda; use install.python_packages".format(path),
              file=sys.stderr)
    return [str(c) for c in data.get("channels") or []], deps


def parser():
    top = argparse.ArgumentParser(prog="conda")
    commands = top.add_subparsers(dest="command")
    for name in ("install", "create", "remove", "uninstall", "update", "list"):
        sub = commands.add_parser(name)
        sub.add_argument("-n", "--name")
        sub.add_argument("-p", "--prefix")
        sub.add_argument("-c", "--channel", action="append", default=[])
        sub.add_argument("-y", "--yes", action="store_true")
        sub.add_argument("-f", "--file")
        sub.add_argument("specs", nargs="*")
    env = commands.add_parser("env").add_subparsers(dest="env_command")
    for name in ("update", "create"):
        sub = env.add_parser(name)
        sub.add_argument("-n", "--name")
        sub.add_argument("-p", "--prefix")
        sub.add_argument("-f", "--file", required=True)
        sub.add_argument("--prune", action="store_true")
    return top


def main(argv):
    args = parser().parse_args(argv)
    prefix = prefix_of(args)
    if args.command == "env" or getattr(args, "file", None):
        channels, specs = env_file(args.file)
        run_change(argv, prefix, args.__dict__.get("channel", []) + channels + configured_channels(prefix), specs)
    elif args.command in ("install", "update"):
        run_change(argv, prefix, args.channel + configured_channels(prefix), args.specs)
    elif args.command == "create":
        os.makedirs(os.path.join(prefix, "conda-meta"), exist_ok=True)
        run_change(argv, prefix, args.channel + configured_channels(prefix), args.specs)
    elif args.command in ("remove", "uninstall"):
        run_change(argv, prefix, configured_channels(prefix), [], kind="remove", removed=args.specs)
    elif args.command == "list":
        for record in installed_records(prefix):
            print("{:<30} {:<15} {}".format(record.name.normalized, str(record.version), record.build))
    else:
        parser().print_help()
        return 2
    return 0


def run(argv):
    try:
        return main(argv)
    except Exception as error:  # noqa: BLE001 - one line, as conda reports its errors
        print("conda: {}".format(" ".join(str(error).split())), file=sys.stderr)
        return 1


if __name__ == "__main__":
    import faulthandler

    faulthandler.enable()   # a crash inside rattler's native code names the Python frame it came from
    code = run(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    # Everything is written and closed by now. Skipping interpreter teardown keeps rattler's
    # runtime threads from being torn down under a finalizing interpreter, a native crash seen
    # (exit 139, no output) after installs that had otherwise finished.
    os._exit(code)
