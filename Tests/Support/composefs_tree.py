#!/usr/bin/env python3
"""Test trees for cairn's composefs and EROFS writers.

  composefs_tree.py make DIR      builds a tree with every file type, odd names, xattrs, mtimes
  composefs_tree.py compare [--hard-links] A B
                                  compares two trees entry by entry (type, mode, owner, size,
                                  mtime, device numbers, link targets, contents, xattrs; with
                                  --hard-links also which names share an inode, and link counts);
                                  prints each difference and exits 1 if there is any

Names are handled as bytes (os.fsencode), so names that are not UTF-8 survive."""
import hashlib
import os
import socket
import stat
import sys


def make(root):
    os.makedirs(root)
    os.chmod(root, 0o755)
    sizes = [0, 1, 63, 64, 65, 100, 4095, 4096, 4097, 8191, 65536, 1 << 20]
    files = []
    for number, size in enumerate(sizes):
        path = os.path.join(root, f"file-{size}")
        with open(path, "wb") as out:
            out.write(bytes((number * 7 + i * 31) % 251 for i in range(size)))
        files.append(path)
    # The same content twice (one object in the store) and a name with every awkward byte.
    with open(os.path.join(root, "copy-of-65"), "wb") as out:
        out.write(open(os.path.join(root, "file-65"), "rb").read())
    os.makedirs(os.path.join(root, b"d e=\xc3\xa9\xff".decode("utf-8", "surrogateescape")))
    odd = os.path.join(os.fsencode(root), b"d e=\xc3\xa9\xff", b"+a\ttab\\")
    with open(odd, "wb") as out:
        out.write(b"x" * 200)
    for name in ["-b", "!x", "a" * 255]:
        with open(os.path.join(root, name), "wb") as out:
            out.write(name.encode()[:70])
    big = os.path.join(root, "big")
    os.makedirs(big)
    for i in range(300):
        with open(os.path.join(big, f"entry-with-a-long-name-{i:04d}-" + "x" * (i % 40)), "wb") as out:
            out.write(str(i).encode())
    deep = os.path.join(root, "a", "b", "c", "d")
    os.makedirs(deep)
    with open(os.path.join(deep, "leaf"), "wb") as out:
        out.write(b"leaf\n")
    os.link(os.path.join(root, "file-100"), os.path.join(deep, "hard-100"))
    os.symlink("file-100", os.path.join(root, "link"))
    os.symlink("/" + "t" * 3000, os.path.join(root, "long-link"))
    os.symlink("a/b/c/d", os.path.join(root, "dir-link"))
    os.mkfifo(os.path.join(root, "fifo"))
    os.mknod(os.path.join(root, "chr"), 0o640 | stat.S_IFCHR, os.makedev(1, 3))
    os.mknod(os.path.join(root, "blk"), 0o600 | stat.S_IFBLK, os.makedev(8, 300))
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(os.path.join(root, "socket"))
    listener.close()
    os.setxattr(os.path.join(root, "file-100"), "user.one", b"1")
    os.setxattr(os.path.join(root, "file-100"), "user.binary", bytes(range(256)))
    for path in files[3:8]:
        os.setxattr(path, "user.shared", b"the same value on several files")
    os.setxattr(os.path.join(root, "a"), "user.dir", b"on a directory")
    os.setxattr(os.path.join(root, "file-1"), "trusted.overlay.sneaky", b"escaped, not obeyed")
    os.chmod(os.path.join(root, "file-4096"), 0o4755)
    os.chmod(os.path.join(root, "big"), 0o1777)
    os.chown(os.path.join(root, "file-64"), 1234, 70000)
    os.chown(os.path.join(root, "link"), 5, 6, follow_symlinks=False)
    # Most entries share one mtime; a few differ (extended inodes), one is older than the rest.
    for directory, names, leaves in os.walk(root, topdown=False):
        for name in names + leaves:
            os.utime(os.path.join(directory, name), ns=(1_700_000_000_000_000_000,) * 2, follow_symlinks=False)
    os.utime(os.path.join(root, "file-65"), ns=(1_700_000_123_456_789_000,) * 2)
    os.utime(os.path.join(root, "file-0"), ns=(1_000_000_000_000_000_001,) * 2)
    os.utime(root, ns=(1_700_000_000_000_000_000,) * 2)


def entries(root):
    root = os.fsencode(root)
    found = {}
    for directory, names, leaves in os.walk(root):
        for name in names + leaves:
            path = os.path.join(directory, name)
            found[os.path.relpath(path, root)] = path
    return found


def describe(path):
    st = os.lstat(path)
    info = {"mode": oct(st.st_mode), "uid": st.st_uid, "gid": st.st_gid, "mtime": st.st_mtime_ns}
    if not stat.S_ISDIR(st.st_mode):
        info["size"] = st.st_size
    if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        info["rdev"] = (os.major(st.st_rdev), os.minor(st.st_rdev))
    if stat.S_ISLNK(st.st_mode):
        info["target"] = os.readlink(path)
    if stat.S_ISREG(st.st_mode):
        info["sha256"] = hashlib.sha256(open(path, "rb").read()).hexdigest()
    names = sorted(n for n in os.listxattr(path, follow_symlinks=False) if not n.startswith("trusted.overlay."))
    info["xattrs"] = {n: os.getxattr(path, n, follow_symlinks=False) for n in names}
    return info


def link_groups(found):
    """Names grouped by the inode they share, and each group's link count."""
    groups = {}
    for relative, path in found.items():
        st = os.lstat(path)
        if not stat.S_ISDIR(st.st_mode):
            groups.setdefault(st.st_ino, []).append(relative)
    return {tuple(sorted(names)): os.lstat(found[names[0]]).st_nlink for names in groups.values()}


def compare(a, b, hard_links=False):
    left, right = entries(a), entries(b)
    problems = [f"only in {a}: {p!r}" for p in sorted(left.keys() - right.keys())]
    problems += [f"only in {b}: {p!r}" for p in sorted(right.keys() - left.keys())]
    for path in sorted(left.keys() & right.keys()):
        x, y = describe(left[path]), describe(right[path])
        for key in sorted(x.keys() | y.keys()):
            if x.get(key) != y.get(key):
                problems.append(f"{path!r} {key}: {x.get(key)!r} vs {y.get(key)!r}")
    if hard_links and link_groups(left) != link_groups(right):
        problems.append(f"hard links differ: {sorted(link_groups(left).items())} vs {sorted(link_groups(right).items())}")
    for problem in problems:
        print(problem)
    print(f"compared {len(left.keys() & right.keys())} entries, {len(problems)} differences")
    return 1 if problems else 0


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2])
    elif sys.argv[1] == "compare":
        arguments = [a for a in sys.argv[2:] if a != "--hard-links"]
        sys.exit(compare(arguments[0], arguments[1], hard_links="--hard-links" in sys.argv))
    else:
        sys.exit(__doc__)
