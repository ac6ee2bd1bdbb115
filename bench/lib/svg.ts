// Small hand-rolled SVG charts for the benchmark report: line charts (linear or log2 x axis) and
// grouped bar charts, with axes, ticks, axis labels, a title and a legend. No dependencies.

const WIDTH = 820;
const HEIGHT = 440;
const MARGIN = { top: 48, right: 240, bottom: 56, left: 72 };
const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#17becf', '#bcbd22'];
const PLOT_W = WIDTH - MARGIN.left - MARGIN.right;
const PLOT_H = HEIGHT - MARGIN.top - MARGIN.bottom;

export interface LineSeries {
  readonly name: string;
  readonly points: readonly { readonly x: number; readonly y: number }[];
  /** Dashed line (e.g. a second metric of the same configuration). */
  readonly dashed?: boolean;
  /** Palette index; defaults to the series' position. */
  readonly color?: number;
}

export interface LineChartSpec {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly LineSeries[];
  /** log2 x axis with a tick at each x present in the data (concurrency sweeps). */
  readonly xLog2?: boolean;
  /** Horizontal reference lines (e.g. the in-process limit). */
  readonly references?: readonly { readonly label: string; readonly y: number }[];
}

export interface BarChartSpec {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly categories: readonly string[];
  readonly series: readonly { readonly name: string; readonly values: readonly number[] }[];
}

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function fmt(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 10_000) return `${(v / 1000).toFixed(0)}k`;
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(a % 1 === 0 ? 0 : 1);
  if (a >= 1) return v.toFixed(a % 1 === 0 ? 0 : 1);
  return v.toPrecision(2);
}

/** "Nice" ticks from 0 (or min) to >= max: steps of 1, 2 or 5 x 10^k. */
export function niceTicks(min: number, max: number): number[] {
  if (!(max > min)) max = min + 1;
  let best: number[] = [];
  // Of 4 to 7 intervals, the tick set whose last tick overshoots `max` the least.
  for (const count of [5, 6, 4, 7]) {
    const raw = (max - min) / count;
    const mag = 10 ** Math.floor(Math.log10(raw));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
    const ticks: number[] = [];
    for (let v = Math.floor(min / step) * step; v < max + step * 0.999; v += step) ticks.push(Number(v.toPrecision(12)));
    if (best.length === 0 || ticks.at(-1)! < best.at(-1)!) best = ticks;
  }
  return best;
}

function frame(title: string, xLabel: string, yLabel: string, body: string[]): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<text x="${MARGIN.left + PLOT_W / 2}" y="24" text-anchor="middle" font-size="15" font-weight="bold">${esc(title)}</text>`,
    `<text x="${MARGIN.left + PLOT_W / 2}" y="${HEIGHT - 14}" text-anchor="middle">${esc(xLabel)}</text>`,
    `<text transform="translate(18 ${MARGIN.top + PLOT_H / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`,
    ...body,
    `<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${PLOT_W}" height="${PLOT_H}" fill="none" stroke="#333"/>`,
    '</svg>',
    '',
  ].join('\n');
}

function yAxis(ticks: number[], y: (v: number) => number): string[] {
  return ticks.flatMap((t) => [
    `<line x1="${MARGIN.left}" x2="${MARGIN.left + PLOT_W}" y1="${y(t).toFixed(1)}" y2="${y(t).toFixed(1)}" stroke="#e5e5e5"/>`,
    `<text x="${MARGIN.left - 6}" y="${(y(t) + 4).toFixed(1)}" text-anchor="end">${fmt(t)}</text>`,
  ]);
}

function legend(entries: readonly { name: string; color: string; dashed?: boolean; bar?: boolean }[]): string[] {
  const x = MARGIN.left + PLOT_W + 14;
  return entries.flatMap((e, i) => {
    const y = MARGIN.top + 8 + i * 20;
    const mark = e.bar
      ? `<rect x="${x}" y="${y - 6}" width="18" height="10" fill="${e.color}"/>`
      : `<line x1="${x}" x2="${x + 18}" y1="${y}" y2="${y}" stroke="${e.color}" stroke-width="2.5"${e.dashed ? ' stroke-dasharray="5 3"' : ''}/>`;
    return [mark, `<text x="${x + 24}" y="${y + 4}">${esc(e.name)}</text>`];
  });
}

