"""Bounded loaders (issue: hardening): the ONNX importer reads only the file it is given
and never runs an unbounded computation; compressed model members are refused by the
Python reader as by the C reader. Each test is a class of hostile file, not one byte
pattern; memory is checked as a bound on peak RSS growth, never as a timing."""

from __future__ import annotations

import io
import os
import sys
import zipfile

import numpy as np
import pytest

from actif.errors import ModelFormatError
from actif.model_spec import MAX_DIM, ModelSpec, random_spec

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_hostile_files import peak_rss_growth_mb  # noqa: E402

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from actif.interchange.onnx_import import MAX_FOLDED_BYTES, spec_from_onnx  # noqa: E402

N_IN, HIDDEN, T = 2, 3, 4


def lstm_graph(extra_nodes=(), extra_inits=(), n_in: int = N_IN) -> onnx.ModelProto:
    """The smallest graph the importer accepts, with hostile nodes placed first."""
    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(rng.uniform(-0.5, 0.5, (1, 4 * HIDDEN, N_IN)).astype(np.float32), "W"),
        numpy_helper.from_array(rng.uniform(-0.5, 0.5, (1, 4 * HIDDEN, HIDDEN)).astype(np.float32), "R"),
        numpy_helper.from_array(np.zeros(1, np.int64), "axis0"),
        *extra_inits,
    ]
    nodes = [
        *extra_nodes,
        helper.make_node("Transpose", ["x"], ["x_tm"], perm=[1, 0, 2]),
        helper.make_node("LSTM", ["x_tm", "W", "R"], ["y_seq", "h_last"], hidden_size=HIDDEN),
        helper.make_node("Squeeze", ["h_last", "axis0"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes, "hostile",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", T, n_in])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", HIDDEN])],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])


def external_tensor(name: str, location: str) -> onnx.TensorProto:
    t = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=[N_IN])
    t.data_location = TensorProto.EXTERNAL
    entry = t.external_data.add()
    entry.key, entry.value = "location", location
    return t


def test_the_base_graph_imports():
    assert spec_from_onnx(lstm_graph()).input_size == N_IN


SECRET = np.array([1234.5, -6789.25], np.float32)


@pytest.mark.parametrize("location", ["secret.bin", "/etc/passwd", "../secret.bin", "sub/../secret.bin"])
@pytest.mark.parametrize("where", ["initializer", "constant", "subgraph", "attribute"])
def test_external_data_is_refused_and_never_read(location, where, tmp_path, monkeypatch):
    # a file the model names, readable from the working directory: it must stay unread
    (tmp_path / "secret.bin").write_bytes(SECRET.tobytes())
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work if location.startswith("..") else tmp_path)
    t = external_tensor("shift", location)
    if where == "initializer":
        model = lstm_graph(extra_nodes=[helper.make_node("Add", ["x", "shift"], ["unused"])], extra_inits=[t])
    elif where == "constant":
        model = lstm_graph(extra_nodes=[helper.make_node("Constant", [], ["shift"], value=t)])
    elif where == "subgraph":
        inner = helper.make_graph([helper.make_node("Constant", [], ["c"], value=t)], "then", [],
                                  [helper.make_tensor_value_info("c", TensorProto.FLOAT, [N_IN])])
        cond = numpy_helper.from_array(np.array(True), "cond")
        model = lstm_graph(extra_nodes=[helper.make_node("If", ["cond"], ["picked"], then_branch=inner, else_branch=inner)],
                           extra_inits=[cond])
    else:
        model = lstm_graph(extra_nodes=[helper.make_node("ConstantOfShape", ["x"], ["z"], value=t)])
    for source in (model, model.SerializeToString()):
        with pytest.raises(ModelFormatError, match="external"):
            spec_from_onnx(source)
    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString())
    with pytest.raises(ModelFormatError, match="external"):
        spec_from_onnx(path)


def test_constant_input_with_external_data_as_a_default_tensor_is_refused(tmp_path, monkeypatch):
    # the audit's case: a Constant folded into the input affine read a local file
    (tmp_path / "secret.bin").write_bytes(SECRET.tobytes())
    monkeypatch.chdir(tmp_path)
    model = lstm_graph(extra_nodes=[helper.make_node("Constant", [], ["shift"], value=external_tensor("shift", "secret.bin"))])
    model.graph.node.insert(1, helper.make_node("Add", ["x", "shift"], ["x_shifted"]))
    model.graph.node[2].input[0] = "x_shifted"
    with pytest.raises(ModelFormatError, match="external"):
        spec_from_onnx(model)


