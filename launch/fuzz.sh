#!/usr/bin/env bash
# Builds the libFuzzer harnesses (tests/fuzz/) with clang + ASan + UBSan into
# build-fuzz/ and runs each for SECONDS_PER_HARNESS, one after the other.
#   launch/fuzz.sh [SECONDS_PER_HARNESS]     (default 60)
#   FUZZERS="fuzz_idx fuzz_config" launch/fuzz.sh 20   runs only those
# Prints per harness the seconds run, executions, coverage (cov:, ft:) and
# findings; exits 1 if any harness found something (inputs kept in
# build-fuzz/findings/NAME/, libFuzzer's output in build-fuzz/logs/NAME.log).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
seconds=${1:-60}
CC=${CC:-clang-14}
FUZZ_BUILD=$INNA_ROOT/build-fuzz

# clang and its libFuzzer/sanitizer runtimes, besides what the library needs.
INNA_PACKAGES="$INNA_PACKAGES clang-14 libclang-rt-14-dev"
inna_install_deps
command -v "$CC" >/dev/null || { inna_say "fuzz.sh needs clang with libFuzzer ($CC): apt-get install clang-14"; exit 1; }

# -O1 -g: fast enough to fuzz, stack traces still name the right lines;
# Debug keeps assert() in.  No unit tests here: they are sanitize.sh's job.
cmake -S "$INNA_ROOT" -B "$FUZZ_BUILD" -DCMAKE_C_COMPILER="$CC" -DINNA_FUZZ=ON \
  -DBUILD_TESTING=OFF -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS_DEBUG="-O1 -g" >/dev/null
cmake --build "$FUZZ_BUILD" --target fuzzers -j "$(nproc)"

# Seeds are regenerated each time (cheap, never committed); the corpus that
# libFuzzer grows is kept, so a second run starts where the first stopped.
rm -rf "$FUZZ_BUILD/seeds"
python3 "$INNA_ROOT/tests/fuzz/make_seeds.py" "$FUZZ_BUILD/seeds" "$INNA_ROOT"
# Real checkpoints need checkpoint_save: the harness writes them itself.
ckpt_fuzzer=$FUZZ_BUILD/tests/fuzz/fuzz_checkpoint
if [ -x "$ckpt_fuzzer" ]; then
  INNA_FUZZ_WRITE_SEEDS="$FUZZ_BUILD/seeds/checkpoint" "$ckpt_fuzzer" >/dev/null 2>&1 ||
    inna_say "fuzz_checkpoint: could not write checkpoint seeds, starting from the HDF5 signature only"
fi

# Sanitizers stop at the first error with a full stack; leaks from libraries
# outside our code are suppressed by name, not by turning LeakSanitizer off.
# An allocation over 2 GB returns NULL, as on a machine without that memory,
# instead of killing the run: HDF5 believes sizes read from corrupt files,
# and the readers must cope with malloc failing anyway.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1:max_allocation_size_mb=2048}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$INNA_ROOT/launch/lsan.supp:print_suppressions=0}

