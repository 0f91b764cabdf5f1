#!/usr/bin/python3
"""A stand-in for the micromamba binary, served where micromamba's release is, for tests on
machines that reach no conda download. It does what envtrack's build asks of micromamba, for
real, on the container's python3: `shell init` writes bash's hook line; `install`/`create -n
NAME [-c CHANNEL] SPECS` fetch each spec's noarch package from the channels (names resolve
below the channel_alias of $MAMBA_ROOT_PREFIX/.mambarc, as micromamba's do), unpack it into the
prefix and write conda-meta/NAME-VERSION-BUILD.json and conda-meta/history in micromamba's
format; `remove` and `list` work on those records."""

import datetime
import io
import json
import os
import sys
import tarfile
import urllib.request

ROOT = os.environ.get("MAMBA_ROOT_PREFIX", "/opt/conda")


def rc_settings():
    alias, channels = "https://conda.anaconda.org/", []
    with open(os.path.join(ROOT, ".mambarc")) as handle:
        for line in handle:
            line = line.strip()
            if line.startswith("channel_alias:"):
                alias = line.split(":", 1)[1].strip()
            elif line.startswith("- "):
                channels.append(line[2:].strip())
    return alias, channels


def parse(args):
    name, channels, specs = os.environ.get("CONDA_DEFAULT_ENV", "base"), [], []
    index = 0
    while index < len(args):
        arg = args[index]
        if arg in ("-n", "--name", "-c", "--channel"):
            (channels.append if arg in ("-c", "--channel") else lambda v: None)(args[index + 1])
            name = args[index + 1] if arg in ("-n", "--name") else name
            index += 2
            continue
        if not arg.startswith("-"):
            specs.append(arg)
        index += 1
    return (ROOT if name == "base" else os.path.join(ROOT, "envs", name)), channels, specs


def fetch(urls, spec):
    for url in urls:
        try:
            with urllib.request.urlopen(url + "/noarch/repodata.json") as answer:
                packages = json.load(answer).get("packages", {})
        except OSError:
            continue
        name, _, version = spec.partition("=")   # `name` or `name=1.0` (as sync pins it)
        for filename, record in sorted(packages.items()):
            if record["name"] == name and (not version or record["version"] == version.rstrip("*").rstrip(".")):
                with urllib.request.urlopen(url + "/noarch/" + filename) as answer:
                    return url, filename, record, answer.read()
    sys.exit("micromamba stand-in: nothing provides {} in {}".format(spec, urls))


def history(prefix, lines):
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
    with open(os.path.join(prefix, "conda-meta", "history"), "a") as handle:
        handle.write("==> {} <==\n# cmd: micromamba {}\n# conda version: 3.8.0\n".format(stamp, " ".join(sys.argv[1:])))
        handle.write("".join(line + "\n" for line in lines))


def install(prefix, channels, specs):
    alias, configured = rc_settings()
    urls = [c if "://" in c else alias.rstrip("/") + "/" + c for c in channels + configured]
    added = []
    for spec in specs:
        url, filename, record, data = fetch(urls, spec)
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:bz2") as archive:
            archive.extractall(prefix, members=[m for m in archive.getmembers() if not m.name.startswith("info/")])
        stem = filename[:-len(".tar.bz2")]
        with open(os.path.join(prefix, "conda-meta", stem + ".json"), "w") as handle:
            json.dump(dict(record, fn=filename, channel=url, requested_spec=spec), handle)
        added.append("+" + url + "::" + stem)
    history(prefix, added + ["# update specs: " + json.dumps(specs)])


def remove(prefix, specs):
    meta = os.path.join(prefix, "conda-meta")
    gone = []
    for filename in sorted(os.listdir(meta)):
        if filename.endswith(".json") and filename.rsplit("-", 2)[0] in specs:
            os.remove(os.path.join(meta, filename))
            gone.append("-" + filename[:-5])
    history(prefix, gone + ["# remove specs: " + json.dumps(specs)])


def main(args):
    if args[:2] == ["shell", "init"]:
        with open(os.path.expanduser("~/.bashrc"), "a") as handle:
            handle.write('eval "$(/opt/conda/bin/micromamba shell hook --shell=bash)"\n')
        return
    if args[:1] == ["--version"]:
        print("2.3.3")
        return
    prefix, channels, specs = parse(args[1:])
    os.makedirs(os.path.join(prefix, "conda-meta"), exist_ok=True)
    if args[0] in ("install", "create", "update"):
        install(prefix, channels, specs)
    elif args[0] in ("remove", "uninstall"):
        remove(prefix, specs)
    elif args[0] == "list":
        for filename in sorted(os.listdir(os.path.join(prefix, "conda-meta"))):
            if filename.endswith(".json"):
                with open(os.path.join(prefix, "conda-meta", filename)) as handle:
                    record = json.load(handle)
                print(record["name"], record["version"], record["build"])


if __name__ == "__main__":
    main(sys.argv[1:])
