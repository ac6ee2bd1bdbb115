// `zero-shot FILE... | DIR (--labels a,b,c | --label-set NAME)`: a clip model scores each image
// against labels written as text, or against a label set registered on the gateway.
import { ZeroShotResponseSchema } from '../../client/gen/gateway/v1/gateway_pb.js';
import { type Command, UsageError, integer, list } from '../command.js';
import { plain } from '../json.js';
import { runOverImages } from './images.js';

export const zeroShotCommand: Command = {
  name: 'zero-shot',
  usage: 'FILE... | DIR (--labels A,B,... [--template T]... | --label-set NAME) [--model NAME] [--top-k K] [--multi-label] [--rerank [--rerank-top-k K]]',
  summary: 'score images against labels written as text, or a registered label set (clip models)',
  options: {
    model: { type: 'string', short: 'm' },
    version: { type: 'string' },
    labels: { type: 'string', multiple: true },
    'label-set': { type: 'string' },
    template: { type: 'string', multiple: true },
    'top-k': { type: 'string' },
    'multi-label': { type: 'boolean' },
    rerank: { type: 'boolean' },
    'rerank-top-k': { type: 'string' },
  },
  async run(input) {
    const labels = list(input.values, 'labels', true);
    const labelSet = input.values['label-set'];
    const templates = list(input.values, 'template');
    if (typeof labelSet === 'string') {
      if (labelSet === '') throw new UsageError('--label-set needs a name; see the `label-set list` command');
      // A set carries its own templates, fixed when it was registered.
      if (labels.length > 0 || templates.length > 0) throw new UsageError('--label-set goes without --labels and --template (the set has its own)');
    } else if (labels.length === 0) {
      throw new UsageError('zero-shot needs --labels (comma-separated, or repeated) or --label-set NAME');
    }
    const request = {
      model: input.values['model'] as string | undefined,
      version: input.values['version'] as string | undefined,
      ...(typeof labelSet === 'string' ? { labelSet } : { labels, templates }),
      topK: integer(input.values, 'top-k', 0),
      multiLabel: input.values['multi-label'] === true,
      // Absent: the model's default (clip.reranker.rerank in its manifest).
      ...(input.values['rerank'] === true ? { rerank: true } : {}),
      rerankTopK: integer(input.values, 'rerank-top-k', 0),
    };
    return runOverImages('zero-shot', input, async (image) => {
      const r = await input.client.zeroShot({ ...request, image });
      const best = r.labels[0];
      return { value: plain(ZeroShotResponseSchema, r), row: { label: best?.label ?? '', score: best?.score ?? 0, batch: r.batchSize, ms: Math.round(r.timing?.totalMs ?? 0), ...(r.reranked ? { reranked: r.rerank?.topK ?? 0 } : {}) } };
    });
  },
};
