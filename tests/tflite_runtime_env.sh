#!/usr/bin/env bash
# Run the TFLite tests as a Raspberry Pi image has them: tflite-runtime on NumPy < 2,
# no ai-edge-litert, the schema from the pure-Python 'tflite' package.
#
#   bash tests/tflite_runtime_env.sh            # venv in $TMPDIR (or /tmp), kept for reruns
#   ACTIF_TFLITE_RUNTIME_VENV=dir bash tests/tflite_runtime_env.sh
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${ACTIF_TFLITE_RUNTIME_VENV:-${TMPDIR:-/tmp}/actif-tflite-runtime-venv}"
python="${PYTHON:-python3}"

# tflite-runtime's last wheels (2.14) are for CPython <= 3.11
if ! "$python" -c 'import sys; sys.exit(sys.version_info[:2] > (3, 11))'; then
  echo "tflite-runtime env: skipped, no tflite-runtime wheel for $("$python" -V)"
  exit 0
fi
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
# actif builds its native core as usual
"$venv/bin/python" -m pip install -q "$repo[tflite-runtime]" pytest -Cbuild-dir="$venv/actif-build"

"$venv/bin/python" - <<'PY'
import numpy
from actif.backends.tflite_rt import check_available, interpreter_class

check_available()
engine = interpreter_class().__module__
assert numpy.__version__.startswith("1."), numpy.__version__
assert engine.startswith("tflite_runtime"), engine
print(f"numpy {numpy.__version__}, interpreter from {engine}")
PY

cd "$repo"
"$venv/bin/python" -m pytest -q -p no:cacheprovider tests/test_interchange_tflite.py tests/test_parity.py -k "tflite or interchange"
