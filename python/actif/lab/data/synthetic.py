"""A binocular gaze simulator, and synthetic data sets with known relevance.

:func:`simulate_session` produces the same :class:`~actif.lab.data.record.GazeRecord` as
the RobustVision loader, so :func:`~actif.lab.data.features.compute_features`, the
windowing and the demo work on any machine. A simulated session is:

- **Eyes**: two eye origins an inter-pupillary distance apart (sampled per subject,
  :meth:`SubjectParams.sample`), 2.6 cm behind the head origin as in RobustVision.
- **Targets** (``paradigm``): ``"fixations"`` - targets at uniformly drawn depths in
  ``depth_range_cm`` (default 35-300 cm) and directions within +-15 deg horizontally
  and +-12 deg vertically around a field centre about 2 deg up, each shown 0.6-2 s; ``"pursuit"`` - one target moving
  smoothly: its depth sweeps back and forth across the range at 15-75 cm/s while its
  direction follows slow sinusoids, like the RobustVision calibration sessions.
- **Eye movements**: after a 150-250 ms latency a saccade moves the version (the
  shared direction of both eyes) with a minimum-jerk profile lasting
  ``21 ms + 2.2 ms/deg`` (the saccadic main sequence); in pursuit the version trails
  the target by 100 ms. Vergence follows the target's inverse distance through a
  first-order lag (time constant 120-200 ms). Physiological fixational drift is a
  slow conjugate Ornstein-Uhlenbeck (OU) process (SD 0.1 deg).
- **Tracker errors**, per subject: a calibration bias per eye and axis, a gain on the
  horizontal vergence (RobustVision subjects show 0.4-4x by regression on the target
  geometry; virtual-reality displays also weaken vergence through the
  vergence-accommodation conflict), slow per-eye OU drift, white sample noise, the
  tracker's exponential smoothing, eyes that now and then repeat their previous
  sample, rarely direction vectors shorter than 1 (one RobustVision subject reports
  ~0.97), and values rounded to float32 as in the recorded files.
- **Timing and dropouts**: sample intervals drawn from 15-18 ms (about 60 Hz), integer
  milliseconds; blinks at ``dropout_rate_hz`` remove 100-300 ms of samples, and for
  some subjects the logger drops runs of 2-4 samples. The sample after a removed run
  starts a new segment, as after rows the loader removes.

``gt_depth_cm`` is the target's distance from the midpoint of the eyes;
``gaze_point_cm`` lies that far along the measured cyclopean direction;
``estimated_depth_cm`` is the triangulated depth of the measured rays (a headset's
naive estimate). Every random draw comes from ``numpy.random.default_rng(seed)``: the
same arguments give the same session on every machine.

Ground truth for attribution methods:

- :func:`feature_signal_dataset` windows of simulated sessions whose target is a known
  linear function of a few named gaze features (all other features carry no signal
  except through their correlation with those; the data set lists the strong
  proxies);
- :func:`salient_box_dataset` the classic design of independent Gaussian features in
  which only known features at known time steps carry the target.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from ...validation import positive_int
from .features import FEATURE_NAMES, pitch_deg, triangulated_depth_cm, unit_vectors, yaw_deg
from .record import GazeRecord
from .windows import GazeDataset, dataset_from_records

PARADIGMS = ("fixations", "pursuit")
DEPTH_RANGE_CM = (35.0, 300.0)
EYE_Z_CM = -2.6  # eye origins' z in the RobustVision recordings
INTERVAL_MS = (15, 18)  # inclusive range of sample intervals
FIXATION_S = (0.6, 2.0)
TARGET_YAW_DEG = 15.0
TARGET_PITCH_DEG = 12.0
SACCADE_LATENCY_MS = (150.0, 250.0)
PURSUIT_LAG_S = 0.1
PHYSIOLOGICAL_DRIFT = (0.1, 0.5)  # (SD deg, time constant s) of conjugate fixational drift
SCENE_PITCH_DEG = (2.0, 3.0)  # (mean, SD) of a session's target-field elevation; RobustVision looks ~2 deg up


@dataclass(frozen=True)
class SubjectParams:
    """Everything that makes one simulated subject and their tracker differ.

    Angles in degrees; ``yaw_bias_deg`` and ``pitch_bias_deg`` are (right, left). The
    defaults are an ideal tracker: no bias, drift, noise, smoothing or stale samples.
    """

    ipd_cm: float = 6.3
    center_x_cm: float = 0.0
    yaw_bias_deg: tuple[float, float] = (0.0, 0.0)
    pitch_bias_deg: tuple[float, float] = (0.0, 0.0)
    vergence_gain: float = 1.0
    vergence_tau_s: float = 0.15
    drift_sd_deg: float = 0.0
    drift_tau_s: float = 1.0
    noise_sd_deg: float = 0.0
    smoothing: float = 1.0  # weight of the newest measurement in the tracker's exponential filter
    stale_probability: float = 0.0  # chance that an eye's sample repeats the previous one
    missed_frame_rate: float = 0.0  # chance per sample that the logger drops 2-4 samples
    direction_length: float = 1.0

    def __post_init__(self) -> None:
        positive = ("ipd_cm", "vergence_gain", "vergence_tau_s", "drift_tau_s", "direction_length")
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f"SubjectParams.{name} must be positive, got {getattr(self, name)!r}")
        for name in ("drift_sd_deg", "noise_sd_deg"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"SubjectParams.{name} must be >= 0, got {getattr(self, name)!r}")
        if not 0 < self.smoothing <= 1:
            raise ValueError(f"SubjectParams.smoothing must be in (0, 1], got {self.smoothing!r}")
        for name in ("stale_probability", "missed_frame_rate"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"SubjectParams.{name} must be in [0, 1), got {getattr(self, name)!r}")

    @classmethod
    def sample(cls, rng: np.random.Generator) -> SubjectParams:
        """A random subject. IPD: adult mean 6.3 cm, SD 0.36 cm (Dodgson, 2004), clipped
        to 5.4-7.4 cm. The tracker ranges reproduce what the RobustVision recordings
        show (benchmarks/results/synthetic_vs_real.md): a mean horizontal-vergence
        offset of -0.7 deg against the target geometry with per-eye biases of SD 1 deg,
        per-subject vergence gains, sample-to-sample changes of 0.03-0.2 deg, one eye
        repeating its previous sample 2-10 % of the time, and logging gaps."""
        return cls(
            ipd_cm=float(np.clip(rng.normal(6.3, 0.36), 5.4, 7.4)),
            center_x_cm=float(rng.normal(0.0, 0.05)),
            yaw_bias_deg=(float(rng.normal(0.35, 1.0)), float(rng.normal(-0.35, 1.0))),
            pitch_bias_deg=(float(rng.normal(0.0, 1.0)), float(rng.normal(0.0, 1.0))),
            vergence_gain=float(np.exp(rng.uniform(np.log(0.5), np.log(2.0)))),
            vergence_tau_s=float(rng.uniform(0.12, 0.2)),
            drift_sd_deg=float(rng.uniform(0.3, 1.2)),
            drift_tau_s=float(rng.uniform(1.0, 4.0)),
            noise_sd_deg=float(rng.uniform(0.02, 0.08)),
            smoothing=float(rng.uniform(0.4, 0.9)),
            stale_probability=float(rng.uniform(0.02, 0.10)),
            missed_frame_rate=0.0 if rng.random() < 0.5 else float(rng.uniform(0.0, 0.03)),
            direction_length=1.0 if rng.random() < 0.9 else float(rng.uniform(0.965, 0.985)),
        )


# ---------------------------------------------------------------------- helpers


def _direction(yaw: np.ndarray, pitch: np.ndarray) -> np.ndarray:
    """Unit vectors for yaw (right positive) and pitch (up positive), in degrees;
    the inverse of features.yaw_deg and features.pitch_deg."""
    y, p = np.radians(yaw), np.radians(pitch)
    return np.stack([np.cos(p) * np.sin(y), np.sin(p), np.cos(p) * np.cos(y)], axis=-1)


def _ou(rng: np.random.Generator, t_s: np.ndarray, sd: float, tau: float, channels: int) -> np.ndarray:
    """Stationary Ornstein-Uhlenbeck paths (len(t), channels) on an irregular time grid."""
    out = np.empty((t_s.size, channels))
    if t_s.size == 0:
        return out
    decay = np.exp(-np.diff(t_s) / tau)
    kick = sd * np.sqrt(1.0 - decay**2)
    eps = rng.standard_normal((t_s.size, channels))
    out[0] = sd * eps[0]
    for i in range(1, t_s.size):
        out[i] = decay[i - 1] * out[i - 1] + kick[i - 1] * eps[i]
    return out


def _first_order_lag(x: np.ndarray, t_s: np.ndarray, tau: float) -> np.ndarray:
    """Low-pass ``x`` through ``dy/dt = (x - y) / tau`` starting at ``y = x[0]``."""
    y = np.empty_like(x)
    if x.size == 0:
        return y
    alpha = 1.0 - np.exp(-np.diff(t_s) / tau)
    y[0] = x[0]
    for i in range(1, x.size):
        y[i] = y[i - 1] + alpha[i - 1] * (x[i] - y[i - 1])
    return y


def _minimum_jerk(s: np.ndarray) -> np.ndarray:
    s = np.clip(s, 0.0, 1.0)
    return s**3 * (10.0 - 15.0 * s + 6.0 * s**2)


def _triangle(phase: np.ndarray) -> np.ndarray:
    """Triangle wave in [0, 1] with period 1."""
    frac = phase % 1.0
    return 1.0 - np.abs(2.0 * frac - 1.0)


# ------------------------------------------------------------------- eye control


def _fixation_paradigm(rng: np.random.Generator, t_s: np.ndarray, depth_range: tuple[float, float]):
    """Target depth per sample, and the version (yaw, pitch) and vergence demand the
    eyes follow (saccades after a latency)."""
    duration = float(t_s[-1]) if t_s.size else 0.0
    onsets = [0.0]
    while onsets[-1] <= duration:
        onsets.append(onsets[-1] + rng.uniform(*FIXATION_S))
    onsets_arr = np.array(onsets[:-1]) if len(onsets) > 1 else np.array([0.0])
    k = onsets_arr.size
    yaw = rng.uniform(-TARGET_YAW_DEG, TARGET_YAW_DEG, k)
    pitch = rng.uniform(-TARGET_PITCH_DEG, TARGET_PITCH_DEG, k)
    depth = rng.uniform(depth_range[0], depth_range[1], k)
    shown = np.searchsorted(onsets_arr, t_s, side="right") - 1
    # Saccade j (j >= 1) goes from target j-1 to target j.
    latency = rng.uniform(*SACCADE_LATENCY_MS, k) / 1000.0
    start = onsets_arr + latency
    amplitude = np.hypot(np.diff(yaw, prepend=yaw[0]), np.diff(pitch, prepend=pitch[0]))
    length = (21.0 + 2.2 * amplitude) / 1000.0
    j = np.maximum(np.searchsorted(start, t_s, side="right") - 1, 0)  # 0: still on target 0
    progress = np.where(j > 0, _minimum_jerk((t_s - start[j]) / length[j]), 1.0)
    prev = np.maximum(j - 1, 0)
    version_yaw = yaw[prev] + (yaw[j] - yaw[prev]) * progress
    version_pitch = pitch[prev] + (pitch[j] - pitch[prev]) * progress
    demand = 100.0 / depth[j]  # vergence starts with the saccade (1/m)
    return depth[shown], version_yaw, version_pitch, demand


def _pursuit_paradigm(rng: np.random.Generator, t_s: np.ndarray, depth_range: tuple[float, float]):
    lo, hi = depth_range
    speed = rng.uniform(15.0, 75.0)  # cm/s along the depth sweep
    phase0 = rng.random()
    amp_yaw, amp_pitch = rng.uniform(0.0, TARGET_YAW_DEG), rng.uniform(0.0, TARGET_PITCH_DEG)
    f_yaw, f_pitch = rng.uniform(0.1, 0.3), rng.uniform(0.1, 0.3)
    ph_yaw, ph_pitch = rng.uniform(0.0, 2 * np.pi, 2)

    def target(t: np.ndarray):
        depth = lo + (hi - lo) * _triangle(phase0 + t * speed / (2.0 * (hi - lo)))
        yaw = amp_yaw * np.sin(2 * np.pi * f_yaw * t + ph_yaw)
        pitch = amp_pitch * np.sin(2 * np.pi * f_pitch * t + ph_pitch)
        return depth, yaw, pitch

    depth, _, _ = target(t_s)
    lagged_depth, version_yaw, version_pitch = target(t_s - PURSUIT_LAG_S)
    return depth, version_yaw, version_pitch, 100.0 / lagged_depth


# ----------------------------------------------------------------------- sessions


def simulate_session(
    duration_s: float = 60.0,
    *,
    seed: int | np.random.SeedSequence | None = 0,
    subject: str = "sim0",
    params: SubjectParams | None = None,
    paradigm: str = "fixations",
    dropout_rate_hz: float = 0.2,
    depth_range_cm: tuple[float, float] = DEPTH_RANGE_CM,
    start_ms: float = 0.0,
) -> GazeRecord:
    """One simulated session as a :class:`GazeRecord` (see the module docstring).

    ``params`` None draws a subject from ``seed``; ``dropout_rate_hz`` 0 disables blinks.
    """
    if paradigm not in PARADIGMS:
        raise ValueError(f"paradigm must be one of {PARADIGMS}, got {paradigm!r}")
    if not duration_s > 0:
        raise ValueError(f"duration_s must be positive, got {duration_s!r}")
    lo, hi = (float(v) for v in depth_range_cm)
    if not 0 < lo < hi:
        raise ValueError(f"depth_range_cm must be (low, high) with 0 < low < high, got {depth_range_cm!r}")
    if not dropout_rate_hz >= 0:
        raise ValueError(f"dropout_rate_hz must be >= 0, got {dropout_rate_hz!r}")
    rng = np.random.default_rng(seed)
    p = params if params is not None else SubjectParams.sample(rng)

    n_max = int(duration_s * 1000.0 / INTERVAL_MS[0]) + 2
    intervals = rng.integers(INTERVAL_MS[0], INTERVAL_MS[1] + 1, n_max)
    t_ms = np.concatenate([[0.0], np.cumsum(intervals, dtype=np.float64)])
    t_ms = t_ms[t_ms < duration_s * 1000.0]
    t_s = t_ms / 1000.0
    n = t_s.size

    make_targets = _fixation_paradigm if paradigm == "fixations" else _pursuit_paradigm
    gt_depth, version_yaw, version_pitch, demand = make_targets(rng, t_s, (lo, hi))
    drift = _ou(rng, t_s, *PHYSIOLOGICAL_DRIFT, channels=2)
    version_yaw = version_yaw + drift[:, 0]
    version_pitch = version_pitch + drift[:, 1] + rng.normal(*SCENE_PITCH_DEG)
    fixation_cm = 100.0 / _first_order_lag(demand, t_s, p.vergence_tau_s)

    # Eyes aim at the fixated point; the tracker then reports them with its errors.
    middle = np.array([p.center_x_cm, 0.0, EYE_Z_CM])
    o_r = middle + np.array([p.ipd_cm / 2.0, 0.0, 0.0])
    o_l = middle - np.array([p.ipd_cm / 2.0, 0.0, 0.0])
    fixated = middle + fixation_cm[:, None] * _direction(version_yaw, version_pitch)
    aim_r, aim_l = unit_vectors(fixated - o_r), unit_vectors(fixated - o_l)
    yaw_r, pitch_r = yaw_deg(aim_r), pitch_deg(aim_r)
    yaw_l, pitch_l = yaw_deg(aim_l), pitch_deg(aim_l)
    version = 0.5 * (yaw_r + yaw_l)
    half_vergence = 0.5 * p.vergence_gain * (yaw_l - yaw_r)
    measured = np.column_stack([
        version - half_vergence + p.yaw_bias_deg[0], pitch_r + p.pitch_bias_deg[0],
        version + half_vergence + p.yaw_bias_deg[1], pitch_l + p.pitch_bias_deg[1],
    ])
    if p.drift_sd_deg > 0:
        measured += _ou(rng, t_s, p.drift_sd_deg, p.drift_tau_s, channels=4)
    measured += p.noise_sd_deg * rng.standard_normal((n, 4))
    if p.smoothing < 1.0:
        measured = _exponential_filter(measured, p.smoothing)
    for eye in (slice(0, 2), slice(2, 4)):
        measured[:, eye] = measured[_hold_index(rng.random(n) < p.stale_probability), eye]
    # The recordings store float32 values: round the same way.
    dir_r = (p.direction_length * _direction(measured[:, 0], measured[:, 1])).astype(np.float32).astype(np.float64)
    dir_l = (p.direction_length * _direction(measured[:, 2], measured[:, 3])).astype(np.float32).astype(np.float64)

    u_r, u_l = unit_vectors(dir_r), unit_vectors(dir_l)
    cyclopean = unit_vectors(u_r + u_l)
    # measured from the simulated midpoint itself, not the (rounded) mean of the origins
    estimated, _ = triangulated_depth_cm(np.broadcast_to(o_r, (n, 3)), u_r, np.broadcast_to(o_l, (n, 3)), u_l, middle)

    record = GazeRecord(
        subject=subject,
        timestamp_ms=start_ms + t_ms,
        gaze_dir_right=dir_r,
        gaze_dir_left=dir_l,
        origin_right_cm=np.tile(o_r[[0, 2]], (n, 1)),
        origin_left_cm=np.tile(o_l[[0, 2]], (n, 1)),
        gaze_point_cm=middle + gt_depth[:, None] * cyclopean,
        gt_depth_cm=gt_depth,
        estimated_depth_cm=estimated,
        segment_start=np.zeros(n, dtype=bool),
        source=f"simulated(paradigm={paradigm}, seed={_describe_seed(seed)})",
        counts={"simulated_samples": n},
    )
    blinks = _blinks(rng, t_s, dropout_rate_hz)
    missed = _missed_frames(rng, n, p.missed_frame_rate) & ~blinks
    keep = ~(blinks | missed)
    keep[0] = True  # a session starts with a sample
    return record.select(keep, {
        "dropout_samples": int(np.count_nonzero(blinks & ~keep)),
        "missed_frame_samples": int(np.count_nonzero(missed & ~keep)),
        "samples": int(np.count_nonzero(keep)),
    })


def _exponential_filter(x: np.ndarray, weight: float) -> np.ndarray:
    """Per column ``y_i = y_{i-1} + weight * (x_i - y_{i-1})`` (a tracker's smoothing)."""
    y = np.empty_like(x)
    if len(x):
        y[0] = x[0]
    for i in range(1, len(x)):
        y[i] = y[i - 1] + weight * (x[i] - y[i - 1])
    return y


def _hold_index(stale: np.ndarray) -> np.ndarray:
    """Index of the sample each position reports when ``stale`` ones repeat the last fresh one."""
    fresh = ~stale
    fresh[0] = True
    return np.maximum.accumulate(np.where(fresh, np.arange(stale.size), 0))


def _missed_frames(rng: np.random.Generator, n: int, rate: float) -> np.ndarray:
    """Runs of 2-4 samples the logger dropped, starting with probability ``rate`` per sample."""
    missed = np.zeros(n, dtype=bool)
    if rate <= 0:
        return missed
    for start in np.flatnonzero(rng.random(n) < rate):
        missed[start:start + rng.integers(2, 5)] = True
    return missed


def _describe_seed(seed: Any) -> str:
    if isinstance(seed, np.random.SeedSequence):
        return f"{seed.entropy}/{'.'.join(str(k) for k in seed.spawn_key)}"
    return repr(seed)


def _blinks(rng: np.random.Generator, t_s: np.ndarray, rate_hz: float) -> np.ndarray:
    """Samples inside blinks: Poisson onsets at ``rate_hz``, each 100-300 ms long."""
    inside = np.zeros(t_s.size, dtype=bool)
    if rate_hz == 0 or t_s.size == 0:
        return inside
    count = rng.poisson(rate_hz * float(t_s[-1]))
    starts = rng.uniform(0.0, float(t_s[-1]), count)
    lengths = rng.uniform(0.1, 0.3, count)
    for s, length in zip(starts, lengths):
        inside |= (t_s >= s) & (t_s < s + length)
    return inside


def simulate_subjects(
    n_subjects: int, *, seed: int = 0, duration_s: float = 60.0, prefix: str = "S", **options: Any
) -> list[GazeRecord]:
    """``n_subjects`` independent sessions ``S1 .. Sn``, each from its own child seed of
    ``seed`` (so subject k is the same whatever ``n_subjects`` is)."""
    children = np.random.SeedSequence(seed).spawn(positive_int(n_subjects, "n_subjects"))
    return [
        simulate_session(duration_s, seed=child, subject=f"{prefix}{k + 1}", **options)
        for k, child in enumerate(children)
    ]


def build_synthetic_dataset(
    n_subjects: int = 8, *, seed: int = 0, duration_s: float = 60.0, T: int = 10, stride: int = 1, **options: Any
) -> GazeDataset:
    """Windows, targets (cm) and subject ids of simulated sessions: the stand-in for
    :func:`actif.lab.data.windows.build_dataset` on machines without the recordings."""
    return dataset_from_records(simulate_subjects(n_subjects, seed=seed, duration_s=duration_s, **options), T, stride)


# ------------------------------------------------------------------ ground truth


@dataclass(frozen=True, eq=False)
class GroundTruthDataset:
    """Windows whose target depends only on known inputs.

    ``relevance`` (T, I) is True exactly where the target depends on a (time step,
    feature) input; ``weights`` names each relevant feature's coefficient;
    ``proxies`` (I,) marks irrelevant features that are nearly a copy of a relevant
    one (|correlation| >= 0.9), which an attribution method cannot tell apart from it.
    """

    windows: np.ndarray
    targets: np.ndarray
    relevance: np.ndarray
    feature_names: list[str]
    weights: Mapping[str, float]
    proxies: np.ndarray
    subjects: np.ndarray
    description: str

    @property
    def relevant_features(self) -> np.ndarray:
        return self.relevance.any(axis=0)

    @property
    def relevant_steps(self) -> np.ndarray:
        return self.relevance.any(axis=1)


# Target of feature_signal_dataset: y = sum_k w_k * mean over the window of z_k, with
# z_k feature k standardised over the data set. One feature from each family:
# binocular geometry, gaze direction, gaze dynamics.
SIGNAL_WEIGHTS: Mapping[str, float] = {
    "vergence_diopters": 1.0,
    "cyclopean_yaw_deg": -0.6,
    "gaze_speed_deg_s": 0.4,
}
PROXY_CORRELATION = 0.9


def feature_signal_dataset(
    n_subjects: int = 6,
    *,
    T: int = 10,
    duration_s: float = 60.0,
    weights: Mapping[str, float] = SIGNAL_WEIGHTS,
    noise_sd: float = 0.0,
    seed: int = 0,
    **options: Any,
) -> GroundTruthDataset:
    """Simulated gaze windows whose target is ``sum_k w_k * mean_t z[t, k]`` over the
    features named in ``weights`` (``z``: the feature standardised over the whole data
    set), plus Gaussian noise of SD ``noise_sd``. Every step of those features is
    relevant; nothing else enters the target."""
    unknown = [name for name in weights if name not in FEATURE_NAMES]
    if unknown or not weights:
        raise ValueError(f"weights must name gaze features, unknown: {unknown}")
    ds = build_synthetic_dataset(n_subjects, seed=seed, duration_s=duration_s, T=T, **options)
    names = ds.feature_names
    flat = ds.windows.reshape(-1, len(names)).astype(np.float64)
    mean, std = flat.mean(axis=0), flat.std(axis=0)
    idx = np.array([names.index(name) for name in weights])
    w = np.array([float(weights[name]) for name in weights])
    z = (ds.windows[:, :, idx] - mean[idx]) / np.where(std[idx] > 0, std[idx], 1.0)
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(n_subjects + 1)[-1])
    targets = z.mean(axis=1) @ w + noise_sd * rng.standard_normal(len(ds))
    relevance = np.zeros((T, len(names)), dtype=bool)
    relevance[:, idx] = True
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.nan_to_num(np.corrcoef(flat, rowvar=False))
    proxies = (np.abs(corr[idx]) >= PROXY_CORRELATION).any(axis=0) & ~relevance[0]
    terms = " + ".join(f"{w_k:+g}*mean_t z({name})" for name, w_k in weights.items())
    return GroundTruthDataset(
        windows=ds.windows, targets=targets.astype(np.float32), relevance=relevance, feature_names=names,
        weights=dict(weights), proxies=proxies, subjects=ds.subjects,
        description=f"y = {terms} + N(0, {noise_sd:g}^2)",
    )


