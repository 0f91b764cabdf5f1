"""records.py against installer records in their real on-disk formats, under a fake root."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from envtrack import records
from envtrack.records import Package

DPKG_STATUS = """\
Package: jq
Status: install ok installed
Priority: optional
Section: utils
Installed-Size: 102
Maintainer: ChangZhuo Chen (陳昌倬) <czchen@debian.org>
Architecture: amd64
Multi-Arch: foreign
Version: 1.6-2.1
Depends: libjq1 (= 1.6-2.1), libc6 (>= 2.34)
Description: lightweight and flexible command-line JSON processor
 jq is like sed for JSON data - you can use it to slice
 .
 and filter and map and transform structured data.

Package: libjq1
Status: install ok installed
Architecture: amd64
Source: jq
Version: 1.6-2.1
Description: lightweight and flexible command-line JSON processor - shared library

Package: libc-bin
Status: install ok triggers-pending
Architecture: amd64
Version: 2.36-9+deb12u4
Description: GNU C Library: Binaries

Package: tree
Status: deinstall ok config-files
Architecture: amd64
Version: 2.1.0-1
Description: displays an indented directory tree, in color

Package: curl
Status: install reinstreq half-installed
Architecture: amd64
Version: 7.88.1-10+deb12u5
Description: command line tool for transferring data with URL syntax
"""

EXTENDED_STATES = """\
Package: libjq1
Architecture: amd64
Auto-Installed: 1

