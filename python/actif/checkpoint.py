"""Checkpoints of a :class:`~actif.explain.StreamingExplainer`: the file format.

A checkpoint holds everything a stream needs to resume after a crash: the statistics,
the carried LSTM state (stateful mode), the counters (accepted updates, skip counts)
and the options the explainer was built with, tied to the model by a fingerprint of
its weights so it cannot be resumed on another model.

Layout, little-endian, version 1::

    0   8   magic b"ACTIFCK\\0"
    8   4   u32 version (1)
    12  4   u32 header length L (<= 1 MiB)
    16  8   u64 payload length P
    24  L   JSON header (UTF-8): model facts, options, counters, the payload's layout
    24+L P  payload: the RunningStats blob (its own format, with its own CRC), then the
            state arrays in the order the header lists them (C order, header dtype);
            for the attribution methods then the signed statistics' blob and the
            stateful mode's recent samples and states (header ``signed_stats`` and
            ``recent``, absent otherwise)
    ..  4   u32 CRC-32 (zlib) of all preceding bytes

Files are written atomically (temporary file in the same directory, flush, fsync,
rename, fsync of the directory), so a crash at any moment leaves either the previous
checkpoint or the new one, never a torn file. Reading checks sizes before it reads and
raises :class:`~actif.errors.ModelFormatError` for anything malformed.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .constants import MAX_DIM
from .errors import CheckpointMismatchError, ModelFormatError
from .fileio import write_atomically
from .model_spec import ModelSpec
from .stats import SCORE_METHODS, RunningStats
from .traces import TRACES
from .validation import ON_INVALID

MAGIC = b"ACTIFCK\x00"
CHECKPOINT_VERSION = 1
FORMAT_NAME = "actif.checkpoint"
_PREFIX = struct.Struct("<8sIIQ")
MAX_HEADER_BYTES = 1 << 20
MAX_CHECKPOINT_BYTES = 1 << 30
_MAX_COUNT = (1 << 63) - 1
_STATE_DTYPES = ("<f4", "<f8")
_OPTION_KEYS = ("trace", "aggregation", "stateful", "half_life", "on_invalid", "checkpoint_every", "method")
_MAX_BASELINE_VALUES = 1 << 20


@dataclass
class Checkpoint:
    """The decoded contents of a checkpoint file (not yet matched to a model)."""

    model_sha256: str
    input_size: int
    options: dict[str, Any]
    n_updates: int
    skipped: dict[str, int]
    stats: RunningStats
    state_steps: int | None = None
    state_arrays: dict[str, np.ndarray] = field(default_factory=dict)
    # the attribution methods: statistics of the signed attributions, and in stateful
    # mode the last window's raw samples with the states carried into them
    signed_stats: RunningStats | None = None
    recent_arrays: dict[str, np.ndarray] = field(default_factory=dict)


def model_fingerprint(spec: ModelSpec) -> str:
    """SHA-256 of a model's structure and weights (metadata excluded): a checkpoint
    resumes only on the model that wrote it."""
    digest = hashlib.sha256()
    header = {k: v for k, v in spec.header().items() if k != "metadata"}
    digest.update(json.dumps(header, sort_keys=True).encode("utf-8"))
    for name, arr in sorted(spec.arrays().items()):
        a = np.ascontiguousarray(arr)
        digest.update(f"{name}:{a.dtype.str}:{a.shape}".encode())
        digest.update(a.tobytes())
    return digest.hexdigest()


def encode(
    *,
    model_sha256: str,
    input_size: int,
    options: dict[str, Any],
    n_updates: int,
    skipped: dict[str, int],
    stats_blob: bytes,
    state_steps: int | None,
    state_arrays: dict[str, np.ndarray],
    signed_blob: bytes | None = None,
    recent_arrays: dict[str, np.ndarray] | None = None,
) -> bytes:
    """The bytes of a checkpoint (see the module docstring)."""
    arrays = _little_endian(state_arrays)
    recent = None if recent_arrays is None else _little_endian(recent_arrays)
    header = {
        "format": FORMAT_NAME,
        "model": {"sha256": model_sha256, "input_size": int(input_size)},
        "options": {k: options[k] for k in _OPTION_KEYS},
        "counters": {"n_updates": int(n_updates), "skipped": {str(k): int(v) for k, v in skipped.items()}},
        "stats": {"nbytes": len(stats_blob)},
        "state": None
        if state_steps is None
        else {
            "steps": int(state_steps),
            "arrays": _array_specs(arrays),
        },
    }
    if signed_blob is not None:
        header["signed_stats"] = {"nbytes": len(signed_blob)}
    if recent is not None:
        header["recent"] = {"arrays": _array_specs(recent)}
    head = json.dumps(header, sort_keys=True).encode("utf-8")
    payload = stats_blob + b"".join(a.tobytes() for _, a in arrays)
    payload += (signed_blob or b"") + b"".join(a.tobytes() for _, a in recent or [])
    body = _PREFIX.pack(MAGIC, CHECKPOINT_VERSION, len(head), len(payload)) + head + payload
    return body + struct.pack("<I", zlib.crc32(body) & 0xFFFFFFFF)


def state_arrays(state: Any) -> dict[str, np.ndarray]:
    """A stream state's arrays under their checkpoint names: ``h.<layer>``,
    ``c.<layer>`` and ``ring`` (any backend's state: see actif.backends.base)."""
    arrays = {f"{kind}.{k}": a for kind in ("h", "c") for k, a in enumerate(getattr(state, kind))}
    arrays["ring"] = state.ring
    return arrays


def load_state(state: Any, arrays: dict[str, np.ndarray], steps: int) -> Any:
    """Fill a fresh stream ``state`` (the model's own, from ``Model.new_state``) from
    checkpoint arrays, every name and shape checked; returns it."""
    expected = state_arrays(state)
    if set(arrays) != set(expected):
        raise CheckpointMismatchError(f"checkpoint state holds {sorted(arrays)}, this model needs {sorted(expected)}")
    for name, dst in expected.items():
        if arrays[name].shape != dst.shape:
            raise CheckpointMismatchError(f"checkpoint state {name} has shape {arrays[name].shape}, this model needs {dst.shape}")
        if not np.all(np.isfinite(arrays[name])):
            raise ModelFormatError(f"checkpoint state {name} holds NaN or Inf")
        # What the state means: h = o * tanh(c) is within [-1, 1], and each step moves c
        # by at most 1 (|f * c + i * g| <= |c| + 1); zero steps means a zero state.
        bound = float(steps) if name.startswith("c.") else min(1.0, float(steps))
        if np.any(np.abs(arrays[name]) > bound):
            raise ModelFormatError(
                f"checkpoint state {name} holds values no LSTM reaches in {steps} steps (|{name[0]}| <= {bound:g})"
            )
    layers = len(state.h)
    # cast to the backend's state dtype (exact for the same backend)
    state.assign(
        [arrays[f"h.{k}"] for k in range(layers)], [arrays[f"c.{k}"] for k in range(layers)], arrays["ring"], int(steps)
    )
    return state


def decode(data: bytes) -> Checkpoint:
    """Parse and validate checkpoint bytes; raises :class:`ModelFormatError`."""
    data = bytes(data)
    if len(data) < _PREFIX.size + 4:
        raise ModelFormatError(f"checkpoint too short ({len(data)} bytes)")
    magic, version, head_len, payload_len = _PREFIX.unpack_from(data, 0)
    if magic != MAGIC:
        raise ModelFormatError("not an actif checkpoint (bad magic)")
    if version != CHECKPOINT_VERSION:
        raise ModelFormatError(f"checkpoint format version {version} is not supported (expected {CHECKPOINT_VERSION})")
    if head_len > MAX_HEADER_BYTES:
        raise ModelFormatError(f"checkpoint header declares {head_len} bytes (limit {MAX_HEADER_BYTES})")
    expected = _PREFIX.size + head_len + payload_len + 4
    if len(data) != expected:
        raise ModelFormatError(f"checkpoint has {len(data)} bytes, its header declares {expected} (truncated or padded)")
    (crc,) = struct.unpack_from("<I", data, expected - 4)
    if zlib.crc32(memoryview(data)[: expected - 4]) & 0xFFFFFFFF != crc:
        raise ModelFormatError("checkpoint is corrupt (checksum mismatch)")
    try:
        header = json.loads(data[_PREFIX.size : _PREFIX.size + head_len].decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ModelFormatError(f"checkpoint header is not valid JSON: {exc}") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise ModelFormatError("checkpoint header is not an actif checkpoint header")
    model = _field(header, "model", dict)
    options = _options(_field(header, "options", dict))
    counters = _field(header, "counters", dict)
    skipped_raw = _field(counters, "skipped", dict)
    if len(skipped_raw) > 64 or not all(isinstance(k, str) and len(k) <= 64 for k in skipped_raw):
        raise ModelFormatError("checkpoint skip counts are malformed")
    skipped = {k: _count(skipped_raw, k) for k in skipped_raw}
    sha = _field(model, "sha256", str)
    if len(sha) != 64:
        raise ModelFormatError("checkpoint model fingerprint is malformed")

    payload = memoryview(data)[_PREFIX.size + head_len : expected - 4]
    stats_len = _count(_field(header, "stats", dict), "nbytes")
    if stats_len > len(payload):
        raise ModelFormatError("checkpoint statistics run past the payload")
    stats = RunningStats.from_bytes(bytes(payload[:stats_len]))
    offset = stats_len
    state = header.get("state")
    steps: int | None = None
    arrays: dict[str, np.ndarray] = {}
    if state is not None:
        if not isinstance(state, dict):
            raise ModelFormatError("checkpoint state is malformed")
        steps = _count(state, "steps")
        specs = _field(state, "arrays", list)
        if len(specs) > 3 * 64:
            raise ModelFormatError("checkpoint state lists too many arrays")
        for spec in specs:
            name, arr, offset = _array(spec, payload, offset)
            if name in arrays:
                raise ModelFormatError(f"checkpoint state array {name!r} appears twice")
            arrays[name] = arr
    signed = None
    if "signed_stats" in header:
        signed_len = _count(_field(header, "signed_stats", dict), "nbytes")
        if signed_len > len(payload) - offset:
            raise ModelFormatError("checkpoint signed statistics run past the payload")
        signed = RunningStats.from_bytes(bytes(payload[offset : offset + signed_len]))
        offset += signed_len
        if signed.n_features != stats.n_features or signed.half_life != stats.half_life:
            raise ModelFormatError("checkpoint signed statistics do not match the statistics")
    recent: dict[str, np.ndarray] = {}
    if "recent" in header:
        specs = _field(_field(header, "recent", dict), "arrays", list)
        if len(specs) > 2 * 64 + 1:
            raise ModelFormatError("checkpoint recent samples list too many arrays")
        for spec in specs:
            name, arr, offset = _array(spec, payload, offset)
            if name in recent:
                raise ModelFormatError(f"checkpoint recent array {name!r} appears twice")
            recent[name] = arr
    if offset != len(payload):
        raise ModelFormatError(f"checkpoint payload has {len(payload) - offset} unexplained bytes")
    if (options["method"] is None) != (signed is None) or (recent and (signed is None or state is None)):
        raise ModelFormatError("checkpoint signed statistics or recent samples do not match its options")
    if bool(options["stateful"]) != (state is not None):
        raise ModelFormatError("checkpoint state does not match its 'stateful' option")
    if stats.n_features != _dim(model, "input_size"):
        raise ModelFormatError("checkpoint statistics and model input size disagree")
    if (stats.half_life or None) != options["half_life"]:
        raise ModelFormatError("checkpoint statistics and 'half_life' option disagree")
    return Checkpoint(sha, stats.n_features, options, _count(counters, "n_updates"), skipped, stats, steps, arrays, signed, recent)


def read_file(path: str | os.PathLike[str]) -> Checkpoint:
    """Read and decode a checkpoint file (size checked before reading)."""
    path = os.fspath(path)
    size = os.stat(path).st_size  # FileNotFoundError stays what it is
    if size > MAX_CHECKPOINT_BYTES:
        raise ModelFormatError(f"checkpoint file is {size} bytes (limit {MAX_CHECKPOINT_BYTES})")
    with open(path, "rb") as fh:
        data = fh.read(MAX_CHECKPOINT_BYTES + 1)
    return decode(data)


def write_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` so that a crash leaves the old file or the new one."""
    write_atomically(path, lambda fh: fh.write(data))


# --------------------------------------------------------------------------- helpers


def _field(d: dict[str, Any], key: str, kind: type) -> Any:
    value = d.get(key)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ModelFormatError(f"checkpoint field {key!r} is missing or has the wrong type")
    return value


def _count(d: dict[str, Any], key: str) -> int:
    v = _field(d, key, int)
    if not 0 <= v <= _MAX_COUNT:
        raise ModelFormatError(f"checkpoint field {key!r} is out of range")
    return v


def _dim(d: dict[str, Any], key: str) -> int:
    v = _field(d, key, int)
    if not 1 <= v <= 1 << 20:
        raise ModelFormatError(f"checkpoint field {key!r} is out of range")
    return v


def _little_endian(arrays: dict[str, np.ndarray]) -> list[tuple[str, np.ndarray]]:
    return [(name, np.ascontiguousarray(a, dtype=np.dtype(a.dtype).newbyteorder("<"))) for name, a in arrays.items()]


def _array_specs(arrays: list[tuple[str, np.ndarray]]) -> list[dict[str, Any]]:
    return [{"name": n, "dtype": a.dtype.str, "shape": list(a.shape)} for n, a in arrays]


def _method_options(raw: Any) -> dict[str, Any] | None:
    """The options of an attribution-method explainer, type-checked (the explainer
    checks them against the model when it is rebuilt)."""
    from .attribution import IG_METHODS, MAX_N_STEPS

    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ModelFormatError("checkpoint option 'method' is malformed")
    target = _field(raw, "target", int)
    n_steps = _field(raw, "n_steps", int)
    ig_method = _field(raw, "ig_method", str)
    if not 0 <= target < MAX_DIM or not 1 <= n_steps <= MAX_N_STEPS or ig_method not in IG_METHODS:
        raise ModelFormatError("checkpoint option 'method' holds an invalid target, n_steps or ig_method")
    baseline = raw.get("baseline")
    if baseline is not None:
        try:
            baseline = np.asarray(baseline, dtype=np.float64)
        except (ValueError, TypeError, OverflowError) as exc:
            raise ModelFormatError(f"checkpoint baseline is malformed: {exc}") from None
        if baseline.ndim > 3 or baseline.size > _MAX_BASELINE_VALUES or not np.all(np.isfinite(baseline)):
            raise ModelFormatError("checkpoint baseline is malformed")
    return {"target": target, "n_steps": n_steps, "ig_method": ig_method, "baseline": baseline}


def _options(raw: dict[str, Any]) -> dict[str, Any]:
    out = {
        "trace": _field(raw, "trace", str),
        "aggregation": _field(raw, "aggregation", str),
        "stateful": _field(raw, "stateful", bool),
        "on_invalid": _field(raw, "on_invalid", str),
        "half_life": raw.get("half_life"),
        "checkpoint_every": raw.get("checkpoint_every"),
        "method": _method_options(raw.get("method")),
    }
    if out["trace"] not in TRACES or out["aggregation"] not in SCORE_METHODS or out["on_invalid"] not in ON_INVALID:
        raise ModelFormatError("checkpoint options name an unknown trace, aggregation or policy")
    from .attribution import METHODS

    if (out["trace"] in METHODS) != (out["method"] is not None):
        raise ModelFormatError("checkpoint options: an attribution method needs its options, a trace has none")
    hl = out["half_life"]
    if hl is not None and not (isinstance(hl, (int, float)) and not isinstance(hl, bool) and math.isfinite(hl) and hl > 0):
        raise ModelFormatError("checkpoint option 'half_life' is invalid")
    out["half_life"] = None if hl is None else float(hl)
    every = out["checkpoint_every"]
    if every is not None and not (isinstance(every, int) and not isinstance(every, bool) and 1 <= every <= _MAX_COUNT):
        raise ModelFormatError("checkpoint option 'checkpoint_every' is invalid")
    return out


def _array(spec: Any, payload: memoryview, offset: int) -> tuple[str, np.ndarray, int]:
    if not isinstance(spec, dict):
        raise ModelFormatError("checkpoint state array entry is malformed")
    name = _field(spec, "name", str)
    dtype = _field(spec, "dtype", str)
    shape = _field(spec, "shape", list)
    if dtype not in _STATE_DTYPES:
        raise ModelFormatError(f"checkpoint state array {name!r} has dtype {dtype!r} (allowed {_STATE_DTYPES})")
    if len(shape) > 3 or not all(isinstance(s, int) and not isinstance(s, bool) and 0 <= s <= 1 << 20 for s in shape):
        raise ModelFormatError(f"checkpoint state array {name!r} has a malformed shape")
    nbytes = math.prod(shape) * np.dtype(dtype).itemsize  # exact Python ints: no overflow
    if nbytes > len(payload) - offset:
        raise ModelFormatError(f"checkpoint state array {name!r} runs past the payload")
    arr = np.frombuffer(payload, dtype=dtype, count=nbytes // np.dtype(dtype).itemsize, offset=offset)
    return name, arr.reshape(shape).copy(), offset + nbytes
