#!/bin/sh
# Install what the benchmarks need and is missing (Debian packages):
#   qemu-system-x86   the comparison rows (Debian's QEMU 7.2 on bookworm)
#   gnuplot-nox       the plots (png and pngcairo terminals)
#   python3-matplotlib  the plots of bench/migrate.py (Debian's python3: run
#                     it with /usr/bin/python3 if another python3 is first on PATH)
#   python3           the benchmark itself (standard library only)
#   zlib1g-dev, libsodium-dev   crc32 and BLAKE2b rows of mig_stream.c (then
#                     meson setup --reconfigure build)
# Idempotent.  Needs root for apt-get (uses sudo when not root).
#   bench/setup.sh            everything above
#   bench/setup.sh PKG...     only these packages
set -eu

PKGS=${*:-"qemu-system-x86 gnuplot-nox python3 python3-matplotlib zlib1g-dev libsodium-dev"}
missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0
echo "bench/setup.sh: installing:$missing" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
