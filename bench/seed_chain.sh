#!/usr/bin/env bash
# Seed 000's producer chain for one build, as one command for bench/bench.py's "publish" group:
# casync make into the local cache, integrity checks (casync digest of image and index, a smoke
# extraction whose SHA-256 must match the image's), then aws s3 sync of the cache's chunks
# (--size-only), aws s3 cp of the index, the manifest and the image, the seed's second smoke
# extraction from the uploaded index and chunks through the public base URL (when one is given),
# and last aws s3 cp of refs/<ref>/latest.json. Not done here (nor timed): the seed's dedupe figures.
#
# Usage: seed_chain.sh IMAGE CACHE OUT ENDPOINT BUCKET PREFIX RUN SHA REF [CHUNK_SIZE [PUBLIC_BASE_URL]]
#   CACHE holds store.castr and persists between builds (CI's restored cache); OUT gets the
#   index, manifest and latest.json; credentials and region come from AWS_* in the environment.
set -euo pipefail

[ $# -ge 9 ] || { echo "usage: $0 IMAGE CACHE OUT ENDPOINT BUCKET PREFIX RUN SHA REF [CHUNK_SIZE]" >&2; exit 2; }
image=$1 cache=$2 out=$3 endpoint=$4 bucket=$5 prefix=$6 run=$7 sha=$8 ref=$9
chunk_size=${10:-262144:1048576:4194304}
public=${11:-}
attempt=1
build="$run-$attempt-$sha"
store="$cache/store.castr"
index="$out/compose-$build.caibx"
manifest="$out/compose-manifest.json"
latest="$out/latest.json"
smoke="$out/image.ero"

mkdir -p "$cache" "$out"

# 1. Index the image into the local cache.
casync make --store="$store" --chunk-size="$chunk_size" "$index" "$image" > /dev/null

# 2. Integrity: casync digest of the image equals that of the index; a smoke extraction of the
#    index recreates the image (same SHA-256).
image_digest=$(casync digest "$image")
index_digest=$(casync digest --store="$store" "$index")
[ "$image_digest" = "$index_digest" ] || { echo "digest mismatch: image $image_digest, index $index_digest" >&2; exit 1; }
image_sha256=$(sha256sum "$image" | cut -d' ' -f1)
rm -f "$smoke"
casync extract --store="$store" "$index" "$smoke"
smoke_sha256=$(sha256sum "$smoke" | cut -d' ' -f1)
rm -f "$smoke"
[ "$smoke_sha256" = "$image_sha256" ] || { echo "smoke extraction: SHA-256 $smoke_sha256, image $image_sha256" >&2; exit 1; }

# 3. The small JSON objects.
index_key="$prefix/casync/indexes/compose-$build.caibx"
manifest_key="$prefix/casync/manifests/$build.json"
image_key="$prefix/images/$build.ero"
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
cat > "$manifest" <<EOF
{
  "build": { "attempt": "$attempt", "id": "$build", "run": "$run", "sha": "$sha" },
  "image": { "casync_digest": "$image_digest", "key": "$image_key", "sha256": "$image_sha256", "size": $(stat -c %s "$image") },
  "index": { "chunk_size": "$chunk_size", "key": "$index_key", "sha256": "$(sha256sum "$index" | cut -d' ' -f1)" },
  "ref": "$ref",
  "schema": "seed-000.compose-manifest"
}
EOF
cat > "$latest" <<EOF
{
  "build": "$build", "image": "$image_key", "index": "$index_key", "manifest": "$manifest_key",
  "ref": "$ref", "updated": "$now"
}
EOF

# 4. Publish: missing chunks, then the immutable objects, then the ref.
s3() { aws --endpoint-url "$endpoint" s3 "$@" --only-show-errors --no-progress; }
s3 sync "$store" "s3://$bucket/$prefix/casync/chunks" --size-only
s3 cp "$index" "s3://$bucket/$index_key"
s3 cp "$manifest" "s3://$bucket/$manifest_key"
s3 cp "$image" "s3://$bucket/$image_key"
if [ -n "$public" ]; then
    curl -fsS -o "$out/uploaded.caibx" "$public/$index_key"
    casync extract --store="$public/$prefix/casync/chunks/" "$out/uploaded.caibx" "$smoke"
    smoke_sha256=$(sha256sum "$smoke" | cut -d' ' -f1)
    rm -f "$smoke"
    [ "$smoke_sha256" = "$image_sha256" ] || { echo "smoke extraction from $public: SHA-256 $smoke_sha256, image $image_sha256" >&2; exit 1; }
fi
s3 cp "$latest" "s3://$bucket/$prefix/casync/refs/$ref/latest.json"