def test_loop_with_a_huge_trip_count_is_refused_without_running():
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]), helper.make_node("Identity", ["v_in"], ["v_out"])],
        "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []), helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_in", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []), helper.make_tensor_value_info("v_out", TensorProto.FLOAT, [1])],
    )
    inits = [numpy_helper.from_array(np.array(2**62, np.int64), "trips"), numpy_helper.from_array(np.array(True), "go"),
             numpy_helper.from_array(np.zeros(1, np.float32), "v0")]
    model = lstm_graph(extra_nodes=[helper.make_node("Loop", ["trips", "go", "v0"], ["v_final"], body=body)], extra_inits=inits)
    with pytest.raises(ModelFormatError, match="Loop"):
        spec_from_onnx(model)


@pytest.mark.parametrize("op", ["ConstantOfShape", "Expand", "Tile", "Range"])
def test_folded_ops_declaring_huge_outputs_are_refused_before_allocating(op):
    big = np.array([1 << 16, 1 << 16], np.int64)  # 2^32 elements: 16 GiB as float32
    if op == "ConstantOfShape":
        nodes, inits = [helper.make_node(op, ["shape"], ["z"])], [numpy_helper.from_array(big, "shape")]
    elif op == "Expand":
        nodes = [helper.make_node(op, ["one", "shape"], ["z"])]
        inits = [numpy_helper.from_array(np.ones((1, 1), np.float32), "one"), numpy_helper.from_array(big, "shape")]
    elif op == "Tile":
        nodes = [helper.make_node(op, ["one", "shape"], ["z"])]
        inits = [numpy_helper.from_array(np.ones((1, 1), np.float32), "one"), numpy_helper.from_array(big, "shape")]
    else:
        nodes = [helper.make_node(op, ["a", "b", "c"], ["z"])]
        inits = [numpy_helper.from_array(np.array(v, np.int64), n) for n, v in (("a", 0), ("b", 1 << 40), ("c", 1))]
    model = lstm_graph(extra_nodes=nodes, extra_inits=inits)

    def load():
        with pytest.raises(ModelFormatError, match="bytes"):
            spec_from_onnx(model.SerializeToString())

    growth = peak_rss_growth_mb(load)
    if growth is None:
        pytest.skip("no /proc/self/clear_refs here")
    assert growth < 64, f"refusing a {model.ByteSize()}-byte file grew peak RSS by {growth:.0f} MB"


def test_many_folds_share_one_budget():
    # each ConstantOfShape under the limit, all of them together beyond it
    each = MAX_FOLDED_BYTES // 4 // 3 + 1  # float32 elements: three of them exceed the budget
    nodes = [helper.make_node("ConstantOfShape", ["shape"], [f"z{k}"]) for k in range(4)]
    model = lstm_graph(extra_nodes=nodes, extra_inits=[numpy_helper.from_array(np.array([each], np.int64), "shape")])
    with pytest.raises(ModelFormatError, match="limit"):
        spec_from_onnx(model)


@pytest.mark.parametrize("features", [0, MAX_DIM + 1, 1 << 34])
def test_graph_input_feature_count_is_checked_against_the_model_limits(features):
    with pytest.raises(ModelFormatError, match="features"):
        spec_from_onnx(lstm_graph(n_in=features))


def test_tensor_declaring_more_elements_than_a_file_holds_is_refused():
    t = TensorProto(name="huge", data_type=TensorProto.FLOAT, dims=[1 << 40])
    model = lstm_graph(extra_nodes=[helper.make_node("Constant", [], ["c"], value=t)])
    with pytest.raises(ModelFormatError, match="huge"):
        spec_from_onnx(model)


def test_dependency_errors_never_escape():
    # tensors onnx itself refuses to convert, as Constant values and initializers:
    # the result is a ModelFormatError, never onnx's or numpy's own exception
    bad = [
        TensorProto(name="neg", data_type=TensorProto.FLOAT, dims=[-3], raw_data=b"\0" * 4),
        TensorProto(name="short", data_type=TensorProto.FLOAT, dims=[4], raw_data=b"\0" * 3),
        TensorProto(name="kind", data_type=12345, dims=[1], raw_data=b"\0" * 4),
    ]
    for t in bad:
        for model in (
            lstm_graph(extra_nodes=[helper.make_node("Constant", [], ["c"], value=t)]),
            lstm_graph(extra_nodes=[helper.make_node("Identity", [t.name], ["c"])], extra_inits=[t]),
        ):
            with pytest.raises(ModelFormatError):
                spec_from_onnx(model.SerializeToString())


# ------------------------------------------------------------ compressed .npz members


def compressed_model_bytes(spec: ModelSpec) -> bytes:
    plain = io.BytesIO()
    spec.save(plain)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(plain.getvalue())) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for name in src.namelist():
            dst.writestr(name, src.read(name))
    return out.getvalue()


def test_compressed_members_are_refused_like_the_c_reader():
    blob = compressed_model_bytes(random_spec(2, 3, 1, dense_sizes=(), window=3, seed=0))
    with pytest.raises(ModelFormatError, match="compressed"):
        ModelSpec.load(blob)


