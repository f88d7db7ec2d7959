"""Error types raised by actif.

Bad *input* (arrays handed to a model or explainer) raises :class:`ValueError`, so the
usual ``except ValueError`` works. Bad *model or state files* raise
:class:`ModelFormatError`, a ``ValueError`` subclass, so callers can tell a corrupt
file from a bad call. Asking for a backend this machine lacks raises
:class:`BackendUnavailableError`, whose message names the extra to install.
"""

from __future__ import annotations


class ModelFormatError(ValueError):
    """A model, statistics or checkpoint file is malformed, truncated or unsupported."""


class BackendUnavailableError(ImportError):
    """The requested backend is not installed or not built on this machine."""


class InvalidInputError(ValueError):
    """An input array was rejected (shape, dtype or non-finite values).

    ``reason`` names the rule that rejected it, as the skip counts do: ``bad_dtype``,
    ``bad_shape``, ``empty`` (the array as a whole), or ``non_finite``,
    ``out_of_range`` (a value). ``where`` is a tuple index of the first offending
    element when the problem is a value, else ``None``.
    """

    def __init__(self, message: str, where: tuple[int, ...] | None = None, reason: str = "bad_shape"):
        super().__init__(message)
        self.where = where
        self.reason = reason


class CheckpointMismatchError(ModelFormatError):
    """A well-formed checkpoint that belongs to another model (weights, structure or
    feature count differ), so the stream cannot resume on this one. A subclass of
    :class:`ModelFormatError`: every file that cannot be used raises that one type."""
