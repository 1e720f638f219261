#!/usr/bin/env bash
# cairn's main job on a sample image: build an EROFS image of a tree, chunk it into a local store,
# extract it back, verify it, then chunk a second version and show what it shares with the first;
# publish both to a local-directory bucket and pull; and a composefs image of the same tree.
set -euo pipefail
cairn=${CAIRN:-.build/release/cairn}
work=${DEMO_DIR:-demo}
rm -rf "$work"
mkdir -p "$work/tree"

echo "== cairn mkfs-erofs: a sample EROFS image of /usr/share/doc and some libraries"
cp -r /usr/share/doc "$work/tree/doc"
cp -r /usr/lib/x86_64-linux-gnu/perl-base "$work/tree/perl" 2>/dev/null || true
"$cairn" mkfs-erofs --timestamp 0 --all-root "$work/v1.ero" "$work/tree"
ls -l "$work/v1.ero"
fsck.erofs "$work/v1.ero" && echo "fsck.erofs finds no errors"

echo "== cairn make (into $work/store)"
"$cairn" make --store "$work/store" "$work/v1.caibx" "$work/v1.ero"

echo "== cairn extract and compare"
"$cairn" extract --store "$work/store" "$work/v1.caibx" "$work/v1.out"
cmp "$work/v1.ero" "$work/v1.out" && echo "extracted image is identical"

echo "== cairn verify"
"$cairn" verify --store "$work/store" "$work/v1.caibx"

echo "== a second version: some files changed"
mapfile -t copyrights < <(find "$work/tree/doc" -type f -name copyright | sort)
for f in "${copyrights[@]:0:200}"; do echo "changed" >> "$f"; done
"$cairn" mkfs-erofs --timestamp 0 --all-root "$work/v2.ero" "$work/tree"
"$cairn" make --store "$work/store" "$work/v2.caibx" "$work/v2.ero"
"$cairn" extract --store "$work/store" --seed "$work/v1.caibx:$work/v1.ero" "$work/v2.caibx" "$work/v2.out"
cmp "$work/v2.ero" "$work/v2.out" && echo "extracted second version (seeded from the first) is identical"

echo "== dedupe figures"
"$cairn" info --store "$work/store" --against "$work/v1.caibx" "$work/v2.caibx"
echo "store on disk: $(du -sh "$work/store" | cut -f1) for two images of $(du -sh --apparent-size "$work/v1.ero" | cut -f1) each"

echo "== cairn publish: both versions to a bucket (here a local directory, $work/bucket), as CI would"
# The image name, build identity and ref come from flags here; CI sets GITHUB_* and R2_* instead.
for version in 1 2; do
    "$cairn" publish --image "$work/v$version.ero" --bucket "$work/bucket" --prefix demo-os \
        --run "$version" --attempt 1 --sha demo --ref main --chunk-size 16K:64K:256K \
        --cache "$work/cache.castr" --out "$work/compose-v$version"
done
echo "bucket layout:"
(cd "$work/bucket" && find . -type f -not -path '*/chunks/*' -not -name .cairn-lock | sort)
echo "refs/main/latest.json names: $(grep -m1 '"build"' "$work/bucket/demo-os/casync/refs/main/latest.json")"

echo "== cairn pull: a device running v1 updates to the ref's build, downloading only what it lacks"
"$cairn" pull --from "$work/bucket" --prefix demo-os --ref main --seed "$work/v1.ero" "$work/device.ero"
cmp "$work/device.ero" "$work/v2.ero" && echo "pulled image is identical to v2"
echo "the pull kept the index of what it wrote ($work/device.ero.caibx); pulling again reuses everything:"
"$cairn" pull --from "$work/bucket" --prefix demo-os --ref main "$work/device.ero"

echo "== cairn mkcomposefs: a composefs image of the same tree, files in a content-addressed store"
"$cairn" mkcomposefs --print-digest --digest-store "$work/objects" "$work/tree" "$work/tree.cfs"
echo "image $(stat -c %s "$work/tree.cfs") bytes, $("$cairn" composefs-info objects "$work/tree.cfs" | wc -l) objects," \
    "$("$cairn" composefs-info missing-objects --basedir "$work/objects" "$work/tree.cfs" | wc -l) missing"
"$cairn" composefs-info dump "$work/tree.cfs" > "$work/tree.dump"
echo "its dumpfile ($(wc -l < "$work/tree.dump") lines) begins:"
head -3 "$work/tree.dump" | cut -c1-160
