"""Tables of a `long-budget.sh` run: its runs are one process per (learning rate, seed), so the
learning rate of each trained row is chosen here, as the single-process runs' `lr_grid` does it:
the best validation top-1 with the first seed (the smaller rate on a tie). Prints markdown:
every row at every rate (test, mean ± sd over seeds), then the chosen rows side by side with
their per-seed paired differences.
    python3 training/gpu/summarize.py WORKDIR"""
from __future__ import annotations

import json
import re
import statistics
import sys
from pathlib import Path
from typing import Dict, List, Tuple


def _ms(v: List[float]) -> str:
    sd = statistics.stdev(v) if len(v) > 1 else 0.0
    return f"{100 * statistics.mean(v):.1f} ± {100 * sd:.1f}"


def collect(work: Path, prefix: str, name: str) -> Dict[str, Dict[float, Dict[int, Tuple[Dict[str, float], float]]]]:
    """row -> lr -> seed -> ({column: test top-1}, val top-1)."""
    out: Dict = {}
    for d in sorted(work.glob(f"{prefix}-lr*-s*")):
        m = re.fullmatch(rf"{prefix}-lr([0-9.e-]+)-s(\d+)", d.name)
        f = d / f"{name}.json"
        if not (m and f.is_file()):
            continue
        lr, seed = float(m.group(1)), int(m.group(2))
        res = json.loads(f.read_text())
        for row, cols in res["table"].items():
            if name == "crossmodal":
                if row not in res["val_top1"]:
                    continue  # the MiniCLIP row: not trained
                test = {c: st["runs"][0] for c, st in cols.items()}
                val = res["val_top1"][row][0]
            else:
                if row not in res["val"]:
                    continue  # linear probes: no learning rate to choose
                test, val = {"all": cols["runs"][0]}, res["val"][row]["runs"][0]
            out.setdefault(row, {}).setdefault(lr, {})[seed] = (test, val)
    return out


def report(title: str, rows: Dict) -> List[str]:
    if not rows:
        return [f"## {title}", "", "(no finished runs)", ""]
    cols = list(next(iter(next(iter(rows.values())).values())).values())[0][0].keys()
    lines = [f"## {title}", "", "| row | lr | " + " | ".join(cols) + " | seeds | val top-1, first seed |",
             "|---|---|" + "---|" * (len(cols) + 2)]
    chosen: Dict[str, float] = {}
    for row, by_lr in rows.items():
        first = min(s for runs in by_lr.values() for s in runs)
        chosen[row] = max(sorted(by_lr), key=lambda lr: by_lr[lr].get(first, ({}, -1.0))[1])
        for lr, runs in sorted(by_lr.items()):
            seeds = sorted(runs)
            cells = [_ms([runs[s][0][c] for s in seeds]) for c in cols]
            v = f"{100 * runs[first][1]:.1f}" if first in runs else "-"
            mark = " (chosen)" if lr == chosen[row] else ""
            lines.append(f"| {row} | {lr:g}{mark} | " + " | ".join(cells) + f" | {len(seeds)} | {v} |")
    names = list(rows)
    if len(names) == 2:
        a, b = (rows[n][chosen[n]] for n in names)
        common = sorted(set(a) & set(b))
        diffs = [b[s][0]["all"] - a[s][0]["all"] for s in common]
        lines += ["", f"Chosen rows, test top-1 over all classes per seed {common}: {names[0]} " +
                  ", ".join(f"{100 * a[s][0]['all']:.1f}" for s in common) + f"; {names[1]} " +
                  ", ".join(f"{100 * b[s][0]['all']:.1f}" for s in common) +
                  f"; difference (second - first) {_ms(diffs)} points, per seed " +
                  ", ".join(f"{100 * d:+.1f}" for d in diffs) + "."]
    return lines + [""]


def main(work: str) -> None:
    w = Path(work)
    lines = report("crossmodal", collect(w, "xm", "crossmodal")) + report("simmim", collect(w, "sm", "simmim"))
    print("\n".join(lines))


if __name__ == "__main__":
    main(sys.argv[1])
