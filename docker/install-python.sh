#!/usr/bin/env bash
# Creates a virtualenv and installs actif from this checkout into it, building the
# native core (actif._core) with the machine's compiler: AVX2 and AVX-512 kernels on x86-64, NEON
# on aarch64, scalar everywhere. The images in docker/ use it, and CI can.
#
#   docker/install-python.sh VENV_DIR [EXTRAS]     e.g. docker/install-python.sh /opt/actif test
set -euo pipefail
if [ "$#" -lt 1 ]; then
  sed -n '2,6p' "$0"
  exit 2
fi
cd "$(dirname "$0")/.."
venv=$1
extras=${2:-}
python3 -m venv "$venv"
"$venv/bin/pip" install -q --upgrade pip
"$venv/bin/pip" install -q scikit-build-core pybind11
spec=.
if [ -n "$extras" ]; then spec=".[$extras]"; fi
"$venv/bin/pip" install -q --no-build-isolation "$spec"
"$venv/bin/python" -c "import actif, actif._core as c; print('actif', actif.__version__, 'kernels', c.supported_isas())"
