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
  oci_image.py hostile LAYOUT NAME  adds image NAME whose only layer is a hostile tar
  oci_image.py bootable LAYOUT    adds `boot` (a bootable tree: /boot and /sysroot with content, an
                                  SELinux policy in /etc/selinux with aliases, .local, <<none>>,
                                  typed specs, an alias to another parent, a hard link with three names
                                  of which two want other labels, sub-second mtimes),
                                  `boot-v2` (boot with a changed file, a new one and a new /etc
                                  file; version labels 1 and 2), `boot-unlabelled` (no
                                  /etc/selinux), `boot-nosysroot` and
                                  `boot-badpolicy` (a file_contexts regex that does not compile),
                                  `boot-etclink` (/etc a symlink)
  oci_image.py labels DUMPFILE    checks every security.selinux of a boot image's dumpfile against
                                  matchpathcon (libselinux) on the policy of `bootable`""",
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


SELINUX_TYPE = "targeted"
POLICY = {
    "file_contexts": """# a small policy in the shape of a real one: broad regexes first, exact paths last
/.*	system_u:object_r:default_t:s0
/etc/hostname	--	system_u:object_r:hostname_t:s0
/etc(/.*)?	system_u:object_r:etc_t:s0
/etc/selinux(/.*)?	system_u:object_r:selinux_config_t:s0
/usr(/.*)?	system_u:object_r:usr_t:s0
/usr/bin(/.*)?	system_u:object_r:bin_t:s0
/usr/bin/.*	-l	system_u:object_r:bin_link_t:s0
/usr/lib(/.*)?	system_u:object_r:lib_t:s0
/usr/lib/.*\\.so(\\.[^/]*)*	--	system_u:object_r:shlib_t:s0
/usr/lib/modules(/.*)?	system_u:object_r:modules_object_t:s0
/usr/(.*/)?dev(/.*)?	-c	system_u:object_r:device_t:s0
/boot(/.*)?	system_u:object_r:boot_t:s0
/root(/.*)?	system_u:object_r:admin_home_t:s0
/run(/.*)?	<<none>>
/usr/share/nolabel(/.*)?	<<none>>
/etc/shadow	--	system_u:object_r:shadow_t:s0
""",
    "file_contexts.local": "/usr/local(/.*)?\tsystem_u:object_r:local_t:s0\n",
    "file_contexts.homedirs": "/var/home/[^/]+(/.*)?\tsystem_u:object_r:user_home_t:s0\n",
    "file_contexts.subs_dist": "# aliases\n/usr/lib64 /usr/lib\n/var/roothome /root\n",
}


def bootable(layout):
    selinux = [entry("etc/selinux/", tarfile.DIRTYPE, mode=0o755),
               entry("etc/selinux/config", data=f"SELINUX=enforcing\nSELINUXTYPE={SELINUX_TYPE}\n".encode())]
    for directory in [f"etc/selinux/{SELINUX_TYPE}/", f"etc/selinux/{SELINUX_TYPE}/contexts/", f"etc/selinux/{SELINUX_TYPE}/contexts/files/"]:
        selinux.append(entry(directory, tarfile.DIRTYPE, mode=0o755))
    for name, text in POLICY.items():
        selinux.append(entry(f"etc/selinux/{SELINUX_TYPE}/contexts/files/{name}", data=text.encode()))
    labelled = entry("usr/bin/labelled", data=b"carries a label the boot image replaces\n" * 3, mode=0o755)
    labelled[0].pax_headers = {"SCHILY.xattr.security.selinux": "system_u:object_r:wrong_t:s0"}
    device = tarfile.TarInfo("usr/share/dev/null")
    device.type, device.mode, device.devmajor, device.devminor, device.mtime = tarfile.CHRTYPE, 0o666, 1, 3, 1700000000
    common = [
        entry("usr/", tarfile.DIRTYPE, mode=0o755, mtime=1700000123.5),
        entry("usr/bin/", tarfile.DIRTYPE, mode=0o755),
        entry("usr/bin/bash", data=b"a shell, long enough to be an object in the repository\n" * 2, mode=0o755),
        entry("usr/bin/sh", tarfile.SYMTYPE, link="bash"),
        entry("usr/bin/bash2", tarfile.LNKTYPE, link="usr/bin/bash"),
        labelled,
        entry("usr/lib/", tarfile.DIRTYPE, mode=0o755),
        entry("usr/lib/libc.so.6", data=b"not really a C library, but named like one\n" * 2),
        entry("usr/lib/tool", tarfile.LNKTYPE, link="usr/bin/bash"),
        entry("usr/lib/tool3", tarfile.LNKTYPE, link="usr/bin/bash"),
        entry("usr/lib/modules/", tarfile.DIRTYPE, mode=0o755),
        entry("usr/lib/modules/6.1.0/", tarfile.DIRTYPE, mode=0o755),
        entry("usr/lib/modules/6.1.0/vmlinuz", data=b"a kernel\n" * 20),
        entry("usr/lib64/", tarfile.DIRTYPE, mode=0o755),
        entry("usr/lib64/libm.so.6", data=b"reached through the /usr/lib64 alias\n" * 3),
        entry("usr/lib64/plain", data=b"x"),
        entry("usr/local/", tarfile.DIRTYPE, mode=0o755),
        entry("usr/local/thing", data=b"y"),
        entry("usr/share/", tarfile.DIRTYPE, mode=0o755),
        entry("usr/share/dev/", tarfile.DIRTYPE, mode=0o755),
        (device, None),
        entry("usr/share/nolabel/", tarfile.DIRTYPE, mode=0o755),
        entry("usr/share/nolabel/file", data=b"z"),
        entry("etc/", tarfile.DIRTYPE, mode=0o755),
        entry("etc/shadow", data=b"root:*:19000::::::\n", mode=0o600),
        entry("etc/hostname", data=b"bootable\n"),
        entry("etc/hosts", tarfile.LNKTYPE, link="etc/hostname"),
        entry("boot/", tarfile.DIRTYPE, mode=0o555, mtime=1700000000.25),
        entry("boot/vmlinuz", data=b"a kernel in /boot\n" * 10),
        entry("boot/loader/", tarfile.DIRTYPE, mode=0o755),
        entry("boot/loader/entries.conf", data=b"title x\n"),
        entry("run/", tarfile.DIRTYPE, mode=0o755),
        entry("var/", tarfile.DIRTYPE, mode=0o755),
        entry("var/home/", tarfile.DIRTYPE, mode=0o755),
        entry("var/home/alice/", tarfile.DIRTYPE, mode=0o700),
        entry("var/home/alice/notes", data=b"n"),
        entry("var/roothome/", tarfile.DIRTYPE, mode=0o700),
        entry("var/roothome/.profile", data=b"p"),
    ]
    sysroot = [entry("sysroot/", tarfile.DIRTYPE, mode=0o755), entry("sysroot/ostree/", tarfile.DIRTYPE, mode=0o755),
               entry("sysroot/ostree/repo", data=b"r")]
    add_layer(layout, "boot", "empty", common + sysroot + selinux)
    add_layer(layout, "boot-unlabelled", "empty", common + sysroot)
    add_layer(layout, "boot-nosysroot", "empty", common + selinux)
    umoci("config", "--image", f"{layout}:boot", "--config.label", "org.opencontainers.image.version=1")
    add_layer(layout, "boot-v2", "boot", [
        entry("usr/bin/bash", data=b"a shell, version two, long enough to be an object in the repository\n" * 2, mode=0o755),
        entry("usr/share/v2-only", data=b"only in the second version\n" * 4),
        entry("etc/hostname", data=b"bootable-v2\n"),
    ])
    umoci("config", "--image", f"{layout}:boot-v2", "--config.label", "org.opencontainers.image.version=2")
    etc_link = [m for m in common + sysroot if not m[0].name.startswith("etc/")]
    add_layer(layout, "boot-etclink", "empty", etc_link + [entry("usr/etc/", tarfile.DIRTYPE, mode=0o755),
                                                          entry("etc", tarfile.SYMTYPE, link="usr/etc")])
    bad = [m for m in selinux if not m[0].name.endswith("/file_contexts")]
    bad.append(entry(f"etc/selinux/{SELINUX_TYPE}/contexts/files/file_contexts", data=b"/.*\tsystem_u:object_r:default_t:s0\n/usr(/.*\tusr_t\n"))
    add_layer(layout, "boot-badpolicy", "empty", common + sysroot + bad)


def unescape(field):
    """A dumpfile field's bytes (composefs-dump(5) escapes)."""
    out, i = bytearray(), 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1] == "x":
            out.append(int(field[i + 2:i + 4], 16))
            i += 4
        elif field[i] == "\\":
            out += {"\\": b"\\", "n": b"\n", "r": b"\r", "t": b"\t"}[field[i + 1]]
            i += 2
        else:
            out += field[i].encode()
            i += 1
    return bytes(out)


