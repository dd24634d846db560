#!/bin/sh
# test_npz.sh - runs the npz C tests and the numpy cross-check.
# Usage: tests/test_npz.sh (from the repository root, after building tests/test_npz)
set -e
here=$(dirname "$0")
py=/usr/bin/python3
dir=$(mktemp -d /tmp/test_npz.XXXXXX)
trap 'rm -rf "$dir"' EXIT

if "$py" -c 'import numpy' 2>/dev/null; then
	"$py" "$here/npz_numpy.py" write "$dir"
	"$here/test_npz" "$dir"
	"$py" "$here/npz_numpy.py" check "$dir"
	echo "test_npz.sh: all passed (C tests and numpy cross-check)"
else
	"$here/test_npz" "$dir"
	echo "test_npz.sh: C tests passed; numpy cross-check SKIPPED ($py lacks numpy)"
fi
