// `classify FILE --model NAME`: one encoded image through gRPC Classify.
import { readFile } from 'node:fs/promises';
import { type Command, UsageError } from '../command.js';

export const classifyCommand: Command = {
  name: 'classify',
  usage: 'FILE --model NAME [--version V] [--top-k K]',
  summary: 'classify one image file (gRPC Classify)',
  options: { model: { type: 'string' }, version: { type: 'string', default: '' }, 'top-k': { type: 'string', default: '0' } },
  async run({ client, values, positionals, print }) {
    if (positionals.length !== 1) throw new UsageError(`classify takes one image file, got ${positionals.length}`);
    const model = values['model'];
    if (typeof model !== 'string' || model === '') throw new UsageError('classify needs --model NAME (see the `models` command)');
    const topK = Number(values['top-k']);
    if (!Number.isInteger(topK) || topK < 0) throw new UsageError(`--top-k ${JSON.stringify(values['top-k'])}: expected an integer >= 0 (0 = the server's default)`);
    const file = positionals[0]!;
    let image: Buffer;
    try {
      image = await readFile(file);
    } catch (err) {
      throw new UsageError(`cannot read ${file}: ${(err as Error).message}`);
    }
    print(await client.classify({ model, version: String(values['version'] ?? ''), image, top_k: topK }));
    return 0;
  },
};
