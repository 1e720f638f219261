#!/usr/bin/env python3
"""cairn against casync 2 on the same inputs, alternating runs: make into an empty store, make into a
full store, extract from a full store, and extract of a new version seeded with the previous one.
Remote stores: upload of v1.ero's chunks to an S3 server (moto), where cairn's make writes to S3
directly and the peer is the seed's `aws s3 sync` of casync's store (only the sync is timed), and
extract over HTTP (nginx serving each tool's store).

Inputs, made once and reused: v1.ero (an uncompressed EROFS image of ~650 MB of system files),
v2.ero (the same tree with ~5% of its files changed) and rand.bin (512 MiB of random bytes).
Run through bench/run.sh, which builds cairn and sets CAIRN.
BENCH_ONLY=v1,rand,seeded,upload,http (comma-separated) runs only those groups; default all.
"""
import filecmp
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from servers import Moto, Nginx

CAIRN = os.environ["CAIRN"]
WORK = Path(os.environ.get("BENCH_WORK") or Path(__file__).parent / "work").resolve()
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
TOOLS = ("casync", "cairn")
SPEEDUP_TARGETS = {"make": 1.8, "make, full store": 1.8, "extract": 1.7, "seeded extract": 4.0,
                   "upload to S3": 1.5, "extract, HTTP": 4.0}
GROUPS = {"v1": "v1.ero", "rand": "rand.bin", "seeded": None, "upload": None, "http": None}
ALIASES = {"v1.ero": "v1", "rand.bin": "rand"}
S3_BUCKET = "bench"
AWS_ENVIRONMENT = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_REGION": "us-east-1",
                   "AWS_DEFAULT_REGION": "us-east-1"}
MEMORY_TARGET_MIB = 256
TREE_SOURCES = "usr/lib/x86_64-linux-gnu usr/share/locale usr/share/man"


def run(command):
    subprocess.run(command, shell=isinstance(command, str), check=True)


def make_erofs(tree, image):
    partial = image.with_suffix(".partial")
    run(["mkfs.erofs", "--quiet", "-T0", "--all-root", "-U", "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
         str(partial), str(tree)])
    partial.rename(image)


