"""The README: its Python examples run as written, and the numbers its prose quotes by hand
match the stored benchmark results."""

from __future__ import annotations

import json
import os
import re

import pytest

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")


def python_blocks() -> list[str]:
    with open(README, encoding="utf-8") as fh:
        return re.findall(r"```python\n(.*?)```", fh.read(), flags=re.S)


@pytest.mark.parametrize("index", range(len(python_blocks())))
def test_readme_example_runs(index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(python_blocks()[index], f"README.md python block {index}", "exec"), namespace)


def test_readme_opens_with_the_two_setup_commands():
    with open(README, encoding="utf-8") as fh:
        text = fh.read()
    first_block = re.search(r"```bash\n(.*?)```", text, flags=re.S).group(1).splitlines()
    assert first_block[0].startswith('pip install ".[lab]" && actif demo')
    assert "pytest" in first_block[1]


def test_development_install_installs_the_build_requirements_first():
    """`--no-build-isolation` builds with what the environment has: the README must
    install every [build-system] requirement of pyproject.toml before that command."""
    with open(README, encoding="utf-8") as fh:
        text = fh.read()
    with open(os.path.join(os.path.dirname(README), "pyproject.toml"), encoding="utf-8") as fh:
        build_system = re.search(r"\[build-system\]\s*requires\s*=\s*\[(.*?)\]", fh.read(), flags=re.S).group(1)
    requirements = re.findall(r'"([^"]+)"', build_system)
    assert requirements
    dev = text[text.index("## Development"):]
    install = dev.index("--no-build-isolation", dev.index("```bash"))
    for requirement in requirements:
        assert f'"{requirement}"' in dev[:install], f"README development install lacks {requirement}"
    for tool in ("compiler", "CMake", "Ninja"):
        assert tool in dev[:install]


# --------------------------------------------- hand-written numbers against the results
# `actif report --check` guards only the generated block; the prose above it quotes a few
# numbers by hand. Each is checked here against the stored results, to the digits shown.

RESULTS = os.path.join(os.path.dirname(README), "benchmarks", "results")


def results(suite: str) -> dict:
    with open(os.path.join(RESULTS, suite + ".json"), encoding="utf-8") as fh:
        return json.load(fh)


def prose() -> str:
    """The README outside the generated block, with line breaks folded into spaces."""
    with open(README, encoding="utf-8") as fh:
        text = fh.read()
    text = re.sub(r"<!-- BEGIN GENERATED RESULTS.*?<!-- END GENERATED RESULTS -->", "", text, flags=re.S)
    return re.sub(r"\s+", " ", text)


def quoted(pattern: str) -> list[str]:
    m = re.search(pattern, prose())
    assert m, f"README no longer says {pattern!r}: update this test with the text"
    return list(m.groups())


def assert_shows(text: str, value: float) -> None:
    """``text`` is ``value`` rounded to the decimals ``text`` shows."""
    decimals = len(text.partition(".")[2])
    assert abs(float(text) - value) <= 0.5 * 10**-decimals + 1e-12, f"README says {text}, the results give {value}"


def test_readme_deletion_insertion_numbers_match_the_results():
    median, p_holm = quoted(r"beat DeepACTIF's weighted/inverse by a median ([\d.]+) cm \(Holm-corrected p = ([\d.]+)\)")
    doc = results("deletion_insertion")
    variants = next(t["rows"] for t in doc["tables"] if t["rows"] and "variant" in t["rows"][0])
    row = next(r for r in variants if r["variant"] == "actif:weighted/inverse")
    assert row["median_gain"] < 0  # gain = variant - default: the default did better
    assert_shows(median, -row["median_gain"])
    assert_shows(p_holm, row["p_holm"])


def test_readme_synthetic_numbers_match_the_results():
    (precision,) = quoted(r"as well as Integrated Gradients and SHAP on one design \(precision@k ([\d.]+)\)")
    rows = {(r["design"], r["key"]): r for r in results("faithfulness_synthetic")["rows"]}
    default = rows[("salient_box", "actif:weighted/mean")]["precision"]
    assert_shows(precision, default)
    assert rows[("salient_box", "ig")]["precision"] == default and rows[("salient_box", "shap")]["precision"] == default


def test_readme_default_is_among_the_best_actif_variants_on_feature_signal():
    (precision,) = quoted(r"as well as any other actif variant on the other \(precision@k ([\d.]+) with proxies excused")
    rows = [r for r in results("faithfulness_synthetic")["rows"] if r["design"] == "feature_signal" and r["key"].startswith("actif:")]
    default = next(r for r in rows if r["key"] == "actif:weighted/mean")["precision_excused"]
    assert_shows(precision, default)
    assert default == max(r["precision_excused"] for r in rows)