/** A line chart with markers; y starts at 0. */
export function lineChart(spec: LineChartSpec): string {
  const all = spec.series.flatMap((s) => s.points).filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
  const refs = spec.references ?? [];
  const yMax = Math.max(1e-9, ...all.map((p) => p.y), ...refs.map((r) => r.y));
  const yTicks = niceTicks(0, yMax * 1.05);
  const yTop = yTicks.at(-1)!;
  const y = (v: number): number => MARGIN.top + PLOT_H - (v / yTop) * PLOT_H;
  const xs = [...new Set(all.map((p) => p.x))].sort((a, b) => a - b);
  let x: (v: number) => number;
  let xTicks: number[];
  if (spec.xLog2) {
    const lo = Math.log2(Math.max(1e-9, xs[0] ?? 1));
    const hi = Math.log2(Math.max(1e-9, xs.at(-1) ?? 2));
    const span = hi - lo || 1;
    x = (v) => MARGIN.left + 20 + ((Math.log2(v) - lo) / span) * (PLOT_W - 40);
    xTicks = xs;
  } else {
    xTicks = xs.length > 1 ? niceTicks(xs[0]!, xs.at(-1)!) : niceTicks(0, Math.max(1, xs[0] ?? 1));
    const lo = xTicks[0]!;
    const hi = xTicks.at(-1)!;
    x = (v) => MARGIN.left + ((v - lo) / (hi - lo || 1)) * PLOT_W;
  }
  const body: string[] = [...yAxis(yTicks, y)];
  for (const t of xTicks) {
    body.push(`<line x1="${x(t).toFixed(1)}" x2="${x(t).toFixed(1)}" y1="${MARGIN.top + PLOT_H}" y2="${MARGIN.top + PLOT_H + 5}" stroke="#333"/>`);
    body.push(`<text x="${x(t).toFixed(1)}" y="${MARGIN.top + PLOT_H + 18}" text-anchor="middle">${fmt(t)}</text>`);
  }
  refs.forEach((r) => {
    body.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + PLOT_W}" y1="${y(r.y).toFixed(1)}" y2="${y(r.y).toFixed(1)}" stroke="#555" stroke-dasharray="2 3"/>`);
    body.push(`<text x="${MARGIN.left + 6}" y="${(y(r.y) - 5).toFixed(1)}" fill="#555">${esc(r.label)}</text>`);
  });
  const entries: { name: string; color: string; dashed?: boolean }[] = [];
  spec.series.forEach((s, i) => {
    const color = PALETTE[(s.color ?? i) % PALETTE.length]!;
    const pts = s.points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
    entries.push({ name: s.name, color, dashed: s.dashed });
    if (pts.length === 0) return;
    const path = pts.map((p, k) => `${k === 0 ? 'M' : 'L'}${x(p.x).toFixed(1)},${y(p.y).toFixed(1)}`).join(' ');
    body.push(`<path d="${path}" fill="none" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
    for (const p of pts) body.push(`<circle cx="${x(p.x).toFixed(1)}" cy="${y(p.y).toFixed(1)}" r="3.5" fill="${color}"><title>${esc(`${s.name}: ${fmt(p.x)}, ${fmt(p.y)}`)}</title></circle>`);
  });
  body.push(...legend(entries));
  return frame(spec.title, spec.xLabel, spec.yLabel, body);
}

/** Grouped vertical bars, one group per category, one bar per series; y starts at 0. */
export function barChart(spec: BarChartSpec): string {
  const values = spec.series.flatMap((s) => s.values).filter(Number.isFinite);
  const yTicks = niceTicks(0, Math.max(1e-9, ...values) * 1.05);
  const yTop = yTicks.at(-1)!;
  const y = (v: number): number => MARGIN.top + PLOT_H - (v / yTop) * PLOT_H;
  const groupW = PLOT_W / Math.max(1, spec.categories.length);
  const barW = (groupW * 0.8) / Math.max(1, spec.series.length);
  const body: string[] = [...yAxis(yTicks, y)];
  spec.categories.forEach((c, ci) => {
    const gx = MARGIN.left + ci * groupW;
    body.push(`<text x="${(gx + groupW / 2).toFixed(1)}" y="${MARGIN.top + PLOT_H + 18}" text-anchor="middle">${esc(c)}</text>`);
    spec.series.forEach((s, si) => {
      const v = s.values[ci] ?? 0;
      if (!Number.isFinite(v)) return;
      const bx = gx + groupW * 0.1 + si * barW;
      body.push(`<rect x="${bx.toFixed(1)}" y="${y(v).toFixed(1)}" width="${Math.max(1, barW - 1).toFixed(1)}" height="${(MARGIN.top + PLOT_H - y(v)).toFixed(1)}" fill="${PALETTE[si % PALETTE.length]}"><title>${esc(`${s.name}, ${c}: ${fmt(v)}`)}</title></rect>`);
    });
  });
  body.push(...legend(spec.series.map((s, i) => ({ name: s.name, color: PALETTE[i % PALETTE.length]!, bar: true }))));
  return frame(spec.title, spec.xLabel, spec.yLabel, body);
}
