"""`envtrack sync` on a project directory with a journal in a temp SQLite database."""

from __future__ import annotations

import json
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from envtrack.errors import EnvtrackError
from envtrack.journal import db as journal_db
from envtrack.journal.row import Change
from envtrack.sync.files import replace_validated
from envtrack.sync.journal import last_synced_id, mark_synced
from conftest import ROOT, run_cli

SITE = "/usr/local/lib/python3.11/dist-packages"


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    shutil.copyfile(ROOT / "examples" / "quickstart" / "build.envd", tmp_path / "build.envd")
    (tmp_path / ".envtrack").mkdir()
    with closing(journal_db.open_journal(tmp_path / ".envtrack" / "journal.db")):
        pass   # an empty journal, as the agent makes it
    return tmp_path


def record(project: Path, *rows: tuple) -> None:
    """Append (manager, action, name, old, new, requested) rows to the journal."""
    with closing(journal_db.open_journal(project / ".envtrack" / "journal.db")) as db:
        journal_db.record_batch(db, [
            Change(time="2026-11-29T01:00:00.000Z", manager=manager, env="/" if manager == "apt" else SITE,
                   action=action, name=name, old_version=old, new_version=new, requested=bool(requested))
            for manager, action, name, old, new, requested in rows])


def test_dry_run_prints_a_diff_and_changes_nothing(project: Path) -> None:
    record(project, ("pip", "install", "tomli", None, "2.0.1", 1))
    before = (project / "build.envd").read_bytes()

    first = run_cli("sync", str(project), "--dry-run", check=True)
    second = run_cli("sync", str(project), "--dry-run", check=True)

    assert '+    install.python_packages(name=["tomli==2.0.1"])' in first.stdout
    assert first.stdout.startswith("--- a/build.envd\n+++ b/build.envd\n")
    assert second.stdout == first.stdout          # the bookmark did not move
    assert (project / "build.envd").read_bytes() == before
    assert not (project / ".envtrack" / "backups").exists()


def test_sync_writes_backs_up_and_a_second_sync_is_a_no_op(project: Path) -> None:
    record(project, ("pip", "install", "tomli", None, "2.0.1", 1), ("pip", "install", "idna", None, "3.6", 0),
           ("apt", "remove", "jq", "1.6-2.1", None, 1))
    before = (project / "build.envd").read_text()

    run_cli("sync", str(project), check=True)
    after = (project / "build.envd").read_text()
    second = run_cli("sync", str(project), check=True)

    assert 'install.apt_packages(name=["jq"])' not in after
    assert after.endswith('    install.python_packages(name=["tomli==2.0.1"])\n')
    assert "idna" not in after
    (backup,) = (project / ".envtrack" / "backups").iterdir()
    assert backup.name.startswith("build.envd.") and backup.read_text() == before
    assert "up to date" in second.stdout
    assert (project / "build.envd").read_text() == after


def test_only_changes_after_the_last_sync_are_written(project: Path) -> None:
    record(project, ("pip", "install", "tomli", None, "2.0.1", 1))
    run_cli("sync", str(project), check=True)
    record(project, ("pip", "upgrade", "tomli", "2.0.1", "2.0.2", 1))

    report = json.loads(run_cli("sync", str(project), "--json", check=True).stdout)

    assert report["written"] and report["journal"] == {"since_id": 1, "up_to_id": 2, "rows": 1}
    assert report["edits"] == ["line 10: tomli==2.0.1 -> tomli==2.0.2"]
    assert (project / "build.envd").read_text().endswith('install.python_packages(name=["tomli==2.0.2"])\n')


def test_json_report_of_a_dry_run(project: Path) -> None:
    record(project, ("pip", "install", "mine", None, "0.1", 1))
    with sqlite3.connect(project / ".envtrack" / "journal.db") as db:
        db.execute("""UPDATE changes SET source = 'file:///src/mine', detail = '{"editable": true}'""")

    report = json.loads(run_cli("sync", str(project), "--dry-run", "--json", check=True).stdout)

    assert report["changed"] is False and report["written"] is False
    assert report["warnings"] == ["pip mine 0.1: not written: editable install of /src/mine, outside the project "
                                  "directory /workspace; move it into the project (or publish it to a package "
                                  "index) and install it from there"]


