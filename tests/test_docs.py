"""The documentation site: its Python examples run as written, and every page in the
navigation exists. (CI builds the whole site with ``mkdocs build --strict``.)

Blocks fenced as ```python run; blocks fenced as ```py are illustrations that need
something a test machine does not have (a cluster, device files)."""

from __future__ import annotations

import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(ROOT, "docs")


def pages() -> list[str]:
    out = []
    for base, _, files in os.walk(DOCS):
        out += [os.path.relpath(os.path.join(base, f), DOCS) for f in files if f.endswith(".md")]
    return sorted(out)


def blocks() -> list[tuple[str, int, str]]:
    found = []
    for page in pages():
        with open(os.path.join(DOCS, page), encoding="utf-8") as fh:
            for k, code in enumerate(re.findall(r"```python\n(.*?)```", fh.read(), flags=re.S)):
                found.append((page, k, code))
    return found


@pytest.mark.parametrize("page,index,code", blocks(), ids=[f"{p}#{k}" for p, k, _ in blocks()])
def test_docs_example_runs(page, index, code, tmp_path, monkeypatch):
    if "import torch" in code:
        pytest.importorskip("torch")
    monkeypatch.chdir(tmp_path)
    exec(compile(code, f"docs/{page} python block {index}", "exec"), {})


def test_every_nav_page_exists():
    with open(os.path.join(ROOT, "mkdocs.yml"), encoding="utf-8") as fh:
        nav = re.findall(r":\s*([\w/.-]+\.md)\s*$", fh.read(), flags=re.M)
    # docs/hooks.py publishes models/README.md as model-card.md and benchmarks/results/*.md as results/
    results = os.path.join(ROOT, "benchmarks", "results")
    assert nav, "mkdocs.yml has no nav"
    missing = [
        p for p in nav
        if not os.path.exists(os.path.join(DOCS, p))
        and p != "model-card.md"
        and not (p.startswith("results/") and os.path.exists(os.path.join(results, p[len("results/"):])))
    ]
    assert not missing, f"nav pages missing from docs/: {missing}"
