"""The agent journals a flipped requested flag as its own `mark` row (fake root, no container)."""

from __future__ import annotations

from pathlib import Path

from envtrack.agent import run
from envtrack.journal.db import open_journal, read_changes

SITE = "usr/lib/python3/dist-packages"


def dist(root: Path, name: str, version: str, *, installer: str, requested: bool = False,
         requires: tuple[str, ...] = ()) -> None:
    info = root / SITE / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n" + "".join(f"Requires-Dist: {r}\n" for r in requires)
    (info / "METADATA").write_text(meta)
    (info / "INSTALLER").write_text(installer + "\n")
    if requested:
        (info / "REQUESTED").write_text("")
    (info / "RECORD").write_text(f"{info.name}/INSTALLER,,\n{info.name}/RECORD,,\n")


def marks(state: Path) -> list[tuple]:
    return [(r.action, r.name, r.new_version, r.requested)
            for r in read_changes(open_journal(state / "journal.db"))]


def test_a_flag_that_flips_in_a_live_rescan_is_a_mark_row(tmp_path: Path) -> None:
    root, state = tmp_path / "root", tmp_path / "state"
    (root / SITE).mkdir(parents=True)
    dist(root, "mpmath", "1.3.0", installer="conda")          # top-level, so taken as requested
    agent = run.Agent(str(state), str(root))
    agent.start()
    dist(root, "sympy", "1.13.3", installer="conda", requires=("mpmath<1.4,>=1.1.0",))
    agent.rescan()
    assert marks(state) == [("install", "sympy", "1.13.3", True), ("mark", "mpmath", "1.3.0", False)]
    agent.rescan()                                            # nothing new: nothing journaled twice
    assert len(marks(state)) == 2


def test_a_flag_that_flipped_while_the_agent_was_down_is_reconciled_as_a_mark(tmp_path: Path) -> None:
    root, state = tmp_path / "root", tmp_path / "state"
    (root / SITE).mkdir(parents=True)
    dist(root, "numpy", "2.1.0", installer="pip", requested=True)
    run.Agent(str(state), str(root)).start()
    (root / SITE / "numpy-2.1.0.dist-info" / "REQUESTED").unlink()
    assert run.Agent(str(state), str(root)).start() == 1
    assert marks(state) == [("mark", "numpy", "2.1.0", False)]