def test_no_journal_yet_is_up_to_date(tmp_path: Path) -> None:
    shutil.copyfile(ROOT / "examples" / "quickstart" / "build.envd", tmp_path / "build.envd")
    result = run_cli("sync", str(tmp_path), check=True)
    assert "up to date" in result.stdout


def test_bad_pin_mode_is_bad_input(project: Path) -> None:
    result = run_cli("sync", str(project), "--pin", "loose")
    assert result.returncode == 2
    assert result.stderr.strip().startswith("envtrack: --pin must be one of exact, compatible, none")


def test_bookmark_is_per_envd_file(project: Path) -> None:
    journal = project / ".envtrack" / "journal.db"
    record(project, *[("pip", "install", f"p{i}", None, "1", 1) for i in range(7)])
    mark_synced(journal, project / "a.envd", 5, "2026-11-29T01:00:00.000Z")
    mark_synced(journal, project / "a.envd", 7, "2026-11-29T01:00:00.000Z")
    assert last_synced_id(journal, project / "a.envd") == 7
    assert last_synced_id(journal, project / "b.envd") == 0


def test_a_journal_that_started_over_is_read_from_the_start(project: Path) -> None:
    journal = project / ".envtrack" / "journal.db"
    record(project, ("pip", "install", "tomli", None, "2.0.1", 1), ("pip", "install", "attrs", None, "23.1.0", 1))
    run_cli("sync", str(project), check=True)
    with sqlite3.connect(journal) as db:   # a new journal whose ids restart at 1
        db.execute("DELETE FROM changes")
        db.execute("UPDATE sync_state SET last_change_time = '2026-11-29T01:00:00.000Z'")
    record(project, ("apt", "install", "htop", None, "3.2.2-2", 1))
    with sqlite3.connect(journal) as db:
        db.execute("UPDATE changes SET time = '2026-11-30T09:00:00.000Z'")

    assert last_synced_id(journal, (project / "build.envd").resolve()) == 0
    run_cli("sync", str(project), check=True)
    assert 'install.apt_packages(name=["htop=3.2.2-2"])' in (project / "build.envd").read_text()


def test_a_rejected_rewrite_leaves_the_file_untouched(tmp_path: Path) -> None:
    envd = tmp_path / "build.envd"
    envd.write_text("def build():\n    pass\n")

    def reject(temp: Path) -> None:
        raise EnvtrackError("bad")

    with pytest.raises(EnvtrackError):
        replace_validated(envd, "def build():\n    pass\n", "garbage(", reject)
    assert envd.read_text() == "def build():\n    pass\n"
    assert [p.name for p in tmp_path.iterdir()] == ["build.envd"]


def test_a_file_edited_during_sync_is_not_overwritten(tmp_path: Path) -> None:
    envd = tmp_path / "build.envd"
    envd.write_text("def build():\n    pass  # edited by the user\n")
    with pytest.raises(EnvtrackError, match="changed while sync was running"):
        replace_validated(envd, "def build():\n    pass\n", "def build():\n    pass\n", lambda temp: None)
    assert envd.read_text().endswith("# edited by the user\n")


def _sync_on_a_terminal(project: Path, answer: str) -> str:
    """Run `envtrack sync` with a pseudo-terminal on stdin/stdout, type ANSWER at the prompt."""
    import os
    import pty
    import subprocess
    import sys

    controller, terminal = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "envtrack", "sync", str(project)],
                            stdin=terminal, stdout=terminal, stderr=terminal, close_fds=True)
    os.close(terminal)
    output = b""
    answered = False
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:   # the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
        if not answered and b"[y/N]" in output:
            os.write(controller, answer.encode() + b"\n")
            answered = True
    proc.wait(timeout=60)
    os.close(controller)
    return output.decode(errors="replace")


@pytest.mark.parametrize(("answer", "written"), [("n", False), ("y", True)])
def test_on_a_terminal_sync_shows_the_diff_and_asks(project: Path, answer: str, written: bool) -> None:
    record(project, ("pip", "install", "tomli", None, "2.0.1", 1))
    before = (project / "build.envd").read_text()

    output = _sync_on_a_terminal(project, answer)

    assert '+    install.python_packages(name=["tomli==2.0.1"])' in output
    assert "Write these changes to build.envd?" in output
    assert ((project / "build.envd").read_text() != before) is written
