# Sourced by the end-to-end test scripts: their work folder, failure
# counting, and the parameter hash a finished run prints.
set -u
failures=0
# fresh DIR: DIR emptied (the scripts are rerun in the same build tree).
fresh() { rm -rf "$1" && mkdir -p "$1" || exit 1; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
# hash_of LOG: the parameter hash of the run that wrote LOG.
hash_of() { sed -n 's/^parameters: crc32 \([0-9a-f]*\) after .*/\1/p' "$1"; }
# finish: the count, and the script's exit status.
finish() { echo "$failures failure(s)"; [ "$failures" = 0 ]; }
# need_python PY: the Python the study tests run (h5py, numpy), exported as
# INNA_PYTHON; without it the test is skipped (exit 77).
need_python() {
  "$1" -c 'import h5py, numpy' 2>/dev/null || { echo "skipped: $1 has no h5py"; exit 77; }
  export INNA_PYTHON=$1
}
