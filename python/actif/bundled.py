"""The models that ship with actif (``models/`` in the source tree, installed into the
package as ``actif/models/``)."""

from __future__ import annotations

import os

#: The default model: an edge-sized FOVAL-style fixation-depth regressor trained on
#: RobustVision (see models/README.md, its model card).
DEFAULT_MODEL = "foval_edge"


def models_dir() -> str:
    """Where bundled models live: inside the installed package, or the source tree's
    ``models/`` (editable installs and running from a checkout)."""
    here = os.path.dirname(os.path.abspath(__file__))
    for candidate in (os.path.join(here, "models"), os.path.join(os.path.dirname(os.path.dirname(here)), "models")):
        if os.path.isdir(candidate):
            return candidate
    raise FileNotFoundError("no bundled models found: reinstall actif (pip install .) from a complete checkout")


def bundled_model_path(name: str = DEFAULT_MODEL, ext: str = ".npz") -> str:
    path = os.path.join(models_dir(), name + ext)
    if not os.path.exists(path):
        have = sorted(f for f in os.listdir(models_dir()) if f.endswith(ext))
        raise FileNotFoundError(f"no bundled model {name + ext!r}; available: {', '.join(have) or 'none'}")
    return path
