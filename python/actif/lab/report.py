"""Benchmark results: one JSON document per suite, and everything rendered from it.

Every suite in ``benchmarks/`` writes ``results/<suite>.json`` through
:func:`write_suite`. The Markdown tables, the plots and the README's benchmark section
are all *rendered from those files* (:func:`render_suite`, :func:`update_readme`,
``actif report``), so no number in the README can drift from the results.

A suite document::

    {"suite": "kernels", "title": "...", "command": "python benchmarks/...",
     "machine": {...}, "date": "2026-11-22T...",
     "columns": [["engine", "Engine"], ["us", "µs/window"], ...],
     "rows": [{"engine": "cpp", "us": 12.3, ...}, ...],
     "targets": [{"name": "...", "goal": "...", "measured": "...", "met": true}],
     "summary": ["one-line findings shown in the README"],
     "notes": ["caveats"],
     "plots": [{"kind": "lines", "file": "scale.png", "x": "windows", "y": "peak_rss_mb",
                "series": "method", "title": "...", "logx": true}],   # optional "rows": its own points
               # kind "scatter": one labelled point per row ("label", optional "yerr" and
               # "series" keys); "readme": true also shows the plot in the README section
     "tables": [{"title": "...", "columns": [...], "rows": [...]}]}   # optional, full results only
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import re
import subprocess
import sys
from typing import Any, Iterable, Sequence

from ..fileio import write_atomically

README_BEGIN = "<!-- BEGIN GENERATED RESULTS (actif report) -->"
README_END = "<!-- END GENERATED RESULTS -->"


# ----------------------------------------------------------------------- machine facts


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _mem_gib() -> float | None:
    try:
        with open("/proc/meminfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def _version(module: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(module)
    except Exception:  # noqa: BLE001 - absent or odd metadata: just not reported
        return None


def machine_info() -> dict[str, Any]:
    """Where a benchmark ran: CPU, cores, memory, OS, Python and engine versions."""
    info: dict[str, Any] = {
        "cpu": _cpu_model(),
        "arch": platform.machine(),
        "cores": os.cpu_count(),
        "memory_gib": _mem_gib(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }
    from .. import _native

    info["actif_isa"] = _native.isa()
    info["versions"] = {
        name: v
        for name in ("actif", "numpy", "numba", "onnxruntime", "ai-edge-litert", "tflite-runtime", "torch", "captum", "shap")
        if (v := _version(name)) is not None
    }
    return info


def rss_kib() -> tuple[int, int]:
    """(current, peak) resident set size of this process in KiB, from /proc/self/status
    (Linux); (0, 0) where there is no such file."""
    cur = peak = 0
    try:
        with open("/proc/self/status", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    cur = int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    peak = int(line.split()[1])
    except OSError:
        pass
    return cur, peak


def reset_peak_rss() -> bool:
    """Reset the peak RSS (VmHWM) to the current RSS; False where Linux does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="utf-8") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def machine_line(m: dict[str, Any]) -> str:
    mem = f", {m['memory_gib']} GiB" if m.get("memory_gib") else ""
    isa = f", actif kernels: {m['actif_isa']}" if m.get("actif_isa") else ""
    return f"{m.get('cpu', '?')} ({m.get('arch', '?')}, {m.get('cores', '?')} cores{mem}), {m.get('os', '')}, Python {m.get('python', '')}{isa}"


def command_line() -> str:
    """The command that produced a result, as a user would type it: ``actif ...`` for the
    CLI (however it was launched), ``python <script>`` for benchmark scripts, with paths
    inside the working directory made relative."""
    argv = list(sys.argv)
    if not argv:
        return ""
    prog = argv[0].replace(os.sep, "/")
    if prog.endswith("actif/cli.py") or os.path.basename(prog) == "actif":
        head = "actif"
    elif prog.endswith(".py"):
        head = "python " + _relative(argv[0])
    else:
        head = os.path.basename(prog)
    return " ".join([head, *(_relative(a) for a in argv[1:])])


def _relative(arg: str) -> str:
    cwd = os.getcwd()
    if os.path.isabs(arg) and (arg == cwd or arg.startswith(cwd + os.sep)):
        return os.path.relpath(arg, cwd)
    return arg


# The code a result ran, as git pathspecs from the checkout's top: a run with changes
# here not yet committed says so, so that it does not pass for the commit before them
# (changes to results, docs and prose do not count).
CODE_PATHSPECS = (":/python", ":/cpp", ":(top,glob)benchmarks/*.py", ":/CMakeLists.txt", ":/pyproject.toml")


