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