# One line per problem in a libFuzzer log: the sanitizer's error (or the
# harness's own message) and the first stack frame that is not the
# sanitizer's or an allocator's -- where in our code or in HDF5 it happened.
summarize() {
  awk '
    function flush() { if (kind != "") print kind (where != "" && where != "-" ? "  at " where : ""); kind = where = "" }
    /ERROR: (AddressSanitizer|LeakSanitizer)|ERROR: libFuzzer: (timeout|out-of-memory|deadly signal)|runtime error:|Assertion .* failed|^config_to_ini output/ {
      if (/deadly signal/ && kind != "") next       # the abort() after a message
      flush(); kind = $0; sub(/^==[0-9]+== ?/, "", kind); sub(/ on (unknown )?address.*|: memory ranges.*/, "", kind)
      if (/^config_to_ini/) { sub(/ \(line [0-9]+\).*|\/proc\/self\/fd\/[0-9]+:[0-9]+: /, "", kind); where = "-" }
      next }
    kind != "" && where == "" && /^ +#[0-9]+ 0x[0-9a-f]+ in / &&
      !/__interceptor|__sanitizer|__asan|fuzzer::|in (malloc|calloc|realloc|abort|raise) |H5FL_|H5MM_/ {
      where = $0; sub(/^ +#[0-9]+ 0x[0-9a-f]+ in /, "", where); sub(/ \(BuildId.*/, "", where) }
    END { flush() }' "$1"
}

read -r -a all <"$FUZZ_BUILD/tests/fuzz/fuzzers.txt"
read -r -a fuzzers <<<"${FUZZERS:-${all[*]}}"
[ -e "$INNA_ROOT/include/checkpoint.h" ] || inna_say "fuzz_checkpoint: skipped, include/checkpoint.h does not exist yet"
declare -A max_len=([fuzz_idx]=16384 [fuzz_cifar]=16384 [fuzz_config]=8192 [fuzz_checkpoint]=65536)
status=0
rows=()
for name in "${fuzzers[@]}"; do
  corpus=${name#fuzz_}
  mkdir -p "$FUZZ_BUILD/corpus/$corpus" "$FUZZ_BUILD/findings/$name" "$FUZZ_BUILD/logs"
  args=(-print_final_stats=1 -timeout=10 -max_len="${max_len[$name]:-8192}"
        -artifact_prefix="$FUZZ_BUILD/findings/$name/")
  [ -f "$INNA_ROOT/tests/fuzz/$corpus.dict" ] && args+=(-dict="$INNA_ROOT/tests/fuzz/$corpus.dict")
  # HDF5 has no frame pointers: naming its functions in lsan.supp needs the
  # slow unwinder (about 3x slower, so only where HDF5 runs).
  asan=$ASAN_OPTIONS
  [ "$name" = fuzz_checkpoint ] && asan+=:fast_unwind_on_malloc=0
  log=$FUZZ_BUILD/logs/$name.log
  bin=$FUZZ_BUILD/tests/fuzz/$name
  # Findings of an earlier run are replayed first: dropped if they no longer
  # fail (fixed), otherwise they stay and count as findings of this run.
  old=("$FUZZ_BUILD/findings/$name"/*)
  if [ -e "${old[0]}" ] && ASAN_OPTIONS=$asan "$bin" "${old[@]}" >"$log.replay" 2>&1; then
    inna_say "$name: earlier findings no longer reproduce, removed: ${old[*]}"
    rm -f "${old[@]}"
  fi
  inna_say "== $name: ${seconds}s"
  # libFuzzer stops at its first finding; start it again until the time is
  # used (at most 25 times), so that one known bug does not hide the rest and
  # the coverage numbers are for the whole time.  New inputs go to the first
  # corpus folder; the seeds are only read.
  : >"$log"
  start=$SECONDS runs=0 execs=0 crashed=0
  while left=$((start + seconds - SECONDS)); [ "$left" -gt 0 ] && [ "$runs" -lt 25 ]; do
    rc=0
    ASAN_OPTIONS=$asan "$bin" "${args[@]}" -max_total_time="$left" "$FUZZ_BUILD/corpus/$corpus" \
      "$FUZZ_BUILD/seeds/$corpus" >"$log.run" 2>&1 || rc=$?
    cat "$log.run" >>"$log"
    runs=$((runs + 1))
    n=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log.run")
    execs=$((execs + ${n:-0}))
    [ "$rc" = 0 ] && break
    crashed=$((crashed + 1))
  done
  took=$((SECONDS - start))
  # Coverage from libFuzzer's last status line ("#N DONE cov: X ft: Y ...").
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' "$log" | tail -1)
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' "$log" | tail -1)
  found=$(find "$FUZZ_BUILD/findings/$name" -type f | wc -l)
  if [ "$crashed" != 0 ] || [ "$found" != 0 ]; then
    status=1
    verdict="FOUND: $found input(s) in build-fuzz/findings/$name/, $crashed this run"
    [ "$runs" -ge 25 ] && [ "$crashed" = "$runs" ] && verdict+=" (stopped at 25 restarts)"
    summarize "$log" | sort | uniq -c | sed "s/^/  $name: /" >&2
  else
    verdict="nothing"
  fi
  rows+=("$(printf '%-16s %5ss %10s execs  cov %-5s ft %-6s %s' "$name" "$took" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$verdict")")
done
printf '%s\n' "${rows[@]}"
exit "$status"
