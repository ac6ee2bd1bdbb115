"""`nas-report`: the `nas` runs of several seeds in one table and one Pareto figure (test
top-1 against measured latency: the found models per lambda, the hand-designed student at
each width), the issue's target checked against the student, and the search cost.

With `remeasure`, a fresh latency table is measured (`nas-latency`) and validated on every
run's found architecture, exported again from its op names and timed whole in the same
onnxruntime-node process as the table's children: predicted vs measured without the drift
between the minutes a run's table and its graphs were timed."""
from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from training.config import from_dict
from training.nas_latency import (LatencyConfig, LatencyTable, low_quantile, measure_table, parse_architecture,
                                  table_json)
from training.models.supernet import SupernetConfig

STUDENT = "hand-designed MobileNetV3-small student"


@dataclass
class NasReportConfig:
    runs: tuple = ()               # `nas` run folders (nas.json inside), one per seed
    out_dir: str = "training/runs/nas-report"
    figure: str = ""               # also write the Pareto figure here (e.g. training/docs/nas-pareto.png)
    latency_table: str = "training/configs/nas_latency.json"   # its validation rows: the found architectures' error
    remeasure: bool = False        # a fresh latency table, validated on every run's found architectures
    latency: LatencyConfig = field(default_factory=LatencyConfig)


def _mean_sd(values: Sequence[float]) -> Dict[str, float]:
    return {"mean": statistics.mean(values), "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
            "n": len(values)}


def load_runs(run_dirs: Sequence[str]) -> List[Dict]:
    runs = []
    for d in run_dirs:
        res = json.loads((Path(d) / "nas.json").read_text())
        runs.append({"dir": str(d), "seed": res["config"]["seed"], "rows": res["rows"], "config": res["config"]})
    # one seed may come in several runs (e.g. the lambda runs with the students and a run of
    # latency targets without them), but a row of a seed only once
    seen: Dict = {}
    for r in runs:
        for name in r["rows"]:
            if (r["seed"], name) in seen:
                raise ValueError(f"nas-report: two runs share a seed and a row: seed {r['seed']}, {name!r} "
                                 f"in {seen[(r['seed'], name)]} and {r['dir']}")
            seen[(r["seed"], name)] = r["dir"]
    return runs


def group_rows(runs: Sequence[Dict]) -> Dict[str, List[Dict]]:
    """{row name: that row of every run that has it, with the run's seed}. Found rows are
    grouped by lambda (each seed's search may find another architecture)."""
    groups: Dict[str, List[Dict]] = {}
    for run in runs:
        for name, row in run["rows"].items():
            groups.setdefault(name, []).append({**row, "seed": run["seed"]})
    return groups


def summarise(groups: Dict[str, List[Dict]], batches: Sequence[str] = ("1", "8")) -> Dict[str, Dict]:
    out = {}
    for name, rows in groups.items():
        s = {"seeds": [r["seed"] for r in rows], "test_top1": _mean_sd([r["test_top1"] for r in rows]),
             "val_top1": _mean_sd([r["val_top1"] for r in rows]),
             "measured_ms": {b: _mean_sd([r["measured_ms"][b] for r in rows]) for b in batches},
             "architectures": [" ".join(r["architecture"]) for r in rows]}
        if all(r.get("predicted_ms") for r in rows):
            s["predicted_ms"] = {b: _mean_sd([r["predicted_ms"][b] for r in rows]) for b in batches}
            s["error"] = {b: [(r["predicted_ms"][b] - r["measured_ms"][b]) / r["measured_ms"][b] for r in rows]
                          for b in batches}
        if "search_cpu_s" in rows[0]:
            s["search_cpu_s"] = _mean_sd([r["search_cpu_s"] for r in rows])
        out[name] = s
    return out


def _compare(s: Dict, st: Dict, batch: str) -> Dict:
    ratio = s["measured_ms"][batch]["mean"] / st["measured_ms"][batch]["mean"]
    diff = s["test_top1"]["mean"] - st["test_top1"]["mean"]
    seeds = min(s["test_top1"]["n"], st["test_top1"]["n"])
    clear = seeds >= 2 and diff > max(s["test_top1"]["sd"], st["test_top1"]["sd"])
    return {"latency_ratio": round(ratio, 3), "top1_diff": round(diff, 4), "seeds": seeds,
            "faster_0_9": ratio <= 0.9, "matches": diff >= 0.0, "clear": clear, "met": ratio <= 0.9 and diff >= 0.0 and clear}


