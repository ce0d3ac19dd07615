#!/bin/sh
# Runs plot_runs.py (same arguments) with a Python that has h5py and
# matplotlib: python3 on PATH if it imports them, else Debian's
# /usr/bin/python3 (python3-h5py, python3-matplotlib).
here=$(dirname "$0")
py=python3
if ! python3 -c 'import h5py, matplotlib' >/dev/null 2>&1; then
    py=/usr/bin/python3
fi
exec "$py" "$here/plot_runs.py" "$@"
