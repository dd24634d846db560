#!/bin/bash
# Command-line conventions, error messages for bad input, and `wmbench verify`.
. tests/lib.sh
check "--version prints the version" sh -c "$WM --version | grep -q '^wmbench [0-9]'"
for c in run report verify register list slurm; do
	check "'$c --help' exits 0 and prints usage" sh -c "$WM $c --help | grep -q 'usage: wmbench $c'"
done
$WM list attacks >"$TMP/list"
check "list attacks: each attack's category and threat model" sh -c \
	"grep -A1 '^  prune ' $TMP/list | grep -q 'category: model modification; needs: weights\$' &&
	 grep -A1 '^  input_noise ' $TMP/list | grep -q 'category: input pre-processing (query path' &&
	 grep -A1 '^  distill ' $TMP/list | grep -q 'category: model extraction; needs: data, labels, queries'"
$WM frobnicate >/dev/null 2>"$TMP/err"
check "an unknown command exits non-zero with a message" sh -c "[ $? -ne 0 ] && grep -q 'unknown command' $TMP/err"

# bad job files: file:line:col and what was expected, before any work
cat >"$TMP/bad1.yaml" <<'Y'
run:
  model: mlp
  epochz: 3
Y
$WM run -o "$TMP/x" "$TMP/bad1.yaml" 2>"$TMP/e1"
check "unknown run key: exit 1" test $? -eq 1
check "unknown run key: file:line:col and expected" grep -q "bad1.yaml:3:3: .*epochz.*expected" "$TMP/e1"
check "nothing was created for a bad job file" test ! -e "$TMP/x"
cat >"$TMP/bad2.yaml" <<'Y'
run:
  model: mlp
schemes:
  uchida: {bits: 99999999}
Y
$WM run -o "$TMP/x" "$TMP/bad2.yaml" 2>"$TMP/e2"
check "out-of-range bits names the parameter, value and range" grep -q "bits.*99999999.*expected an integer in \[1, " "$TMP/e2"
cat >"$TMP/bad3.yaml" <<'Y'
run:
  model: mlp
schemes:
  uchida: {bits: 600000}
Y
$WM run -o "$TMP/x" "$TMP/bad3.yaml" 2>"$TMP/e3"
check "more bits than the layer holds is refused before training" grep -q "uchida: parameter 'bits' = 600000 is more than layer 'fc2' holds" "$TMP/e3"
cat >"$TMP/bad4.yaml" <<'Y'
run:
  model: mlp
schemes:
  uchida: {layer: conv9}
Y
$WM run -o "$TMP/x" "$TMP/bad4.yaml" 2>"$TMP/e4"
check "an unknown layer name is refused with the valid names" grep -q "'layer' = 'conv9'.*expected auto or one of fc1, fc2, fc3" "$TMP/e4"
cat >"$TMP/bad5.yaml" <<'Y'
run:
  dataset: mnist
  data_dir: /nonexistent/mnist
  model: mlp
Y
$WM run -o "$TMP/x5" "$TMP/bad5.yaml" 2>"$TMP/e5"
check "a missing dataset exits 1" test $? -eq 1
check "a missing dataset names the path" grep -q "/nonexistent/mnist/train-images-idx3-ubyte.gz" "$TMP/e5"
check "a missing dataset creates no run directory" test ! -e "$TMP/x5"
cat >"$TMP/bad6.yaml" <<'Y'
run:
  model: mlp
attacks:
  prune: {rate: 1.5}
Y
$WM run -o "$TMP/x" "$TMP/bad6.yaml" 2>"$TMP/e6"
check "prune rate outside [0,1] names attack, parameter and range" grep -q "prune: parameter 'rate' = '1.5' is out of range; expected a number in \[0, 1\]" "$TMP/e6"

# dry run
$WM run --dry-run -o "$TMP/drydir" jobs/ci.yaml >"$TMP/dry"
check "--dry-run lists 16 jobs with dependencies and estimates" sh -c "grep -q '^# 16 jobs' $TMP/dry && grep -q 'estimated CPU time' $TMP/dry"
check "--dry-run creates no run directory" test ! -e "$TMP/drydir"

