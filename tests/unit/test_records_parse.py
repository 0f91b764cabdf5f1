"""The records package against installer records in their real on-disk formats, under a fake root."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from envtrack import records
from envtrack.records import Package
from envtrack.snapshot.sources import records_command

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
    if requested:
        write(info / "REQUESTED", "")
    if direct_url is not None:
        write(info / "direct_url.json", json.dumps(direct_url))
    finish_record(info)


def finish_record(info: Path) -> None:
    """RECORD as pip and uv leave it when done: every file of the dist-info listed, INSTALLER too."""
    rows = sorted(f"{info.name}/{f.name},," for f in info.iterdir() if f.name != "RECORD")
    write(info / "RECORD", "\n".join(rows + [f"{info.name}/RECORD,,"]) + "\n")


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
    dist_info(uv_site, "requests", "2.32.3", installer="uv", requested=True, requires=("idna<4,>=2.5", "certifi>=2017.4.17",
                                                                        "PySocks!=1.5.7,>=1.5.6; extra == 'socks'"))
    dist_info(uv_site, "idna", "3.7", installer="uv", requested=True)         # uv marks every package
    dist_info(uv_site, "certifi", "2024.7.4", installer="uv", requested=True)
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
    assert set(apt) == {"jq", "libjq1", "libc-bin", "curl"}   # config-files is not installed
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
    # As snapshot runs it inside containers: the package carried in the command, no site-packages.
    _python3, flag, program, *_ = records_command()
    out = subprocess.run([sys.executable, "-S", "-E", flag, program, "--root", str(root)],
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
    write(partial / "INSTALLER", "pip\n")
    finish_record(partial)
    assert "bigpkg" in by_name(records.read_pip(str(root), site_dirs=[SITE]))


def test_a_dist_info_is_unfinished_until_the_installer_rewrote_record(root: Path) -> None:
    """pip's order: the wheel's RECORD lands first, INSTALLER and REQUESTED after byte-compiling,
    then the final RECORD listing them. Every state before the last one is unfinished."""
    site = root / SITE.lstrip("/")
    info = site / "mpmath-1.3.0.dist-info"
    write(info / "METADATA", "Metadata-Version: 2.1\nName: mpmath\nVersion: 1.3.0\n")
    write(info / "RECORD", "mpmath/__init__.py,sha256=x,1\nmpmath-1.3.0.dist-info/METADATA,,\n")  # the wheel's
    assert "mpmath" not in by_name(records.read_pip(str(root), site_dirs=[SITE]))
    write(info / "INSTALLER", "pip\n")              # written; REQUESTED may follow; RECORD not yet final
    assert "mpmath" not in by_name(records.read_pip(str(root), site_dirs=[SITE]))
    assert records.incomplete_dist_infos(str(site)) == [str(info)]
    finish_record(info)                              # no REQUESTED: installed as a dependency
    assert by_name(records.read_pip(str(root), site_dirs=[SITE]))["mpmath"].requested is False
    assert records.incomplete_dist_infos(str(site)) == []


def test_a_record_without_installer_is_debian_when_old_and_mid_install_when_fresh(root: Path) -> None:
    import os
    import time

    info = root / "usr/lib/python3/dist-packages/debpkg-1.0.dist-info"
    write(info / "METADATA", "Metadata-Version: 2.1\nName: debpkg\nVersion: 1.0\n")
    write(info / "RECORD", "debpkg/__init__.py,,\n")
    assert not records.dist_info_finished(str(info))
    old = time.time() - records.NO_INSTALLER_GRACE_SECONDS - 10
    os.utime(info / "RECORD", (old, old))
    assert records.dist_info_finished(str(info))
    pip = by_name(records.read_pip(str(root), site_dirs=["/usr/lib/python3/dist-packages"]))
    assert pip["debpkg"].requested                   # top-level, as Debian keeps no REQUESTED


def test_conda_installed_dist_info_counts_once_installer_is_there(root: Path) -> None:
    info = root / SITE.lstrip("/") / "condapkg-1.0.dist-info"
    write(info / "METADATA", "Metadata-Version: 2.1\nName: condapkg\nVersion: 1.0\n")
    write(info / "RECORD", "condapkg/__init__.py,,\n")
    write(info / "INSTALLER", "conda\n")
    assert records.dist_info_finished(str(info))


@pytest.mark.parametrize("status, installed", [
    ("install ok installed", True), ("install ok half-configured", True), ("install reinstreq half-installed", True),
    ("install ok unpacked", True), ("hold ok half-configured", True), ("install ok triggers-pending", True),
    ("deinstall ok config-files", False), ("purge ok not-installed", False), ("deinstall ok half-configured", False),
    ("deinstall reinstreq half-installed", False), ("", False),
])
def test_dpkg_interrupted_states_of_a_wanted_package_are_installed(status: str, installed: bool) -> None:
    assert records.dpkg_installed(status) is installed


def test_flag_changes_are_marks_at_the_same_version() -> None:
    old = [Package("pip", "mpmath", "1.3.0", "/s", True), Package("pip", "sympy", "1.13", "/s", True),
           Package("apt", "jq", "1.6", "/", False), Package("pip", "six", "1.16.0", "/s", True)]
    new = [Package("pip", "mpmath", "1.3.0", "/s", False), Package("pip", "sympy", "1.13", "/s", True),
           Package("apt", "jq", "1.6", "/", True), Package("pip", "six", "1.17.0", "/s", False)]
    marks = {c.name: c for c in records.flag_changes(old, new)}
    assert set(marks) == {"mpmath", "jq"}                     # six changed version: changes_between's job
    assert (marks["mpmath"].action, marks["mpmath"].requested, marks["mpmath"].new_version) == ("mark", False, "1.3.0")
    assert marks["jq"].requested is True


@pytest.mark.parametrize("url, expected", [
    ("https://files.example.com/x-1.0-py3-none-any.whl?token=abc123", "https://files.example.com/x-1.0-py3-none-any.whl?token=****"),
    ("https://b.s3.amazonaws.example/x.whl?X-Amz-Credential=AK%2F1&X-Amz-Signature=deadbeef",
     "https://b.s3.amazonaws.example/x.whl?X-Amz-Credential=****&X-Amz-Signature=****"),
    ("https://h.example/x.tar.gz?sig=s3cr3t#sha256=00ff", "https://h.example/x.tar.gz?sig=****#sha256=00ff"),
    ("https://h.example/x?SECRETALONE", "https://h.example/x?****"),
])
def test_redact_url_masks_every_query_value(url: str, expected: str) -> None:
    assert records.redact_url(url) == expected


@pytest.mark.parametrize("line, secret", [
    ("apt-get -o Acquire::http::Proxy=http://proxyuser:pr0xyPass@10.0.0.1:3128 install tree", "pr0xyPass"),
    ("apt-get -o Acquire::https::Proxy::Password=hunter2 install jq", "hunter2"),
    ("pip install https://h.example/x.whl?token=tok123", "tok123"),
    ("curl -H 'Authorization: Bearer abcdef' https://h.example", "abcdef"),
    ("tool --password s3cr3t --api-key=k3y", "s3cr3t"),
    ("tool --password s3cr3t --api-key=k3y", "k3y"),
])
def test_redact_text_masks_secrets_in_command_lines(line: str, secret: str) -> None:
    assert secret not in records.redact_text(line)


def test_redact_text_keeps_ordinary_command_lines() -> None:
    for line in ("apt-get install --reinstall tree", "apt-get install oauth2-tool jq", "pip install -r req.txt",
                 "git+ssh://git@host.example/x.git"):
        assert records.redact_text(line) == line


def test_rows_from_an_older_journal_are_redacted_when_read_on_the_host() -> None:
    from envtrack.journal.row import Change   # every reader's rows come out of the journal through it

    stored = {"id": 1, "time": "2026-11-29T01:00:00.000Z", "manager": "apt", "env": "/", "action": "install",
              "name": "jq", "old_version": None, "new_version": "1.6", "requested": 1, "arch": None, "build": None,
              "reconciled": 0, "source": "https://u:pw@h.example/x.whl?token=tok", "detail": json.dumps({
                  "commandline": "apt-get -o Acquire::http::Proxy=http://u:pxpw@p:3128 install jq"})}
    clean = Change.from_sql(stored)
    assert clean.source == "https://u:****@h.example/x.whl?token=****"
    assert "pxpw" not in clean.detail["commandline"] and "pw@" not in json.dumps(clean.as_json())
    assert stored["source"].endswith("token=tok")  # the caller's record is left alone


def test_conda_mamba_and_micromamba_records_read_alike(tmp_path: Path) -> None:
    """conda writes "None" as a dependency's requested_spec and Python-quoted specs; micromamba
    writes JSON-quoted specs and "" for dependencies: the same packages, the same requested flags."""
    histories = {
        "conda": "==> 2026-12-03 10:00:00 <==\n# cmd: /opt/conda/bin/conda install -y -n envd numpy\n"
                 "# conda version: 25.9.1\n+conda-forge/linux-64::numpy-2.1.0-py311_0\n"
                 "# update specs: ['numpy']\n==> 2026-12-03 10:05:00 <==\n# cmd: conda remove -y zlib\n"
                 "# remove specs: ['zlib']\n",
        "micromamba": '==> 2026-12-03 10:00:00 <==\n# cmd: micromamba install -y -n envd numpy\n'
                      '# conda version: 3.8.0\n+https://conda.anaconda.org/conda-forge/linux-64::numpy-2.1.0-py311_0\n'
                      '# update specs: ["numpy"]\n==> 2026-12-03 10:05:00 <==\n# cmd: micromamba remove -y zlib\n'
                      '# remove specs: ["zlib"]\n',
    }
    dependency_spec = {"conda": "None", "micromamba": ""}
    for tool, history in histories.items():
        meta = tmp_path / tool / "opt/conda/envs/envd/conda-meta"
        write(meta / "history", history)
        write(meta / "numpy-2.1.0-py311_0.json", json.dumps({"name": "numpy", "version": "2.1.0", "build": "py311_0",
                                                             "requested_spec": "numpy"}))
        write(meta / "libopenblas-0.3.27-0.json", json.dumps({"name": "libopenblas", "version": "0.3.27", "build": "0",
                                                              "requested_spec": dependency_spec[tool]}))
        conda = {p.name: (p.version, p.requested, p.env) for p in records.read_conda(str(tmp_path / tool))}
        assert conda == {"numpy": ("2.1.0", True, "/opt/conda/envs/envd"),
                         "libopenblas": ("0.3.27", False, "/opt/conda/envs/envd")}, tool
