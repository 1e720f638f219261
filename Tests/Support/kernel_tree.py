#!/usr/bin/env python3
"""An OS tree with a fake kernel and a real ELF kernel module, for the promotion gates' tests.

  kernel_tree.py DIR KERNEL [--module-for RELEASE] [--compress none|xz|zst] [--no-module]
                 [--kernel-link RELEASE] [--shadow-backup]

DIR gets /usr/bin/bash, /etc/os-release, /usr/lib/modules/KERNEL/{vmlinuz,modules.dep} and
extra/zfs/zfs.ko (compressed as asked): an object file compiled by cc whose .modinfo section says
`vermagic=RELEASE SMP preempt mod_unload` (RELEASE defaults to KERNEL), as a module built for
that kernel would (--kernel-link adds /usr/lib/modules/RELEASE, a symlink to KERNEL's directory;
--shadow-backup an /etc/shadow-); and 24 MiB of incompressible files under /usr/share/filler, so the gates'
share of chunks read is measured against an image of some size."""
import argparse
import os
import random
import subprocess
import tempfile


def write(path, data, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as out:
        out.write(data)
    os.chmod(path, mode)


def module(release):
    source = f"""
static const char modinfo[] __attribute__((section(".modinfo"), used, aligned(1))) =
    "license=CDDL\\0description=ZFS\\0vermagic={release} SMP preempt mod_unload modversions ";
int zfs_init(void) {{ return 0; }}
"""
    with tempfile.TemporaryDirectory() as work:
        with open(os.path.join(work, "zfs.c"), "w") as out:
            out.write(source)
        subprocess.run(["cc", "-c", "-O0", "-o", os.path.join(work, "zfs.ko"), os.path.join(work, "zfs.c")], check=True)
        return open(os.path.join(work, "zfs.ko"), "rb").read()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("dir")
    parser.add_argument("kernel")
    parser.add_argument("--module-for")
    parser.add_argument("--compress", default="none", choices=["none", "xz", "zst"])
    parser.add_argument("--no-module", action="store_true")
    parser.add_argument("--kernel-link")
    parser.add_argument("--shadow-backup", action="store_true")
    args = parser.parse_args()
    root = args.dir
    write(f"{root}/usr/bin/bash", b"#!/bin/false\n" * 100, 0o755)
    write(f"{root}/etc/os-release", b"ID=test\nVERSION_ID=1\n")
    kernel = f"{root}/usr/lib/modules/{args.kernel}"
    write(f"{kernel}/vmlinuz", b"a kernel image\n" * 1000)
    write(f"{kernel}/modules.dep", b"extra/zfs/zfs.ko:\n")
    if not args.no_module:
        path = f"{kernel}/extra/zfs/zfs.ko"
        write(path, module(args.module_for or args.kernel))
        if args.compress == "xz":
            subprocess.run(["xz", "--check=crc32", path], check=True)
        elif args.compress == "zst":
            subprocess.run(["zstd", "-q", "--rm", path], check=True)
    if args.kernel_link:
        os.symlink(args.kernel, f"{root}/usr/lib/modules/{args.kernel_link}")
    if args.shadow_backup:
        write(f"{root}/etc/shadow-", b"root:*:19000::::::\n", 0o600)
    rng = random.Random(7)
    for n in range(24):
        write(f"{root}/usr/share/filler/blob{n}", rng.randbytes(1 << 20))


if __name__ == "__main__":
    main()
