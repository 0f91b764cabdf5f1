"""Stand-ins for the toolchain upstreams envd downloads from, in each upstream's own path layout.

`Upstreams(root)` writes small archives (a `go/bin/go` that prints its version, a Node
tarball with `bin/node`, a rustup-init stand-in that fetches its toolchain below
RUSTUP_DIST_SERVER, ...) under one folder per upstream prefix; `serve()` serves them on the
Docker bridge's gateway (support.gateway_http), which both BuildKit's HTTP source and a
build step reach, and yields the ENVTRACK_MIRRORS setting that points every upstream there.
So the URL logic under test is the real one: only the host part of each URL changes.
"""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from support.gateway_http import serve_directory

# Upstream prefix -> the folder standing in for it.
PREFIXES = {
    "https://go.dev/dl/": "go",
    "https://nodejs.org/download/release/": "node",
    "https://github.com/": "github",
    "https://sh.rustup.rs": "rustup/rustup-init.sh",
    "https://static.rust-lang.org/": "rust",
    "https://julialang-s3.julialang.org/": "julia",
    "https://open-vsx.org/": "open-vsx",
    "https://pkg.julialang.org/": "julia-pkg",
    "https://cran.rstudio.com/": "cran",
    "https://download2.rstudio.org/": "posit",
    "https://api.github.com/": "github-api",
}


def script(text: str) -> bytes:
    return f"#!/bin/sh\n{text}\n".encode()


