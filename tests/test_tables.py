"""Tables of samples in (actif.lab.data.tables) and through `actif explain`: CSV written by
Python's csv module, one column, byte-order mark, quoted fields, TSV, Parquet, bad lines."""

from __future__ import annotations

import csv

import numpy as np
import pytest

pd = pytest.importorskip("pandas")

import actif  # noqa: E402
from actif.cli import main  # noqa: E402
from actif.lab.data.tables import TableFormatError, read_samples  # noqa: E402

NAMES = [f"feature_{j}" for j in range(37)]


def write_csv(path, header, rows, **fmt):
    with open(path, "w", newline="", encoding=fmt.pop("encoding", "utf-8")) as fh:
        writer = csv.writer(fh, **fmt)
        writer.writerow(header)
        writer.writerows(rows)


def test_37_columns_written_by_the_csv_module(tmp_path, rng):
    # The old reader guessed the delimiter from the first 4 KB: five lines of this file.
    values = rng.normal(size=(60, 37)) * 1e3
    write_csv(tmp_path / "s.csv", ["timestamp", *NAMES], [[t, *row] for t, row in enumerate(values)])
    got = read_samples(tmp_path / "s.csv", NAMES)
    np.testing.assert_array_equal(got, values.astype(np.float32))
    # columns are matched by name, whatever their order
    got = read_samples(tmp_path / "s.csv", NAMES[::-1])
    np.testing.assert_array_equal(got, values[:, ::-1].astype(np.float32))


def test_37_columns_through_explain(tmp_path, rng, capsys):
    m = actif.random_model(37, 8, seed=0, feature_names=NAMES)
    m.save(tmp_path / "m.npz")
    values = rng.normal(size=(30, 37))
    write_csv(tmp_path / "s.csv", NAMES, values)
    assert main(["explain", "--model", str(tmp_path / "m.npz"), "--data", str(tmp_path / "s.csv"), "--top", "3"]) == 0
    windows = np.lib.stride_tricks.sliding_window_view(values.astype(np.float32), (10, 37))[:, 0]
    expected = actif.Explainer(m).attribute(windows)
    out = capsys.readouterr().out
    assert "21 windows of 10 steps" in out and f"1. {expected.ranking[0]}" in out


def test_one_column(tmp_path):
    # csv.Sniffer cannot find a delimiter in a one-column file; the extension says it.
    write_csv(tmp_path / "one.csv", ["x"], [[v] for v in range(12)])
    np.testing.assert_array_equal(read_samples(tmp_path / "one.csv", ["x"])[:, 0], np.arange(12, dtype=np.float32))


def test_byte_order_mark_and_spaces_in_the_header(tmp_path):
    (tmp_path / "bom.csv").write_bytes("\ufeffa , b\r\n1,2\r\n3, 4\r\n".encode())
    np.testing.assert_array_equal(read_samples(tmp_path / "bom.csv", ["a", "b"]), [[1, 2], [3, 4]])


def test_quoted_fields(tmp_path):
    write_csv(tmp_path / "q.csv", ["note, with comma", "a", "b"], [["x, y", 1.5, 2], ['say "hi"', 3, 4]],
              quoting=csv.QUOTE_ALL)
    np.testing.assert_array_equal(read_samples(tmp_path / "q.csv", ["b", "a"]), [[2, 1.5], [4, 3]])


def test_tsv_txt_and_an_explicit_delimiter(tmp_path):
    write_csv(tmp_path / "s.tsv", ["a", "b"], [[1, 2], [3, 4]], delimiter="\t")
    np.testing.assert_array_equal(read_samples(tmp_path / "s.tsv", ["a", "b"]), [[1, 2], [3, 4]])
    write_csv(tmp_path / "s.txt", ["a", "b"], [[1, 2]], delimiter=";")  # .txt: the header's delimiter
    np.testing.assert_array_equal(read_samples(tmp_path / "s.txt", ["a", "b"]), [[1, 2]])
    write_csv(tmp_path / "semi.csv", ["a", "b"], [[1, 2]], delimiter=";")
    with pytest.raises(TableFormatError, match="pass --delimiter ';'"):
        read_samples(tmp_path / "semi.csv", ["a", "b"])
    np.testing.assert_array_equal(read_samples(tmp_path / "semi.csv", ["a", "b"], delimiter=";"), [[1, 2]])
    np.testing.assert_array_equal(read_samples(tmp_path / "s.tsv", ["a", "b"], delimiter="tab"), [[1, 2], [3, 4]])


