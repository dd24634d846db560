#!/bin/bash
# numpy cross-check of .npz files: numpy reads what wmbench writes and wmbench
# reads what numpy.savez / savez_compressed write (and rejects what it must).
. tests/lib.sh
py=/usr/bin/python3
if ! $py -c 'import numpy' 2>/dev/null; then
	echo "skip - numpy cross-check: $py has no numpy (apt-get install python3-numpy)"
	finish
fi
check "numpy writes the reference files" $py tests/npz_numpy.py write "$TMP"
build/tests/test_npz "$TMP" >"$TMP/log" 2>&1
check "wmbench reads numpy's files and writes its own (cmocka, with numpy files)" \
	sh -c "grep -q 'PASSED' $TMP/log && ! grep -q 'FAILED' $TMP/log && ! grep -q 'SKIPPED' $TMP/log"
check "numpy reads the file wmbench wrote" $py tests/npz_numpy.py check "$TMP"
$WM run -q -o "$TMP/r" jobs/ci.yaml >/dev/null 2>&1
emb=$(grep ',embed,' "$TMP/r/results.csv" | head -1 | cut -d, -f1)
check "numpy.load opens a model and a key of a run" $py -c "
import numpy as np
m = np.load('$TMP/r/models/$emb.npz'); k = np.load('$TMP/r/keys/$emb.npz')
assert bytes(m['arch']).decode() == 'mlp' and m['fc1.weight'].shape == (512, 784)
assert m['fc1.weight'].dtype == np.float32 and bytes(k['scheme']).decode() == 'uchida'
assert k['uchida.X'].shape == (64, 512)"
finish
