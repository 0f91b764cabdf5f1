"""Linux inotify through ctypes: the agent's only way to hear the filesystem (standard library only).

One inotify instance, non-recursive watches on chosen directories, and a reader thread that
hands each event (watched directory, entry name, is-directory) to a callback. Only events that
end a write are asked for: every write(2) (IN_MODIFY) or read (IN_OPEN, IN_CLOSE_NOWRITE, the
agent's own reads included) would otherwise wake the agent while an installer runs.
"""

from __future__ import annotations

import ctypes
import errno
import os
import select
import struct
import threading
from typing import Callable, Dict, Optional, Set

IN_CLOSE_WRITE = 0x00000008
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ONLYDIR = 0x01000000
IN_ISDIR = 0x40000000
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC

WATCH_MASK = (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_CLOSE_WRITE
              | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)
_HEADER = struct.Struct("iIII")   # struct inotify_event: wd, mask, cookie, len; then name[len]

# (watched directory, entry name or "" for the directory itself, is a directory);
# an overflow of the kernel's queue arrives as (None, "", False): something was missed.
Callback = Callable[[Optional[str], str, bool], None]


class InotifyError(OSError):
    pass


def _libc():
    libc = ctypes.CDLL(None, use_errno=True)   # the process's own C library: glibc or musl
    for name in ("inotify_init1", "inotify_add_watch", "inotify_rm_watch"):
        getattr(libc, name)   # AttributeError when this libc has no inotify
    libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
    libc.inotify_rm_watch.argtypes = [ctypes.c_int, ctypes.c_int]
    return libc


def _fail(what: str) -> InotifyError:
    code = ctypes.get_errno()
    return InotifyError(code, "%s: %s" % (what, os.strerror(code)))


def parse_events(data: bytes):
    """Yield (wd, mask, name) for each event packed in DATA (one read of the inotify fd)."""
    offset = 0
    while offset + _HEADER.size <= len(data):
        wd, mask, _cookie, length = _HEADER.unpack_from(data, offset)
        offset += _HEADER.size
        name = data[offset:offset + length].split(b"\0", 1)[0]
        offset += length
        yield wd, mask, os.fsdecode(name)


class Inotify:
    """Watches by directory path; CALLBACK runs on the reader thread."""

    def __init__(self, callback: Callback) -> None:
        self._libc = _libc()
        self._fd = self._libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if self._fd < 0:
            raise _fail("inotify_init1")
        self._callback = callback
        self._wds: Dict[str, int] = {}          # watched path -> watch descriptor
        self._paths: Dict[int, Set[str]] = {}    # watch descriptor -> its paths
        self._lock = threading.Lock()
        self._stop_read, self._stop_write = os.pipe()
        self._thread = threading.Thread(target=self._read_loop, name="envtrack-inotify", daemon=True)
        self._thread.start()

    def add(self, path: str) -> None:
        """Watch directory PATH (two paths to one directory share the kernel's watch)."""
        wd = self._libc.inotify_add_watch(self._fd, os.fsencode(path), WATCH_MASK)
        if wd < 0:
            raise _fail("cannot watch %s" % path)
        with self._lock:
            self._wds[path] = wd
            self._paths.setdefault(wd, set()).add(path)

    def remove(self, path: str) -> None:
        with self._lock:
            wd = self._wds.pop(path, None)
            left = self._paths.get(wd, set())
            left.discard(path)
            if wd is None or left:
                return
            self._paths.pop(wd, None)
        # EINVAL: the kernel dropped the watch already (its directory went away).
        if self._libc.inotify_rm_watch(self._fd, wd) < 0 and ctypes.get_errno() != errno.EINVAL:
            raise _fail("inotify_rm_watch")

    def watched(self) -> Set[str]:
        with self._lock:
            return set(self._wds)

    def stop(self) -> None:
        os.write(self._stop_write, b"x")
        self._thread.join(5)
        for fd in (self._fd, self._stop_read, self._stop_write):
            os.close(fd)

    def _read_loop(self) -> None:
        while True:
            ready, _, _ = select.select([self._fd, self._stop_read], [], [])
            if self._stop_read in ready:
                return
            try:
                data = os.read(self._fd, 64 * 1024)
            except BlockingIOError:
                continue
            for wd, mask, name in parse_events(data):
                self._dispatch(wd, mask, name)

    def _dispatch(self, wd: int, mask: int, name: str) -> None:
        if mask & IN_Q_OVERFLOW:
            self._callback(None, "", False)
            return
        with self._lock:
            paths = sorted(self._paths.get(wd, ()))
            if mask & IN_IGNORED:   # the watch is gone (its directory was removed)
                for path in self._paths.pop(wd, ()):
                    self._wds.pop(path, None)
                return
        for path in paths:
            self._callback(path, name, bool(mask & IN_ISDIR))
