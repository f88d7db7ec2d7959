"""Gaze features from the raw binocular columns of a :class:`GazeRecord`.

Every feature has a name, a unit and a one-line definition in :data:`FEATURES`; the
table is rendered to ``FEATURES.md`` beside this file by :func:`features_markdown`
(``python -m actif.lab.data --write`` regenerates it; a test keeps it in sync).
The set follows the kind of features of the FOVAL model (B. W. Hosp, 2024: vergence,
left/right deltas and ratios, magnitudes, velocities and accelerations), redefined
so that each one is finite for every sample:

- zero-length direction vectors are read as straight ahead (0, 0, 1);
- angles come from ``atan2`` (exact for small angles, where ``arccos`` is not);
- parallel or diverging gaze rays give a depth of ``MAX_DEPTH_CM``;
- ratios are bounded normalised differences, not quotients that explode near 0;
- derivatives use the timestamps, treat intervals below ``DT_FLOOR_MS`` as that
  floor (logging jitter, not motion), are 0 at the first sample of every segment
  (and accelerations also at the second), and are clipped to the range of human eye
  movements (``MAX_SPEED_DEG_S``, ``MAX_ACCEL_DEG_S2``, ``MAX_DIOPTER_RATE``).

Notation in the definitions: ``dR``, ``dL`` raw right/left gaze directions; ``uR``,
``uL`` the same scaled to unit length; ``OR``, ``OL`` the eye origins (x, 0, z) in
cm; ``yaw(u) = atan2(u_x, u_z)``, ``pitch(u) = atan2(u_y, hypot(u_x, u_z))``;
``c = unit(uR + uL)`` the cyclopean direction; ``D/dt`` the time derivative within a
segment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from .record import GAP_FACTOR, GazeRecord

MAX_DEPTH_CM = 1000.0  # depth reported for parallel or diverging rays (10 m: optical infinity for vergence)
DT_FLOOR_MS = 4.0  # a quarter of the nominal 60 Hz interval
MAX_SPEED_DEG_S = 1000.0  # above the peak velocity of the largest human saccades
MAX_ACCEL_DEG_S2 = 100_000.0  # above peak saccadic acceleration
MAX_DIOPTER_RATE = 300.0  # 1/(m s): MAX_SPEED_DEG_S of vergence at a 6 cm IPD
MIN_IPD_CM = 1.0  # floor for the diopter conversion: no human IPD is smaller
_TINY = 1e-12
_F32_MAX = float(np.finfo(np.float32).max)


@dataclass(frozen=True)
class FeatureDef:
    name: str
    unit: str
    definition: str


# Order here is the column order of compute_features().
FEATURES: tuple[FeatureDef, ...] = (
    FeatureDef("dir_right_x", "1", "right gaze direction dR, x component (as recorded)"),
    FeatureDef("dir_right_y", "1", "right gaze direction dR, y component"),
    FeatureDef("dir_right_z", "1", "right gaze direction dR, z component"),
    FeatureDef("dir_left_x", "1", "left gaze direction dL, x component"),
    FeatureDef("dir_left_y", "1", "left gaze direction dL, y component"),
    FeatureDef("dir_left_z", "1", "left gaze direction dL, z component"),
    FeatureDef("ipd_cm", "cm", "inter-pupillary distance |OR - OL| from the recorded eye origins"),
    FeatureDef("magnitude_right", "1", "length |dR| of the recorded right direction"),
    FeatureDef("magnitude_left", "1", "length |dL| of the recorded left direction"),
    FeatureDef("magnitude_log_ratio", "1", "log(|dR| / |dL|), lengths floored at 1e-9"),
    FeatureDef("vergence_angle_deg", "deg", "angle between the two gaze rays, atan2(|uR x uL|, uR . uL)"),
    FeatureDef("vergence_cosine", "1", "cosine of the vergence angle, uR . uL"),
    FeatureDef("vergence_depth_cm", "cm",
               "ipd / (2 tan(vergence/2)): distance at which symmetric rays with this angle meet; MAX_DEPTH_CM when parallel"),
    FeatureDef("horizontal_vergence_deg", "deg", "yaw(uL) - yaw(uR): positive when the eyes converge, negative when they diverge"),
    FeatureDef("vertical_vergence_deg", "deg", "pitch(uL) - pitch(uR): vertical misalignment of the two eyes"),
    FeatureDef("vergence_diopters", "1/m",
               "2 tan(horizontal_vergence/2) / ipd in metres: inverse fixation distance, signed, finite when parallel"),
    FeatureDef("triangulated_depth_cm", "cm",
               "distance from the eyes' midpoint to the midpoint of the rays' closest approach; MAX_DEPTH_CM when parallel or meeting behind the eyes"),
    FeatureDef("ray_miss_distance_cm", "cm", "shortest distance between the two gaze lines (0 when they intersect)"),
    FeatureDef("cyclopean_yaw_deg", "deg", "yaw(c): horizontal gaze angle of the cyclopean direction, positive to the right"),
    FeatureDef("cyclopean_pitch_deg", "deg", "pitch(c): vertical gaze angle of the cyclopean direction, positive up"),
    FeatureDef("eccentricity_deg", "deg", "angle between c and straight ahead (0, 0, 1)"),
    FeatureDef("delta_x", "1", "uR_x - uL_x: left/right difference of the unit directions"),
    FeatureDef("delta_y", "1", "uR_y - uL_y"),
    FeatureDef("delta_z", "1", "uR_z - uL_z"),
    FeatureDef("delta_xy", "1", "hypot(delta_x, delta_y)"),
    FeatureDef("ratio_x", "1", "(uR_x - uL_x) / (|uR_x| + |uL_x|): bounded left/right ratio in [-1, 1], 0 when both are 0"),
    FeatureDef("ratio_y", "1", "(uR_y - uL_y) / (|uR_y| + |uL_y|), bounded as ratio_x"),
    FeatureDef("ratio_z", "1", "(uR_z - uL_z) / (|uR_z| + |uL_z|), bounded as ratio_x"),
    FeatureDef("vergence_velocity_deg_s", "deg/s", "D/dt horizontal_vergence_deg"),
    FeatureDef("vergence_acceleration_deg_s2", "deg/s^2", "D/dt vergence_velocity_deg_s"),
    FeatureDef("diopter_velocity", "1/(m s)", "D/dt vergence_diopters"),
    FeatureDef("gaze_speed_deg_s", "deg/s", "angle between consecutive cyclopean directions c, divided by the interval"),
    FeatureDef("gaze_acceleration_deg_s2", "deg/s^2", "D/dt gaze_speed_deg_s"),
    FeatureDef("yaw_velocity_deg_s", "deg/s", "D/dt cyclopean_yaw_deg"),
    FeatureDef("pitch_velocity_deg_s", "deg/s", "D/dt cyclopean_pitch_deg"),
    FeatureDef("speed_right_deg_s", "deg/s", "angle between consecutive uR, divided by the interval"),
    FeatureDef("speed_left_deg_s", "deg/s", "angle between consecutive uL, divided by the interval"),
)
FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)


# ------------------------------------------------------------------------ geometry


def unit_vectors(d: np.ndarray) -> np.ndarray:
    """Rows of ``d`` scaled to unit length; zero-length rows become (0, 0, 1)."""
    norm = np.linalg.norm(d, axis=-1, keepdims=True)
    forward = np.zeros_like(d)
    forward[..., 2] = 1.0
    return np.where(norm > _TINY, d / np.maximum(norm, _TINY), forward)


def angle_between_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle between rows of unit vectors, in degrees (atan2 form, exact near 0)."""
    cross = np.linalg.norm(np.cross(a, b), axis=-1)
    return np.degrees(np.arctan2(cross, np.sum(a * b, axis=-1)))


