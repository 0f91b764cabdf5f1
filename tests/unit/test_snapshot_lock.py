"""The lock format: canonical bytes, round trips, and errors that point at FILE:LINE:COL."""

from __future__ import annotations

import pytest

from envtrack.errors import LocatedError
from envtrack.records import Package
from envtrack.snapshot.lock import ImageRef, Lock, parse_lock, render_lock
from envtrack.snapshot.report import drift_notes

HEADER = '{"envtrack_lock": 1, "image": {"ref": "x", "id": ""}, "base": {"ref": "", "id": ""}, "envd": {"file": "", "sha256": ""}}'
PACKAGES = (
    Package("pip", "six", "1.16.0", "/usr/lib/python3/dist-packages", True),
    Package("apt", "jq", "1.6-2.1", "/", True, arch="amd64"),
    Package("conda", "numpy", "1.26.0", "/opt/conda", True, source="conda-forge", build="py311_0"),
    Package("apt", "libjq1", "1.6-2.1", "/", False, arch="amd64"),
    Package("pip", "ünïcode-pkg", "1.0", "/usr/lib/python3/dist-packages", False, source="https://example.org/u.whl"),
)


def _lock(packages=PACKAGES) -> Lock:
    return Lock(tuple(packages), image=ImageRef("envtrack/demo:latest", "sha256:" + "a" * 64),
                base=ImageRef("envtrack/base:bookworm", "sha256:" + "b" * 64),
                envd_file="build.envd", envd_sha256="c" * 64)


def test_same_environment_gives_identical_bytes_whatever_the_order():
    first = render_lock(_lock())
    second = render_lock(_lock(reversed(PACKAGES)))
    assert first == second
    assert render_lock(parse_lock(first, "envtrack.lock")) == first


def test_lock_is_one_package_per_line_sorted_by_manager_env_name():
    lines = render_lock(_lock()).splitlines()
    assert lines[0].startswith('{"envtrack_lock": 1')
    names = [line.split('"name": "')[1].split('"')[0] for line in lines[1:]]
    assert names == ["jq", "libjq1", "numpy", "six", "ünïcode-pkg"]
    assert '"arch": "amd64"' in lines[1] and '"source"' not in lines[1]  # empty fields left out


def test_round_trip_keeps_every_field():
    parsed = parse_lock(render_lock(_lock()), "envtrack.lock")
    assert parsed == _lock(sorted(PACKAGES, key=lambda p: p.key))
    assert parsed.envd_sha256 == "c" * 64 and parsed.base.ref == "envtrack/base:bookworm"


@pytest.mark.parametrize(
    "text, where, words",
    [
        ("", "1:1", "empty lock file"),
        ('{"manager": "apt"}\n', "1:1", "not an envtrack lock"),
        ('{"envtrack_lock": 7}\n', "1:1", "unsupported lock version 7"),
        (HEADER + '\n{"manager": "apt", "env": "/", "name": "jq", "version": "1.6" "requested": true}\n',
         "2:63", "invalid JSON"),
        (HEADER + '\n{"manager": "apt", "env": "/", "name": "jq", "requested": true}\n',
         "2:1", "missing 'version'"),
        (HEADER + '\n\n{"manager": "yum", "env": "/", "name": "jq", "version": "1"}\n',
         "3:2", "unknown manager 'yum'"),
        (HEADER + '\n{"manager": "apt", "env": "/", "name": "jq", "version": 1.6}\n',
         "2:46", "'version' must be a string"),
        (HEADER + '\n{"manager": "apt", "env": "/", "name": "jq", "version": "1", "requested": "yes"}\n',
         "2:62", "'requested' must be true or false"),
        (HEADER + '\n{"manager": "apt", "env": "/", "name": "jq", "version": "1"}'
                  '\n{"manager": "apt", "env": "/", "name": "jq", "version": "2"}\n',
         "3:1", "duplicate apt package 'jq' in / (first on line 2)"),
        (HEADER + '\n[1, 2]\n', "2:1", "expected a JSON object"),
    ],
)
def test_malformed_lock_names_file_line_and_column(text, where, words):
    with pytest.raises(LocatedError) as caught:
        parse_lock(text, "team/envtrack.lock")
    assert str(caught.value).startswith(f"team/envtrack.lock:{where}: "), str(caught.value)
    assert words in str(caught.value)
    assert caught.value.exit_code == 2


def test_drift_notes_separate_a_stale_lock_from_a_rebuilt_image():
    locked = _lock()
    rebuilt = Lock(locked.packages, image=ImageRef("envtrack/demo:latest", "sha256:" + "d" * 64),
                   base=locked.base, envd_file="build.envd", envd_sha256=locked.envd_sha256)
    stale, info = drift_notes(locked, rebuilt)
    assert stale == [] and info and "aaaaaaaaaaaa -> dddddddddddd" in info[0]
    edited = Lock(locked.packages, image=locked.image, base=ImageRef("envtrack/base:bookworm", "sha256:" + "e" * 64),
                  envd_file="build.envd", envd_sha256="f" * 64)
    stale, _ = drift_notes(locked, edited)
    assert len(stale) == 2 and "build.envd changed since the lock" in stale[1]


def test_credentials_in_source_urls_never_reach_the_lock():
    leaky = Package("pip", "private", "1.0", "/usr/lib/python3/dist-packages", True,
                    source="git+https://alice:s3cret@git.example.org/team/private.git@abc123")
    text = render_lock(_lock([leaky]))
    assert "s3cret" not in text
    assert "git.example.org/team/private.git@abc123" in text


def test_everything_rendered_parses_back_even_odd_records():
    odd = (Package("pip", "broken-dist", "", "/usr/lib/python3/dist-packages", False),
           Package("apt", "tab\tname", "1:2.0~rc1", "/", True, arch="all"))
    lock = _lock(odd)
    assert parse_lock(render_lock(lock), "envtrack.lock").packages == tuple(sorted(odd, key=lambda p: p.key))
