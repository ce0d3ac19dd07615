#!/usr/bin/env bash
# no_onednn.sh SOURCE_DIR CONFIG WORKDIR CMAKE: inna builds and trains where
# oneDNN is missing.  The machine's libdnnl-dev is hidden from CMake
# (CMAKE_DISABLE_FIND_PACKAGE_dnnl) and a dnnl.h that stops the compiler
# (tests/no-dnnl) comes first on the include path, so any source that still
# includes oneDNN fails the build.  The build then says the engine is off,
# trains on openblas, refuses run.engine = onednn naming the key (exit 2,
# nothing written), and test_onednn skips (77).
source "$(dirname "$0")/lib.sh"
src=$1 config=$2 work=$3 cmake=$4
fresh "$work"
"$cmake" -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_DISABLE_FIND_PACKAGE_dnnl=TRUE \
  -DCMAKE_C_FLAGS="-I$src/tests/no-dnnl" > "$work/configure.out" 2>&1 ||
  { cat "$work/configure.out"; fail "configure"; finish; exit; }
if grep -q 'oneDNN engine: off' "$work/configure.out"; then echo "ok   configure: oneDNN engine: off"
else fail "configure did not say the oneDNN engine is off: $(grep -i onednn "$work/configure.out")"; fi
if "$cmake" --build "$work/build" -j 2 > "$work/build.out" 2>&1; then
  echo "ok   everything built without oneDNN's header"
else
  fail "build: $(grep -m3 -E 'error|Error' "$work/build.out")"; finish; exit
fi
inna=$work/build/inna

"$inna" "$config" --set run.out="$work/run" --set train.steps=2 > "$work/run.out" 2>&1 ||
  fail "training on openblas: $(tail -2 "$work/run.out")"
if grep -q '^engine: openblas (OpenBLAS ' "$work/run.out" && grep -q '^parameters: crc32 .* after 2 steps' "$work/run.out"
then echo "ok   run.engine = auto trains on openblas: $(grep '^engine: ' "$work/run.out" | cut -c1-80)"
else fail "auto run: $(grep -E '^(engine|parameters)' "$work/run.out")"; fi

"$inna" "$config" --set run.engine=onednn --set run.out="$work/refused" > "$work/refused.out" 2> "$work/refused.err"
rc=$?
expect='inna: run.engine: onednn: this build has no oneDNN (install libdnnl-dev and rebuild, or choose openblas)'
if [ $rc != 2 ]; then fail "run.engine = onednn: exit $rc, expected 2"
elif [ "$(cat "$work/refused.err")" != "$expect" ]; then fail "run.engine = onednn: '$(cat "$work/refused.err")'"
elif [ -e "$work/refused" ]; then fail "run.engine = onednn: a run folder was written"
else echo "ok   run.engine = onednn refused: $(cat "$work/refused.err")"; fi

"$work/build/tests/test_onednn" > "$work/test_onednn.out" 2>&1
rc=$?
if [ $rc = 77 ]; then echo "ok   test_onednn skips (77): $(tail -1 "$work/test_onednn.out")"
else fail "test_onednn exit $rc, expected 77: $(tail -2 "$work/test_onednn.out")"; fi
finish
