"""The minimal runtime install works: NumPy plus actif, no extras (what runs on a
headset or a board). Run by .ci/run in a fresh virtual environment after
`pip install .`; fails if matplotlib or rich is installed or imported."""

import importlib.util
import pathlib
import sys

import numpy as np

for name in ("matplotlib", "rich"):
    assert importlib.util.find_spec(name) is None, f"{name} is installed in the minimal runtime environment"

import actif  # noqa: E402

assert "cpp" in actif.available_backends(), actif.available_backends()  # pip install . built the core
package = pathlib.Path(actif.__file__).parent
assert (package / "py.typed").exists() and (package / "_core.pyi").exists(), "typing files missing from the wheel"

model = actif.random_model(input_size=6, hidden_size=16, output_size=2, seed=0, window=10)
X = np.random.default_rng(0).normal(size=(32, 10, 6)).astype(np.float32)
assert model.predict(X).shape == (32, 2)
res = actif.Explainer(model).attribute(X)
assert len(res.ranking) == 6
stream = actif.StreamingExplainer(model, stateful=True)
for row in X[0]:
    stream.update(row)
stream.update(X[1])  # a batch of consecutive samples in one call
assert stream.state.steps == 20 and np.all(np.isfinite(stream.scores()))
loaded = [m for m in ("matplotlib", "rich", "pandas") if m in sys.modules]
assert not loaded, f"the runtime imported {loaded}"
print(f"minimal runtime OK: actif {actif.__version__}, numpy {np.__version__}, backends {actif.available_backends()}")
