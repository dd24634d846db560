#!/bin/bash
# Installs the Debian packages wmbench needs (as root), or prints the exact
# apt-get line (otherwise). Packages already installed are not touched.
set -eu
PKGS="make gcc pkg-config openmpi-bin libopenmpi-dev libopenblas-dev libarchive-dev
libyaml-dev libcmocka-dev zlib1g-dev libsodium-dev gnuplot-nox poppler-utils fontconfig fonts-liberation2 fonts-dejavu-core fonts-dejavu-extra libfreetype-dev procps clang-format
dataset-fashion-mnist python3-numpy python3-pandas slurmctld slurmd slurm-client munge"
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
