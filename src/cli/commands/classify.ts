// `classify FILE... | DIR --model NAME`: gRPC Classify (or POST /v1/classify) per image.
import { ClassifyResponseSchema } from '../../client/gen/gateway/v1/gateway_pb.js';
import { type Command, integer, required } from '../command.js';
import { plain } from '../json.js';
import { runOverImages } from './images.js';

export const classifyCommand: Command = {
  name: 'classify',
  usage: 'FILE... | DIR --model NAME [--version V] [--top-k K]',
  summary: 'classify image files, or every image in folders',
  options: { model: { type: 'string', short: 'm' }, version: { type: 'string' }, 'top-k': { type: 'string' } },
  async run(input) {
    const model = required(input.values, 'model', 'see the `models` command');
    const version = input.values['version'] as string | undefined;
    const topK = integer(input.values, 'top-k', 0);
    return runOverImages('classify', input, async (image) => {
      const r = await input.client.classify({ model, version, image, topK });
      const best = r.labels[0];
      return { value: plain(ClassifyResponseSchema, r), row: { label: best?.label ?? '', score: best?.score ?? 0, batch: r.batchSize, ms: Math.round(r.timing?.totalMs ?? 0) } };
    });
  },
};