def git_revision(cwd: str | None = None) -> str | None:
    """The short commit of the checkout (``cwd``, default: the current directory), with
    ``+uncommitted`` when its code (:data:`CODE_PATHSPECS`) has changes not committed,
    new files included; ``None`` outside a git checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5, cwd=cwd)
        revision = out.stdout.strip()
        if not revision or out.returncode != 0:
            return None
        status = subprocess.run(["git", "status", "--porcelain", "--", *CODE_PATHSPECS], capture_output=True, text=True,
                                timeout=10, cwd=cwd)
        return revision + ("+uncommitted" if status.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


# ------------------------------------------------------------------------- writing


def write_suite(results_dir: str, suite: str, doc: dict[str, Any]) -> str:
    """Complete ``doc`` (machine, date, command) and write ``<suite>.json``, its Markdown
    and its plots; returns the JSON path."""
    os.makedirs(results_dir, exist_ok=True)
    full = {
        "suite": suite,
        "command": command_line(),
        "machine": machine_info(),
        "date": _dt.datetime.now().isoformat(timespec="seconds"),
        "revision": git_revision(),
        **doc,
    }
    path = os.path.join(results_dir, f"{suite}.json")
    text = json.dumps(full, indent=1, default=_json_default) + "\n"
    write_atomically(path, lambda fh: fh.write(text.encode("utf-8")))
    render_files(results_dir, full)
    return path


def _json_default(v: Any) -> Any:
    import numpy as np

    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    raise TypeError(f"cannot store {type(v).__name__} in results")


def load_suites(results_dir: str) -> list[dict[str, Any]]:
    docs = []
    for name in sorted(os.listdir(results_dir)) if os.path.isdir(results_dir) else []:
        if name.endswith(".json"):
            with open(os.path.join(results_dir, name), encoding="utf-8") as fh:
                doc = json.load(fh)
            if isinstance(doc, dict) and "suite" in doc and "rows" in doc:
                docs.append(doc)
    order = {s: k for k, s in enumerate(SUITE_ORDER)}
    return sorted(docs, key=lambda d: (order.get(d["suite"], len(order)), d["suite"]))


# Suites in the order the README shows them; unknown suites follow alphabetically.
SUITE_ORDER = ("kernels", "memory", "numba_vs_cpp", "edge", "subject_attribution", "scale", "frame_budget",
               "faithfulness_synthetic", "faithfulness_retrain", "deletion_insertion", "faithfulness_basic_motions",
               "ig_steps", "attribution_cost", "timing_conditions", "roofline", "cost_faithfulness_goal", "synthetic_vs_real")


# ------------------------------------------------------------------------ rendering


def fmt(v: Any, key: str = "") -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):  # a missed target stands out; other yes/no columns do not
        return ("yes" if v else "**no**") if key == "met" else ("yes" if v else "no")
    if isinstance(v, float):
        if v != v:  # NaN
            return "–"
        a = abs(v)
        if a == 0:
            return "0"
        if a >= 1000:
            return f"{v:,.0f}"
        if a >= 100:
            return f"{v:.0f}"
        if a >= 10:
            return f"{v:.1f}"
        if a >= 0.01:
            return f"{v:.3g}"
        return f"{v:.2e}"
    return str(v)


def markdown_table(columns: Sequence[Sequence[str]], rows: Iterable[dict[str, Any]]) -> str:
    head = "| " + " | ".join(label for _, label in columns) + " |"
    rule = "|" + "|".join("---" for _ in columns) + "|"
    body = ["| " + " | ".join(fmt(r.get(key), key) for key, _ in columns) + " |" for r in rows]
    return "\n".join([head, rule, *body])


def render_suite(doc: dict[str, Any], heading_level: int = 2, image_prefix: str = "") -> str:
    """The Markdown for one suite: title, how it was produced, tables, targets, notes."""
    h = "#" * heading_level
    lines = [f"{h} {doc.get('title', doc['suite'])}", ""]
    lines.append(f"Command: `{doc.get('command', '')}`  ")
    lines.append(f"Machine: {machine_line(doc.get('machine', {}))}  ")
    lines.append(f"Date: {doc.get('date', '?')}" + (f", revision {doc['revision']}" if doc.get("revision") else ""))
    lines.append("")
    for s in doc.get("summary", []):
        lines.append(f"- {s}")
    if doc.get("summary"):
        lines.append("")
    columns = doc.get("columns") or [[k, k] for k in (doc["rows"][0] if doc["rows"] else {})]
    if doc.get("rows"):
        lines += [markdown_table(columns, doc["rows"]), ""]
    for table in doc.get("tables", []):  # further tables of the full results (not shown in the README)
        if table.get("title"):
            lines += [f"{h}# {table['title']}", ""]
        lines += [markdown_table(table["columns"], table["rows"]), ""]
    if doc.get("targets"):
        lines.append("Targets:")
        lines.append("")
        lines.append(markdown_table([["name", "Target"], ["goal", "Goal"], ["measured", "Measured"], ["met", "Met"]], doc["targets"]))
        lines.append("")
    for plot in doc.get("plots", []):
        lines += [f"![{plot.get('title', plot['file'])}]({image_prefix}{plot['file']})", ""]
    for note in doc.get("notes", []):
        lines.append(f"> {note}")
    return "\n".join(lines).rstrip() + "\n"


def render_files(results_dir: str, doc: dict[str, Any]) -> None:
    """Write ``<suite>.md`` and the suite's plots next to its JSON."""
    for plot in doc.get("plots", []):
        render_plot(doc, plot, os.path.join(results_dir, plot["file"]))
    with open(os.path.join(results_dir, f"{doc['suite']}.md"), "w", encoding="utf-8") as fh:
        fh.write(render_suite(doc, heading_level=1))


