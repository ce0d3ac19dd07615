#!/usr/bin/env bash
# cli_errors.sh INNA CONFIG WORKDIR [MPIRUN...]: every kind of bad input gets
# exit status 2, exactly one line on stderr naming the key or file, and
# nothing written: no run folder appears, an existing one stays byte-identical.
set -u
inna=$1 config=$2 work=$3; shift 3
mpirun=("$@")
rm -rf "$work" && mkdir -p "$work" || exit 1
failures=0

# A finished run whose files must survive every failed attempt that names it.
existing=$work/existing
mkdir -p "$existing" && echo "earlier results" > "$existing/model.h5"
before=$(cat "$existing/model.h5")

# expect NAME WORDS -- ARGS...: the run must fail as described.  Only lines
# that inna prints count: mpirun may add its own banner about the exit status.
expect() {
  local name=$1 words=$2; shift 3
  local out=$work/out-$name
  "${mpirun[@]}" "$inna" --set run.out="$out" "$@" >"$work/$name.out" 2>"$work/$name.err"
  local rc=$? lines
  lines=$(grep -c '^inna' "$work/$name.err")
  if [ "$rc" != 2 ]; then echo "FAIL $name: exit $rc, expected 2"; failures=$((failures + 1))
  elif [ "$lines" != 1 ]; then echo "FAIL $name: $lines lines from inna on stderr, expected 1"; cat "$work/$name.err"; failures=$((failures + 1))
  elif ! grep -qF -- "$words" "$work/$name.err"; then echo "FAIL $name: stderr lacks '$words': $(cat "$work/$name.err")"; failures=$((failures + 1))
  elif [ -e "$out" ]; then echo "FAIL $name: $out was created"; failures=$((failures + 1))
  else echo "ok   $name: $(cat "$work/$name.err")"; fi
}

touch "$work/a-file"
head -c 3000 /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz > "$work/truncated.gz"
# 10,000 labels (as many as the test images), the last one 12.
{ printf '\x00\x00\x08\x01\x00\x00\x27\x10'; head -c 9999 /dev/zero; printf '\x0c'; } > "$work/bad-label.idx"
printf 'not an idx file at all' > "$work/bad-magic.idx"
sed 's/^layer = conv filters=10 /layer = conv filters=0 /' "$config" > "$work/bad-layer.ini"
sed 's/^\[optim\]/[optim]\nbetta = 0.3/' "$config" > "$work/unknown-key.ini"
sed '4s/$/\x00junk/' "$config" > "$work/nul-byte.ini"
sed 's/^lr = .*/&\nlr = 0.03/' "$config" > "$work/twice.ini"

expect usage         "no config file given"      --
expect missing-cfg   "$work/nope.ini"             -- "$work/nope.ini"
expect unknown-key   "optim.betta"                -- "$work/unknown-key.ini"
expect unknown-set   "optim.betta"                -- "$config" --set optim.betta=1
expect beta-zero     "optim.beta"                 -- "$config" --set optim.beta=0
expect beta-neg      "optim.beta"                 -- "$config" --set optim.beta=-1
expect alpha-neg     "optim.alpha"                -- "$config" --set optim.alpha=-0.5
expect lr-zero       "optim.lr"                   -- "$config" --set optim.lr=0
expect q-range       "optim.q"                    -- "$config" --set optim.q=1.5
expect batch-zero    "train.batch"                -- "$config" --set train.batch=0
expect batch-type    "train.batch"                -- "$config" --set train.batch=abc
expect check-neg     "run.check_every"            -- "$config" --set run.check_every=-1
expect gather-range  "dist.gather: must be in [0, 256] (got 300)" -- "$config" --set dist.gather=300
expect gather-type   "dist.gather"                -- "$config" --set dist.gather=all
expect bad-enum      "optim.name"                 -- "$config" --set optim.name=rmsprop
expect bad-layer     "filters"                    -- "$work/bad-layer.ini"
expect missing-data  "$work/none.gz"              -- "$config" --set data.train_images="$work/none.gz"
expect truncated     "$work/truncated.gz"         -- "$config" --set data.train_images="$work/truncated.gz"
expect bad-magic     "$work/bad-magic.idx"        -- "$config" --set data.test_labels="$work/bad-magic.idx"
expect label-range   "$work/bad-label.idx: label 12 at index 9999" -- "$config" --set data.test_labels="$work/bad-label.idx"
expect shape         "net.input"                  -- "$config" --set net.input=3x28x28
expect classes       "classes"                    -- "$config" --set data.classes=12
expect out-not-dir   "run.out"                    -- "$config" --set run.out="$work/a-file/run"
expect nul-byte      "$work/nul-byte.ini:4: NUL byte" -- "$work/nul-byte.ini"
expect given-twice   "optim.lr given twice"       -- "$work/twice.ini"
expect chunk-batch   "dist.chunk: 5 is larger than train.batch = 4" -- "$config" --set train.batch=4 --set dist.chunk=5
expect epochs-absurd "train.epochs: 99999999999 epochs" -- "$config" --set train.epochs=99999999999 --set train.steps=-1
expect steps-absurd  "train.steps: 1099511627777 is more than" -- "$config" --set train.steps=1099511627777
expect threads-word  "run.threads: expected auto or an integer" -- "$config" --set run.threads=many
expect progress-both "--progress and --no-progress" -- "$config" --progress --no-progress

# A failure after a run folder exists leaves it as it was.
"${mpirun[@]}" "$inna" "$config" --set run.out="$existing" --set net.input=3x28x28 >/dev/null 2>&1
if [ "$(cat "$existing/model.h5")" != "$before" ] || [ "$(ls "$existing")" != "model.h5" ]; then
  echo "FAIL existing: the earlier run folder was changed"; failures=$((failures + 1))
else echo "ok   existing: earlier run folder intact"; fi

echo "$failures failure(s)"
[ "$failures" = 0 ]
