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
import signal
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


def bench(results, operation, name, command, prepare=None, check=None, server=None, labels=None):
    """ROUNDS runs of each tool, alternating, the first tool changing each round. With a server, also
    records the CPU seconds it spent and the requests it served during each timed run."""
    runs = {tool: [] for tool in TOOLS}
    served = {tool: [] for tool in TOOLS} if server else None
    labels = labels or {}
    for round_ in range(ROUNDS):
        for tool in (TOOLS if round_ % 2 == 0 else reversed(TOOLS)):
            if prepare:
                prepare(tool)
            if server:
                cpu, requests = server.cpu(), server.requests()
            runs[tool].append(timed(command(tool)))
            extra = ""
            if server:
                served[tool].append((server.cpu() - cpu, server.requests() - requests))
                extra = f", server {served[tool][-1][0]:.2f} s cpu, {format_requests(served[tool][-1][1])}"
            if check:
                check(tool)
            print(f"  {operation} {name} {labels.get(tool, tool)} #{round_ + 1}: {runs[tool][-1][0]:.2f} s, "
                  f"{runs[tool][-1][1]:.0f} MiB, {runs[tool][-1][2]:.2f} s cpu{extra}",
                  flush=True)
    results.append((operation, name, runs, served, labels))


def format_requests(counts):
    return " ".join(f"{count} {kind}" for kind, count in sorted(counts.items()) if count) or "0 requests"


def indexes_identical(name):
    identical = filecmp.cmp(index("cairn", name), index("casync", name), shallow=False)
    print(f"{name}: cairn and casync indexes are {'byte-identical' if identical else 'DIFFERENT'}")
    return identical


def print_table(results):
    print(f"\nmedian seconds of {ROUNDS} rounds; peak RSS is the largest of the rounds; MISS marks a missed target")
    print(f"{'operation':<17} {'input':<9} {'casync s':>8} {'cairn s':>8} {'speedup':>8} {'target':>6}      "
          f"{'cairn MiB':>9}      {'casync MiB':>10} {'casync cpu':>10} {'cairn cpu':>9}")
    for operation, name, runs, _, _ in results:
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
    for operation, name, runs, served, labels in results:
        if labels:
            print(f"{operation}: the casync columns are {labels['casync']}")
    for operation, name, runs, served, labels in results:
        if served:
            print(f"{operation} {name}, server side (median cpu s; requests of the last round): " + "; ".join(
                f"{labels.get(tool, tool)} {statistics.median(c for c, _ in served[tool]):.2f} s, "
                f"{format_requests(served[tool][-1][1])}" for tool in TOOLS))


def chunk_files(path):
    """Paths of the chunk files in a local store, relative to it (the keys they get in a remote store)."""
    return {str(p.relative_to(path)) for p in path.rglob("*.cacnk")}


def ensure_store(tool, name):
    """Makes a store and index, untimed, when a benchmark needs them and an earlier group did not."""
    if not (store(tool, name).is_dir() and index(tool, name).exists()):
        print(f"making {tool}'s store of {name} (not timed)", flush=True)
        discard_store(store(tool, name))
        timed(make_command(tool, name))


def bench_upload(results):
    """Upload of v1.ero's chunk store to moto. cairn chunks and uploads in one go; the peer is what
    the seed did: casync make into a local store (the one the make benchmark left, not timed here),
    then aws s3 sync of it. Every run starts from an empty server. moto serves PUTs one at a time
    (GIL), at ~4 ms of CPU each whatever the client, so ~9,000 chunks cost it ~40 s: that is the
    floor for either tool, and on 2 cores aws's own CPU competes with moto's."""
    name = "v1.ero"
    os.environ.update(AWS_ENVIRONMENT)
    for tool in TOOLS:
        ensure_store(tool, name)
    s3_index = WORK / "cairn" / f"{name}.s3.caibx"
    labels = {"casync": "aws s3 sync"}

    def prefix(tool):
        return f"{tool}/{name}.castr"

    with Moto(WORK, S3_BUCKET) as moto:
        def s3_store(tool):
            return f"s3+{moto.endpoint}/{S3_BUCKET}/{prefix(tool)}"

        def command(tool):
            if tool == "cairn":
                return [CAIRN, "make", "--store", s3_store(tool), "--progress", "none", s3_index, WORK / name]
            return ["aws", "s3", "sync", store(tool, name), f"s3://{S3_BUCKET}/{prefix(tool)}", "--size-only",
                    "--only-show-errors", "--no-progress", "--endpoint-url", moto.endpoint]

        def prepare(tool):
            moto.reset()  # also frees moto's memory of the previous round
            remove(s3_index)

        extracted = []

        def check(tool):
            uploaded, local = moto.keys(prefix(tool)), chunk_files(store(tool, name))
            if uploaded != local:
                sys.exit(f"FAILED: {labels.get(tool, tool)} left {len(uploaded)} objects under {prefix(tool)}/, "
                         f"{len(uploaded & local)} of the {len(local)} chunks in {store(tool, name)}")
            if tool == "cairn":
                if not filecmp.cmp(s3_index, index(tool, name), shallow=False):
                    sys.exit(f"FAILED: cairn's index {s3_index} differs from {index(tool, name)}")
                if not extracted:
                    remove(output(tool))
                    timed([CAIRN, "extract", "--store", s3_store(tool), "--progress", "none", s3_index, output(tool)])
                    verify(tool, name)
                    remove(output(tool))
                    extracted.append(True)
                    print(f"  cairn extract from {s3_store(tool)} reproduced {name}")

        bench(results, "upload to S3", name, command, prepare=prepare, check=check, server=moto, labels=labels)


