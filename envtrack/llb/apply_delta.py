"""Replay what changed from LOWER to UPPER onto OUT: the DiffOp+MergeOp fallback for old BuildKit.

Ships into a build step (run as `python3 -c SOURCE OUT LOWER UPPER [LOWER UPPER ...]`): stdlib
only, Python 3.8. BuildKit v0.8 has no MergeOp/DiffOp, so branches built on a common lower
state are layered onto another by one step that mounts each LOWER and UPPER read-only and
OUT writable, and, for each pair in order:

1. deletes from OUT every path LOWER has and UPPER does not (a directory with its contents);
2. copies every path of UPPER that is new or differs from LOWER: another file type, mode,
   owner, symlink target, or (for files) size or modification time in nanoseconds; a file
   whose content changed while size and mtime stayed the same is not seen (BuildKit's own
   DiffOp compares the same metadata when it walks two trees);
3. sets changed directories' mode, owner and times last, deepest first.

Files hard-linked together in UPPER are linked in OUT too; extended attributes (file
capabilities) are copied where the filesystem allows. Unchanged paths are never touched.
"""

import os
import shutil
import stat
import sys


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


def delete_removed(lower, upper, out):
    for root, dirs, files in os.walk(lower):
        rel = os.path.relpath(root, lower)
        kept = []
        for name in dirs + files:
            upper_stat = lstat_or_none(os.path.join(upper, rel, name))
            if upper_stat is None:
                remove(os.path.join(out, rel, name))
            elif name in dirs and stat.S_ISDIR(upper_stat.st_mode):
                kept.append(name)
        dirs[:] = [d for d in dirs if d in kept]  # a dir replaced by a file is handled by the copy


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


def copy_changed(lower, upper, out):
    links = {}
    directories = []
    in_lower = {".": True}   # directories of UPPER that are real directories in LOWER too
    for root, dirs, files in os.walk(upper):
        rel = os.path.relpath(root, upper)
        for name in dirs + files:
            source = os.path.join(root, name)
            source_stat = os.lstat(source)
            lower_path = os.path.join(lower, rel, name)
            # Below a LOWER path that is not a real directory (a file, or a symlink that
            # could point anywhere) nothing of LOWER can be compared: all of it is new.
            lower_stat = lstat_or_none(lower_path) if in_lower[rel] else None
            if name in dirs:
                in_lower[os.path.normpath(os.path.join(rel, name))] = (
                    lower_stat is not None and stat.S_ISDIR(lower_stat.st_mode))
            if changed(lower_stat, source_stat, lower_path, source):
                dest = os.path.normpath(os.path.join(out, rel, name))
                copy_entry(source, dest, source_stat, links)
                if stat.S_ISDIR(source_stat.st_mode):
                    directories.append((source, dest, source_stat))
    for source, dest, source_stat in reversed(directories):
        set_metadata(source, dest, source_stat)


def main(argv):
    out, pairs = argv[1], argv[2:]
    if not pairs or len(pairs) % 2:
        sys.stderr.write("usage: apply_delta OUT LOWER UPPER [LOWER UPPER ...]\n")
        return 2
    for lower, upper in zip(pairs[::2], pairs[1::2]):
        delete_removed(lower, upper, out)
        copy_changed(lower, upper, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
