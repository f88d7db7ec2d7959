"""The lab: everything around the runtime that a device never needs.

Data loaders and feature code (:mod:`actif.lab.data`), training (:mod:`actif.lab.training`)
and the benchmark report generator (:mod:`actif.lab.report`). ``import actif`` never
imports this package; its dependencies (matplotlib, rich, pandas, pyarrow) come with the
``lab`` extra (``pip install "actif[lab]"``).
"""
