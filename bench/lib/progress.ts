// A one-line progress bar on stderr, drawn only when stderr is a terminal (redrawn at most every
// 100 ms); in logs and CI nothing but the stage's summary line appears.

const WIDTH = 24;

/** Progress of one timed stage. */
export class ProgressBar {
  private lastDrawMs = 0;
  private readonly tty = process.stderr.isTTY === true;
  private readonly startedMs = Date.now();

  constructor(private readonly label: string) {}

  /** `fraction` in [0, 1]; `detail` is a short status (counts, rate). */
  update(fraction: number, detail = ''): void {
    if (!this.tty) return;
    const now = Date.now();
    if (now - this.lastDrawMs < 100 && fraction < 1) return;
    this.lastDrawMs = now;
    const f = Math.max(0, Math.min(1, fraction));
    const filled = Math.round(f * WIDTH);
    const elapsed = ((now - this.startedMs) / 1000).toFixed(1);
    const line = `  [${'#'.repeat(filled)}${'-'.repeat(WIDTH - filled)}] ${(f * 100).toFixed(0).padStart(3)}% ${elapsed}s ${this.label} ${detail}`;
    const columns = process.stderr.columns || 120;
    process.stderr.write(`\r${line.slice(0, columns - 1).padEnd(columns - 1)}`);
  }

  /** Clears the bar. */
  done(): void {
    if (this.tty) process.stderr.write(`\r${' '.repeat((process.stderr.columns || 120) - 1)}\r`);
  }
}

/** A status line on stderr (stdout stays for the final report). */
export function note(message: string): void {
  process.stderr.write(`${message}\n`);
}
