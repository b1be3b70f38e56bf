#!/bin/sh
# Install what is missing (Debian packages), then configure and build vmm in
# build/.  Idempotent: a second run only rebuilds what changed.
#   tools/setup.sh            build/ (debugoptimized)
# Needs root for apt-get (uses sudo when not root).
set -eu
cd "$(dirname "$0")/.."

PKGS="gcc libc6-dev binutils meson ninja-build pkg-config python3 libfdt-dev libcmocka-dev libjson-c-dev libxxhash-dev libgnutls28-dev linux-libc-dev iproute2 util-linux clang-format"
# The fuzz targets (docs/fuzzing.md): clang's libFuzzer and sanitizer
# runtimes; llvm-14 for the coverage figures.
PKGS="$PKGS clang-14 libclang-rt-14-dev llvm-14"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
if [ -n "$missing" ]; then
	echo "setup: installing:$missing"
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO=sudo
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi

if [ ! -f build/build.ninja ]; then
	meson setup build >/dev/null
fi
ninja -C build