def target_check(summary: Dict[str, Dict], batch: str = "1") -> Dict[str, Dict]:
    """The issue's target for every found row against the x1 hand-designed student: at equal
    latency +0.5 points, or a match at <= 0.9x its latency (measured, `batch`). `clear` needs
    two or more seeds and a difference larger than either row's sd. `widths` holds the same
    comparison against every other width of the student."""
    st = summary.get(STUDENT)
    if st is None:
        return {}
    others = [n for n in summary if n.startswith(STUDENT) and n != STUDENT]
    return {name: {**_compare(s, st, batch), "widths": {n[len(STUDENT) + 1:]: _compare(s, summary[n], batch)
                                                      for n in others}}
            for name, s in summary.items() if name.startswith("found")}


def remeasure(runs: Sequence[Dict], cfg: LatencyConfig, log=print) -> Dict:
    """A fresh table (`nas-latency`) validated on every run's found architectures: each is
    exported again from its op names and timed whole in the same process as the table's
    children. Per run and found row: its ms now, the fresh table's prediction and the run's
    own table's."""
    net = from_dict(SupernetConfig, runs[0]["config"]["supernet"])
    for r in runs:
        if from_dict(SupernetConfig, r["config"]["supernet"]) != net:
            raise ValueError(f"nas-report: {r['dir']} searched another space than {runs[0]['dir']}")
    found = {" ".join(row["architecture"]) for r in runs for name, row in r["rows"].items() if row.get("predicted_ms")}
    table = measure_table(net, replace(cfg, batches=[int(b) for b in cfg.batches]), log=log,
                          validate=[parse_architecture(net, a) for a in sorted(found)])
    val = {" ".join(v["architecture"]): v for v in table["validation"]}
    out: Dict = {"table": table, "rows": {}}
    for r in runs:
        for name, row in r["rows"].items():
            v = val.get(" ".join(row["architecture"]))
            if not row.get("predicted_ms") or v is None:   # a student, or a reference child of the fresh table
                continue
            got = {"measured_ms": {b: v[f"batch {b}"]["measured_ms"] for b in map(str, cfg.batches)},
                   "predicted_fresh_ms": {b: v[f"batch {b}"]["predicted_ms"] for b in map(str, cfg.batches)},
                   "predicted_run_ms": row["predicted_ms"]}
            out["rows"].setdefault(name, []).append({"seed": r["seed"], **got})
    return out


def repeat_check(table: Dict, fresh: Dict, net: SupernetConfig) -> Dict[str, Dict[str, float]]:
    """How a table holds from one measurement to the next: its predictions against the fresh
    measurement's whole-graph times of the fresh table's held-out children, and the drift of
    the graphs both timed (reference children of the same architectures), per batch."""
    out: Dict[str, Dict[str, float]] = {}
    refs = {" ".join(c): k for k, c in enumerate(table.get("reference_children", []))}
    q = table["measure"]["quantile"]

    def wall(t: Dict, gid: str) -> float:
        return low_quantile(t["rounds_ms"][gid], q)

    for b in map(str, fresh["measure"]["batches"]):
        if b not in table["fixed_ms"]["stem"]:
            continue
        lookup = LatencyTable(table, net, int(b))
        errs = [(lookup.lookup_ms(parse_architecture(net, " ".join(v["architecture"]))) - v[f"batch {b}"]["measured_ms"])
                / v[f"batch {b}"]["measured_ms"] for v in fresh["validation"]]
        both = [(k, refs[" ".join(c)]) for k, c in enumerate(fresh.get("reference_children", [])) if " ".join(c) in refs]
        drift = [wall(fresh, f"ref{k}@{b}") / wall(table, f"ref{j}@{b}") - 1 for k, j in both
                 if f"ref{k}@{b}" in fresh.get("rounds_ms", {}) and f"ref{j}@{b}" in table.get("rounds_ms", {})]
        out[b] = {"children": len(errs), "max_abs_error": max(map(abs, errs)) if errs else float("nan"),
                  "mean_abs_error": statistics.mean(map(abs, errs)) if errs else float("nan"),
                  "graphs_timed_twice": len(drift),
                  "drift_median": statistics.median(drift) if drift else float("nan"),
                  "drift_min": min(drift) if drift else float("nan"), "drift_max": max(drift) if drift else float("nan")}
    return out


