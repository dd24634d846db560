#!/bin/bash
# Key registration (README "Key registration"): wmbench register commits to a
# key's hash and time; verify --registry --before accepts only keys registered
# before the given time, refuses the rest with exit status 4 before verifying,
# and refuses malformed registries with file:line.
. tests/lib.sh
cat >"$TMP/reg.yaml" <<'Y'
run:
  name: reg
  model: mlp
  epochs: 1
  optimizer: adam
  lr: 1e-3
  seeds: [1]
  train_subset: 2000
  test_subset: 500
schemes:
  none: {}
  uchida: {bits: 32, lambda: 0.01}
attacks:
  forge_uchida: {scheme: uchida}
Y
$WM run -q -o "$TMP/r" "$TMP/reg.yaml" >/dev/null 2>&1
check "the run exits 0" test $? -eq 0
emb=$(python3 -c "import csv,sys; print([r['job_id'] for r in csv.DictReader(open(sys.argv[1])) if r['kind']=='embed'][0])" "$TMP/r/results.csv")
key="$TMP/r/keys/$emb.npz"
model="$TMP/r/models/$emb.npz"
$WM register --registry "$TMP/reg.txt" --time 2026-01-01T00:00:00Z "$key" >"$TMP/o1" 2>&1
check "register: the key goes in with its time" sh -c \
	"grep -q '^# wmbench key registry v1' $TMP/reg.txt && grep -q ' 1767225600 2026-01-01T00:00:00Z ' $TMP/reg.txt"
$WM register --registry "$TMP/reg.txt" "$key" >"$TMP/o2" 2>&1
check "registering a key twice is refused; the first time counts" sh -c \
	"[ $? -eq 2 ] && grep -q 'registered already, at 1767225600' $TMP/o2 && [ \$(grep -c 1767225600 $TMP/reg.txt) -eq 1 ]"
$WM verify --model "$model" --key "$key" --registry "$TMP/reg.txt" --before 2026-06-01T00:00:00Z >"$TMP/v1" 2>&1
check "registered before the dispute time: verified (exit 0)" sh -c \
	"[ $? -eq 0 ] && grep -q 'key registered at 1767225600' $TMP/v1 && grep -q DETECTED $TMP/v1"
$WM verify --model "$model" --key "$key" --registry "$TMP/reg.txt" --before 2025-06-01T00:00:00Z >"$TMP/v2" 2>&1
check "registered after the dispute time: refused before verifying (exit 4)" sh -c \
	"[ $? -eq 4 ] && grep -q 'REFUSED' $TMP/v2 && ! grep -q 'p-value' $TMP/v2"
cp "$key" "$TMP/other.npz"
printf 'x' >>"$TMP/other.npz"
$WM verify --model "$model" --key "$TMP/other.npz" --registry "$TMP/reg.txt" --before 2026-06-01T00:00:00Z >"$TMP/v3" 2>&1
check "a key not in the registry is refused (exit 4)" sh -c "[ $? -eq 4 ] && grep -q 'registered: never' $TMP/v3"
$WM verify --model "$model" --key "$key" --registry "$TMP/reg.txt" >"$TMP/v4" 2>&1
check "--registry without --before is refused" sh -c "[ $? -eq 2 ] && grep -q 'go together' $TMP/v4"
printf '%s\nnot-a-hash 12 x y\n' "# wmbench key registry v1: sha256 unix_time iso_time key_file" >"$TMP/bad.txt"
$WM verify --model "$model" --key "$key" --registry "$TMP/bad.txt" --before 2026-06-01T00:00:00Z >/dev/null 2>"$TMP/v5"
check "a malformed registry line is named by file:line" grep -q "bad.txt:2: malformed line" "$TMP/v5"
$WM register --registry "$TMP/reg.txt" --time yesterday "$key" >/dev/null 2>"$TMP/v6"
check "a bad --time is refused naming the value and the formats" grep -q "'yesterday' is not a time; expected" "$TMP/v6"
# A forger's key: forge_uchida on the clean model, which nobody ever marked,
# kept in keys/ by the run. It verifies (the finding); under registration it
# is refused, because the forger can only register it after publication.
read -r fjob clean fflag <<<"$(python3 -c "
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
f = [r for r in rows if r['attack'] == 'forge_uchida' and r['scheme'] == 'none'][0]
print(f['job_id'], f['parent_id'], f['forged'])" "$TMP/r/results.csv")"
forged="$TMP/r/keys/$fjob.npz"
check "the forgery on the never-marked model is recorded as forged and its key kept" sh -c \
	"[ '$fflag' = 1 ] && test -f '$forged'"
$WM verify --model "$TMP/r/models/$clean.npz" --key "$forged" >"$TMP/f1" 2>&1
check "wmbench verify accepts the forged key on a model nobody marked (exit 0)" sh -c \
	"[ $? -eq 0 ] && grep -q DETECTED $TMP/f1"
$WM register --registry "$TMP/reg.txt" --time 2026-07-01T00:00:00Z "$forged" >/dev/null 2>&1
$WM verify --model "$TMP/r/models/$clean.npz" --key "$forged" --registry "$TMP/reg.txt" \
	--before 2026-06-01T00:00:00Z >"$TMP/f2" 2>&1
check "under registration (owner before publication, forger after) the forgery is refused" sh -c \
	"[ $? -eq 4 ] && grep -q REFUSED $TMP/f2"
finish