def write_tar(path: Path, members: dict[str, bytes], mode: str = "w:gz") -> None:
    """An archive of executable files (and their folders), as release tarballs hold them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, mode) as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            archive.addfile(info, io.BytesIO(data))


class Upstreams:
    """Fixture archives for the builtins' default versions on amd64 (this machine's Engine)."""

    def __init__(self, root: Path):
        self.root = root

    def folder(self, upstream: str) -> Path:
        return self.root / PREFIXES[upstream]

    def go(self, version: str) -> None:
        write_tar(self.folder("https://go.dev/dl/") / f"go{version}.linux-amd64.tar.gz",
                  {"go/bin/go": script(f'echo "go version go{version} linux/amd64"')})

    def nodejs(self, version: str) -> None:
        top = f"node-v{version}-linux-x64"
        write_tar(self.folder("https://nodejs.org/download/release/") / f"v{version}/{top}.tar.xz",
                  {f"{top}/bin/node": script(f'echo "v{version}"')}, mode="w:xz")

    def github_release(self, repo: str, tag: str, asset: str, members: dict[str, bytes]) -> None:
        write_tar(self.folder("https://github.com/") / repo / "releases/download" / tag / asset, members)

    def rustup(self, toolchain: str) -> None:
        """rustup-init.sh fetches rustup-init below RUSTUP_UPDATE_ROOT, which installs the
        toolchain its channel file (below RUSTUP_DIST_SERVER) names, as the real pair does."""
        init = self.folder("https://sh.rustup.rs")
        init.parent.mkdir(parents=True, exist_ok=True)
        init.write_bytes(script(
            'set -e\ncurl -sSf "$RUSTUP_UPDATE_ROOT/dist/$(uname -m)-unknown-linux-gnu/rustup-init" -o /tmp/rustup-init\n'
            'sh /tmp/rustup-init "$@"'))
        rust = self.folder("https://static.rust-lang.org/")
        (rust / "rustup/dist/x86_64-unknown-linux-gnu").mkdir(parents=True, exist_ok=True)
        (rust / "rustup/dist/x86_64-unknown-linux-gnu/rustup-init").write_bytes(script(
            'set -e\n[ "$1 $2 $3" = "-y -q --no-modify-path" ]\n'
            'v=$(curl -sSf "$RUSTUP_DIST_SERVER/dist/channel-rust-stable.toml" | sed -n \'s/^version = "\\(.*\\)"/\\1/p\')\n'
            'mkdir -p "$CARGO_HOME/bin"\n'
            'printf \'#!/bin/sh\\necho "rustc %s"\\n\' "$v" > "$CARGO_HOME/bin/rustc"\nchmod 755 "$CARGO_HOME/bin/rustc"'))
        (rust / "dist").mkdir(exist_ok=True)
        (rust / "dist/channel-rust-stable.toml").write_text(f'[pkg.rust]\nversion = "{toolchain}"\n')

    def julia(self, data: bytes) -> None:
        path = self.folder("https://julialang-s3.julialang.org/") / "bin/linux/x64/1.10/julia-1.10.10-linux-x86_64.tar.gz"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def vsix(self, publisher: str, name: str, version: str, platform: str = "universal") -> None:
        """An Open VSX .vsix (a zip whose `extension/` folder is the extension) at its API file
        path: the universal publication's, or PLATFORM's only (`targetPlatform`), and the
        version's answer at `api/<publisher>/<name>/<version>`, its `downloads` naming each
        publication (that path is also a folder here, so the answer is its index.html)."""
        api = f"api/{publisher}/{name}"
        file = (f"{api}/{version}/file/{publisher}.{name}-{version}.vsix" if platform == "universal" else
                f"{api}/{platform}/{version}/file/{publisher}.{name}-{version}@{platform}.vsix")
        path = self.folder("https://open-vsx.org/") / file
        path.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("extension.vsixmanifest", "<PackageManifest/>")
            archive.writestr("extension/package.json", f'{{"name": "{name}", "version": "{version}"}}')
        answer = self.folder("https://open-vsx.org/") / api / version / "index.html"
        answer.parent.mkdir(parents=True, exist_ok=True)
        known = json.loads(answer.read_text()) if answer.exists() else {
            "namespace": publisher, "name": name, "version": version, "downloads": {}}
        known["downloads"][platform] = f"https://open-vsx.org/{file}"
        answer.write_text(json.dumps(known))

    def github_releases(self, repo: str, releases: list[dict]) -> None:
        """GitHub's release list for REPO (`/repos/OWNER/NAME/releases`, newest first)."""
        path = self.folder("https://api.github.com/") / "repos" / repo / "releases"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(releases))

    def open_vsx_latest(self, publisher: str, name: str, version: str, platform: str = "universal") -> None:
        """Open VSX's `latest` answer for an extension (its query ignored, as a static mirror
        would), and its .vsix at the file path it names (`vsix`)."""
        self.vsix(publisher, name, version, platform)
        answer = self.folder("https://open-vsx.org/") / f"api/{publisher}/{name}/{version}/index.html"
        (self.folder("https://open-vsx.org/") / f"api/{publisher}/{name}/latest").write_text(answer.read_text())

    def cran_package(self, name: str, version: str, body: str) -> None:
        """A pure-R source package and the PACKAGES index R reads, in a CRAN repository's
        layout (`src/contrib/`): R's install.packages finds it as it finds one on CRAN."""
        contrib = self.folder("https://cran.rstudio.com/") / "src/contrib"
        description = (f"Package: {name}\nVersion: {version}\nTitle: A Stand-In Package\n"
                       f"Description: Stands in for a CRAN package in envtrack's tests.\n"
                       f"License: MIT\nAuthor: envtrack tests\nMaintainer: envtrack tests <tests@example.org>\n"
                       f"NeedsCompilation: no\n")
        files = {f"{name}/DESCRIPTION": description.encode(), f"{name}/NAMESPACE": b"exportPattern(\".\")\n",
                 f"{name}/R/{name}.R": body.encode()}
        write_tar(contrib / f"{name}_{version}.tar.gz", files)
        with (contrib / "PACKAGES").open("a") as index:
            index.write(f"Package: {name}\nVersion: {version}\nNeedsCompilation: no\n\n")

    def rstudio_deb(self, version: str, port: int) -> None:
        """Posit's rstudio-server .deb for Ubuntu 22.04 at its download path, built by dpkg-deb:
        its /usr/lib/rstudio-server/bin/rserver answers HTTP on PORT (the container's)."""
        root = self.root / "rstudio-deb"
        (root / "DEBIAN").mkdir(parents=True)
        (root / "DEBIAN/control").write_text(
            f"Package: rstudio-server\nVersion: {version}\nArchitecture: amd64\nMaintainer: envtrack tests "
            "<tests@example.org>\nDescription: stands in for RStudio Server\n")
        www, bin_dir = root / "usr/lib/rstudio-server/www", root / "usr/lib/rstudio-server/bin"
        www.mkdir(parents=True)
        bin_dir.mkdir(parents=True)
        (www / "index.html").write_text(f"RStudio Server {version} stand-in\n")
        (bin_dir / "rserver").write_bytes(script(
            f'[ "$*" = "--server-daemonize=0" ] || exit 2\n'
            f'exec python3 -m http.server {port} --bind 0.0.0.0 --directory /usr/lib/rstudio-server/www'))
        (bin_dir / "rserver").chmod(0o755)
        target = self.folder("https://download2.rstudio.org/") / f"server/jammy/amd64/rstudio-server-{version}-amd64.deb"
        target.parent.mkdir(parents=True)
        subprocess.run(["dpkg-deb", "--root-owner-group", "--build", str(root), str(target)], check=True,
                       capture_output=True)

    @contextmanager
    def serve(self, requests: list | None = None) -> Iterator[str]:
        """Serve the fixtures; yields ENVTRACK_MIRRORS pointing every upstream at them.
        REQUESTS, when given, gets the path of each request."""
        with serve_directory(self.root, requests) as base:
            yield " ".join(f"{upstream}={base}/{folder}{'' if folder.endswith('.sh') else '/'}"
                           for upstream, folder in PREFIXES.items())
