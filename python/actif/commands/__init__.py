"""Subcommands of the ``actif`` CLI (see :mod:`actif.cli`)."""
