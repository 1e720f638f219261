#!/usr/bin/env bash
# Benchmarks cairn against casync 2 (see bench/bench.py for what is measured).
# Environment: BENCH_WORK (inputs, stores, outputs; default bench/work), BENCH_ROUNDS (default 3),
# BENCH_ONLY (comma-separated groups: v1, rand, seeded, upload, http, publish, pull, erofs, composefs; default
# all), BENCH_TREE (the tree of the erofs and composefs groups; default /usr/lib).
set -euo pipefail
cd "$(dirname "$0")/.."

wants() { [ -z "${BENCH_ONLY:-}" ] || [[ ",${BENCH_ONLY// /}," == *",$1,"* ]]; }

for tool in casync mkfs.erofs; do
    command -v "$tool" >/dev/null || { echo "bench: $tool is required (packages casync, erofs-utils)" >&2; exit 1; }
done
[ -x /usr/bin/time ] || { apt-get update -q && apt-get install -y -q time; }
if wants upload || wants publish; then
    command -v aws >/dev/null || python3 -m pip install -q awscli
    python3 -c 'import moto.server' 2>/dev/null || python3 -m pip install -q 'moto[server]'
    hash -r; if command -v pyenv >/dev/null; then pyenv rehash; fi
    command -v aws >/dev/null || { echo "bench: aws (PyPI awscli) is installed but not on PATH" >&2; exit 1; }
fi
if wants oci; then
    for tool in umoci skopeo docker-registry; do
        command -v "$tool" >/dev/null || { echo "bench: $tool is required (packages umoci, skopeo, docker-registry: scripts/install-deps.sh)" >&2; exit 1; }
    done
fi
if wants http || wants pull; then
    command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { echo "bench: nginx is required (package nginx)" >&2; exit 1; }
fi

swift build -c release --product cairn --scratch-path .build-bench
CAIRN="$PWD/.build-bench/release/cairn" exec python3 bench/bench.py
