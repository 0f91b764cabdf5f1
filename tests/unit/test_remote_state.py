"""The host side of a remote container: what `up` copies in, and the fetched journal's install."""

from __future__ import annotations

import io
import sqlite3
import tarfile
from contextlib import closing
from pathlib import Path

from envtrack.container.engine import archive
from envtrack.container.spec import Copy, container_spec, state_volume
from envtrack.container.state import _install
from envtrack.project import Project


def test_a_remote_spec_mounts_only_the_state_volume_and_copies_the_rest(tmp_path: Path) -> None:
    (tmp_path / "build.envd").write_text("def build():\n    base(image='x')\n")
    project = Project.find(tmp_path)
    remote = container_spec(project, "i:1", "sha256:1", [], bundle_dir=tmp_path / "b", host_ca="/ca.pem", remote=True)
    local = container_spec(project, "i:1", "sha256:1", [], bundle_dir=tmp_path / "b", host_ca="/ca.pem")
    assert [m.host for m in remote.mounts] == [state_volume(project)]
    assert [c.target for c in remote.copies] == ["/workspace", "/opt/envtrack-agent", "/etc/envtrack/runtime-ca.pem"]
    assert remote.copies[0].skip == (".envtrack",)
    assert remote.environment == local.environment and not local.copies
    assert remote.fingerprint() != local.fingerprint()


def test_the_archive_holds_parents_files_and_skips_state_and_caches(tmp_path: Path) -> None:
    project = tmp_path / "p"
    (project / ".envtrack").mkdir(parents=True)
    (project / ".envtrack" / "journal.db").write_text("no")
    (project / "src" / "__pycache__").mkdir(parents=True)
    (project / "src" / "__pycache__" / "x.pyc").write_text("no")
    (project / "src" / "main.py").write_text("print(1)\n")
    (tmp_path / "ca.pem").write_text("PEM")
    data = archive((Copy(str(project), "/workspace", skip=(".envtrack",)), Copy(str(tmp_path / "ca.pem"), "/etc/e/ca.pem")))
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert sorted(members) == ["etc", "etc/e", "etc/e/ca.pem", "workspace", "workspace/src", "workspace/src/main.py"]
        assert {(m.uid, m.gid) for m in members.values()} == {(0, 0)}
        assert tar.extractfile("workspace/src/main.py").read() == b"print(1)\n"


def _journal(path: Path, rows: list[int], bookmark: int | None = None) -> None:
    """A journal as the agent writes it (through its schema's owner); ROWS are consecutive change ids from 1."""
    from envtrack.journal import db as journal_db
    from envtrack.journal.row import Change
    from envtrack.records import PackageChange

    with closing(journal_db.open_journal(path)) as db:
        assert rows == list(range(1, len(rows) + 1))
        journal_db.record_batch(db, [Change.of(
            PackageChange("pip", "/site", f"p{i}", "install", None, "1", True), time="2026-11-29T01:00:00.000Z")
            for i in rows])
        if bookmark is not None:
            journal_db.write_bookmark(db, "build.envd", bookmark, "2026-11-29T01:00:00.000Z")


def test_a_fetched_journal_replaces_the_changes_and_keeps_the_local_bookmark(tmp_path: Path) -> None:
    local = tmp_path / "state" / "journal.db"
    local.parent.mkdir()
    _journal(local, [1], bookmark=1)
    (tmp_path / "state" / "journal.db-wal").write_bytes(b"stale")   # must not survive the replace
    fetched = tmp_path / "fetched.db"
    _journal(fetched, [1, 2, 3])
    _install(fetched, local)
    with closing(sqlite3.connect(local)) as db:
        assert [r[0] for r in db.execute("SELECT id FROM changes ORDER BY id")] == [1, 2, 3]
        assert db.execute("SELECT last_change_id FROM sync_state").fetchall() == [(1,)]
    assert not any(p.name.endswith(".tmp") for p in local.parent.iterdir())


def test_log_reads_its_rows_through_one_call_and_a_bad_since_is_bad_input(tmp_path: Path, monkeypatch) -> None:
    import pytest

    from envtrack.container import state
    from envtrack.errors import EnvtrackError
    from envtrack.journal import db as journal_db
    from envtrack.journal.row import Change
    from envtrack.records import PackageChange

    (tmp_path / "build.envd").write_text("def build():\n    base(image='x')\n")
    monkeypatch.delenv("ENVTRACK_CONTEXT", raising=False)
    monkeypatch.setenv("DOCKER_HOST", "unix:///var/run/docker.sock")
    project = Project.find(tmp_path)
    assert project.engine.is_local   # the bind-mounted journal, read in place
    assert state.recorded_changes(project) == []                    # nothing recorded yet
    with closing(journal_db.open_journal(project.journal_path)) as db:
        journal_db.record_batch(db, [Change.of(PackageChange("apt", "/", name, "install", None, "1", True),
                                               time=f"2026-11-29T01:00:0{i}.000Z") for i, name in enumerate("ab")])
    assert [r.name for r in state.recorded_changes(project, "1")] == ["b"]
    assert [r.name for r in state.recorded_changes(project, "2026-11-29T01:00:00")] == ["a", "b"]
    with pytest.raises(EnvtrackError) as caught:
        state.recorded_changes(project, "yesterday")
    assert caught.value.exit_code == 2 and "--since 'yesterday'" in caught.value.message
