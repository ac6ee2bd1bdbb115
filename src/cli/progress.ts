// A progress bar on stderr while a folder is processed (cli-progress), only when stderr is a
// terminal: piped or redirected output stays clean.
import { Presets, SingleBar } from 'cli-progress';

export interface Progress {
  /** True while a bar is drawn: other stderr lines would tear it, so they wait for stop(). */
  readonly drawing: boolean;
  tick(failed: boolean): void;
  stop(): void;
}

const SILENT: Progress = { drawing: false, tick: () => undefined, stop: () => undefined };

export function progressBar(total: number, stream: { isTTY?: boolean }, enabled: boolean): Progress {
  if (!enabled || stream.isTTY !== true) return SILENT;
  const bar = new SingleBar({ stream: stream as NodeJS.WriteStream, format: '{bar} {value}/{total} images | {failed} failed | ETA {eta_formatted}', hideCursor: true, clearOnComplete: true }, Presets.shades_classic);
  let failures = 0;
  bar.start(total, 0, { failed: 0 });
  return {
    drawing: true,
    tick: (failed) => {
      if (failed) failures++;
      bar.increment(1, { failed: failures });
    },
    stop: () => bar.stop(),
  };
}