Package: jq
Architecture: amd64
Auto-Installed: 0
"""

SITE = "/opt/envtrack/venv/lib/python3.11/site-packages"


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def dist_info(site: Path, name: str, version: str, *, installer: str = "pip", requested: bool = False,
              requires: tuple[str, ...] = (), direct_url: dict | None = None) -> None:
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    meta += "".join(f"Requires-Dist: {r}\n" for r in requires) + "\nLong description.\n"
    write(info / "METADATA", meta)
    write(info / "INSTALLER", installer + "\n")
    write(info / "RECORD", f"{name},,\n")
    if requested:
        write(info / "REQUESTED", "")
    if direct_url is not None:
        write(info / "direct_url.json", json.dumps(direct_url))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    write(tmp_path / "var/lib/dpkg/status", DPKG_STATUS)
    write(tmp_path / "var/lib/apt/extended_states", EXTENDED_STATES)
    write(tmp_path / "opt/envtrack/venv/pyvenv.cfg", "home = /usr/bin\ninclude-system-site-packages = false\n")
    site = tmp_path / SITE.lstrip("/")
    dist_info(site, "Jinja2", "3.1.4", requested=True, requires=("MarkupSafe>=2.0",))
    dist_info(site, "MarkupSafe", "2.1.5")
    dist_info(site, "mypkg", "0.1.0", requested=True,
              direct_url={"url": "file:///workspace/mypkg", "dir_info": {"editable": True}})
    dist_info(site, "private-lib", "1.2.0", requested=True,
              direct_url={"url": "https://deploy:s3cret@git.example.com/team/private-lib.git",
                          "vcs_info": {"vcs": "git", "commit_id": "0123abcd", "requested_revision": "main"}})
    uv_site = tmp_path / "opt/uvenv/lib/python3.11/site-packages"
    write(tmp_path / "opt/uvenv/pyvenv.cfg", "home = /usr/bin\nuv = 0.4.0\n")
    dist_info(uv_site, "requests", "2.32.3", installer="uv", requires=("idna<4,>=2.5", "certifi>=2017.4.17",
                                                                        "PySocks!=1.5.7,>=1.5.6; extra == 'socks'"))
    dist_info(uv_site, "idna", "3.7", installer="uv")
    dist_info(uv_site, "certifi", "2024.7.4", installer="uv")
    meta = tmp_path / "opt/conda/conda-meta"
    write(meta / "history", "==> 2026-11-28 10:00:00 <==\n# cmd: conda install numpy scipy\n"
                            "# update specs: ['numpy', 'conda-forge::scipy[version=\\'>=1.11\\']']\n"
                            "==> 2026-11-28 11:00:00 <==\n# remove specs: ['scipy']\n")
    for name, version, build in (("numpy", "1.26.4", "py311h64a7726_0"), ("libblas", "3.9.0", "20_openblas"),
                                 ("scipy", "1.11.4", "py311h64a7726_0")):
        write(meta / f"{name}-{version}-{build}.json",
              json.dumps({"name": name, "version": version, "build": build,
                          "channel": "https://user:tok@conda.example.com/conda-forge/linux-64"}))
    write(meta / "pip-24.0-pyhd8ed1ab_0.json", json.dumps({"name": "pip", "version": "24.0", "build": "pyhd8ed1ab_0",
                                                           "channel": "conda-forge", "requested_spec": "pip"}))
    return tmp_path


def by_name(packages: list[Package]) -> dict[str, Package]:
    return {p.name: p for p in packages}


def test_apt_reads_installed_packages_only_with_auto_installed_as_dependencies(root: Path) -> None:
    apt = by_name(records.read_apt(str(root)))
    assert set(apt) == {"jq", "libjq1", "libc-bin"}   # config-files and half-installed are not installed
    assert apt["jq"] == Package("apt", "jq", "1.6-2.1", "/", True, arch="amd64")
    assert apt["libjq1"].requested is False
    assert apt["libc-bin"].version == "2.36-9+deb12u4"


def test_pip_finds_venvs_and_trusts_requested_only_from_pip(root: Path) -> None:
    pip = {(p.env, p.name): p for p in records.read_pip(str(root))}
    assert pip[(SITE, "jinja2")].requested and pip[(SITE, "jinja2")].version == "3.1.4"
    assert not pip[(SITE, "markupsafe")].requested                 # pip wrote no REQUESTED
    uv = "/opt/uvenv/lib/python3.11/site-packages"
    assert pip[(uv, "requests")].requested                         # uv: top-level by Requires-Dist
    assert not pip[(uv, "idna")].requested and not pip[(uv, "certifi")].requested


def test_pip_sources_are_redacted_and_vcs_refs_pinned(root: Path) -> None:
    pip = by_name(records.read_pip(str(root), site_dirs=[SITE]))
    assert pip["private-lib"].source == "git+https://deploy:****@git.example.com/team/private-lib.git@0123abcd"
    assert pip["mypkg"].source == "file:///workspace/mypkg"
    assert records.pip_detail(str(root), pip["mypkg"]) == {"editable": True, "local": True}
    assert records.pip_detail(str(root), pip["jinja2"]) == {}


def test_egg_info_directory_is_read(root: Path) -> None:
    egg = root / SITE.lstrip("/") / "legacy_pkg-0.3.egg-info"
    write(egg / "PKG-INFO", "Metadata-Version: 1.1\nName: legacy-pkg\nVersion: 0.3\n")
    write(egg / "requires.txt", "six\n\n[test]\npytest\n")
    pip = by_name(records.read_pip(str(root), site_dirs=[SITE]))
    assert pip["legacy-pkg"].version == "0.3" and pip["legacy-pkg"].requested


def test_conda_requested_specs_replay_history_and_channels_are_redacted(root: Path) -> None:
    conda = by_name(records.read_conda(str(root)))
    assert conda["numpy"].requested and conda["numpy"].env == "/opt/conda"
    assert not conda["scipy"].requested                            # asked for, then removed
    assert not conda["libblas"].requested
    assert conda["pip"].requested                                  # requested_spec in its record
    assert conda["numpy"].build == "py311h64a7726_0"
    assert conda["numpy"].source == "https://user:****@conda.example.com/conda-forge/linux-64"


@pytest.mark.parametrize("url, expected", [
    ("https://tok@example.com/x.git", "https://****@example.com/x.git"),
    ("https://u:p@example.com/x", "https://u:****@example.com/x"),
    ("ssh://git@example.com/x.git", "ssh://git@example.com/x.git"),
    ("https://example.com/x", "https://example.com/x"),
])
def test_redact_url(url: str, expected: str) -> None:
    assert records.redact_url(url) == expected


@pytest.mark.parametrize("a, b, order", [
    ("1.0~rc1-1", "1.0-1", -1), ("1:0.9", "2.0", 1), ("1.6-2.1", "1.6-2", 1), ("1.6-2.1", "1.6-2.1", 0),
    ("2.36-9+deb12u4", "2.36-9+deb12u10", -1), ("1.0a", "1.0", 1), ("1.0", "1.0+b1", -1), ("10", "9", 1),
])
def test_dpkg_version_order(a: str, b: str, order: int) -> None:
    assert records.compare_dpkg(a, b) == order
    assert records.compare_dpkg(b, a) == -order


@pytest.mark.parametrize("a, b, order", [
    ("1.0.dev1", "1.0a1", -1), ("1.0a1", "1.0b2", -1), ("1.0rc1", "1.0", -1), ("1.0", "1.0.post1", -1),
    ("2.0", "2.0.0", 0), ("1.10", "1.9", 1), ("1!0.1", "2.0", 1), ("1.0+local.2", "1.0+local.10", -1),
    ("2.9.0.post0", "2.9.0", 1),
])
def test_pep440_version_order(a: str, b: str, order: int) -> None:
    assert records.compare_pep440(a, b) == order
    assert records.compare_pep440(b, a) == -order


def test_changes_between_classifies_every_slot() -> None:
    old = [Package("pip", "tomli", "2.0.0", "/s", True), Package("pip", "six", "1.16.0", "/s", False),
           Package("apt", "jq", "1.6-2.1", "/", True), Package("conda", "numpy", "1.26.4", "/opt/conda", True)]
    new = [Package("pip", "tomli", "2.0.1", "/s", True), Package("pip", "idna", "3.7", "/s", False),
           Package("apt", "jq", "1.6-2", "/", True), Package("conda", "numpy", "1.26.4", "/opt/conda", False)]
    changes = {(c.manager, c.name): c for c in records.changes_between(old, new)}
    assert set(changes) == {("pip", "tomli"), ("pip", "six"), ("pip", "idna"), ("apt", "jq")}
    assert (changes[("pip", "tomli")].action, changes[("pip", "tomli")].old_version) == ("upgrade", "2.0.0")
    assert (changes[("pip", "six")].action, changes[("pip", "six")].new_version) == ("remove", None)
    assert changes[("pip", "idna")].action == "install" and changes[("pip", "idna")].requested is False
    assert changes[("apt", "jq")].action == "downgrade"
    assert records.changes_between(new, new) == []


def test_script_mode_prints_the_sorted_inventory_as_json(root: Path) -> None:
    script = Path(records.__file__)
    out = subprocess.run([sys.executable, "-", "--root", str(root)], input=script.read_text(),
                         capture_output=True, text=True, check=True).stdout
    listed = json.loads(out)
    assert listed == [json.loads(json.dumps(p.__dict__)) for p in records.inventory(str(root))]
    keys = [(p["manager"], p["env"], p["name"]) for p in listed]
    assert keys == sorted(keys) and ("apt", "/", "jq") in keys and ("conda", "/opt/conda", "numpy") in keys


def test_a_dist_info_without_record_is_still_being_written(root: Path) -> None:
    partial = root / SITE.lstrip("/") / "bigpkg-2.0.dist-info"
    write(partial / "METADATA", "Metadata-Version: 2.1\nName: bigpkg\nVersion: 2.0\n")
    assert "bigpkg" not in by_name(records.read_pip(str(root), site_dirs=[SITE]))
    assert records.incomplete_dist_infos(str(root / SITE.lstrip("/"))) == [str(partial)]
    write(partial / "RECORD", "")
    assert "bigpkg" in by_name(records.read_pip(str(root), site_dirs=[SITE]))
