#!/usr/bin/env python3
"""OCI images for cairn's `oci pull` tests, built with umoci (and skopeo for zstd).

  oci_image.py make LAYOUT        an OCI layout with tags v1 (one layer) and v2 (three layers:
                                  the rich tree of composefs_tree.py under /usr/share/tree, then
                                  deletions and changes, then a hand-made tar with an opaque
                                  directory, a whiteout and a hard link into an earlier layer)
  oci_image.py transform ROOTFS   applies composefs's OCI rules to an unpacked root (the oracle
                                  of the merged tree): / takes /usr's mode, owner and mtime, /run
                                  is emptied and takes /usr's mtime, every xattr but
                                  security.capability goes
  oci_image.py plain LAYOUT TAG   adds TAG-plain: image TAG with every layer uncompressed
  oci_image.py index LAYOUT       adds `multi`: an index of v2 as linux/amd64 and v1 (its config
                                  saying arm64) as linux/arm64
  oci_image.py hostile LAYOUT NAME  adds image NAME whose only layer is a hostile tar"""
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import composefs_tree  # noqa: E402


def umoci(*args):
    subprocess.run(["umoci", *args], check=True, stdout=subprocess.DEVNULL)


def write(path, data, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as out:
        out.write(data)
    os.chmod(path, mode)


def add_layer(layout, tag, base, members):
    """Adds a hand-made tar layer (a list of (TarInfo, bytes)) on top of `base` as `tag`."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for info, data in members:
            archive.addfile(info, io.BytesIO(data) if data is not None else None)
    path = os.path.join(os.path.dirname(layout), "layer.tar")
    with open(path, "wb") as out:
        out.write(buffer.getvalue())
    umoci("raw", "add-layer", "--image", f"{layout}:{base}", "--tag", tag, path)
    os.remove(path)


def entry(name, kind=tarfile.REGTYPE, data=b"", mode=0o644, link="", mtime=1700000000):
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime, info.linkname = kind, mode, mtime, link
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    return info, data if kind == tarfile.REGTYPE else None


def make(layout):
    work = os.path.dirname(os.path.abspath(layout))
    bundle = os.path.join(work, "bundle")
    umoci("init", "--layout", layout)
    umoci("new", "--image", f"{layout}:empty")
    umoci("unpack", "--image", f"{layout}:empty", bundle)
    root = os.path.join(bundle, "rootfs")
    for directory in ["usr/bin", "usr/lib", "etc", "opt/dir", "run/lock", "var/tmp"]:
        os.makedirs(os.path.join(root, directory), exist_ok=True)
    composefs_tree.make(os.path.join(root, "usr/share/tree"))
    os.remove(os.path.join(root, "usr/share/tree/socket"))  # tar holds no sockets
    write(os.path.join(root, "usr/bin/tool"), b"#!/bin/sh\necho tool version one, long enough to be stored as an object\n", 0o755)
    write(os.path.join(root, "usr/lib/big"), bytes((i * 131 + 7) % 256 for i in range(3 << 20)))
    write(os.path.join(root, "usr/lib/libgone"), b"a library the third layer whites out " * 4)
    write(os.path.join(root, "etc/a"), b"deleted in v2\n")
    write(os.path.join(root, "etc/b"), b"kept\n")
    write(os.path.join(root, "opt/dir/x"), b"replaced by an opaque directory" * 5)
    write(os.path.join(root, "run/lock/pid"), b"123\n")
    os.link(os.path.join(root, "usr/lib/big"), os.path.join(root, "usr/lib/big-hardlink"))
    os.setxattr(os.path.join(root, "usr/bin/tool"), "security.capability", bytes.fromhex("0100000200200000000000000000000000000000"))
    long_dir = os.path.join(root, "usr/share", "d" * 120, "e" * 120)
    write(os.path.join(long_dir, "f" * 200), b"a long path")
    umoci("repack", "--image", f"{layout}:v1", bundle)
    shutil.rmtree(bundle)

    # The second layer is the difference from v1: a whiteout for etc/a, the changed files.
    umoci("unpack", "--image", f"{layout}:v1", bundle)
    os.remove(os.path.join(root, "etc/a"))
    write(os.path.join(root, "usr/bin/tool"), b"#!/bin/sh\necho tool version two, long enough to be stored as an object\n", 0o755)
    write(os.path.join(root, "usr/bin/new"), b"added in the second layer\n")
    umoci("repack", "--image", f"{layout}:v2-partial", bundle)
    shutil.rmtree(bundle)

    add_layer(layout, "v2", "v2-partial", [
        entry("opt/", tarfile.DIRTYPE, mode=0o755),
        entry("opt/dir/", tarfile.DIRTYPE, mode=0o750),
        entry("opt/dir/.wh..wh..opq"),
        entry("opt/dir/z", data=b"the only file of the opaque directory\n"),
        entry("usr/lib/.wh.libgone"),
        entry("usr/lib/big-again", tarfile.LNKTYPE, link="usr/lib/big"),
    ])
    umoci("gc", "--layout", layout)


def transform(root):
    usr = os.lstat(os.path.join(root, "usr"))
    os.chmod(root, usr.st_mode & 0o7777)
    os.chown(root, usr.st_uid, usr.st_gid)
    run = os.path.join(root, "run")
    if os.path.isdir(run):
        for name in os.listdir(run):
            path = os.path.join(run, name)
            shutil.rmtree(path) if os.path.isdir(path) and not os.path.islink(path) else os.remove(path)
        os.utime(run, ns=(usr.st_atime_ns, usr.st_mtime_ns))
    for directory, names, leaves in os.walk(os.fsencode(root)):
        for name in [b""] + names + leaves:
            path = os.path.join(directory, name) if name else directory
            for attribute in os.listxattr(path, follow_symlinks=False):
                if attribute != "security.capability":
                    os.removexattr(path, attribute, follow_symlinks=False)
    os.utime(root, ns=(usr.st_atime_ns, usr.st_mtime_ns))


def put_blob(layout, data):
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(layout, "blobs/sha256", digest), "wb") as out:
        out.write(data)
    return {"digest": "sha256:" + digest, "size": len(data)}


def plain(layout, tag):
    """Image `tag` again as `tag-plain`, each layer stored as an uncompressed tar."""
    index_path = os.path.join(layout, "index.json")
    index = json.load(open(index_path))
    entry = next(m for m in index["manifests"] if m["annotations"]["org.opencontainers.image.ref.name"] == tag)
    manifest = json.load(open(os.path.join(layout, "blobs", *entry["digest"].split(":"))))
    for layer in manifest["layers"]:
        data = gzip.decompress(open(os.path.join(layout, "blobs", *layer["digest"].split(":")), "rb").read())
        layer.update(put_blob(layout, data), mediaType="application/vnd.oci.image.layer.v1.tar")
    descriptor = put_blob(layout, json.dumps(manifest).encode())
    index["manifests"].append({"mediaType": entry["mediaType"], **descriptor,
                               "annotations": {"org.opencontainers.image.ref.name": tag + "-plain"}})
    json.dump(index, open(index_path, "w"))


def index(layout):
    umoci("config", "--image", f"{layout}:v1", "--tag", "v1-arm64", "--architecture", "arm64")
    entries = json.load(open(os.path.join(layout, "index.json")))["manifests"]
    named = {m["annotations"]["org.opencontainers.image.ref.name"]: m for m in entries}
    manifests = [
        {**{k: named["v2"][k] for k in ("mediaType", "digest", "size")}, "platform": {"architecture": "amd64", "os": "linux"}},
        {**{k: named["v1-arm64"][k] for k in ("mediaType", "digest", "size")}, "platform": {"architecture": "arm64", "os": "linux"}},
    ]
    blob = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests}).encode()
    descriptor = put_blob(layout, blob)
    top = json.load(open(os.path.join(layout, "index.json")))
    top["manifests"].append({"mediaType": "application/vnd.oci.image.index.v1+json", **descriptor,
                             "annotations": {"org.opencontainers.image.ref.name": "multi"}})
    json.dump(top, open(os.path.join(layout, "index.json"), "w"))


def hostile(layout, name):
    cases = {
        "dotdot": [entry("usr/", tarfile.DIRTYPE, mode=0o755), entry("usr/../../escape", data=b"x")],
        "through-symlink": [entry("usr/", tarfile.DIRTYPE, mode=0o755), entry("usr/link", tarfile.SYMTYPE, link="/tmp"),
                            entry("usr/link/escape", data=b"x")],
        "dangling-hardlink": [entry("usr/", tarfile.DIRTYPE, mode=0o755), entry("usr/h", tarfile.LNKTYPE, link="usr/nothing")],
        "no-parent": [entry("usr/", tarfile.DIRTYPE, mode=0o755), entry("usr/missing/file", data=b"x")],
    }
    add_layer(layout, name, "empty", cases[name])


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2])
    elif sys.argv[1] == "transform":
        transform(sys.argv[2])
    elif sys.argv[1] == "plain":
        plain(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "index":
        index(sys.argv[2])
    elif sys.argv[1] == "hostile":
        hostile(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
