"""The agent's loop: baseline, reconcile what happened while it was down, then watch.

Events from inotify (envtrack.agent.inotify) only mark the inventory dirty; after a quiet spell the
agent re-reads every installer's records and journals the differences, so it never has to
understand a half-written file or an installer's order of operations.
"""

from __future__ import annotations

import argparse
import fcntl
import glob
import json
import os
import re
import socket
import struct
import sys
import threading
import time
from typing import List, Optional, Set

from envtrack.agent.batch import inventory_changes, journal_rows, journal_view, read_apt_entry
from envtrack.agent.layout import (AGENT_LOG, HEARTBEAT_SECONDS, JOURNAL_FILE, LOCK_PATH, STATE_FILE_MODE, STATE_MOUNT,
                                   STATUS_FILE)
from envtrack.agent.inotify import Inotify
from envtrack.agent.installers import Installers, apt_running
from envtrack.journal import db as journal
from envtrack.records import (Package, find_conda_prefixes, find_site_dirs,
                              incomplete_dist_infos, inventory)

QUIET_SECONDS = 0.2      # installers write in bursts: wait for this much silence
MAX_DELAY_SECONDS = 2.0  # ... but record a long-running install at least this often
DPKG_RETRY_SECONDS = 0.25
POLL_SECONDS = 2.0       # without inotify: how often to rescan anyway
DPKG_LOCK = "/var/lib/dpkg/lock"

# Record files whose change means a package changed; anything else in their dirs is noise.
_RECORD_FILES = {"/var/lib/dpkg": {"status"}, "/var/lib/apt": {"extended_states"},
                 "/var/log/apt": {"history.log"}}
# Where new venvs, user sites and conda prefixes appear: only new/removed directories count.
# Every user's ~/.local under /home (a dev environment's user) is one too (_user_locals).
_HOMES = ("/opt", "/root", "/root/.local", "/home", "/workspace")


def _is_user_local(path: str) -> bool:
    parts = path.split("/")
    return len(parts) == 4 and parts[1] == "home" and parts[3] == ".local"


_PIPX_DIR = re.compile(r"^(?:(?:/root|/home/[^/]+)/\.local(?:/share(?:/pipx(?:/venvs)?)?|/pipx(?:/venvs)?)"
                       r"|/opt/pipx(?:/venvs)?)$")


def _pipx_dirs(root: str) -> List[str]:
    """Where a new pipx app's venv appears (PIPX_HOME/venvs) and the folders above it up to ~/.local."""
    found = []
    for pattern in ("/root/.local/share", "/home/*/.local/share", "/root/.local/share/pipx", "/home/*/.local/share/pipx",
                    "/root/.local/pipx", "/home/*/.local/pipx", "/opt/pipx"):
        for path in glob.glob(os.path.join(root, pattern.lstrip("/"))):
            found += [_container_path(root, path)]
            if os.path.isdir(os.path.join(path, "venvs")):
                found.append(_container_path(root, path) + "/venvs")
    return sorted(set(found))


def _user_locals(root: str) -> List[str]:
    """/home/USER/.local of every user that has one: where `pip install --user` makes a site."""
    return [_container_path(root, p) for p in sorted(glob.glob(os.path.join(root, "home", "*", ".local")))]