def change_tree(tree):
    """Changes ~5% of the files, the same way every time: appends to 3%, rewrites 1%, deletes 1%,
    then adds new files numbering 1% of the tree."""
    rng = random.Random(1)
    files = sorted(p for p in tree.rglob("*") if p.is_file() and not p.is_symlink())
    counts = dict.fromkeys(("appended", "rewritten", "deleted", "added"), 0)
    for path in files:
        draw = rng.random()
        if draw < 0.03:
            with path.open("ab") as f:
                f.write(rng.randbytes(rng.randint(1, 64 << 10)))
            counts["appended"] += 1
        elif draw < 0.04:
            path.write_bytes(rng.randbytes(path.stat().st_size))
            counts["rewritten"] += 1
        elif draw < 0.05:
            path.unlink()
            counts["deleted"] += 1
    directories = sorted({p.parent for p in files if p.parent.exists()})
    for i in range(len(files) // 100):
        (rng.choice(directories) / f"bench-new-{i}").write_bytes(rng.randbytes(rng.randint(1, 256 << 10)))
        counts["added"] += 1
    print(f"v2.ero: of {len(files)} files, " + ", ".join(f"{n} {what}" for what, n in counts.items()))


def make_inputs():
    WORK.mkdir(parents=True, exist_ok=True)
    if not (WORK / "v2.ero").exists():
        print(f"making v1.ero and v2.ero from {TREE_SOURCES} (under /, without libLLVM)")
        tree = WORK / "tree"
        shutil.rmtree(tree, ignore_errors=True)
        tree.mkdir()
        run(f"tar -C / --exclude='usr/lib/x86_64-linux-gnu/libLLVM*' -cf - {TREE_SOURCES} | tar -C {tree} -xf -")
        make_erofs(tree, WORK / "v1.ero")
        change_tree(tree)
        make_erofs(tree, WORK / "v2.ero")
        shutil.rmtree(tree)
    if not (WORK / "rand.bin").exists():
        run(f"head -c 512M /dev/urandom > {WORK}/rand.partial && mv {WORK}/rand.partial {WORK}/rand.bin")
    for name in ("v1.ero", "v2.ero", "rand.bin"):
        print(f"{name}: {(WORK / name).stat().st_size / 2**20:.0f} MiB")
    run(f"cat {WORK}/v1.ero {WORK}/v2.ero {WORK}/rand.bin > /dev/null")


def store(tool, name):
    return WORK / tool / f"{name}.castr"


def index(tool, name):
    return WORK / tool / f"{name}.caibx"


def output(tool):
    return WORK / tool / "out"


def make_command(tool, name):
    if tool == "cairn":
        return [CAIRN, "make", "--store", store(tool, name), "--progress", "none", index(tool, name), WORK / name]
    return ["casync", "make", f"--store={store(tool, name)}", index(tool, name), WORK / name]


def extract_command(tool, name, seed=None):
    if tool == "cairn":
        seeds = ["--seed", f"{index(tool, seed)}:{WORK / seed}"] if seed else []
        return [CAIRN, "extract", "--store", store(tool, name), *seeds, "--progress", "none", index(tool, name), output(tool)]
    seeds = [f"--seed={WORK / seed}"] if seed else []
    return ["casync", "extract", f"--store={store(tool, name)}", *seeds, index(tool, name), output(tool)]


def timed(command):
    """Runs command; returns its wall-clock seconds, peak RSS in MiB and CPU (user + system) seconds."""
    command = [str(part) for part in command]
    report = WORK / "time.txt"
    os.sync()  # neither tool should pay for writing back what the previous run left dirty
    result = subprocess.run(["/usr/bin/time", "-f", "%e %U %S %M", "-o", report, *command],
                            capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"FAILED (exit {result.returncode}): {' '.join(command)}\n{result.stdout}{result.stderr}")
    elapsed, user, system, max_rss_kib = report.read_text().split()[-4:]
    return float(elapsed), int(max_rss_kib) / 1024, float(user) + float(system)


def remove(path):
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def discard_store(path):
    """Moves a store out of the way instead of deleting it: for ~30 s after thousands of files are
    deleted, ext4 skips their inodes when allocating new ones, and that scan would dominate the
    next make (60% of its samples in recently_deleted/find_inode_bit). Trash is emptied at the end."""
    if path.exists():
        (WORK / "trash").mkdir(exist_ok=True)
        path.rename(WORK / "trash" / f"{time.monotonic_ns()}")


def empty_trash(settle):
    trash = WORK / "trash"
    had_files = trash.exists() and any(trash.iterdir())
    shutil.rmtree(trash, ignore_errors=True)
    trash.mkdir(parents=True)
    if had_files and settle:
        print("waiting 35 s for ext4 to forget the deleted inodes")
        time.sleep(35)


def verify(tool, name):
    if subprocess.run(["cmp", output(tool), WORK / name]).returncode != 0:
        sys.exit(f"FAILED: {tool} extracted {output(tool)} differs from {WORK / name}")


def bench(results, operation, name, command, prepare=None, check=None):
    """ROUNDS runs of each tool, alternating, the first tool changing each round."""
    runs = {tool: [] for tool in TOOLS}
    for round_ in range(ROUNDS):
        for tool in (TOOLS if round_ % 2 == 0 else reversed(TOOLS)):
            if prepare:
                prepare(tool)
            runs[tool].append(timed(command(tool)))
            if check:
                check(tool)
            print(f"  {operation} {name} {tool} #{round_ + 1}: {runs[tool][-1][0]:.2f} s, {runs[tool][-1][1]:.0f} MiB, "
                  f"{runs[tool][-1][2]:.2f} s cpu",
                  flush=True)
    results.append((operation, name, runs))


def indexes_identical(name):
    identical = filecmp.cmp(index("cairn", name), index("casync", name), shallow=False)
    print(f"{name}: cairn and casync indexes are {'byte-identical' if identical else 'DIFFERENT'}")
    return identical


def print_table(results):
    print(f"\nmedian seconds of {ROUNDS} rounds; peak RSS is the largest of the rounds; MISS marks a missed target")
    print(f"{'operation':<17} {'input':<9} {'casync s':>8} {'cairn s':>8} {'speedup':>8} {'target':>6}      "
          f"{'cairn MiB':>9}      {'casync MiB':>10} {'casync cpu':>10} {'cairn cpu':>9}")
    for operation, name, runs in results:
        seconds = {tool: statistics.median(s for s, _, _ in runs[tool]) for tool in TOOLS}
        rss = {tool: max(m for _, m, _ in runs[tool]) for tool in TOOLS}
        cpu = {tool: statistics.median(c for _, _, c in runs[tool]) for tool in TOOLS}
        speedup, target = seconds["casync"] / seconds["cairn"], SPEEDUP_TARGETS[operation]
        speed_mark = "" if speedup >= target else "MISS"
        memory_mark = "" if rss["cairn"] <= MEMORY_TARGET_MIB else "MISS"
        print(f"{operation:<17} {name:<9} {seconds['casync']:>8.2f} {seconds['cairn']:>8.2f} {speedup:>8.2f} "
              f"{'≥' + format(target, '.1f'):>6} {speed_mark:<4} {rss['cairn']:>9.0f} {memory_mark:<4} {rss['casync']:>10.0f}"
              f" {cpu['casync']:>10.2f} {cpu['cairn']:>9.2f}")
    print(f"targets: speedup (casync s / cairn s) as shown; cairn peak RSS ≤{MEMORY_TARGET_MIB} MiB")
    print("cpu: median user + system seconds; most system time is ext4 creating chunk files.")


def main():
    started = time.monotonic()
    make_inputs()
    for tool in TOOLS:
        (WORK / tool).mkdir(exist_ok=True)
        for name in ("v1.ero", "rand.bin", "v2.ero"):
            discard_store(store(tool, name))
    empty_trash(settle=True)
    results, identical = [], True
    for name in ("v1.ero", "rand.bin"):
        bench(results, "make", name, lambda tool: make_command(tool, name),
              prepare=lambda tool: discard_store(store(tool, name)))
        identical &= indexes_identical(name)
        bench(results, "make, full store", name, lambda tool: make_command(tool, name))
        bench(results, "extract", name, lambda tool: extract_command(tool, name),
              prepare=lambda tool: remove(output(tool)), check=lambda tool: verify(tool, name))
    for tool in TOOLS:
        discard_store(store(tool, "v2.ero"))
        timed(make_command(tool, "v2.ero"))
    identical &= indexes_identical("v2.ero")
    bench(results, "seeded extract", "v2.ero", lambda tool: extract_command(tool, "v2.ero", seed="v1.ero"),
          prepare=lambda tool: remove(output(tool)), check=lambda tool: verify(tool, "v2.ero"))
    print_table(results)
    empty_trash(settle=False)
    print(f"whole run: {(time.monotonic() - started) / 60:.1f} min")
    if not identical:
        sys.exit("FAILED: cairn and casync wrote different indexes")


if __name__ == "__main__":
    main()