def salient_box_dataset(
    n_windows: int = 2000,
    *,
    T: int = 10,
    n_features: int = 8,
    relevant_features: Sequence[int] = (1, 4),
    relevant_steps: Sequence[int] = (3, 4, 5),
    weights: Sequence[float] | None = None,
    temporal_correlation: float = 0.0,
    noise_sd: float = 0.0,
    seed: int = 0,
) -> GroundTruthDataset:
    """The classic synthetic design: features are independent standard Gaussian series
    (AR(1) over time with ``temporal_correlation``), and the target is
    ``sum_k w_k * mean over relevant_steps of x[t, k]`` over ``relevant_features`` (all
    weights 1 by default) plus noise: only that box of (step, feature) inputs matters.
    As in the informative-box designs of Ismail et al., "Benchmarking Deep Learning
    Interpretability in Time Series Predictions" (NeurIPS 2020)."""
    feats = sorted({int(k) for k in relevant_features})
    steps = sorted({int(t) for t in relevant_steps})
    if not feats or not all(0 <= k < n_features for k in feats):
        raise ValueError(f"relevant_features must be indices in [0, {n_features}), got {list(relevant_features)}")
    if not steps or not all(0 <= t < T for t in steps):
        raise ValueError(f"relevant_steps must be indices in [0, {T}), got {list(relevant_steps)}")
    if not -1.0 < temporal_correlation < 1.0:
        raise ValueError(f"temporal_correlation must be in (-1, 1), got {temporal_correlation!r}")
    w = np.ones(len(feats)) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (len(feats),):
        raise ValueError(f"need one weight per relevant feature ({len(feats)}), got {w.shape}")
    rng = np.random.default_rng(seed)
    eps = rng.standard_normal((n_windows, T, n_features))
    x = np.empty_like(eps)
    rho = temporal_correlation
    x[:, 0] = eps[:, 0]
    for t in range(1, T):  # stationary AR(1): unit variance at every step
        x[:, t] = rho * x[:, t - 1] + np.sqrt(1.0 - rho * rho) * eps[:, t]
    box = x[:, steps][:, :, feats]
    targets = box.mean(axis=1) @ w + noise_sd * rng.standard_normal(n_windows)
    relevance = np.zeros((T, n_features), dtype=bool)
    relevance[np.ix_(steps, feats)] = True
    names = [f"x{k}" for k in range(n_features)]
    return GroundTruthDataset(
        windows=x.astype(np.float32), targets=targets.astype(np.float32), relevance=relevance,
        feature_names=names, weights={names[k]: float(wk) for k, wk in zip(feats, w)},
        proxies=np.zeros(n_features, dtype=bool), subjects=np.full(n_windows, "synthetic"),
        description=f"y = sum over features {feats} of w_k * mean over steps {steps} of x[t, k] + N(0, {noise_sd:g}^2)",
    )