# verify: 0 detected, 1 not detected, 2 error
$WM run -q -o "$TMP/r" jobs/ci.yaml >/dev/null 2>&1
emb=$(grep ',embed,' "$TMP/r/results.csv" | head -1 | cut -d, -f1)
trn=$(grep ',embed,' "$TMP/r/results.csv" | head -1 | cut -d, -f2)
$WM verify --model "$TMP/r/models/$emb.npz" --key "$TMP/r/keys/$emb.npz" >"$TMP/v1"
check "verify: the marked model with the owner's key exits 0" test $? -eq 0
check "verify prints metric, p-value and decision" sh -c "grep -q '^ber: 0' $TMP/v1 && grep -q '^p-value' $TMP/v1 && grep -q DETECTED $TMP/v1"
$WM verify --model "$TMP/r/models/$trn.npz" --key "$TMP/r/keys/$emb.npz" >"$TMP/v2"
check "verify: the clean model with the owner's key exits 1" test $? -eq 1
$WM verify --model "$TMP/nope.npz" --key "$TMP/r/keys/$emb.npz" 2>"$TMP/v3"
check "verify: a missing model exits 2 and names it" sh -c "[ $? -eq 2 ] && grep -q nope.npz $TMP/v3"
head -c 3000 "$TMP/r/models/$emb.npz" >"$TMP/trunc.npz"
$WM verify --model "$TMP/trunc.npz" --key "$TMP/r/keys/$emb.npz" 2>"$TMP/v4"
check "verify: a truncated model exits 2 with a message" sh -c "[ $? -eq 2 ] && grep -q trunc.npz $TMP/v4"

# slurm script
$WM slurm --ntasks-per-node 4 --time 02:00 jobs/ci.yaml >"$TMP/s.sh"
check "slurm prints an sbatch script" sh -c "grep -q '^#SBATCH --ntasks-per-node=4' $TMP/s.sh && grep -q 'srun --mpi=pmix' $TMP/s.sh && grep -q -- '--signal=TERM@60' $TMP/s.sh && bash -n $TMP/s.sh"
check "... whose comments give the dry run's estimate over its 3 worker ranks" \
	grep -q '^# The dry run estimates [0-9.]* CPU-hours: [0-9.]* h on 3 worker ranks' "$TMP/s.sh"
$WM slurm --time 00:01 jobs/quick.yaml >"$TMP/s2.sh" 2>"$TMP/s2.err"
rc=$?
check "a --time below the estimate: the script still, and a warning naming both" sh -c \
	"[ $rc -eq 0 ] && bash -n $TMP/s2.sh && grep -q 'h on 1 worker rank at the development machine.s speed per core, more than --time 00:01' $TMP/s2.err"
$WM slurm --time 02:00 jobs/ci.yaml >/dev/null 2>"$TMP/s3.err"
check "... and none when it fits" test ! -s "$TMP/s3.err"
$WM slurm --time 9h jobs/ci.yaml >/dev/null 2>"$TMP/s.err"
check "slurm rejects a bad --time with what it expected" grep -q "expected HH:MM" "$TMP/s.err"
# a capacity failure is reported in the row, not hidden (uchida: T = 3M on lenet5 conv2, M = 150)
cat >"$TMP/cap.yaml" <<'Y'
run:
  model: lenet5
  epochs: 2
  train_subset: 6000
  test_subset: 1000
schemes:
  uchida: {bits: 450, layer: conv2, lambda: 0.1}
Y
$WM run -q -o "$TMP/cap" "$TMP/cap.yaml" >/dev/null 2>&1
check "uchida at T = 3M: the embed row says the embedding is incomplete" \
	grep -q ',embed,.*embedding incomplete: BER 0\.[1-9]' "$TMP/cap/results.csv"
# distilling into another architecture: white-box verification cannot read it -> not detected
cat >"$TMP/dist.yaml" <<'Y'
run:
  model: lenet5
  epochs: 1
  train_subset: 4000
  test_subset: 500
schemes:
  uchida: {}
attacks:
  distill: {student: mlp, epochs: 1}
Y
$WM run -q -o "$TMP/dist" "$TMP/dist.yaml" >/dev/null 2>&1
check "a white-box mark distilled into another architecture is 'not detected', not a failure" \
	python3 -c "
import csv,sys
r=[x for x in csv.DictReader(open('$TMP/dist/results.csv')) if x['kind']=='attack' and x['scheme']=='uchida']
sys.exit(not (len(r)==1 and r[0]['status']=='ok' and r[0]['detected']=='0' and 'not the marked lenet5' in r[0]['message']))"
finish
