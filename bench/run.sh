#!/usr/bin/env bash
# Benchmarks cairn against casync 2 (see bench/bench.py for what is measured).
# Environment: BENCH_WORK (inputs, stores, outputs; default bench/work), BENCH_ROUNDS (default 3).
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in casync mkfs.erofs; do
    command -v "$tool" >/dev/null || { echo "bench: $tool is required (packages casync, erofs-utils)" >&2; exit 1; }
done
[ -x /usr/bin/time ] || { apt-get update -q && apt-get install -y -q time; }

swift build -c release --product cairn --scratch-path .build-bench
CAIRN="$PWD/.build-bench/release/cairn" exec python3 bench/bench.py