def render_plot(doc: dict[str, Any], plot: dict[str, Any], path: str) -> None:
    """Plots described in the document, drawn from its rows (kinds: lines, bars) or from
    binned data stored in the plot itself (kind: histograms)."""
    from ..plots import _pyplot

    plt = _pyplot()
    if plot.get("kind") == "histograms":
        render_histograms(plt, plot, path)
        return
    if plot.get("kind") == "scatter":
        render_scatter(plt, doc, plot, path)
        return
    # a plot draws the suite's rows, or points of its own (e.g. whole curves not worth a table)
    rows = [r for r in plot.get("rows", doc["rows"]) if all(r.get(k) is not None for k in (plot["x"], plot["y"]))]
    where = plot.get("where", {})
    rows = [r for r in rows if all(r.get(k) == v for k, v in where.items())]
    bars = plot.get("kind", "lines") != "lines"
    longest = max((len(str(r[plot["x"]])) for r in rows), default=0) if bars else 0
    fig, ax = plt.subplots(figsize=(max(7.0, 4.0 + 0.075 * longest), max(4.0, 0.25 * len(rows) + 1.2)) if bars else (7, 4))
    if not bars:
        series_key = plot.get("series")
        groups: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            groups.setdefault(str(r.get(series_key, "")) if series_key else "", []).append(r)
        for label, rs in groups.items():
            rs = sorted(rs, key=lambda r: r[plot["x"]])
            ax.plot([r[plot["x"]] for r in rs], [r[plot["y"]] for r in rs], marker="o", label=label or None)
        if series_key:
            ax.legend(fontsize=8)
    else:
        labels = [str(r[plot["x"]]) for r in rows]
        ax.barh(labels, [r[plot["y"]] for r in rows], color="#1b9e77")
        ax.invert_yaxis()
    if plot.get("logx"):
        ax.set_xscale("log")
    if plot.get("logy"):
        ax.set_yscale("log")
    for hline in plot.get("hlines", []):
        ax.axhline(hline["y"], linestyle="--", color="grey", linewidth=1)
        ax.annotate(hline.get("label", ""), (0.01, hline["y"]), xycoords=("axes fraction", "data"), fontsize=8, va="bottom")
    ax.set_xlabel(plot.get("xlabel", plot["x"]))
    ax.set_ylabel(plot.get("ylabel", plot["y"]))
    ax.set_title(plot.get("title", ""), fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def render_scatter(plt: Any, doc: dict[str, Any], plot: dict[str, Any], path: str) -> None:
    """One labelled point per row (``plot["label"]`` names it), an error bar where the row
    has ``plot["yerr"]``, one marker (and colour: ``plot["colors"]`` maps a series to one) per ``plot["series"]`` value."""
    where = plot.get("where", {})
    rows = [r for r in plot.get("rows", doc["rows"]) if all(r.get(k) == v for k, v in where.items())
            and all(isinstance(r.get(k), (int, float)) and r[k] == r[k] for k in (plot["x"], plot["y"]))]
    fig, ax = plt.subplots(figsize=(8, 5.5))
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(str(r.get(plot.get("series", ""), "")), []).append(r)
    colors = plot.get("colors", {})
    for (label, rs), marker in zip(groups.items(), "osD^v<>p*h"):
        err = [r.get(plot["yerr"]) or 0.0 for r in rs] if plot.get("yerr") else None
        ax.errorbar([r[plot["x"]] for r in rs], [r[plot["y"]] for r in rs], yerr=err, fmt=marker, capsize=2,
                    markersize=6, label=label or None, color=colors.get(label))
        for r in rs:
            ax.annotate(str(r.get(plot.get("label", ""), "")), (r[plot["x"]], r[plot["y"]]), fontsize=6.5,
                        xytext=(4, 3), textcoords="offset points")
    for hline in plot.get("hlines", []):
        ax.axhline(hline["y"], linestyle="--", color="grey", linewidth=1, label=hline.get("label"))
    if plot.get("series") or plot.get("hlines"):
        ax.legend(fontsize=8, loc=plot.get("legend", "best"))
    if plot.get("logx"):
        ax.set_xscale("log")
    ax.set_xlabel(plot.get("xlabel", plot["x"]))
    ax.set_ylabel(plot.get("ylabel", plot["y"]))
    ax.set_title(plot.get("title", ""), fontsize=10)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def render_histograms(plt: Any, plot: dict[str, Any], path: str) -> None:
    """A grid of overlaid histograms: ``plot["panels"]`` is a list of
    ``{"title": ..., "edges": [...], "series": {label: densities}}``; the first series is
    filled, the others drawn as steps."""
    panels = plot["panels"]
    cols = int(plot.get("columns", 4))
    nrows = max(1, -(-len(panels) // cols))
    fig, axes = plt.subplots(nrows, cols, figsize=(4 * cols, 3.5 * nrows), squeeze=False)
    for ax, panel in zip(axes.flat, panels):
        for k, (label, density) in enumerate(panel["series"].items()):
            if k == 0:
                ax.stairs(density, panel["edges"], fill=True, alpha=0.4, color="black", label=label)
            else:
                ax.stairs(density, panel["edges"], linewidth=1.5, label=label)
        ax.set_title(panel["title"], fontsize=10)
        ax.tick_params(labelsize=8)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=8)
    fig.suptitle(plot.get("title", ""))
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def render_readme_section(docs: Sequence[dict[str, Any]], results_rel: str) -> str:
    """The README's benchmark section: each suite's summary, targets and a link to its
    full table (kept short: the details live in the results files)."""
    out = [README_BEGIN, ""]
    for doc in docs:
        out.append(f"#### {doc.get('title', doc['suite'])}")
        out.append("")
        out.append(f"`{doc.get('command', '')}` on {machine_line(doc.get('machine', {}))}, {doc.get('date', '?')[:10]}.")
        out.append("")
        for s in doc.get("summary", []):
            out.append(f"- {s}")
        if doc.get("summary"):
            out.append("")
        table = doc.get("readme_rows")
        if table:
            out.append(markdown_table(doc.get("readme_columns") or doc["columns"], table))
            out.append("")
        if doc.get("targets"):
            out.append(markdown_table([["name", "Target"], ["goal", "Goal"], ["measured", "Measured"], ["met", "Met"]], doc["targets"]))
            out.append("")
        for plot in doc.get("plots", []):
            if plot.get("readme"):
                out += [f"![{plot.get('title', plot['file'])}]({results_rel}/{plot['file']})", ""]
        out.append(f"Full results: [{results_rel}/{doc['suite']}.md]({results_rel}/{doc['suite']}.md)")
        out.append("")
    out.append(README_END)
    return "\n".join(out)


def update_readme(readme_path: str, results_dir: str) -> bool:
    """Replace the generated block of the README; returns True if the file changed."""
    with open(readme_path, encoding="utf-8") as fh:
        text = fh.read()
    if README_BEGIN not in text or README_END not in text:
        raise ValueError(f"{readme_path} has no generated-results markers ({README_BEGIN} ... {README_END})")
    rel = os.path.relpath(results_dir, os.path.dirname(os.path.abspath(readme_path))).replace(os.sep, "/")
    block = render_readme_section(load_suites(results_dir), rel)
    new = re.sub(re.escape(README_BEGIN) + r".*?" + re.escape(README_END), lambda _: block, text, flags=re.S)
    if new != text:
        with open(readme_path, "w", encoding="utf-8") as fh:
            fh.write(new)
    return new != text
