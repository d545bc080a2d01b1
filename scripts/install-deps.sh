#!/usr/bin/env bash
# Installs the Debian packages vigil needs to build and test. Idempotent: prints nothing and
# touches nothing when every package is already present. Uses sudo when not run as root.
set -euo pipefail

PKGS=(
    build-essential cmake pkg-config
    libuv1-dev liblmdb-dev lmdb-utils
    libprotobuf-c-dev protobuf-c-compiler
    libxgboost-dev
    libwebsockets-dev
    libjansson-dev libcjson-dev libinih-dev libssl-dev
    clang clang-format clang-tidy libclang-rt-14-dev
    curl procps
)

missing=()
for p in "${PKGS[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    SUDO="sudo"
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >&2
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
