#!/usr/bin/env python3
"""cairn against casync 2 on the same inputs, alternating runs: make into an empty store, make into a
full store, extract from a full store, and extract of a new version seeded with the previous one.
Remote stores: upload of v1.ero's chunks to an S3 server (moto), where cairn's make writes to S3
directly and the peer is the seed's `aws s3 sync` of casync's store (only the sync is timed), and
extract over HTTP (nginx serving each tool's store). Publishing builds: seed 000's chain of casync and
the aws CLI (bench/seed_chain.sh) against `cairn publish`, of v1.ero into an empty bucket on moto and
of v2.ero on top of it; and pulling v2.ero seeded with v1.ero from a published bucket over nginx,
`cairn pull` against `casync extract --seed`. Images of a tree (BENCH_TREE, default /usr/lib):
`cairn mkfs-erofs` against `mkfs.erofs`, and `cairn mkcomposefs` against C mkcomposefs when one is
on the PATH.

Inputs, made once and reused: v1.ero (an uncompressed EROFS image of ~650 MB of system files),
v2.ero (the same tree with ~5% of its files changed) and rand.bin (512 MiB of random bytes).
Run through bench/run.sh, which builds cairn and sets CAIRN.
OCI images (bench group oci): `cairn oci pull` of a four-layer image (~400 MB of system files) from
docker-registry on loopback into an empty repository, and into one holding the previous version,
against `skopeo copy docker://… oci:DIR` of the same image (which only downloads and verifies the
blobs: the floor any pull pays; into a layout already holding the previous version for the second).
BENCH_ONLY=v1,rand,seeded,upload,http,publish,pull,erofs,composefs,oci (comma-separated) runs only those
groups; default all.
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

from servers import Moto, Nginx, Registry

CAIRN = os.environ["CAIRN"]
WORK = Path(os.environ.get("BENCH_WORK") or Path(__file__).parent / "work").resolve()
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
TOOLS = ("casync", "cairn")
SPEEDUP_TARGETS = {"make": 1.8, "make, full store": 1.8, "extract": 1.7, "seeded extract": 4.0,
                   "upload to S3": 1.5, "extract, HTTP": 4.0, "publish, empty": 2.0, "publish, on v1": 2.0,
                   "pull, HTTP": 3.0, "mkfs.erofs": 1.5, "mkcomposefs, empty store": 1.5,
                   "mkcomposefs, full store": 1.5, "oci pull, empty": 1 / 1.3, "oci pull, on v1": 1.0}
GROUPS = {"v1": "v1.ero", "rand": "rand.bin", "seeded": None, "upload": None, "http": None, "publish": None,
          "pull": None, "erofs": None, "composefs": None, "oci": None}
# The tree the EROFS and composefs groups put in images (several GB of system files).
IMAGE_TREE = Path(os.environ.get("BENCH_TREE", "/usr/lib"))
IMAGE_UUID = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
ALIASES = {"v1.ero": "v1", "rand.bin": "rand"}
S3_BUCKET = "bench"
AWS_ENVIRONMENT = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_REGION": "us-east-1",
                   "AWS_DEFAULT_REGION": "us-east-1"}
MEMORY_TARGET_MIB = 256
PUBLISH_PREFIX = "bench-os"
PUBLISH_CHUNK_SIZE = "262144:1048576:4194304"  # the seed's COMPOSE_CHUNK_SIZE, cairn publish's default
SEED_CHAIN = Path(__file__).resolve().parent / "seed_chain.sh"
NOTES = []  # lines printed after the table
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
    for line in NOTES:
        print(line)


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


def round_order(round_):
    return TOOLS if round_ % 2 == 0 else tuple(reversed(TOOLS))


def mib(n):
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n / 2**10:.1f} KiB"


def object_kind(key):
    return "chunks" if key.startswith("casync/chunks/") else "image" if key.startswith("images/") else "index+json"


def uploaded_bytes(before, after):
    """Bytes uploaded between two listings ({key: size}), by kind: objects that are new or changed
    size, and the ref pointer, which every publish rewrites."""
    counts = dict.fromkeys(("chunks", "image", "index+json"), 0)
    for key, size in after.items():
        if before.get(key) != size or key.startswith("casync/refs/"):
            counts[object_kind(key)] += size
    return counts


def bench_publish(results):
    """Publishing v1.ero to an empty bucket on moto, then v2.ero on top of it; each timed as one
    command per version. The peer is seed 000's chain (bench/seed_chain.sh: casync make into the
    local cache, casync digest of image and index, a smoke extraction and sha256sum, aws s3 sync
    --size-only of the cache's chunks, aws s3 cp of index, manifest and image, the second smoke
    extraction through the public base URL (moto read anonymously), aws s3 cp of latest.json). Both
    tools keep a local cache from v1 to v2 within a round (CI's restored cache), fresh each round;
    moto is reset and the bucket made again, untimed, before each tool's v1. Bytes uploaded are
    counted from moto's listing after each step."""
    versions = ("v1.ero", "v2.ero")
    operations = {"v1.ero": "publish, empty", "v2.ero": "publish, on v1"}
    labels = {"casync": "seed chain"}
    os.environ.update(AWS_ENVIRONMENT)
    base = WORK / "publish"
    runs = {name: {tool: [] for tool in TOOLS} for name in versions}
    served = {name: {tool: [] for tool in TOOLS} for name in versions}
    uploaded = {name: {tool: [] for tool in TOOLS} for name in versions}
    pulled = []

    def cache(tool):
        return base / tool / "cache"

    def out(tool, run):
        return base / tool / f"out-{run}"

    def build(run):
        return f"{run}-1-bench"

    with Moto(WORK, S3_BUCKET) as moto:
        bucket_url = f"s3+{moto.endpoint}/{S3_BUCKET}"
        # The bucket read anonymously, as the seed's COMPOSE_PUBLIC_BASE_URL: both tools' second
        # smoke extraction goes through it.
        public_url = f"{moto.endpoint}/{S3_BUCKET}"

        def command(tool, name, run):
            if tool == "cairn":
                return [CAIRN, "publish", "--image", WORK / name, "--bucket", bucket_url, "--prefix", PUBLISH_PREFIX,
                        "--run", run, "--attempt", "1", "--sha", "bench", "--ref", "main",
                        "--chunk-size", PUBLISH_CHUNK_SIZE, "--cache", cache(tool) / "store.castr", "--out", out(tool, run),
                        "--public-base-url", public_url]
            return ["bash", SEED_CHAIN, WORK / name, cache(tool), out(tool, run), moto.endpoint, S3_BUCKET,
                    PUBLISH_PREFIX, run, "bench", "main", PUBLISH_CHUNK_SIZE, public_url]

        def check(tool, name, run, listing, chunk_sets):
            what = f"{labels.get(tool, tool)} publishing {name}"
            needed = {f"casync/indexes/compose-{build(run)}.caibx", f"casync/manifests/{build(run)}.json",
                      f"images/{build(run)}.ero", "casync/refs/main/latest.json"}
            if missing := needed - set(listing):
                sys.exit(f"FAILED: after {what}, {', '.join(sorted(missing))} missing under {PUBLISH_PREFIX}/")
            if listing[f"images/{build(run)}.ero"] != (WORK / name).stat().st_size:
                sys.exit(f"FAILED: after {what}, images/{build(run)}.ero has the wrong size")
            chunks = {key[len("casync/chunks/"):] for key in listing if key.startswith("casync/chunks/")}
            if tool == "casync" and chunks != (local := chunk_files(cache(tool) / "store.castr")):
                sys.exit(f"FAILED: after {what}, {len(chunks)} chunks under {PUBLISH_PREFIX}/casync/chunks/, "
                         f"{len(chunks & local)} of the {len(local)} in its cache")
            chunk_sets[tool] = chunks
            if len(chunk_sets) == len(TOOLS):  # both tools have published this version in this round
                if chunk_sets["cairn"] != chunk_sets["casync"]:
                    sys.exit(f"FAILED: after publishing {name}, cairn's bucket has {len(chunk_sets['cairn'])} chunks, "
                             f"the chain's {len(chunk_sets['casync'])}, {len(chunk_sets['cairn'] & chunk_sets['casync'])} "
                             f"in common")
                indexes = [out(t, run) / f"compose-{build(run)}.caibx" for t in TOOLS]
                if not filecmp.cmp(*indexes, shallow=False):
                    sys.exit(f"FAILED: cairn's and casync's indexes of {name} differ: {' '.join(map(str, indexes))}")
            if tool == "cairn" and len(pulled) < len(versions):
                target = base / "pulled"
                remove(target)
                timed([CAIRN, "pull", "--from", bucket_url, "--prefix", PUBLISH_PREFIX, "--ref", "main", target])
                if subprocess.run(["cmp", target, WORK / name]).returncode != 0:
                    sys.exit(f"FAILED: cairn pull of ref main after publishing {name} differs from {WORK / name}")
                remove(target)
                remove(target.with_name("pulled.caibx"))  # the index pull keeps beside what it wrote
                pulled.append(name)
                print(f"  cairn pull --from {bucket_url} --prefix {PUBLISH_PREFIX} --ref main reproduced {name}")

        chunk_sets = {}
        for round_ in range(ROUNDS):
            for tool in round_order(round_):
                moto.reset()
                discard_store(cache(tool))
                listing = {}
                for run, name in enumerate(versions, 1):
                    remove(out(tool, run))
                    cpu, requests = moto.cpu(), moto.requests()
                    runs[name][tool].append(timed(command(tool, name, run)))
                    served[name][tool].append((moto.cpu() - cpu, moto.requests() - requests))
                    before, listing = listing, moto.sizes(PUBLISH_PREFIX)
                    uploaded[name][tool].append(uploaded_bytes(before, listing))
                    check(tool, name, run, listing, chunk_sets.setdefault((round_, name), {}))
                    seconds, rss, cpu_s = runs[name][tool][-1]
                    server_cpu, counts = served[name][tool][-1]
                    print(f"  {operations[name]} {name} {labels.get(tool, tool)} #{round_ + 1}: {seconds:.2f} s, "
                          f"{rss:.0f} MiB, {cpu_s:.2f} s cpu, uploaded {mib(sum(uploaded[name][tool][-1].values()))}, "
                          f"server {server_cpu:.2f} s cpu, {format_requests(counts)}", flush=True)
        moto.reset()
    for tool in TOOLS:
        discard_store(base / tool)
    base.rmdir()
    for name in versions:
        results.append((operations[name], name, runs[name], served[name], labels))
        sums = {tool: statistics.median(sum(u.values()) for u in uploaded[name][tool]) for tool in TOOLS}
        mark = "" if sums["cairn"] <= sums["casync"] else " MISS"
        NOTES.append(f"{operations[name]} {name}, bytes uploaded (median of rounds; target cairn ≤ chain{mark}): " + "; ".join(
            f"{labels.get(tool, tool)} {sums[tool]:.0f} B = {mib(sums[tool])} (" + ", ".join(
                f"{kind} {mib(statistics.median(u[kind] for u in uploaded[name][tool]))}" for kind in uploaded[name][tool][0])
            + ")" for tool in TOOLS))


def bench_pull(results):
    """Pull of v2.ero, seeded with v1.ero, from a published bucket served by nginx: `cairn pull` of
    ref main against `casync extract --seed` of the same v2 index and chunks. The bucket is a local
    directory that cairn publish fills once, untimed, with v1.ero then v2.ero. The seed is the
    device's running image, which it got by pulling build 1 (untimed), so cairn finds the index it
    kept beside it (current.ero.caibx) and need not chunk it; casync chunks it. One more cairn run
    seeded with a copy that has no kept index, and one casync run with TMPDIR=/dev/shm (casync's
    time is mostly its spool in $TMPDIR, see bench_http), are reported below the table."""
    name, device = "v2.ero", WORK / "pull-device"
    seed = device / "current.ero"
    bucket, cache = WORK / "pull-bucket", WORK / "pull-cache"
    discard_store(bucket)
    discard_store(cache)
    print("publishing v1.ero and v2.ero into a local bucket (not timed)", flush=True)
    for run, version in enumerate(("v1.ero", "v2.ero"), 1):
        artifacts = WORK / f"pull-publish-{run}"
        timed([CAIRN, "publish", "--image", WORK / version, "--bucket", bucket, "--prefix", PUBLISH_PREFIX,
               "--run", run, "--attempt", "1", "--sha", "bench", "--ref", "main", "--chunk-size", PUBLISH_CHUNK_SIZE,
               "--cache", cache / "store.castr", "--out", artifacts])
        remove(artifacts)
    discard_store(cache)
    index_file = bucket / PUBLISH_PREFIX / "casync" / "indexes" / "compose-2-1-bench.caibx"
    labels = {"casync": "casync extract --seed"}
    with Nginx(bucket) as nginx:
        chunks_url = f"{nginx.base}/{PUBLISH_PREFIX}/casync/chunks/"

        remove(device)
        device.mkdir()
        timed([CAIRN, "pull", "--from", nginx.base, "--prefix", PUBLISH_PREFIX, "--build", "1-1-bench", seed])

        def command(tool, seed=seed):
            if tool == "cairn":
                return [CAIRN, "pull", "--from", nginx.base, "--prefix", PUBLISH_PREFIX, "--ref", "main",
                        "--seed", seed, output(tool)]
            return ["casync", "extract", f"--store={chunks_url}", f"--seed={seed}", index_file, output(tool)]

        bench(results, "pull, HTTP", name, command, prepare=lambda tool: remove(output(tool)),
              check=lambda tool: verify(tool, name), server=nginx, labels=labels)
        remove(output("casync"))
        seconds, _, cpu = timed(["env", "TMPDIR=/dev/shm", *command("casync")])
        verify("casync", name)
        cairn_seconds = statistics.median(s for s, _, _ in results[-1][2]["cairn"])
        casync_seconds = statistics.median(s for s, _, _ in results[-1][2]["casync"])
        NOTES.append(f"pull, HTTP {name}: casync with TMPDIR=/dev/shm (one run, not in the table): {seconds:.2f} s, "
                     f"{cpu:.2f} s cpu; {seconds / cairn_seconds:.2f}× cairn's median")
        print(f"  {NOTES[-1]}", flush=True)
        remove(output("cairn"))
        seconds, _, cpu = timed(command("cairn", seed=WORK / "v1.ero"))
        verify("cairn", name)
        NOTES.append(f"pull, HTTP {name}: cairn seeded with a v1.ero that has no kept index, so chunked (one run, not in "
                     f"the table): {seconds:.2f} s, {cpu:.2f} s cpu; casync's median is {casync_seconds / seconds:.2f}× that")
        print(f"  {NOTES[-1]}", flush=True)
    for tool in TOOLS:
        remove(output(tool))
    remove(output("cairn").with_name("out.caibx"))  # the index cairn pull keeps beside what it wrote
    remove(device)
    discard_store(bucket)


def warm(tree):
    """Reads the tree once, so that neither tool pays for the first read from disk."""
    run(f"tar -cf - -C {tree} . 2>/dev/null | wc -c > /dev/null")


def bench_erofs(results):
    """An uncompressed EROFS image of IMAGE_TREE (default /usr/lib): `cairn mkfs-erofs` against
    `mkfs.erofs` (erofs-utils 1.5 copies file data 4 KiB per read and write), both with a fixed
    UUID, every mtime 0 and root ownership. cairn's image must pass fsck.erofs."""
    name = IMAGE_TREE.name
    images = {tool: WORK / tool / "tree.erofs" for tool in TOOLS}
    labels = {"casync": "mkfs.erofs"}
    warm(IMAGE_TREE)

    def command(tool):
        if tool == "cairn":
            return [CAIRN, "mkfs-erofs", "--timestamp", "0", "--all-root", "--uuid", IMAGE_UUID, images[tool], IMAGE_TREE]
        return ["mkfs.erofs", "--quiet", "-T0", "--all-root", "-U", IMAGE_UUID, images[tool], IMAGE_TREE]

    def check(tool):
        if tool == "cairn":
            result = subprocess.run(["fsck.erofs", images[tool]], capture_output=True, text=True)
            if result.returncode != 0 or "<E>" in result.stderr:
                sys.exit(f"FAILED: fsck.erofs {images[tool]}: {result.stdout}{result.stderr}")

    bench(results, "mkfs.erofs", name, command, prepare=lambda tool: remove(images[tool]), check=check, labels=labels)
    sizes = {tool: images[tool].stat().st_size for tool in TOOLS}
    NOTES.append(f"mkfs.erofs {name}: image bytes: mkfs.erofs {sizes['casync']}, cairn {sizes['cairn']}")
    for tool in TOOLS:
        remove(images[tool])


def bench_composefs(results):
    """`cairn mkcomposefs --digest-store` of IMAGE_TREE against C mkcomposefs (when one is on the
    PATH; Debian 12 has no package, so it is skipped otherwise), into an empty digest store and
    into one that holds every object already. The two images must be byte-identical."""
    peer = shutil.which("mkcomposefs")
    if peer is None:
        NOTES.append("mkcomposefs: skipped, no C mkcomposefs on the PATH (build one from composefs/composefs to compare)")
        return
    name = IMAGE_TREE.name
    labels = {"casync": "C mkcomposefs"}
    stores = {tool: WORK / tool / "objects" for tool in TOOLS}
    images = {tool: WORK / tool / "tree.cfs" for tool in TOOLS}
    warm(IMAGE_TREE)

    def command(tool):
        program = [CAIRN, "mkcomposefs"] if tool == "cairn" else [peer]
        return [*program, f"--digest-store={stores[tool]}", IMAGE_TREE, images[tool]]

    def check(tool):
        if all(image.exists() for image in images.values()) and not filecmp.cmp(*images.values(), shallow=False):
            sys.exit(f"FAILED: cairn's and C mkcomposefs's images of {IMAGE_TREE} differ")

    def empty(tool):
        discard_store(stores[tool])
        remove(images[tool])

    bench(results, "mkcomposefs, empty store", name, command, prepare=empty, check=check, labels=labels)
    bench(results, "mkcomposefs, full store", name, command, prepare=lambda tool: remove(images[tool]), check=check, labels=labels)
    for tool in TOOLS:
        discard_store(stores[tool])
        remove(images[tool])


# The layers of the OCI image the oci group pulls: v1 has all four, v2 changes the last.
OCI_LAYERS = ["usr/lib/python3.11", "usr/share/locale", "usr/share/doc", "usr/share/perl5"]


def make_oci_layout():
    """Builds (once) an OCI layout with v1 (one layer per OCI_LAYERS entry) and v2 (v1 with the
    last layer's files touched and /usr/lib/python3 added), with umoci."""
    layout = WORK / "oci-layout"
    if (layout / "index.json").exists():
        return layout
    build = WORK / "oci-build"
    remove(build)
    build.mkdir(parents=True)
    run(["umoci", "init", "--layout", build / "img"])
    run(["umoci", "new", "--image", f"{build / 'img'}:v0"])
    previous = "v0"
    for number, source in enumerate(OCI_LAYERS, start=1):
        bundle = build / f"bundle{number}"
        run(["umoci", "unpack", "--image", f"{build / 'img'}:{previous}", bundle])
        target = bundle / "rootfs" / source
        target.parent.mkdir(parents=True, exist_ok=True)
        run(["cp", "-a", Path("/") / source, target])
        tag = "v1" if number == len(OCI_LAYERS) else f"layer{number}"
        run(["umoci", "repack", "--image", f"{build / 'img'}:{tag}", bundle])
        remove(bundle)
        previous = tag
    bundle = build / "bundle-v2"
    run(["umoci", "unpack", "--image", f"{build / 'img'}:layer{len(OCI_LAYERS) - 1}", bundle])
    run(["cp", "-a", Path("/") / OCI_LAYERS[-1], bundle / "rootfs" / OCI_LAYERS[-1]])
    for path in sorted((bundle / "rootfs" / OCI_LAYERS[-1]).rglob("*.pm"))[::20]:
        path.write_bytes(path.read_bytes() + b"\n# changed in v2\n")
    run(["cp", "-a", "/usr/lib/python3", bundle / "rootfs/usr/lib/python3"])
    run(["umoci", "repack", "--image", f"{build / 'img'}:v2", bundle])
    remove(bundle)
    run(["umoci", "gc", "--layout", build / "img"])
    (build / "img").rename(layout)
    remove(build)
    return layout


def bench_oci(results):
    """`cairn oci pull docker://…` against `skopeo copy docker://… oci:DIR` from docker-registry
    on loopback: into an empty repository (layout), and into one holding v1."""
    layout = make_oci_layout()
    targets = {"casync": WORK / "casync" / "oci-copy", "cairn": WORK / "cairn" / "oci-repo"}
    labels = {"casync": "skopeo copy"}
    with Registry(WORK / "registry") as registry:
        for tag in ("v1", "v2"):
            run(["skopeo", "copy", "--dest-tls-verify=false", f"oci:{layout}:{tag}", f"docker://{registry.host}/bench/os:{tag}"])

        def command(tool, tag="v2"):
            source = f"docker://{registry.host}/bench/os:{tag}"
            if tool == "cairn":
                return [CAIRN, "oci", "pull", "--repo", targets["cairn"], "--tls-verify=false", source, tag]
            return ["skopeo", "copy", "-q", "--src-tls-verify=false", source, f"oci:{targets['casync']}:{tag}"]

        def empty(tool):
            discard_store(targets[tool])
            if tool == "cairn":
                run([CAIRN, "repo", "init", "--insecure", "--repo", targets["cairn"]])

        def with_v1(tool):
            empty(tool)
            if subprocess.run(command(tool, "v1"), stdout=subprocess.DEVNULL).returncode != 0:
                sys.exit(f"FAILED: {tool} could not pull v1")

        def check(tool):
            if tool == "cairn" and subprocess.run([CAIRN, "repo", "fsck", "--repo", targets["cairn"]], stdout=subprocess.DEVNULL).returncode != 0:
                sys.exit("FAILED: cairn repo fsck after the pull")

        bench(results, "oci pull, empty", "v2", command, prepare=empty, check=check, server=registry, labels=labels)
        bench(results, "oci pull, on v1", "v2", command, prepare=with_v1, check=check, server=registry, labels=labels)
    for tool in TOOLS:
        discard_store(targets[tool])
    remove(WORK / "registry")


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
    if "publish" in groups:
        bench_publish(results)
    if "pull" in groups:
        bench_pull(results)
    if "erofs" in groups:
        bench_erofs(results)
    if "composefs" in groups:
        bench_composefs(results)
    if "oci" in groups:
        bench_oci(results)
    print_table(results)
    empty_trash(settle=False)
    print(f"whole run: {(time.monotonic() - started) / 60:.1f} min")
    if not identical:
        sys.exit("FAILED: cairn and casync wrote different indexes")


if __name__ == "__main__":
    main()
