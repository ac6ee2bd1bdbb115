// The shared shape of the commands over image files (classify, zero-shot): FILE... or DIR,
// `concurrency` calls in flight, a progress bar on folders, one result line per file in order of
// completion, and exit code 1 when any file failed.
import { readFile } from 'node:fs/promises';
import { GatewayClientError } from '../../client/index.js';
import { type CommandInput, UsageError } from '../command.js';
import { imageFiles } from '../files.js';
import { describeError } from '../json.js';
import type { Row } from '../output.js';
import { forEachConcurrent } from '../pool.js';
import { progressBar } from '../progress.js';

/** One file's call: its JSON result and its table row. */
export type ImageCall = (image: Uint8Array) => Promise<{ value: Record<string, unknown>; row: Row }>;

export async function runOverImages(name: string, input: CommandInput, call: ImageCall): Promise<number> {
  if (input.positionals.length === 0) throw new UsageError(`${name} needs at least one image file or folder`);
  const { files, fromFolder } = await imageFiles(input.positionals);
  const progress = progressBar(files.length, input.stderr, fromFolder);
  let failures = 0;
  const held: string[] = [];
  try {
    await forEachConcurrent(files, input.concurrency, async (file) => {
      try {
        const { value, row } = await call(await readFile(file));
        input.output.emit({ file, ...value }, { file, ...row });
        progress.tick(false);
      } catch (err) {
        if (!(err instanceof GatewayClientError)) throw err;
        failures++;
        progress.tick(true);
        input.output.emit({ file, error: { code: err.code, grpc_status: err.grpcStatusName, message: err.message } }, { file, error: `${err.code}: ${err.message}` });
        const line = `gateway-cli: ${file}: ${describeError(err)}\n`;
        if (progress.drawing) held.push(line);
        else input.stderr.write(line);
      }
    });
  } finally {
    progress.stop();
    for (const line of held) input.stderr.write(line);
  }
  return failures === 0 ? 0 : 1;
}
