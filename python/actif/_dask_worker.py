"""What runs on a Dask worker for :mod:`actif.distributed`: the per-process model cache
and the worker plugin that fills it, once per worker and job.

Kept apart from :mod:`actif.distributed` because a plugin must subclass Dask's
``WorkerPlugin``, while ``actif.distributed`` imports Dask only when a job runs.
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

from .model import Model
from .model_spec import ModelSpec

_models: OrderedDict[tuple[Any, ...], Model] = OrderedDict()
pins: Counter[tuple[Any, ...]] = Counter()  # model key -> plugins (jobs) holding it in this process
_models_lock = threading.Lock()
_MODEL_CACHE_SIZE = 4  # unpinned models kept for the next job
model_loads: Counter[str] = Counter()  # fingerprint -> times this process parsed the model (tests read it)


class ModelPlugin(WorkerPlugin):
    """Installs a model in each worker process's cache and pins it there while the
    plugin is registered. The scheduler sends a plugin to every worker once, including
    workers that join or restart during the job, so the model's bytes are never a key of
    the graph, which Dask's memory manager may drop from a worker between two tasks (and
    the worker then fetches it again)."""

    def __init__(self, model_blob: bytes, key: tuple[Any, ...]) -> None:
        self.model_blob = model_blob
        self.key = key  # (fingerprint, backend, max_abs)

    def setup(self, worker: Any) -> None:
        fingerprint, backend, max_abs = self.key
        with _models_lock:
            if self.key not in _models:
                _models[self.key] = Model(ModelSpec.load(self.model_blob), backend, num_threads=1, max_abs=max_abs)
                model_loads[fingerprint] += 1
            _models.move_to_end(self.key)
            pins[self.key] += 1

    def teardown(self, worker: Any) -> None:
        # the job is over: the model stays cached for the next job, but may be evicted
        with _models_lock:
            pins[self.key] -= 1
            if pins[self.key] <= 0:
                del pins[self.key]
            unpinned = [k for k in _models if k not in pins]
            for k in unpinned[: max(0, len(unpinned) - _MODEL_CACHE_SIZE)]:
                del _models[k]


def installed_model(key: tuple[Any, ...], fingerprint: str) -> Model:
    """The job's model in this process, which its plugin installed before any task ran."""
    with _models_lock:
        model = _models.get(key)
    if model is None:  # cannot happen while the job's plugin is registered
        raise RuntimeError(f"model {fingerprint[:12]} is not installed on this worker "
                           "(its actif-model plugin did not run here)")
    return model