def yaw_deg(u: np.ndarray) -> np.ndarray:
    return np.degrees(np.arctan2(u[..., 0], u[..., 2]))


def pitch_deg(u: np.ndarray) -> np.ndarray:
    return np.degrees(np.arctan2(u[..., 1], np.hypot(u[..., 0], u[..., 2])))


def _wrap_deg(a: np.ndarray) -> np.ndarray:
    return (a + 180.0) % 360.0 - 180.0


def _bounded_ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    den = np.abs(a) + np.abs(b)
    return np.where(den > _TINY, (a - b) / np.maximum(den, _TINY), 0.0)


def ray_closest_approach(o_r: np.ndarray, u_r: np.ndarray, o_l: np.ndarray, u_l: np.ndarray):
    """For rays ``o + s u`` (unit u): parameters (s_r, s_l) of the closest points of the
    two lines, the lines' distance, and a mask of rays that converge in front
    (not parallel, s_r > 0 and s_l > 0)."""
    w0 = o_r - o_l
    b = np.sum(u_r * u_l, axis=-1)
    d = np.sum(u_r * w0, axis=-1)
    e = np.sum(u_l * w0, axis=-1)
    sin2 = 1.0 - b * b
    ok = sin2 > 1e-12
    safe = np.where(ok, sin2, 1.0)
    s_r = np.where(ok, (b * e - d) / safe, 0.0)
    s_l = np.where(ok, (e - b * d) / safe, 0.0)
    # For parallel lines every point pairs with one at the same distance: project w0.
    gap_vec = w0 + s_r[..., None] * u_r - s_l[..., None] * u_l
    parallel_gap = w0 - np.sum(w0 * u_r, axis=-1, keepdims=True) * u_r
    miss = np.linalg.norm(np.where(ok[..., None], gap_vec, parallel_gap), axis=-1)
    converging = ok & (s_r > 0) & (s_l > 0)
    return s_r, s_l, miss, converging


