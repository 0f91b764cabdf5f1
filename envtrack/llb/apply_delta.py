"""Replay what changed from LOWER to UPPER onto OUT: the DiffOp+MergeOp fallback for old BuildKit.

Ships into build steps (a file in their root or mounted below /dev, envtrack.llb.fallback): stdlib only,
Python 3.8. BuildKit v0.8 has no MergeOp/DiffOp, so branches built on a common lower state are
layered onto another in two kinds of step (envtrack.llb.fallback). `--extract DELTA LOWER UPPER` walks one
branch against its lower state and writes what it changed, small, into DELTA; `--apply OUT
DELTA...` replays those deltas onto OUT in order. (`OUT LOWER UPPER [LOWER UPPER ...]` does
both at once, for tests and by hand.) The walk of LOWER and UPPER side by side:

1. deletes from OUT every path LOWER has and UPPER does not (a directory with its contents);
2. copies every path of UPPER that is new or differs from LOWER: another file type, mode,
   owner, symlink target, or (for files) size or modification time in nanoseconds; a file
   whose content changed while size and mtime stayed the same is not seen (BuildKit's own
   DiffOp compares the same metadata when it walks two trees);
3. sets changed directories' mode, owner and times last, deepest first.

The walk costs what the branch changed, not the image's size: a directory that is the
same inode with the same change time (ctime, which no tool can set) in LOWER and UPPER was
never written in UPPER, so nothing below it was either, and it is skipped unread. On the
Engines' overlay snapshotters a branch's untouched directories are LOWER's own inodes seen
through both mounts, and any change below a directory copies the directory up first (a new
inode, a new ctime), so exactly the changed paths are visited. Where the snapshotter copies
trees instead (every inode new), nothing matches and the walk compares everything.

Files hard-linked together in UPPER are linked in OUT too; extended attributes (file
capabilities) are copied where the filesystem allows. Unchanged paths are never touched.
"""

import os
import shutil
import stat
import sys


def untouched(lower_stat, upper_stat):
    """The same inode, never changed since LOWER: for a directory, its whole subtree."""
    return lower_stat is not None and (
        (lower_stat.st_ino, lower_stat.st_ctime_ns, lower_stat.st_mtime_ns, lower_stat.st_mode,
         lower_stat.st_uid, lower_stat.st_gid, lower_stat.st_size)
        == (upper_stat.st_ino, upper_stat.st_ctime_ns, upper_stat.st_mtime_ns, upper_stat.st_mode,
            upper_stat.st_uid, upper_stat.st_gid, upper_stat.st_size))


def changed(lower_stat, upper_stat, lower_path, upper_path):
    if lower_stat is None:
        return True
    if stat.S_IFMT(lower_stat.st_mode) != stat.S_IFMT(upper_stat.st_mode):
        return True
    if (lower_stat.st_mode, lower_stat.st_uid, lower_stat.st_gid) != (upper_stat.st_mode, upper_stat.st_uid,
                                                                      upper_stat.st_gid):
        return True
    if stat.S_ISLNK(upper_stat.st_mode):
        return os.readlink(lower_path) != os.readlink(upper_path)
    if stat.S_ISREG(upper_stat.st_mode):
        return (lower_stat.st_size, lower_stat.st_mtime_ns) != (upper_stat.st_size, upper_stat.st_mtime_ns)
    if stat.S_ISCHR(upper_stat.st_mode) or stat.S_ISBLK(upper_stat.st_mode):
        return lower_stat.st_rdev != upper_stat.st_rdev
    return False  # directories: their entries are compared one by one


def lstat_or_none(path):
    try:
        return os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