class Dirty:
    """Set by watcher threads, waited on by the main loop (no polling)."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.first = 0.0
        self.last = 0.0

    def mark(self) -> None:
        now = time.monotonic()
        if not self._event.is_set():
            self.first = now
        self.last = now
        self._event.set()

    def wait(self, timeout: float) -> bool:
        return self._event.wait(timeout)

    def clear(self) -> None:
        self._event.clear()


def wants_event(watched: str, name: str, is_dir: bool) -> bool:
    """Whether an event in directory WATCHED (about entry NAME; "" = WATCHED itself) may mean a package changed."""
    if watched in _HOMES or _is_user_local(watched) or _PIPX_DIR.match(watched):
        return is_dir or name == ""
    names = _RECORD_FILES.get(watched)
    return names is None or name in names


class Watcher:
    """inotify watches (non-recursive) on every directory holding installer records.

    Recursion is explicit: `wanted` lists each directory whose entries are records (site
    directories, dist-infos being written, conda-meta), refreshed after every rescan.
    Without inotify (a kernel or C library lacking it) the agent rescans every POLL_SECONDS.
    """

    def __init__(self, root: str, dirty: Dirty, installers: Optional[Installers] = None) -> None:
        self.root = root
        self.dirty = dirty
        self.installers = installers
        self.scan_only: Set[str] = set()   # venv roots: uv takes its lock there before resolving
        self.inotify = None  # type: Optional[Inotify]
        try:
            self.inotify = Inotify(self._event)
        except (OSError, AttributeError) as error:
            log("inotify unavailable (%s): rescanning every %.0f s" % (error, POLL_SECONDS))
            self._poller = threading.Thread(target=self._poll, daemon=True)
            self._poller.start()

    def _event(self, path: Optional[str], name: str, is_dir: bool) -> None:
        if self.installers is not None:
            # Any write where records live means an installer may be at work: read its command
            # line now, while it runs (uv can be gone a few milliseconds after its last write).
            self.installers.scan()
        if path is not None and _container_path(self.root, path) in self.scan_only:
            return
        if path is None or wants_event(_container_path(self.root, path), name, is_dir):
            self.dirty.mark()

    def _poll(self) -> None:
        while True:
            time.sleep(POLL_SECONDS)
            self.dirty.mark()

    def wanted(self) -> Set[str]:
        inside = [p for p in list(_RECORD_FILES) + list(_HOMES)] + _user_locals(self.root) + _pipx_dirs(self.root)
        sites = find_site_dirs(self.root)
        inside += [_container_path(self.root, d) for d in sites]
        # A dist-info being written (pip byte-compiles before writing RECORD) changes only
        # inside itself: watch it until RECORD lands, so its completion wakes the agent.
        inside += [_container_path(self.root, e) for d in sites for e in incomplete_dist_infos(d)]
        inside += [_container_path(self.root, p) + "/conda-meta" for p in find_conda_prefixes(self.root)]
        self.scan_only = {_container_path(self.root, _venv_root(d)) for d in sites if _venv_root(d)} - set(inside)
        inside += sorted(self.scan_only)
        return {p for p in inside if os.path.isdir(os.path.join(self.root, p.lstrip("/")))}

    def refresh(self) -> None:
        if self.inotify is None:
            return
        wanted = {os.path.join(self.root, p.lstrip("/")).rstrip("/") or "/" for p in self.wanted()}
        watched = self.inotify.watched()
        for path in watched - wanted:
            self.inotify.remove(path)
        for path in sorted(wanted - watched):
            try:
                self.inotify.add(path)
            except OSError as error:
                log("cannot watch %s: %s" % (_container_path(self.root, path), error))

    def stop(self) -> None:
        if self.inotify is not None:
            self.inotify.stop()


def _venv_root(site_dir: str) -> str:
    """VENV for VENV/lib/pythonX.Y/site-packages holding a pyvenv.cfg, else ""."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(site_dir)))
    return root if os.path.isfile(os.path.join(root, "pyvenv.cfg")) else ""


def dpkg_busy(root: str) -> bool:
    """Whether dpkg holds its lock, asked with F_GETLK so the agent never takes the lock."""
    try:
        fd = os.open(os.path.join(root, DPKG_LOCK.lstrip("/")), os.O_RDONLY)
    except OSError:
        return False
    try:
        query = struct.pack("hhqqi4x", fcntl.F_WRLCK, 0, 0, 0, 0)
        answer = fcntl.fcntl(fd, fcntl.F_GETLK, query)
        return struct.unpack("hhqqi4x", answer)[0] != fcntl.F_UNLCK
    except OSError:
        return False
    finally:
        os.close(fd)


def _container_path(root: str, path: str) -> str:
    rel = os.path.relpath(path, root)
    return "/" if rel == "." else "/" + rel


