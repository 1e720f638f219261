#!/usr/bin/env python3
"""Rewrites the OCI splitstreams of a composefs repository in the header layout bootc <= 1.15
wrote (composefs-rs before `repr(C)`: info range first, flags, then the magic at byte 18), the
way such a repository looks on disk: layer streams first, then the config streams that name
them, then the manifest streams; each rewritten stream is stored under its new fs-verity digest
and `streams/<name>` re-pointed. The old objects stay behind as garbage.

  legacy_streams.py REPO"""
import hashlib
import os
import struct
import sys

MAGIC = b"SplitStream"


def fsverity_digest(data, algorithm):
    """The fs-verity digest (4 KiB blocks, no salt) with hashlib."""
    name, size, number = {64: ("sha512", 64, 2), 32: ("sha256", 32, 1)}[algorithm]
    level = data
    root = b"\0" * size
    if data:
        while True:
            blocks = [level[i:i + 4096].ljust(4096, b"\0") for i in range(0, len(level), 4096)]
            hashes = b"".join(hashlib.new(name, block).digest() for block in blocks)
            if len(blocks) == 1:
                root = hashes
                break
            level = hashes
    descriptor = struct.pack("<BBBBIQ", 1, number, 12, 0, 0, len(data)) + root.ljust(64, b"\0") + b"\0" * 32 + b"\0" * 144
    return hashlib.new(name, descriptor).digest()


def old_header(stream):
    assert stream[:11] == MAGIC, "already in the old layout"
    version, flags, algorithm, block_bits, info = stream[11], stream[12:14], stream[14], stream[15], stream[16:32]
    return info + flags + MAGIC + bytes([version, algorithm, block_bits]) + stream[32:]


def digest_size(stream):
    return {1: 32, 2: 64}[stream[14] if stream[:11] == MAGIC else stream[30]]


def replace_refs(stream, mapping):
    """Replaces digests in the stream_refs array (info at 32..112, stream_refs range first)."""
    size = digest_size(stream)
    start, end = struct.unpack_from("<QQ", stream, 32)
    out = bytearray(stream)
    for offset in range(start, end, size):
        out[offset:offset + size] = mapping.get(bytes(stream[offset:offset + size]), stream[offset:offset + size])
    return bytes(out)


def main(repo):
    streams = os.path.join(repo, "streams")
    mapping = {}
    for prefix in ("oci-layer-", "oci-config-", "oci-manifest-"):
        for name in sorted(os.listdir(streams)):
            if not name.startswith(prefix):
                continue
            link = os.path.join(streams, name)
            target = os.readlink(link)
            old_digest = bytes.fromhex(target.replace("../objects/", "").replace("/", ""))
            data = open(os.path.join(streams, target), "rb").read()
            new = old_header(replace_refs(data, mapping))
            digest = fsverity_digest(new, digest_size(data))
            mapping[old_digest] = digest
            path = os.path.join(repo, "objects", digest[:1].hex(), digest[1:].hex())
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as out:
                out.write(new)
            os.remove(link)
            os.symlink(f"../objects/{digest[:1].hex()}/{digest[1:].hex()}", link)
    print(f"rewrote {len(mapping)} streams")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
