#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole CTest suite.
#   launch/test.sh [ctest options, e.g. -R config]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
inna_install_test_deps
inna_build
cd "$INNA_BUILD"
ctest --output-on-failure "$@"