def log(message: str) -> None:
    try:
        sys.stderr.write("%s envtrack-agent: %s\n" % (journal.utc_now(), message))
        sys.stderr.flush()
    except OSError:
        pass   # agent.log on a full disk: the status file (or the host) says why recording stopped


class Agent:
    def __init__(self, state_dir: str, root: str = "/", container: Optional[str] = None,
                 recorder: str = "agent") -> None:
        self.state_dir = state_dir
        self.root = root
        self.db = journal.open_journal(os.path.join(state_dir, JOURNAL_FILE))
        self.container = container or socket.gethostname()   # the environment's hostname
        self.recorder = recorder   # "agent" live, or "host": reconciles from copied records only
        self.started = journal.utc_now()
        self.last: List[Package] = []
        # Command lines belong to the processes of the environment being watched: its own root, or
        # the companion's view of it (/proc/1/root, same PID namespace); never a copied tree's.
        self.installers = Installers(enabled=root == "/" or root.startswith("/proc/"))
        self.failure: Optional[str] = None   # why the last rescan recorded nothing (a full disk)

    def start(self) -> int:
        """Baseline for a new container, else reconcile with the last recorded inventory."""
        live = inventory(self.root)
        now = journal.utc_now()
        journal.set_recorder(self.db, self.recorder)
        if self._new_container():
            journal.take_baseline(self.db, live, self.container, now)
            self.last = live
            log("baseline of %d packages for container %s" % (len(live), self.container))
            return 0
        previous = journal.read_packages(self.db, "inventory")
        changes = inventory_changes(previous, live)
        rows = journal_rows(changes, root=self.root, time=now, reconciled=True, apt_entry=read_apt_entry(self.root))
        journal.record_batch(self.db, rows, live, time=now)
        self.last = live
        log("reconciled %d changes made while the agent was down" % len(rows))
        return len(rows)

    def _new_container(self) -> bool:
        return journal.get_meta(self.db, "container") != self.container or not journal.has_baseline(self.db)

    def rescan(self) -> bool:
        """Journal what changed since the last scan; False when dpkg or an apt front-end is mid-run
        and apt's records may still change without a write the watches hear (retry later)."""
        live = inventory(self.root)
        if dpkg_busy(self.root):
            # Half-unpacked packages would look removed: keep apt as it was until dpkg is done.
            live = sorted([p for p in live if p.manager != "apt"] + [p for p in self.last if p.manager == "apt"],
                          key=lambda p: p.key)
            self._record(live)
            return False
        return self._record(live)

    def _record(self, live: List[Package]) -> bool:
        """Journal LIVE's differences from the journal's view; False while an apt front-end runs and
        apt's records disagree with what the journal says (they are compared again after it exits)."""
        if live == self.last:
            return True
        runs = self.installers.take()
        apt_busy = apt_running(runs)
        changes = inventory_changes(self.last, live)
        if apt_busy:   # its records may lag it: the command line and history hold until it exits
            changes = [c for c in changes if not (c.manager == "apt" and c.action == "mark")]
        now = journal.utc_now()
        rows = journal_rows(changes, root=self.root, time=now, reconciled=False, apt_entry=read_apt_entry(self.root),
                            runs=runs)
        view = journal_view(live, self.last, rows, hold_apt=apt_busy)
        if rows or view != self.last:
            journal.record_batch(self.db, rows, view, time=now)
        self.last = view
        for row in rows:
            log("%s %s %s %s -> %s" % (row.manager, row.action, row.name, row.old_version, row.new_version))
        return view == live or not apt_busy

    def _recorded(self, failure: Optional[str]) -> None:
        """Remember whether recording works; a change is said in the status file at once."""
        if failure != self.failure:
            self.failure = failure
            self.heartbeat()

    def heartbeat(self) -> None:
        status = {"pid": os.getpid(), "container": self.container, "started": self.started,
                  "heartbeat": journal.utc_now(), "heartbeat_seconds": HEARTBEAT_SECONDS,
                  # the same moment as seconds: the host ages it without loading datetime (`exec`)
                  "heartbeat_unix": round(time.time(), 3)}
        if self.failure:
            status["recording_failure"] = self.failure
        path = os.path.join(self.state_dir, STATUS_FILE)
        tmp = path + ".tmp"
        try:
            with open(tmp, "w") as handle:
                json.dump(status, handle)
            os.replace(tmp, path)
        except OSError as error:   # a full disk: the heartbeat goes stale, and the host says why
            log("cannot write %s: %s" % (path, error))
            return
        hand_over(self.state_dir)

    def loop(self) -> None:
        dirty = Dirty()
        watcher = Watcher(self.root, dirty, self.installers)
        watcher.refresh()
        self.rescan()  # anything that changed between start() and the watches going up
        next_beat = 0.0
        try:
            while True:
                now = time.monotonic()
                if now >= next_beat:
                    self.heartbeat()
                    next_beat = now + HEARTBEAT_SECONDS
                if not dirty.wait(max(0.0, next_beat - time.monotonic())):
                    continue
                while True:  # debounce: quiet spell, or the burst has gone on long enough
                    now = time.monotonic()
                    quiet_left = dirty.last + QUIET_SECONDS - now
                    if quiet_left <= 0 or now - dirty.first >= MAX_DELAY_SECONDS:
                        break
                    time.sleep(quiet_left)
                dirty.clear()
                try:
                    # Watch new venvs, user sites and conda prefixes before reading them, so a
                    # record written between the read and the new watch is not missed.
                    watcher.refresh()
                    if not self.rescan():
                        time.sleep(DPKG_RETRY_SECONDS)
                        dirty.mark()
                    self._recorded(None)
                except Exception as error:  # noqa: BLE001 - keep watching; the next rescan retries
                    log("rescan failed: %r" % (error,))
                    self._recorded(str(error))
                    dirty.mark()   # what was not recorded is recorded once it can be
                    time.sleep(HEARTBEAT_SECONDS if _is_full(error) else DPKG_RETRY_SECONDS)
        finally:
            watcher.stop()


