#!/usr/bin/env bash
# expect_output.sh REGEX... -- COMMAND...: COMMAND must exit 0, and each
# extended regular expression must match some line of its output (stdout and
# stderr).  For the tests that check lines of a program's output: CTest's
# PASS_REGULAR_EXPRESSION alone would ignore the exit status.
regexes=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do regexes+=("$1"); shift; done
[ $# -gt 1 ] && [ ${#regexes[@]} -gt 0 ] || { echo "usage: expect_output.sh REGEX... -- COMMAND..."; exit 2; }
shift
out=$("$@" 2>&1)
rc=$?
printf '%s\n' "$out"
[ "$rc" = 0 ] || { echo "FAIL: exit status $rc, expected 0"; exit 1; }
for r in "${regexes[@]}"; do
  grep -Eq -- "$r" <<< "$out" || { echo "FAIL: no line matches: $r"; exit 1; }
done
