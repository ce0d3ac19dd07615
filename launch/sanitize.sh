#!/usr/bin/env bash
# Builds everything with AddressSanitizer + UndefinedBehaviorSanitizer into
# build-asan/ and runs the whole CTest suite under it.
#   launch/sanitize.sh [ctest options, e.g. -R config]
# Every sanitizer report goes to build-asan/sanitizer/san.<program>.<pid>:
# tests that expect a failing exit status would otherwise hide one.  Exits 1 if
# a test failed or any report was written.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
INNA_BUILD=$INNA_ROOT/build-asan
CC=${CC:-clang-14}
INNA_PACKAGES="$INNA_PACKAGES clang-14 libclang-rt-14-dev"
inna_install_deps
command -v "$CC" >/dev/null || CC=gcc   # gcc has both sanitizers too

# -fno-sanitize-recover: UBSan stops the program at the first error, like
# ASan, so a test cannot pass over it.  -O1 -g keeps it fast with exact lines;
# Debug keeps assert() in.
san="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
cmake -S "$INNA_ROOT" -B "$INNA_BUILD" -DCMAKE_C_COMPILER="$CC" -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_C_FLAGS="$san" -DCMAKE_C_FLAGS_DEBUG="-O1 -g" >/dev/null
cmake --build "$INNA_BUILD" -j "$(nproc)"

# mpirun starts local ranks with its own environment, so these reach every
# rank; each process writes its reports to $reports/san.<program>.<pid>.
# fast_unwind_on_malloc=0: Open MPI and HDF5 have no frame pointers, and
# lsan.supp names their functions, which only the full unwinder sees.
reports=$INNA_BUILD/sanitizer
rm -rf "$reports" "$reports.tool-failures" && mkdir -p "$reports"
common="log_path=$reports/san:log_exe_name=1"
export ASAN_OPTIONS="$common:detect_leaks=1:fast_unwind_on_malloc=0:strict_string_checks=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="$common:print_stacktrace=1:halt_on_error=1"
# Leaks inside libraries outside our code (Open MPI, HDF5) are listed, with
# reasons, in lsan.supp; everything else is reported.
export LSAN_OPTIONS="suppressions=$INNA_ROOT/launch/lsan.supp:print_suppressions=0"

# LeakSanitizer's own tracer sometimes crashes at exit while library worker
# threads sleep ("Tracer caught signal 11 ... LeakSanitizer has encountered a
# fatal error", google/sanitizers#1353): the leak check of that process did
# not run, which is not a finding in the program, but the process exits 1 and
# its test fails.  Such reports are listed and set aside (a report with any
# sanitizer error in it still fails the run); prints 1 if it set one aside.
set_aside_tracer_crashes() {
  local f any=0
  for f in "$reports"/*; do
    [ -e "$f" ] || continue
    if grep -q 'LeakSanitizer has encountered a fatal error' "$f" &&
       ! grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$f"; then
      inna_say "leak check did not run (LeakSanitizer tracer crashed): $(basename "$f"), set aside"
      mkdir -p "$reports.tool-failures" && mv "$f" "$reports.tool-failures/"
      any=1
    fi
  done
  echo "$any"
}

cd "$INNA_BUILD"
rc=0
ctest --output-on-failure "$@" || rc=$?
# A test that failed in a run where the tracer crashed is run once more (the
# tests are deterministic: a real failure fails again); it must pass then.
if [ "$(set_aside_tracer_crashes)" = 1 ] && [ "$rc" != 0 ]; then
  inna_say "the tracer crashed during this run: the failed tests once more"
  rc=0
  ctest --output-on-failure --rerun-failed || rc=$?
  set_aside_tracer_crashes >/dev/null
fi
if compgen -G "$reports/*" >/dev/null; then
  inna_say "sanitizer reports (full text in $reports/):"
  # Per report: the error and the first frame in our sources (else the
  # first named frame), i.e. where to look.
  awk -v root="$INNA_ROOT/" '
    FNR == 1 { if (kind != "") print kind "  at " (ours != "" ? ours : first); kind = ours = first = "" }
    /ERROR: (Address|Leak)Sanitizer|runtime error:/ && kind == "" {
      kind = $0; sub(/^==[^=]*==[0-9]+== ?/, "", kind); sub(/ on (unknown )?address.*/, "", kind) }
    /^ +#[0-9]+ 0x[0-9a-f]+ in / && !/__interceptor|__asan|__sanitizer|in (malloc|calloc|realloc|strdup) / {
      f = $0; sub(/^ +#[0-9]+ 0x[0-9a-f]+ in /, "", f); sub(/ \(BuildId.*/, "", f)
      if (first == "") first = f
      if (ours == "" && index(f, root)) { ours = f; sub(root, "", ours) } }
    END { if (kind != "") print kind "  at " (ours != "" ? ours : first) }' "$reports"/* |
    sort | uniq -c >&2
  rc=1
fi
exit "$rc"