def triangulated_depth_cm(
    o_r: np.ndarray, u_r: np.ndarray, o_l: np.ndarray, u_l: np.ndarray, eyes_midpoint: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(depth, miss)`` of rays ``o + s u`` (unit u): the distance from ``eyes_midpoint``
    (default: the origins' midpoint) to the midpoint of the rays' closest approach,
    ``MAX_DEPTH_CM`` when they are parallel or meet behind the eyes; and the lines' distance."""
    s_r, s_l, miss, converging = ray_closest_approach(o_r, u_r, o_l, u_l)
    meet = 0.5 * (o_r + s_r[:, None] * u_r + o_l + s_l[:, None] * u_l)
    midpoint = 0.5 * (o_r + o_l) if eyes_midpoint is None else eyes_midpoint
    distance = np.linalg.norm(meet - midpoint, axis=1)
    return np.where(converging, np.minimum(distance, MAX_DEPTH_CM), MAX_DEPTH_CM), miss


def _eye_origins(record: GazeRecord) -> tuple[np.ndarray, np.ndarray]:
    def xyz(xz: np.ndarray) -> np.ndarray:
        return np.stack([xz[:, 0], np.zeros(len(xz)), xz[:, 1]], axis=1)

    return xyz(record.origin_right_cm), xyz(record.origin_left_cm)


# ---------------------------------------------------------------------- derivatives


def _rate(values: np.ndarray, dt_s: np.ndarray, starts: np.ndarray, limit: float) -> np.ndarray:
    """Backward difference per second, 0 where a segment starts, clipped to +-limit."""
    out = np.zeros_like(values)
    out[1:] = np.diff(values) / dt_s
    out[starts] = 0.0
    return np.clip(out, -limit, limit)


def _angular_speed(u: np.ndarray, dt_s: np.ndarray, starts: np.ndarray) -> np.ndarray:
    out = np.zeros(len(u))
    out[1:] = angle_between_deg(u[1:], u[:-1]) / dt_s
    out[starts] = 0.0
    return np.minimum(out, MAX_SPEED_DEG_S)


# ------------------------------------------------------------------------ features


def compute_features(
    record: GazeRecord, gap_factor: float = GAP_FACTOR, *, starts: np.ndarray | None = None
) -> tuple[np.ndarray, list[str]]:
    """Features of every sample: ``(F (M, I) float32, names)`` in :data:`FEATURES` order.

    Derivatives restart at every segment (``record.segments(gap_factor)``, or ``starts``
    when the caller has computed them), the same segments
    :func:`actif.lab.data.windows.make_windows` respects. Raises ValueError when a
    direction or origin is not finite (the loader drops such rows).
    """
    n = len(record)
    for name in ("gaze_dir_right", "gaze_dir_left", "origin_right_cm", "origin_left_cm", "timestamp_ms"):
        arr = getattr(record, name)
        # features are float32 and some copy these values as they are, so a value past
        # float32's range is refused here like a NaN (timestamps enter only as differences)
        limit = np.inf if name == "timestamp_ms" else _F32_MAX
        ok = np.abs(arr) <= limit  # NaN compares False
        if not np.all(ok):
            bad = int(np.flatnonzero(~np.all(ok.reshape(n, -1), axis=1))[0])
            raise ValueError(
                f"{record.subject}: {name} is not finite or beyond float32's range at sample {bad} ({record.source})"
            )
    d_r, d_l = record.gaze_dir_right, record.gaze_dir_left
    u_r, u_l = unit_vectors(d_r), unit_vectors(d_l)
    o_r, o_l = _eye_origins(record)
    if starts is None:
        starts = record.segments(gap_factor)
    elif np.shape(starts) != (n,):
        raise ValueError(f"starts has shape {np.shape(starts)}, the record has {n} samples")
    dt_s = np.maximum(np.diff(record.timestamp_ms), DT_FLOOR_MS) / 1000.0
    second = np.zeros(n, dtype=bool)  # second sample of a segment: no acceleration yet
    second[1:] = starts[:-1]
    accel_undefined = starts | second

    out: dict[str, np.ndarray] = {}
    for axis, c in enumerate("xyz"):
        out[f"dir_right_{c}"] = d_r[:, axis]
        out[f"dir_left_{c}"] = d_l[:, axis]
    ipd = np.linalg.norm(o_r - o_l, axis=1)
    out["ipd_cm"] = ipd
    mag_r, mag_l = np.linalg.norm(d_r, axis=1), np.linalg.norm(d_l, axis=1)
    out["magnitude_right"], out["magnitude_left"] = mag_r, mag_l
    out["magnitude_log_ratio"] = np.log(np.maximum(mag_r, 1e-9) / np.maximum(mag_l, 1e-9))

    vergence = angle_between_deg(u_r, u_l)
    out["vergence_angle_deg"] = vergence
    out["vergence_cosine"] = np.sum(u_r * u_l, axis=1)
    half_tan = np.tan(np.radians(vergence) / 2.0)
    out["vergence_depth_cm"] = np.where(
        ipd > MAX_DEPTH_CM * 2.0 * half_tan, MAX_DEPTH_CM, ipd / (2.0 * np.maximum(half_tan, _TINY))
    )
    h_verg = _wrap_deg(yaw_deg(u_l) - yaw_deg(u_r))
    out["horizontal_vergence_deg"] = h_verg
    out["vertical_vergence_deg"] = _wrap_deg(pitch_deg(u_l) - pitch_deg(u_r))
    ipd_m = np.maximum(ipd, MIN_IPD_CM) / 100.0
    diopters = 2.0 * np.tan(np.radians(np.clip(h_verg, -179.0, 179.0)) / 2.0) / ipd_m
    out["vergence_diopters"] = diopters

    out["triangulated_depth_cm"], out["ray_miss_distance_cm"] = triangulated_depth_cm(o_r, u_r, o_l, u_l)

    cyc = unit_vectors(u_r + u_l)
    cyc_yaw, cyc_pitch = yaw_deg(cyc), pitch_deg(cyc)
    out["cyclopean_yaw_deg"], out["cyclopean_pitch_deg"] = cyc_yaw, cyc_pitch
    out["eccentricity_deg"] = np.degrees(np.arctan2(np.hypot(cyc[:, 0], cyc[:, 1]), cyc[:, 2]))

    delta = u_r - u_l
    for axis, c in enumerate("xyz"):
        out[f"delta_{c}"] = delta[:, axis]
        out[f"ratio_{c}"] = _bounded_ratio(u_r[:, axis], u_l[:, axis])
    out["delta_xy"] = np.hypot(delta[:, 0], delta[:, 1])

    verg_vel = _rate(h_verg, dt_s, starts, MAX_SPEED_DEG_S)
    out["vergence_velocity_deg_s"] = verg_vel
    out["vergence_acceleration_deg_s2"] = _rate(verg_vel, dt_s, accel_undefined, MAX_ACCEL_DEG_S2)
    out["diopter_velocity"] = _rate(diopters, dt_s, starts, MAX_DIOPTER_RATE)
    speed = _angular_speed(cyc, dt_s, starts)
    out["gaze_speed_deg_s"] = speed
    out["gaze_acceleration_deg_s2"] = _rate(speed, dt_s, accel_undefined, MAX_ACCEL_DEG_S2)
    yaw_step = np.zeros(n)
    yaw_step[1:] = np.cumsum(_wrap_deg(np.diff(cyc_yaw)))  # unwrapped: no 360 deg jumps
    out["yaw_velocity_deg_s"] = _rate(yaw_step, dt_s, starts, MAX_SPEED_DEG_S)
    out["pitch_velocity_deg_s"] = _rate(cyc_pitch, dt_s, starts, MAX_SPEED_DEG_S)
    out["speed_right_deg_s"] = _angular_speed(u_r, dt_s, starts)
    out["speed_left_deg_s"] = _angular_speed(u_l, dt_s, starts)

    F = np.stack([out[name] for name in FEATURE_NAMES], axis=1).astype(np.float32)
    if F.size and not np.all(np.isfinite(F)):  # a bug, not bad input: every branch above is guarded
        bad = np.argwhere(~np.isfinite(F))[0]
        raise AssertionError(f"feature {FEATURE_NAMES[bad[1]]} is not finite at sample {bad[0]} of {record.subject}")
    return F, list(FEATURE_NAMES)


# -------------------------------------------------------------------------- docs


def features_markdown() -> str:
    """The feature table as Markdown (the content of ``FEATURES.md``)."""
    lines = [
        "# Gaze features",
        "",
        "Generated from `actif.lab.data.features.FEATURES` by `python -m actif.lab.data --write`;",
        "do not edit by hand. Column order is the order of `compute_features()`.",
        "",
        "Notation: `dR`, `dL` recorded right/left gaze directions; `uR`, `uL` the same at unit",
        "length (zero-length vectors read as straight ahead); `OR`, `OL` the eye origins (cm);",
        "`yaw(u) = atan2(u_x, u_z)`, `pitch(u) = atan2(u_y, hypot(u_x, u_z))`;",
        "`c = unit(uR + uL)` the cyclopean direction; `D/dt` the time derivative within a",
        f"segment (a segment ends at removed rows and at intervals above {GAP_FACTOR:g}x the median",
        "interval; rates are 0 at a segment's first sample, accelerations also at its second;",
        f"intervals below {DT_FLOOR_MS:g} ms count as",
        f"{DT_FLOOR_MS:g} ms; rates clipped to {MAX_SPEED_DEG_S:g} per s, accelerations to",
        f"{MAX_ACCEL_DEG_S2:g} per s^2, diopter rates to {MAX_DIOPTER_RATE:g} per s).",
        f"`MAX_DEPTH_CM` = {MAX_DEPTH_CM:g}; the IPD in `vergence_diopters` is floored at {MIN_IPD_CM:g} cm.",
        "",
        "| # | name | unit | definition |",
        "| ---: | --- | --- | --- |",
    ]
    for k, f in enumerate(FEATURES):
        definition = f.definition.replace("|", "\\|")  # a bare | would end the table cell
        lines.append(f"| {k} | `{f.name}` | {f.unit} | {definition} |")
    return "\n".join(lines) + "\n"


FEATURES_MD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "FEATURES.md")
