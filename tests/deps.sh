#!/bin/bash
# Installs the Debian packages wmbench needs (as root), or prints the exact
# apt-get line (otherwise). Packages already installed are not touched.
# Sanitizers and fuzzing (make sanitize, make fuzz): gcc 12's ASan and UBSan
# come from libgcc-12-dev (libasan.so, libubsan.so) with the runtimes libasan8
# and libubsan1; clang's libFuzzer and its ASan/UBSan runtimes from
# libclang-rt-14-dev (libclang_rt.fuzzer-x86_64.a; only a recommends of
# libclang-common-14-dev, so named here).
set -eu
PKGS="make gcc pkg-config openmpi-bin libopenmpi-dev libopenblas-dev libarchive-dev
libyaml-dev libcmocka-dev zlib1g-dev libsodium-dev gnuplot-nox poppler-utils fontconfig fonts-liberation2 fonts-dejavu-core fonts-dejavu-extra libfreetype-dev procps clang-format
dataset-fashion-mnist python3-numpy python3-pandas slurmctld slurmd slurm-client munge
libgcc-12-dev libasan8 libubsan1 clang libclang-rt-14-dev"
missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
if [ -z "$missing" ]; then
	echo "deps: all packages present"
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "deps: missing packages; run as root:" >&2
	echo "  apt-get update && apt-get install -y$missing" >&2
	exit 1
fi
echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "deps: installed$missing"
