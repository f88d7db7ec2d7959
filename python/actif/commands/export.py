"""``actif export``: write a model as ONNX, TFLite or actif's own ``.npz``."""

from __future__ import annotations

import argparse
import os

import numpy as np

DESCRIPTION = """\
Convert a model between formats. The output format follows the extension of --to:

  .onnx     ONNX (opset 17, dynamic batch and window); needs: pip install 'actif[onnx]'
  .tflite   TFLite flatbuffer with the native UNIDIRECTIONAL_SEQUENCE_LSTM op, written
            without TensorFlow; fixed batch and window (--batch-size, --window), which
            an interpreter can resize; needs: pip install 'actif[tflite]'
  .npz      actif's own model file (e.g. to import an ONNX or PyTorch model once)

The input (--model) may be an actif .npz, an .onnx file (imported), or a PyTorch
checkpoint (.pt/.pth, needs torch) written by actif or with a layer description.

The exported graphs output the predictions 'y' and every LSTM layer's hidden sequence
'hidden_0', 'hidden_1', ... (batch, time, hidden): any engine that runs the file can feed
actif's attribution, e.g. actif.load('m.npz', backend='onnxruntime', model_path='m.onnx').
"""

# --check: the written file, run by its engine in float32, against the float64 NumPy
# reference. The bound is the parity harness's prediction tolerance, loosened to 1e-4 in
# absolute terms for outputs far from 0 (e.g. depth in cm).
CHECK_RTOL = 1e-4
CHECK_ATOL = 1e-4

EPILOG = """\
--check prints a verdict, PASS or FAIL, for the predictions on random windows against
|y - reference| <= atol + rtol x |reference| (default atol 1e-4, rtol 1e-4), and exits
with status 1 on FAIL.

examples:
  actif export --model gaze.npz --to gaze.onnx
  actif export --model gaze.npz --to gaze.tflite --batch-size 1 --window 10 --check
  actif export --model foval.onnx --to foval.npz
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export", help="convert a model to ONNX, TFLite or actif .npz",
        description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", required=True, help="input model (.npz, .onnx, .pt/.pth)")
    p.add_argument("--to", required=True, metavar="OUT", help="output file; its extension picks the format (.onnx, .tflite, .npz)")
    p.add_argument("--batch-size", type=int, default=1, help="TFLite only: batch dimension of the file (default 1)")
    p.add_argument("--window", type=int, default=None, help="TFLite only: time steps of the file (default: the model's window)")
    p.add_argument("--check", action="store_true",
                   help="run the written file in its engine on random windows and compare with the float64 "
                   "NumPy reference: PASS or FAIL against the tolerance (exit status 1 on FAIL)")
    p.add_argument("--rtol", type=float, default=CHECK_RTOL, help=f"--check: relative tolerance (default {CHECK_RTOL:g})")
    p.add_argument("--atol", type=float, default=CHECK_ATOL, help=f"--check: absolute tolerance (default {CHECK_ATOL:g})")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..model import load_spec

    spec = load_spec(args.model)
    out = args.to
    ext = os.path.splitext(out)[1].lower()
    if ext == ".onnx":
        from ..interchange.onnx_export import save_onnx

        save_onnx(spec, out)
        backend = "onnxruntime"
    elif ext == ".tflite":
        from ..interchange.tflite_export import save_tflite

        save_tflite(spec, out, batch_size=args.batch_size, window=args.window)
        backend = "tflite"
    elif ext == ".npz":
        spec.save(out)
        backend = None
    else:
        raise ValueError(f"unsupported output type {ext!r}: use .onnx, .tflite or .npz")
    size = os.path.getsize(out)
    print(f"wrote {out} ({size} bytes): {spec.num_layers} LSTM layer(s) {spec.hidden_sizes}, "
          f"{spec.input_size} features -> {spec.output_size} outputs, pooling={spec.pooling}")
    if args.check:
        passed, line = check_export(spec, out, backend, rtol=args.rtol, atol=args.atol)
        print(line)
        return 0 if passed else 1
    return 0


def check_export(spec, path: str, backend: str | None, *, rtol: float = CHECK_RTOL, atol: float = CHECK_ATOL) -> tuple[bool, str]:
    """Run the written file against the float64 reference on random windows; return
    (passed, a one-line verdict naming the tolerance)."""
    import actif

    from ..model_spec import ModelSpec

    if backend is None:
        same = all(np.array_equal(a, b) for a, b in zip(spec.arrays().values(), ModelSpec.load(path).arrays().values()))
        verdict = "PASS: the file reloads with identical weights" if same else "FAIL: the reloaded weights differ"
        return same, f"check: {verdict} (tolerance: bit-identical)"
    # Random windows in the model's own input units: N(0, 1) after its input normalisation.
    Z = np.random.default_rng(0).normal(size=(4, int(spec.window), spec.input_size))
    if spec.input_scale is not None:
        scale = np.where(spec.input_scale != 0, spec.input_scale, 1.0).astype(np.float64)
        shift = np.zeros(spec.input_size) if spec.input_shift is None else spec.input_shift.astype(np.float64)
        Z = (Z - shift) / scale
    X = Z.astype(np.float32)
    y_ref = actif.Model(spec, "numpy").predict(X).astype(np.float64)  # the numpy backend runs in float64
    engine = actif.Model(spec, backend, model_path=path)
    try:
        y = engine.predict(X).astype(np.float64)
    finally:
        engine.close()
    err = np.abs(y - y_ref)
    bound = atol + rtol * np.abs(y_ref)
    passed = bool(np.all(err <= bound))
    worst = float(np.max(err / bound))
    return passed, (
        f"check: {'PASS' if passed else 'FAIL'}: {backend} on {X.shape[0]} random windows, "
        f"max |y - reference| = {float(err.max()):.2e}, tolerance |y - reference| <= {atol:g} + {rtol:g} x |reference| "
        f"(float64 NumPy reference; worst error is {worst:.2g}x the bound)"
    )