def test_parquet(tmp_path, rng):
    pytest.importorskip("pyarrow")
    values = rng.normal(size=(15, 3))
    pd.DataFrame(values, columns=["gz", "gx", "gy"]).to_parquet(tmp_path / "s.parquet")
    np.testing.assert_array_equal(read_samples(tmp_path / "s.parquet", ["gx", "gy", "gz"]), values[:, [1, 2, 0]].astype(np.float32))
    bad = pd.DataFrame({"gx": [1.0, np.nan], "gy": [1.0, 2.0], "gz": [0.0, 0.0]})
    bad.to_parquet(tmp_path / "nan.parquet")
    with pytest.raises(TableFormatError, match=r"nan.parquet, row 2: column 'gx'"):
        read_samples(tmp_path / "nan.parquet", ["gx", "gy", "gz"])


def test_bad_lines_name_file_and_line(tmp_path):
    (tmp_path / "wide.csv").write_text("a,b\n1,2\n\n3,4,5\n")
    with pytest.raises(TableFormatError, match=r"wide.csv, line 4: 3 fields where the header has 2") as exc:
        read_samples(tmp_path / "wide.csv", ["a", "b"])
    assert exc.value.line == 4
    # a quoted line break and a blank line come before the bad value: line numbers are physical
    (tmp_path / "text.csv").write_text('a,b,note\n1,2,"two\nlines"\n\n3,oops,x\n')
    with pytest.raises(TableFormatError, match=r"text.csv, line 5: column 'b' holds 'oops', not a finite number"):
        read_samples(tmp_path / "text.csv", ["a", "b"])
    (tmp_path / "empty_value.csv").write_text("a,b\n1,2\n3,\n")
    with pytest.raises(TableFormatError, match=r"line 3: column 'b' is empty"):
        read_samples(tmp_path / "empty_value.csv", ["a", "b"])
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(TableFormatError, match="is empty"):
        read_samples(tmp_path / "empty.csv", ["a"])
    (tmp_path / "latin1.csv").write_bytes("a,caf\xe9\n1,2\n".encode("latin-1"))
    with pytest.raises(TableFormatError, match="not UTF-8"):
        read_samples(tmp_path / "latin1.csv", ["a"])


def test_explain_errors_name_the_file_and_line(tmp_path, capsys):
    actif.random_model(2, 4, seed=0, feature_names=["a", "b"]).save(tmp_path / "m.npz")
    model = str(tmp_path / "m.npz")
    (tmp_path / "bad.csv").write_text("a,b\n" + "1,2\n" * 12 + "3,4,5\n")
    assert main(["explain", "--model", model, "--data", str(tmp_path / "bad.csv")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad.csv, line 14" in err
    assert main(["explain", "--model", model, "--data", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "is a directory" in err and "unsupported data file type ''" not in err
    (tmp_path / "x.dat").write_text("a b\n1 2\n")
    assert main(["explain", "--model", model, "--data", str(tmp_path / "x.dat")]) == 2
    assert "--delimiter" in capsys.readouterr().err
    (tmp_path / "short.csv").write_text("a,b\n1,2\n")
    assert main(["explain", "--model", model, "--data", str(tmp_path / "short.csv")]) == 2
    assert "short.csv has 1 sample rows; one window of the model needs 10" in capsys.readouterr().err


def test_missing_pandas_names_the_extra(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_pandas(name, *args, **kwargs):
        if name == "pandas" or name.startswith("pandas."):
            raise ImportError("No module named 'pandas'")
        return real_import(name, *args, **kwargs)

    (tmp_path / "s.csv").write_text("a\n1\n")
    monkeypatch.setattr(builtins, "__import__", no_pandas)
    with pytest.raises(ImportError, match=r"pip install 'actif\[lab\]'"):
        read_samples(tmp_path / "s.csv", ["a"])


def test_unreadable_file_names_it(tmp_path, monkeypatch):
    from actif.lab.data import tables

    path = tmp_path / "locked.csv"
    path.write_text("a\n1\n")

    def denied(*args, **kwargs):  # what reading a mode-000 file raises (tests may run as root)
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tables, "_read_text", denied)
    with pytest.raises(TableFormatError, match=r"locked.csv: cannot be read \(Permission denied\)"):
        read_samples(path, ["a"])
