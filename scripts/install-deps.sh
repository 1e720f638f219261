#!/usr/bin/env bash
# Installs the Debian packages cairn builds and tests with, if any is missing.
# Build: libzstd-dev, liblzma-dev, zlib1g-dev, libssl-dev (libcrypto for SHA-2), libpcre2-dev (SELinux file_contexts), pkgconf.
# Tests and benchmarks: casync, erofs-utils, xz, gzip, zstd, time, nginx (an HTTP store), openssl (a test CA), curl,
# umoci and skopeo (OCI images), docker-registry (an OCI registry), selinux-utils (matchpathcon: SELinux labels),
# gcc (kernel modules for the promotion gates' tests); moto (S3).
set -euo pipefail
packages=(libzstd-dev liblzma-dev zlib1g-dev libssl-dev libpcre2-dev pkgconf casync erofs-utils xz-utils gzip zstd time nginx openssl curl umoci skopeo docker-registry selinux-utils gcc)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# moto in server mode is the S3 service of the tests.
# Debian's own python3 needs python3-pip and refuses system-wide installs without
# --break-system-packages (PEP 668); a pyenv python takes the plain install.
if ! python3 -c 'import moto.server, flask, flask_cors' 2>/dev/null; then
    python3 -m pip --version >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-pip >/dev/null; }
    python3 -m pip install -q 'moto[server]' 2>/dev/null || python3 -m pip install -q --break-system-packages 'moto[server]'
fi
