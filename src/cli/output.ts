// How results are written: JSON Lines (one JSON object per result, for scripts and jq) or an
// aligned text table (for people). Results carry both forms; the table is printed once all rows
// are in, so its columns fit.

export type OutputFormat = 'jsonl' | 'table';
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['jsonl', 'table'];

export type Row = Readonly<Record<string, string | number | boolean>>;

export class Output {
  readonly #rows: Row[] = [];

  constructor(
    readonly format: OutputFormat,
    private readonly write: (line: string) => void,
  ) {}

  /** One result: `value` as a JSON line, or `row` (its table form) as a table row. */
  emit(value: unknown, row: Row): void {
    if (this.format === 'jsonl') this.write(JSON.stringify(value));
    else this.#rows.push(row);
  }

  /** Prints the table (table format); JSON Lines were written as they came. */
  flush(): void {
    if (this.format !== 'table' || this.#rows.length === 0) return;
    const columns = [...new Set(this.#rows.flatMap((r) => Object.keys(r)))];
    const cell = (r: Row, c: string): string => {
      const v = r[c];
      return v === undefined ? '' : typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(4) : String(v);
    };
    const widths = columns.map((c) => Math.max(c.length, ...this.#rows.map((r) => cell(r, c).length)));
    const line = (cells: string[]): string => cells.map((s, i) => s.padEnd(widths[i]!)).join('  ').trimEnd();
    this.write(line(columns.map((c) => c.toUpperCase())));
    for (const r of this.#rows) this.write(line(columns.map((c) => cell(r, c))));
    this.#rows.length = 0;
  }
}