def remove(path):
    found = lstat_or_none(path)
    if found is None:
        return
    if stat.S_ISDIR(found.st_mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def entries(directory):
    """NAME -> lstat of DIRECTORY's entries; none when DIRECTORY is None."""
    if directory is None:
        return {}
    with os.scandir(directory) as found:
        return {entry.name: entry.stat(follow_symlinks=False) for entry in found}


def copy_xattrs(source, dest):
    try:
        for key in os.listxattr(source, follow_symlinks=False):
            os.setxattr(dest, key, os.getxattr(source, key, follow_symlinks=False), follow_symlinks=False)
    except OSError:
        pass  # a filesystem without xattrs, or one the build user may not set


def copy_entry(source, dest, source_stat, links):
    mode = source_stat.st_mode
    existing = lstat_or_none(dest)
    if existing is not None and not (stat.S_ISDIR(mode) and stat.S_ISDIR(existing.st_mode)):
        remove(dest)
    key = (source_stat.st_dev, source_stat.st_ino)
    if not stat.S_ISDIR(mode) and source_stat.st_nlink > 1 and key in links:
        os.link(links[key], dest)
        return
    if stat.S_ISDIR(mode):
        if existing is None or not stat.S_ISDIR(existing.st_mode):
            os.mkdir(dest)
        return  # metadata once its entries are in place
    if stat.S_ISLNK(mode):
        os.symlink(os.readlink(source), dest)
    elif stat.S_ISREG(mode):
        shutil.copyfile(source, dest, follow_symlinks=False)
    elif stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        os.mknod(dest, mode, source_stat.st_rdev)
    else:
        return  # sockets do not survive a copy
    set_metadata(source, dest, source_stat)
    if source_stat.st_nlink > 1:
        links[key] = dest


def set_metadata(source, dest, source_stat):
    os.lchown(dest, source_stat.st_uid, source_stat.st_gid)
    if not stat.S_ISLNK(source_stat.st_mode):
        os.chmod(dest, stat.S_IMODE(source_stat.st_mode))
    copy_xattrs(source, dest)
    os.utime(dest, ns=(source_stat.st_atime_ns, source_stat.st_mtime_ns), follow_symlinks=False)


class Replay:
    """One LOWER -> UPPER pair applied to OUT; DIRECTORIES collects the ones whose metadata is due."""

    def __init__(self, out):
        self.out = out
        self.links = {}
        self.directories = []

    def remove(self, dest):
        remove(dest)

    def put(self, source, dest, source_stat):
        copy_entry(source, dest, source_stat, self.links)

    def enter(self, dest):
        """DEST is about to hold changed entries (a directory OUT already has, here)."""

    def directory(self, lower, upper, out):
        """Apply the entries of UPPER's directory (LOWER's counterpart, or None: all of it is new)."""
        below, above = entries(lower), entries(upper)
        gone = below.keys() - above.keys()
        if gone:
            self.enter(out)
        for name in gone:
            self.remove(os.path.join(out, name))
        for name, upper_stat in above.items():
            lower_stat = below.get(name)
            if untouched(lower_stat, upper_stat):
                continue
            lower_path, upper_path, dest = (os.path.join(lower or "", name), os.path.join(upper, name),
                                            os.path.join(out, name))
            if changed(lower_stat, upper_stat, lower_path, upper_path):
                self.enter(out)
                self.put(upper_path, dest, upper_stat)
                if stat.S_ISDIR(upper_stat.st_mode):
                    self.directories.append((upper_path, dest, upper_stat))
            if stat.S_ISDIR(upper_stat.st_mode):
                # Below a LOWER path that is not a real directory (a file, or a symlink that
                # could point anywhere) nothing of LOWER can be compared: all of it is new.
                is_dir = lower_stat is not None and stat.S_ISDIR(lower_stat.st_mode)
                self.directory(lower_path if is_dir else None, upper_path, dest)

    def finish(self):
        for source, dest, source_stat in reversed(self.directories):
            set_metadata(source, dest, source_stat)


class Extract(Replay):
    """The same walk, written down instead of applied: DELTA/tree holds UPPER's new and changed
    entries (metadata, links and xattrs included) and DELTA/ops the steps in walk order, NUL-ended:
    `-PATH` remove, `+PATH` put, `dPATH` directory metadata (applied last, deepest first)."""

    def __init__(self, delta):
        super().__init__(os.path.join(delta, TREE))
        os.mkdir(self.out)
        self.ops = open(os.path.join(delta, OPS), "wb")

    def relative(self, dest):
        return os.fsencode(os.path.relpath(dest, self.out))

    def enter(self, dest):
        if not os.path.isdir(dest):
            os.makedirs(dest)

    def remove(self, dest):
        self.ops.write(b"-" + self.relative(dest) + b"\0")

    def put(self, source, dest, source_stat):
        copy_entry(source, dest, source_stat, self.links)
        self.ops.write(b"+" + self.relative(dest) + b"\0")

    def finish(self):
        super().finish()
        for _, dest, _ in self.directories:
            self.ops.write(b"d" + self.relative(dest) + b"\0")
        self.ops.close()


def apply(delta, out):
    """Replay one extracted DELTA onto OUT: what Replay would have done with its LOWER and UPPER."""
    tree = os.path.join(delta, TREE)
    links, directories = {}, []
    with open(os.path.join(delta, OPS), "rb") as ops:
        records = ops.read().split(b"\0")[:-1]
    for record in records:
        kind, path = record[:1], os.fsdecode(record[1:])
        source, dest = os.path.join(tree, path), os.path.join(out, path)
        if kind == b"-":
            remove(dest)
        elif kind == b"+":
            copy_entry(source, dest, os.lstat(source), links)
        else:
            directories.append((source, dest))
    for source, dest in reversed(directories):
        set_metadata(source, dest, os.lstat(source))


TREE, OPS = "tree", "ops"
USAGE = ("usage: apply_delta OUT LOWER UPPER [LOWER UPPER ...]\n"
         "       apply_delta --extract DELTA LOWER UPPER\n"
         "       apply_delta --apply OUT DELTA [DELTA ...]\n")


def main(argv):
    if argv[1:2] == ["--extract"] and len(argv) == 5:
        delta, lower, upper = argv[2:]
        extract = Extract(delta)
        extract.directory(lower, upper, extract.out)
        extract.finish()
        return 0
    if argv[1:2] == ["--apply"] and len(argv) > 3:
        for delta in argv[3:]:
            apply(delta, argv[2])
        return 0
    out, pairs = argv[1], argv[2:]
    if argv[1].startswith("--") or not pairs or len(pairs) % 2:
        sys.stderr.write(USAGE)
        return 2
    for lower, upper in zip(pairs[::2], pairs[1::2]):
        replay = Replay(out)
        replay.directory(lower, upper, out)
        replay.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
