"""sync writes only a file that plans and lowers to LLB (compile_plan, no Engine): issue 28."""

from __future__ import annotations

from pathlib import Path

import pytest

from envtrack.errors import EnvtrackError
from envtrack.sync.result import Added, Rewrite
from envtrack.sync.service import _validate

NOTHING = Rewrite("", ())

LOWERS = 'def build():\n    base(image="envtrack/base:bookworm")\n    install.python()\n'
# (pip without install.python() lowers now: it goes into the image's own Python)
PLANS_BUT_DOES_NOT_LOWER = 'def build():\n    base(image="envtrack/base:bookworm")\n    install.apt_packages(name=[])\n'


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_a_rewrite_that_lowers_is_accepted(tmp_path: Path) -> None:
    _validate(write(tmp_path / ".build.envd.tmp", LOWERS), "build", write(tmp_path / "build.envd", LOWERS), NOTHING)


def test_a_rewrite_that_plans_but_does_not_lower_is_refused_as_a_sync_bug(tmp_path: Path) -> None:
    old = write(tmp_path / "build.envd", LOWERS)
    with pytest.raises(EnvtrackError) as caught:
        _validate(write(tmp_path / ".build.envd.tmp", PLANS_BUT_DOES_NOT_LOWER), "build", old, NOTHING)
    message = caught.value.message
    assert message.startswith("the rewritten file would not build (build.envd:3:5: install.apt_packages: "
                              "no packages named)")
    assert ".tmp" not in message and "bug in envtrack sync" in message


def test_a_user_file_that_does_not_lower_is_named_not_blamed_on_sync(tmp_path: Path) -> None:
    old = write(tmp_path / "build.envd", 'def build():\n    config.ca_certificates(path="missing.pem")\n')
    with pytest.raises(EnvtrackError) as caught:
        _validate(write(tmp_path / ".build.envd.tmp", old.read_text() + "    install.python()\n"), "build", old, NOTHING)
    assert caught.value.exit_code == 2
    assert "missing.pem: no such file" in caught.value.message and "run sync again" in caught.value.message
    assert "bug" not in caught.value.message


def test_a_rewrite_whose_uninstall_runs_before_the_install_is_refused(tmp_path: Path) -> None:
    old = write(tmp_path / "build.envd", 'def build():\n    base(image="envtrack/base:bookworm")\n'
                                         '    install.apt_packages(name=["curl"])\n')
    new = old.read_text().replace("    install.apt", '    run(commands=["apt-get remove -y curl"])\n    install.apt')
    wrote = Rewrite(new, (), (Added("apt", "curl", command="apt-get remove -y curl"),))
    with pytest.raises(EnvtrackError) as caught:
        _validate(write(tmp_path / ".build.envd.tmp", new), "build", old, wrote)
    assert caught.value.message == (
        "sync cannot place its changes in build.envd: run('apt-get remove -y curl') would run before the install "
        "of curl at line 4; nothing written (write them by hand: apt-get remove -y curl)")