def pareto_figure(summary: Dict[str, Dict], groups: Dict[str, List[Dict]], path: Path,
                  batches: Sequence[str] = ("1", "8")) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(batches), figsize=(5.2 * len(batches), 5.0))
    axes = [axes] if len(batches) == 1 else list(axes)
    students = sorted((n for n in summary if n.startswith(STUDENT)),
                      key=lambda n: groups[n][0].get("width_mult", 1.0))
    found = [n for n in summary if n.startswith("found")]
    markers = "o^Dv<>P"      # the students are squares
    for ax, b in zip(axes, batches):
        def pts(names):
            return ([summary[n]["measured_ms"][b]["mean"] for n in names], [100 * summary[n]["test_top1"]["mean"] for n in names],
                    [summary[n]["measured_ms"][b]["sd"] for n in names], [100 * summary[n]["test_top1"]["sd"] for n in names])

        x, y, xe, ye = pts(students)
        ax.errorbar(x, y, xerr=xe, yerr=ye, fmt="-s", color="tab:grey", capsize=3, label="MobileNetV3-small (hand-designed)")
        for n, xi, yi in zip(students, x, y):
            ax.annotate(f"x{groups[n][0].get('width_mult', 1.0):g}", (xi, yi), textcoords="offset points", xytext=(5, -10),
                        fontsize=8, color="tab:grey")
        for k, n in enumerate(found):
            x, y, xe, ye = pts([n])
            c = f"C{k}"
            ax.errorbar(x, y, xerr=xe, yerr=ye, fmt=markers[k % len(markers)], color=c, capsize=3,
                        label=f"found, {n.split(', ', 1)[1]}")
            ax.scatter([r["measured_ms"][b] for r in groups[n]], [100 * r["test_top1"] for r in groups[n]],
                       marker=markers[k % len(markers)], facecolors="none", edgecolors=c, alpha=0.5, s=18)
        for n in students:
            ax.scatter([r["measured_ms"][b] for r in groups[n]], [100 * r["test_top1"] for r in groups[n]],
                       marker="s", facecolors="none", edgecolors="tab:grey", alpha=0.5, s=18)
        ax.set_xlim(left=0)
        ax.set_xlabel(f"measured latency, batch {b} (ms, onnxruntime-node, 1 thread)")
        ax.set_ylabel("test top-1 (%)")
        seeds = max(summary[n]["test_top1"]["n"] for n in summary)
        ax.set_title(f"batch {b}: mean ± sd over {seeds} seed(s), hollow = one seed", fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
    # below the plots: inside, it hides points wherever the runs put them
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, loc="lower center", ncol=3, frameon=False)
    fig.tight_layout(rect=(0, 0.04 + 0.035 * ((len(labels) + 2) // 3), 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _pm(s: Dict[str, float], scale: float = 100.0, digits: int = 1) -> str:
    return f"{scale * s['mean']:.{digits}f} ± {scale * s['sd']:.{digits}f}"


def markdown(summary: Dict[str, Dict], checks: Dict[str, Dict], re: Optional[Dict], batches=("1", "8"),
             table: Optional[Dict] = None) -> str:
    lines = ["| row | seeds | test top-1 | val top-1 | " + " | ".join(f"measured ms, batch {b}" for b in batches) +
             " | " + " | ".join(f"run's table: predicted / measured, batch {b}" for b in batches) + " | search CPU s |",
             "|---|---|---|---|" + "---|" * (2 * len(batches) + 1)]
    for name, s in summary.items():
        err = [(", ".join(f"{100 * e:+.0f} %" for e in s["error"][b]) if "error" in s else "-") for b in batches]
        cpu = _pm(s["search_cpu_s"], 1.0, 0) if "search_cpu_s" in s else "-"
        lines.append(f"| {name} | {len(s['seeds'])} | {_pm(s['test_top1'])} | {_pm(s['val_top1'])} | " +
                     " | ".join(_pm(s["measured_ms"][b], 1.0, 3) for b in batches) + " | " + " | ".join(err) +
                     f" | {cpu} |")
    lines += ["", "Found architectures (positions 1-8), per seed:", ""]
    for name, s in summary.items():
        if name.startswith("found"):
            lines += [f"- {name}: " + "; ".join(f"seed {sd}: `{a}`" for sd, a in zip(s["seeds"], s["architectures"]))]
    val = {" ".join(v["architecture"]): v for v in (table or {}).get("validation", [])}
    found_archs = {a for name, s in summary.items() if name.startswith("found") for a in s["architectures"]}
    if val and not found_archs & set(val):
        lines += ["", f"The latency table ({table.get('command', 'nas-latency')}) was measured before these searches: "
                  "its held-out children do not include the architectures they found"
                  + (" (re-measured below)." if re else ".")]
    elif val:
        lines += ["", f"The latency table ({table.get('command', 'nas-latency')}) on each found architecture, held out "
                  "from the children it was built from and timed whole in the same onnxruntime-node process "
                  "(predicted / measured ms, error):", "",
                  "| row | seed | architecture | " + " | ".join(f"batch {b}" for b in batches) + " |",
                  "|---|---|---|" + "---|" * len(batches)]
        for name, s in summary.items():
            if not name.startswith("found"):
                continue
            for seed, arch in zip(s["seeds"], s["architectures"]):
                v = val.get(arch)
                cells = ([f"{v[f'batch {b}']['predicted_ms']:.3f} / {v[f'batch {b}']['measured_ms']:.3f}, "
                          f"{100 * v[f'batch {b}']['error']:+.0f} %" for b in batches] if v else ["not validated"] * len(batches))
                lines.append(f"| {name} | {seed} | `{arch}` | " + " | ".join(cells) + " |")
    if val:
        errs = [abs(v[f"batch {b}"]["error"]) for v in table["validation"] for b in batches]
        lines += ["", f"Over all {len(table['validation'])} held-out children (found and random): |error| at most "
                  + ", ".join(f"{100 * table['validation_max_abs_error'][b]:.1f} % at batch {b}" for b in batches)
                  + f" (mean {100 * sum(errs) / len(errs):.1f} %)."]
    if checks:
        lines += ["", "Target (vs the x1 student, batch-1 latency: match at <= 0.9x latency, clear over seeds):", ""]
        for name, c in checks.items():
            lines.append(f"- {name}: {c['latency_ratio']:.2f}x latency, {100 * c['top1_diff']:+.1f} points over "
                         f"{c['seeds']} seed(s): {'met' if c['met'] else 'not met'}"
                         f"{'' if c['clear'] else ' (difference not larger than the sd)'}" +
                         "".join(f"; vs {w}: {w_['latency_ratio']:.2f}x latency, {100 * w_['top1_diff']:+.1f} points"
                                 f"{', clear' if w_['clear'] else ', not clear'}" for w, w_ in c.get("widths", {}).items()))
    if re:
        lines += ["", "Re-measured in one onnxruntime-node process with a fresh table "
                  "(predicted by the fresh table / by the run's table vs measured now):", "",
                  "| row | seed | " + " | ".join(f"batch {b}: measured ms, fresh-table error, run-table error"
                                                 for b in batches) + " |", "|---|---|" + "---|" * len(batches)]
        for name, rows in re["rows"].items():
            for r in rows:
                cells = []
                for b in batches:
                    m = r["measured_ms"][b]
                    if "predicted_fresh_ms" in r:
                        cells.append(f"{m:.3f}, {100 * (r['predicted_fresh_ms'][b] - m) / m:+.0f} %, "
                                     f"{100 * (r['predicted_run_ms'][b] - m) / m:+.0f} %")
                    else:
                        cells.append(f"{m:.3f}, -, -")
                lines.append(f"| {name} | {r['seed']} | " + " | ".join(cells) + " |")
        for b, r in (re.get("repeat") or {}).items():
            lines += ["", f"Batch {b}: the committed table against the fresh measurement of {r['children']} held-out "
                      f"children: |error| at most {100 * r['max_abs_error']:.1f} % (mean {100 * r['mean_abs_error']:.1f} %); "
                      f"the {r['graphs_timed_twice']} graphs both measurements timed moved by "
                      f"{100 * r['drift_median']:+.1f} % (median; {100 * r['drift_min']:+.1f} to {100 * r['drift_max']:+.1f} %)."]
    return "\n".join(lines) + "\n"


def run_report(cfg: NasReportConfig, log=print) -> Dict:
    if not cfg.runs:
        raise ValueError("nas-report: no runs given (--runs DIR [DIR ...])")
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    runs = load_runs(cfg.runs)
    batches = [str(b) for b in runs[0]["config"]["latency"]["batches"]]
    groups = group_rows(runs)
    summary = summarise(groups, batches)
    checks = target_check(summary, batches[0])
    re = remeasure(runs, cfg.latency, log) if cfg.remeasure else None
    table = json.loads(Path(cfg.latency_table).read_text()) if cfg.latency_table and Path(cfg.latency_table).is_file() else None
    if re:
        fresh = re.pop("table")
        (out / "nas_latency_remeasured.json").write_text(table_json(fresh))
        if table:
            try:
                re["repeat"] = repeat_check(table, fresh, from_dict(SupernetConfig, runs[0]["config"]["supernet"]))
            except ValueError as e:   # the table of another search space: nothing to repeat
                log(f"nas-report: {cfg.latency_table} not compared with the fresh measurement: {e}")
    md = markdown(summary, checks, re, batches, table)
    (out / "nas-report.md").write_text(md)
    for p in [out / "nas-pareto.png"] + ([Path(cfg.figure)] if cfg.figure else []):
        pareto_figure(summary, groups, p, batches)
    cfg0 = runs[0]["config"]
    budget = {k: cfg0.get(k) for k in ("warmup_steps", "search_steps", "child_steps", "batch_size")}
    res = {"summary": summary, "target": checks, "remeasured": re, "runs": [r["dir"] for r in runs], "markdown": md,
           "budget": budget}
    (out / "nas-report.json").write_text(json.dumps(res, indent=2) + "\n")
    log(md)
    return res