def _is_full(error: Exception) -> bool:
    return "full" in str(error) or getattr(error, "errno", None) == 28   # SQLITE_FULL, ENOSPC


STATE_FILES = (JOURNAL_FILE, JOURNAL_FILE + "-wal", JOURNAL_FILE + "-shm", STATUS_FILE, AGENT_LOG)


def hand_over(state_dir: str) -> None:
    """Give the files the agent (root in the container) created to the state dir's owner, 0600.

    A host user who is not root must be able to read the journal (WAL readers write the
    -shm file) and to add sync's bookmark to it; nobody else may read it.
    """
    try:
        owner = os.stat(state_dir)
    except OSError:
        return
    for name in STATE_FILES:
        path = os.path.join(state_dir, name)
        try:
            found = os.stat(path)
            if (found.st_uid, found.st_gid) != (owner.st_uid, owner.st_gid):
                os.chown(path, owner.st_uid, owner.st_gid)
            if found.st_mode & 0o777 != STATE_FILE_MODE:
                os.chmod(path, STATE_FILE_MODE)
        except OSError:
            continue  # absent, or not ours to change (rootless engines map ids themselves)


def _single_instance() -> bool:
    """Hold a lock for the agent's lifetime, so `envtrack up` can start it unconditionally."""
    handle = open(LOCK_PATH, "w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    globals()["_lock_handle"] = handle  # keep it open (and locked) until exit
    return True


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="envtrack-agent")
    parser.add_argument("--state", default=STATE_MOUNT, help="host-mounted state directory")
    parser.add_argument("--root", default="/", help="filesystem root to watch")
    parser.add_argument("--once", action="store_true", help="baseline/reconcile, then exit")
    args = parser.parse_args(argv)
    if not _single_instance():
        log("already running")
        return 0
    try:
        agent = Agent(args.state, args.root)
    except journal.JournalError as error:   # one line in agent.log, which `envtrack up` shows
        log(str(error))
        return 2
    agent.start()
    agent.heartbeat()
    if not args.once:
        agent.loop()
    return 0