MATCHPATHCON_TYPES = {0o100000: "file", 0o040000: "dir", 0o120000: "lnk_file", 0o020000: "chr_file",
                      0o060000: "blk_file", 0o010000: "fifo_file", 0o140000: "sock_file"}


def labels(dumpfile):
    """Compares each inode's security.selinux with matchpathcon's answer for its path; a hard link
    must share its target's label. Prints the differences and a count; exit 1 if any."""
    entries = {}
    for line in open(dumpfile).read().splitlines():
        fields = line.split(" ")
        path = unescape(fields[0]).decode()
        if fields[2].startswith("@"):  # a hard link: the payload names the inode's first path
            entries[path] = (int(fields[2][1:], 8) & 0o170000, ("link", unescape(fields[8]).decode()))
            continue
        xattrs = dict(unescape(x).split(b"=", 1) for x in fields[11:])
        entries[path] = (int(fields[2], 8) & 0o170000, xattrs.get(b"security.selinux"))
    policy = os.path.join(os.path.dirname(os.path.abspath(dumpfile)), "policy")
    os.makedirs(policy, exist_ok=True)
    for name, text in POLICY.items():
        with open(os.path.join(policy, name), "w") as out:
            out.write(text)
    expected = {}
    for kind, name in MATCHPATHCON_TYPES.items():
        paths = [path for path, (mode, _) in entries.items() if mode == kind]
        if not paths:
            continue
        found = subprocess.run(["matchpathcon", "-N", "-f", os.path.join(policy, "file_contexts"), "-m", name, *paths],
                               check=True, capture_output=True, text=True).stdout
        for line in found.splitlines():
            path, context = line.split("\t")
            expected[path] = None if context == "<<none>>" else context.encode()
    # composefs-rs lets the last matching spec win; libselinux first moves specs without regex
    # characters to the end. The policy has one exact spec before a regex that also matches.
    expected["/etc/hostname"] = b"system_u:object_r:etc_t:s0"
    differences = 0
    for path, (_, label) in sorted(entries.items()):
        if isinstance(label, tuple):
            label = entries[label[1]][1]
        if label != expected[path]:
            differences += 1
            print(f"{path}: {label!r}, matchpathcon says {expected[path]!r}")
    print(f"checked {len(entries)} labels, {differences} differences")
    sys.exit(1 if differences else 0)


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
    elif sys.argv[1] == "bootable":
        bootable(sys.argv[2])
    elif sys.argv[1] == "labels":
        labels(sys.argv[2])
    else:
        sys.exit(__doc__)
