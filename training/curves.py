"""Per-step and per-epoch metrics as JSON lines (`metrics.jsonl`), and their curves drawn
as a dependency-free SVG (`curves.svg`: training loss per logged step, validation top-1
per epoch), so a run folder shows how training went without a plotting library."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Sequence, Tuple


class MetricsLog:
    """Appends one JSON object per line; rank 0 only."""

    def __init__(self, path: Path, is_main: bool = True, resume_step: int = -1):
        """resume_step >= 0: keep the rows up to that step (a killed run may have logged
        past its last checkpoint), else start empty."""
        self.path = Path(path)
        self.is_main = is_main
        if not is_main:
            return
        kept = []
        if resume_step >= 0 and self.path.exists():
            kept = [line for line in self.path.read_text().splitlines()
                    if line.strip() and json.loads(line).get("step", 0) <= resume_step]
        self.path.write_text("".join(line + "\n" for line in kept))

    def write(self, row: Dict) -> None:
        if self.is_main:
            with open(self.path, "a") as f:
                f.write(json.dumps(row) + "\n")


def _panel(points: Sequence[Tuple[float, float]], x0: int, title: str, xlabel: str, w: int = 360, h: int = 220) -> str:
    pad = 40
    if not points:
        return f'<text x="{x0 + pad}" y="{h / 2}" font-size="12">{title}: no data</text>'
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    xmin, xmax = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    ymin, ymax = min(ys), max(ys) if max(ys) > min(ys) else min(ys) + 1

    def sx(x):
        return x0 + pad + (x - xmin) / (xmax - xmin) * (w - 2 * pad)

    def sy(y):
        return h - pad - (y - ymin) / (ymax - ymin) * (h - 2 * pad)
    path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in points)
    return (f'<text x="{x0 + w / 2}" y="16" font-size="13" text-anchor="middle">{title}</text>'
            f'<rect x="{x0 + pad}" y="{pad}" width="{w - 2 * pad}" height="{h - 2 * pad}" fill="none" stroke="#999"/>'
            f'<polyline points="{path}" fill="none" stroke="#1f77b4" stroke-width="1.5"/>'
            f'<text x="{x0 + pad}" y="{h - 22}" font-size="10">{xmin:g}</text>'
            f'<text x="{x0 + w - pad}" y="{h - 22}" font-size="10" text-anchor="end">{xmax:g} {xlabel}</text>'
            f'<text x="{x0 + pad - 4}" y="{pad + 4}" font-size="10" text-anchor="end">{ymax:.3g}</text>'
            f'<text x="{x0 + pad - 4}" y="{h - pad}" font-size="10" text-anchor="end">{ymin:.3g}</text>')


def render_curves(jsonl: Path, svg: Path) -> None:
    rows: List[Dict] = [json.loads(line) for line in Path(jsonl).read_text().splitlines() if line.strip()]
    loss = [(r["step"], r["loss"]) for r in rows if "loss" in r]
    val = [(r["epoch"], r["val_top1"]) for r in rows if "val_top1" in r]
    body = _panel(loss, 0, "training loss", "steps") + _panel(val, 360, "validation top-1", "epochs")
    svg.write_text(f'<svg xmlns="http://www.w3.org/2000/svg" width="720" height="220" font-family="sans-serif">'
                   f'<rect width="720" height="220" fill="white"/>{body}</svg>\n')