def test_a_tiny_compressed_file_declaring_huge_arrays_allocates_nothing_big():
    # hidden 8192: w_hh (32768, 8192) float32 = 1 GiB of zeros deflates to about 1 MB;
    # before the rule, reading it decompressed every byte
    spec = random_spec(1, 2, 1, dense_sizes=(), batchnorm=False, seed=0)
    plain = io.BytesIO()
    spec.save(plain)
    out = io.BytesIO()
    header = np.lib.format.header_data_from_array_1_0(np.zeros((0,), np.float32))
    header["shape"] = (32768, 8192)
    npy = io.BytesIO()
    np.lib.format.write_array_header_1_0(npy, header)
    with zipfile.ZipFile(io.BytesIO(plain.getvalue())) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for name in src.namelist():
            data = src.read(name)
            if name == "lstm.0.w_hh.npy":
                data = npy.getvalue() + bytes(64 << 20)  # 64 MiB of zeros: 64 KiB compressed
            dst.writestr(name, data)
    blob = out.getvalue()
    assert len(blob) < 1 << 20

    def load():
        with pytest.raises(ModelFormatError):
            ModelSpec.load(blob)

    growth = peak_rss_growth_mb(load)
    if growth is None:
        pytest.skip("no /proc/self/clear_refs here")
    assert growth < 32, f"refusing a {len(blob)}-byte file grew peak RSS by {growth:.0f} MB"


# ------------------------------------------------------------------ files on disk


@pytest.mark.skipif(os.name == "nt", reason="POSIX modes")
@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_saved_files_honour_the_umask(umask, tmp_path):
    from actif.fileio import write_atomically

    old = os.umask(umask)
    try:
        path = tmp_path / "model.npz"
        random_spec(2, 3, 1, dense_sizes=(), seed=0).save(path)
        write_atomically(tmp_path / "other.bin", lambda fh: fh.write(b"x"))
    finally:
        os.umask(old)
    for p in (path, tmp_path / "other.bin"):
        assert (p.stat().st_mode & 0o777) == 0o666 & ~umask, oct(p.stat().st_mode)


@pytest.mark.skipif(os.name == "nt", reason="POSIX modes")
def test_overwriting_keeps_the_existing_mode(tmp_path):
    path = tmp_path / "model.npz"
    path.write_bytes(b"old")
    path.chmod(0o640)
    old = os.umask(0o077)
    try:
        random_spec(2, 3, 1, dense_sizes=(), seed=0).save(path)
    finally:
        os.umask(old)
    assert (path.stat().st_mode & 0o777) == 0o640
    assert ModelSpec.load(path).input_size == 2


def test_a_failed_write_leaves_nothing_behind(tmp_path):
    from actif.fileio import write_atomically

    path = tmp_path / "out.bin"
    path.write_bytes(b"old")

    def fail(fh):
        fh.write(b"partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_atomically(path, fail)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]
    assert path.read_bytes() == b"old"


def test_temporary_files_of_killed_writers_do_not_pile_up(tmp_path):
    import subprocess

    from actif.fileio import write_atomically

    path = tmp_path / "ck.bin"
    script = (
        "import os, sys\n"
        "from actif.fileio import write_atomically\n"
        "def stall(fh):\n"
        "    fh.write(b'half'); fh.flush(); os._exit(9)  # killed mid-write\n"
        "write_atomically(sys.argv[1], stall)\n"
    )
    for _ in range(3):  # each killed run leaves its own temporary file; the next run removes it
        subprocess.run([sys.executable, "-c", script, str(path)], check=False)
        debris = [p.name for p in tmp_path.iterdir() if p.name != "ck.bin"]
        assert len(debris) == 1, debris
    write_atomically(path, lambda fh: fh.write(b"whole"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.bin"]
    assert path.read_bytes() == b"whole"


def test_a_write_into_a_missing_directory_names_the_target(tmp_path):
    from actif.fileio import write_atomically

    target = tmp_path / "missing" / "m.npz"
    with pytest.raises(FileNotFoundError) as info:
        write_atomically(target, lambda fh: fh.write(b"x"))
    assert info.value.filename == str(target)


def test_folding_into_strings_is_refused():
    # a string tensor costs a Python object per element, far beyond its itemsize
    nodes = [helper.make_node("ConstantOfShape", ["shape"], ["z"]), helper.make_node("Cast", ["z"], ["s"], to=TensorProto.STRING)]
    model = lstm_graph(extra_nodes=nodes, extra_inits=[numpy_helper.from_array(np.array([1000], np.int64), "shape")])
    with pytest.raises(ModelFormatError, match="strings"):
        spec_from_onnx(model)
