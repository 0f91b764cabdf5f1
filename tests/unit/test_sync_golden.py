"""Golden before/after files for the rewrite: tests/golden/sync/<case>/.

Each case holds before.envd (plus any .envd files it loads), journal.json (journal rows; omitted columns take the
journal's defaults), optional options.json ({"pin": ..., "target": ..., "into": ...}), and the
expected after.envd and notes.txt. ENVTRACK_UPDATE_GOLDEN=1 rewrites the expected
files (review the diff before committing them).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from envtrack.frontend import load_plan
from envtrack.journal.row import Change
from envtrack.sync.changes import fold_changes
from envtrack.sync.rewrite import rewrite_source

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "sync"
CASES = sorted(p.name for p in GOLDEN.iterdir() if (p / "before.envd").is_file())
UPDATE = os.environ.get("ENVTRACK_UPDATE_GOLDEN") == "1"


EXPECTED = {"before.envd", "after.envd", "journal.json", "options.json", "notes.txt"}


def copy_inputs(case: Path, directory: Path) -> None:
    """The files build.envd reads (loaded .envd files, requirements, project packages) beside it."""
    for extra in case.iterdir():
        if extra.is_dir():
            shutil.copytree(extra, directory / extra.name)
        elif extra.name not in EXPECTED:
            shutil.copyfile(extra, directory / extra.name)


def journal_rows(case: Path) -> list[Change]:
    """journal.json's rows as the table holds them, read the way the journal reads its own."""
    defaults = {"time": "2026-11-29T01:00:00.000Z", "old_version": None, "new_version": None, "source": "",
                "arch": "", "build": "", "reconciled": 0, "detail": ""}
    rows = []
    for row in json.loads((case / "journal.json").read_text()):
        env = "/" if row["manager"] == "apt" else "/usr/local/lib/python3.11/dist-packages"
        rows.append(Change.from_sql({**defaults, "env": env, **row}))
    return rows


def sync_text(envd: Path, rows: list[Change], options: dict):
    text = envd.read_bytes().decode()
    target = options.get("target", "build")
    plan = load_plan(envd, target=target)
    return rewrite_source(text, plan, fold_changes(rows), envd_file=envd, pin=options.get("pin", "exact"), target=target,
                          into=options.get("into"))


def render_notes(notes) -> str:
    return "".join(f"{n.level}: {n.message}\n" for n in notes)


@pytest.mark.parametrize("name", CASES)
def test_golden(name: str, tmp_path: Path) -> None:
    case = GOLDEN / name
    options = json.loads((case / "options.json").read_text()) if (case / "options.json").exists() else {}
    envd = tmp_path / "build.envd"
    shutil.copyfile(case / "before.envd", envd)
    copy_inputs(case, tmp_path)
    rows = journal_rows(case)

    result = sync_text(envd, rows, options)

    if UPDATE:
        (case / "after.envd").write_bytes(result.text.encode())
        (case / "notes.txt").write_text(render_notes(result.notes))
    assert result.text == (case / "after.envd").read_bytes().decode()
    assert render_notes(result.notes) == (case / "notes.txt").read_text()

    # The result is valid envd, and syncing the same changes into it again changes nothing.
    envd.write_bytes(result.text.encode())
    again = sync_text(envd, rows, options)
    assert again.text == result.text
    assert not again.changed
