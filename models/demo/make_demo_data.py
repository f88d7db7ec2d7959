"""Make the demo's real-data excerpt from the RobustVision recordings.

    ACTIF_DATA_DIR=/path/to/robustvision python models/demo/make_demo_data.py

Writes ``robustvision_P13.npz`` next to this script: the cleaned session of subject P13
(actif.lab.data.load_subject: marker rows and repeated samples dropped, tracking loss
dropped, 0.35 m < depth <= 3 m, time order kept), as the raw columns the gaze features
are computed from, float32 except the timestamps (integer milliseconds from the first
sample), compressed. P13 is one of the five subjects held out of the bundled model's
training (actif.lab.training.BUNDLED_HOLDOUT) and the longest of them (37.6 s).

The recordings: B. W. Hosp, "FOVAL: Calibration-Free and Subject-Invariant Fixation
Depth Estimation Across Diverse Eye-Tracking Datasets", 2024, repository
benedikt-hosp/foval; licence CC BY 4.0 (see README.md here).
"""

from __future__ import annotations

import argparse
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SUBJECT = "P13"
# GazeRecord arrays stored (the feature pipeline needs all but the headset's estimate,
# which the demo does not show; it is kept so the record is complete).
ARRAYS = ("gaze_dir_right", "gaze_dir_left", "origin_right_cm", "origin_left_cm", "gaze_point_cm",
          "gt_depth_cm", "estimated_depth_cm")


def main() -> None:
    from actif.lab.data import load_subject
    from actif.lab.training import BUNDLED_HOLDOUT

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=None, help="RobustVision folder (default: $ACTIF_DATA_DIR)")
    parser.add_argument("--out", default=os.path.join(HERE, f"robustvision_{SUBJECT}.npz"))
    args = parser.parse_args()
    assert SUBJECT in BUNDLED_HOLDOUT, "the demo excerpt must come from a held-out subject"
    record = load_subject(args.data_dir, SUBJECT)
    t = np.asarray(record.timestamp_ms, np.float64)
    arrays = {name: np.asarray(getattr(record, name), np.float32) for name in ARRAYS}
    np.savez_compressed(
        args.out,
        subject=np.array(SUBJECT),
        timestamp_ms=np.round(t - t[0]).astype(np.int32),
        segment_start=np.asarray(record.segment_start, bool),
        **arrays,
    )
    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes): {len(record)} samples, "
          f"{(t[-1] - t[0]) / 1000:.1f} s of subject {SUBJECT}")


if __name__ == "__main__":
    main()
