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


def dpkg(root: Path, *names: str, auto: tuple[str, ...] = ()) -> None:
    (root / "var/lib/dpkg").mkdir(parents=True, exist_ok=True)
    (root / "var/lib/apt").mkdir(parents=True, exist_ok=True)
    (root / "var/lib/dpkg/status").write_text("".join(
        f"Package: {n}\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1\n\n" for n in names))
    (root / "var/lib/apt/extended_states").write_text("".join(
        f"Package: {n}\nArchitecture: amd64\nAuto-Installed: 1\n\n" for n in auto))


class Seen:
    """The installer runs the agent would have read from /proc (a fake root has no processes)."""

    def __init__(self, *runs) -> None:
        self.runs = list(runs)

    def take(self):
        return self.runs


def test_apts_flags_end_as_apts_records_say_once_its_front_end_has_exited(tmp_path: Path) -> None:
    from envtrack.agent.installers import parse_command

    root, state = tmp_path / "root", tmp_path / "state"
    dpkg(root, "bash")
    agent = run.Agent(str(state), str(root))
    agent.start()
    aptitude = parse_command(["aptitude", "install", "-y", "jq"])
    agent.installers = Seen(aptitude)
    (root / "var/log/apt").mkdir(parents=True)
    (root / "var/log/apt/history.log").write_text(
        "Start-Date: x\nCommandline: aptitude install -y jq\nInstall: jq:amd64 (1), libjq1:amd64 (1, automatic),"
        " aptitude-common:amd64 (1, automatic)\n")
    # dpkg is done, extended_states not written yet: every new package reads as manual.
    dpkg(root, "bash", "jq", "libjq1", "aptitude-common")
    assert agent.rescan() is False                       # aptitude still runs and the records disagree: look again
    assert marks(state) == [("install", "aptitude-common", "1", False), ("install", "jq", "1", True),
                            ("install", "libjq1", "1", False)]
    assert agent.rescan() is False and len(marks(state)) == 3   # no flapping while it runs
    # aptitude exits having left aptitude-common manual: the journal follows apt's records.
    aptitude.running = False
    dpkg(root, "bash", "jq", "libjq1", "aptitude-common", auto=("libjq1",))
    assert agent.rescan() is True
    assert marks(state)[3:] == [("mark", "aptitude-common", "1", True)]
    # A later apt-mark, whether or not its command line was seen, is a mark row too.
    agent.installers = Seen()
    dpkg(root, "bash", "jq", "libjq1", "aptitude-common", auto=("libjq1", "jq"))
    assert agent.rescan() is True and marks(state)[4:] == [("mark", "jq", "1", False)]
    assert agent.rescan() is True and len(marks(state)) == 5
