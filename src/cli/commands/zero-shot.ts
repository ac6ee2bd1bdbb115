// `zero-shot FILE... | DIR --labels a,b,c`: a clip model scores each image against the labels.
import { ZeroShotResponseSchema } from '../../client/gen/gateway/v1/gateway_pb.js';
import { type Command, UsageError, integer, list } from '../command.js';
import { plain } from '../json.js';
import { runOverImages } from './images.js';

export const zeroShotCommand: Command = {
  name: 'zero-shot',
  usage: 'FILE... | DIR --labels A,B,... [--model NAME] [--template T]... [--top-k K] [--multi-label]',
  summary: 'score images against labels written as text (clip models)',
  options: {
    model: { type: 'string', short: 'm' },
    version: { type: 'string' },
    labels: { type: 'string', multiple: true },
    template: { type: 'string', multiple: true },
    'top-k': { type: 'string' },
    'multi-label': { type: 'boolean' },
  },
  async run(input) {
    const labels = list(input.values, 'labels', true);
    if (labels.length === 0) throw new UsageError('zero-shot needs --labels (comma-separated, or repeated)');
    const request = {
      model: input.values['model'] as string | undefined,
      version: input.values['version'] as string | undefined,
      labels,
      templates: list(input.values, 'template'),
      topK: integer(input.values, 'top-k', 0),
      multiLabel: input.values['multi-label'] === true,
    };
    return runOverImages('zero-shot', input, async (image) => {
      const r = await input.client.zeroShot({ ...request, image });
      const best = r.labels[0];
      return { value: plain(ZeroShotResponseSchema, r), row: { label: best?.label ?? '', score: best?.score ?? 0, batch: r.batchSize, ms: Math.round(r.timing?.totalMs ?? 0) } };
    });
  },
};
