# Shared by the launch scripts: install what is missing, build, find a Python
# that has h5py and matplotlib, and run mpirun the same way as root or not.
# Source it; it defines functions and INNA_ROOT, changes nothing by itself.

INNA_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
INNA_BUILD=${INNA_BUILD:-$INNA_ROOT/build}
INNA_PACKAGES="cmake make gcc pkg-config libopenmpi-dev openmpi-bin libopenblas-dev libhdf5-dev
  hdf5-tools libinih-dev zlib1g-dev libdnnl-dev dataset-fashion-mnist python3-h5py python3-matplotlib"
# What only the test suite needs: PyTorch, to check that model.h5 loads in it.
INNA_TEST_PACKAGES="python3-torch"

inna_say() { printf '%s\n' "$*" >&2; }

# Debian packages not yet installed among INNA_PACKAGES and the ones named, one per line.
inna_missing_packages() {
  local p
  for p in $INNA_PACKAGES "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"
  done
}

# Installs missing packages (INNA_PACKAGES and any named) with apt-get (as
# root, or through sudo); otherwise names them and fails.  Does nothing when
# all are there, so it is cheap to repeat.
inna_install_deps() {
  command -v dpkg-query >/dev/null || { inna_say "not a Debian system: install $INNA_PACKAGES $* by hand"; return 0; }
  local missing
  missing=$(inna_missing_packages "$@" | tr '\n' ' ')
  [ -z "${missing// /}" ] && return 0
  local sudo=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo -n"
    else inna_say "missing Debian packages: $missing -- ask an administrator to install them"; return 1; fi
  fi
  inna_say "installing: $missing"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null &&
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing >/dev/null
}

# The test suite's own packages: installed when possible; otherwise their
# tests report "skipped", so a user without root can still run the rest.
inna_install_test_deps() {
  inna_install_deps $INNA_TEST_PACKAGES 2>/dev/null && return 0
  inna_install_deps || return 1
  inna_say "not installed: $INNA_TEST_PACKAGES -- the tests that need it will be skipped"
}

inna_build() {
  cmake -S "$INNA_ROOT" -B "$INNA_BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null &&
    cmake --build "$INNA_BUILD" -j "$(nproc)"
}

# inna_python [MODULES]: a Python that imports MODULES (the import line,
# "h5py, matplotlib" unless given, e.g. "torch, h5py, numpy"): python3 on PATH
# may be a separate build without Debian's modules, so try $INNA_PYTHON, it,
# then Debian's own interpreter.  Prints its path; else says which modules it
# wanted (and their Debian packages) on stderr and returns 1.
inna_python() {
  local modules=${1:-h5py, matplotlib} py names
  for py in "${INNA_PYTHON:-}" python3 /usr/bin/python3; do
    [ -n "$py" ] && command -v "$py" >/dev/null && "$py" -c "import $modules" 2>/dev/null &&
      { echo "$py"; return 0; }
  done
  read -ra names <<< "${modules//,/ }"
  local list="${names[*]:0:${#names[@]}-1}"   # "torch h5py numpy" -> "torch, h5py and numpy"
  inna_say "no Python with ${list:+${list// /, } and }${names[-1]} (install ${names[*]/#/python3-})"
  return 1
}

# mpirun NP PROGRAM ARGS...: consent flags when root; with as many ranks as
# cores or fewer, each rank bound to its share of them (inna's run.threads =
# auto then gives it that many workers); more ranks than cores are
# oversubscribed and left unbound (inna then shares the cores among them).
# -q keeps mpirun's own banner off a failed run, so inna's one-line error stands alone.
inna_mpirun() {
  local np=$1; shift
  # On SIGTERM/SIGINT mpirun waits odls_base_sigkill_timeout seconds, passes
  # SIGTERM to the ranks, and kills them as long after: 10 s leaves them time
  # to finish the step and write a checkpoint (the default, 1 s, may not).
  local flags=(-q -np "$np" --mca odls_base_sigkill_timeout 10) cores
  cores=$(nproc)
  [ "$(id -u)" = 0 ] && flags+=(--allow-run-as-root)
  if [ "$np" -gt "$cores" ]; then flags+=(--oversubscribe --bind-to none)
  else flags+=(--map-by "slot:PE=$((cores / np))" --bind-to core); fi
  mpirun "${flags[@]}" "$@"
}