def bench_http(results):
    """Extract of v1.ero from each tool's own store (the same chunks) served by nginx. casync's
    remote protocol queues every chunk as symlinks in a spool under $TMPDIR (default /var/tmp):
    ~55,000 symlinks and ~72,000 unlinks an extract. On ext4 most of its time is then inode
    allocation skipping the inodes it just deleted, and varies from run to run; with TMPDIR on a
    tmpfs casync takes a fraction of it."""
    name = "v1.ero"
    for tool in TOOLS:
        ensure_store(tool, name)
    with Nginx(WORK) as nginx:
        def command(tool):
            url = f"{nginx.base}/{store(tool, name).relative_to(WORK)}"
            if tool == "cairn":
                return [CAIRN, "extract", "--store", url, "--progress", "none", index(tool, name), output(tool)]
            return ["casync", "extract", f"--store={url}/", index(tool, name), output(tool)]

        bench(results, "extract, HTTP", name, command, prepare=lambda tool: remove(output(tool)),
              check=lambda tool: verify(tool, name), server=nginx)


def selected_groups():
    only = [word.strip() for word in os.environ.get("BENCH_ONLY", "").split(",") if word.strip()]
    groups = {ALIASES.get(word, word) for word in only} or set(GROUPS)
    if unknown := groups - set(GROUPS):
        sys.exit(f"BENCH_ONLY: unknown {', '.join(sorted(unknown))}; groups are {', '.join(GROUPS)}")
    return groups


def main():
    started = time.monotonic()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("bench: terminated"))  # so that servers are stopped
    groups = selected_groups()
    make_inputs()
    for tool in TOOLS:
        (WORK / tool).mkdir(exist_ok=True)
        for group, name in (("v1", "v1.ero"), ("rand", "rand.bin"), ("seeded", "v2.ero")):
            if group in groups:
                discard_store(store(tool, name))
    empty_trash(settle=bool(groups & {"v1", "rand", "seeded"}))
    results, identical = [], True
    for name in ("v1.ero", "rand.bin"):
        if ALIASES[name] not in groups:
            continue
        bench(results, "make", name, lambda tool: make_command(tool, name),
              prepare=lambda tool: discard_store(store(tool, name)))
        identical &= indexes_identical(name)
        bench(results, "make, full store", name, lambda tool: make_command(tool, name))
        bench(results, "extract", name, lambda tool: extract_command(tool, name),
              prepare=lambda tool: remove(output(tool)), check=lambda tool: verify(tool, name))
    if "seeded" in groups:
        ensure_store("cairn", "v1.ero")  # its index is cairn's seed
        for tool in TOOLS:
            discard_store(store(tool, "v2.ero"))
            timed(make_command(tool, "v2.ero"))
        identical &= indexes_identical("v2.ero")
        bench(results, "seeded extract", "v2.ero", lambda tool: extract_command(tool, "v2.ero", seed="v1.ero"),
              prepare=lambda tool: remove(output(tool)), check=lambda tool: verify(tool, "v2.ero"))
    if "upload" in groups:
        bench_upload(results)
    if "http" in groups:
        bench_http(results)
    print_table(results)
    empty_trash(settle=False)
    print(f"whole run: {(time.monotonic() - started) / 60:.1f} min")
    if not identical:
        sys.exit("FAILED: cairn and casync wrote different indexes")


if __name__ == "__main__":
    main()
