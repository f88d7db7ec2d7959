"""The Dask worker plugin that carries a model to every worker of a job, once.

Kept apart from :mod:`actif.distributed` because a plugin must subclass Dask's
``WorkerPlugin``, and ``actif.distributed`` imports Dask only when a job runs.
"""

from __future__ import annotations

from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin


class ModelPlugin(WorkerPlugin):
    """Installs a model's bytes in each worker process's model cache and pins it there
    while the plugin is registered. The scheduler sends a plugin to every worker once,
    including workers that join or restart during the job, so the model's bytes are never
    a key of the graph that a worker could drop between tasks and fetch again."""

    def __init__(self, model_blob: bytes, key: tuple[Any, ...]) -> None:
        self.model_blob = model_blob
        self.key = key

    def setup(self, worker: Any) -> None:
        from .distributed import pin_model

        pin_model(self.model_blob, self.key)

    def teardown(self, worker: Any) -> None:
        from .distributed import unpin_model

        unpin_model(self.key)
