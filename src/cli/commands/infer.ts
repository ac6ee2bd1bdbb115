// `infer --model NAME --input JSON|@FILE`: KServe v2 inference with JSON tensors (ModelInfer over
// gRPC, /v2/models/{m}/infer over HTTP). The input is the v2 request body ({"inputs": [...]}) or
// just the list of input tensors.
import { readFile } from 'node:fs/promises';
import type { JsonTensor } from '../../client/index.js';
import { type Command, UsageError, list, required } from '../command.js';

export const inferCommand: Command = {
  name: 'infer',
  usage: '--model NAME --input JSON|@FILE [--output-name NAME]...',
  summary: 'KServe v2 inference with JSON tensors',
  options: { model: { type: 'string', short: 'm' }, version: { type: 'string' }, input: { type: 'string', short: 'i' }, 'output-name': { type: 'string', multiple: true } },
  async run({ client, values, output }) {
    const model = required(values, 'model', 'see the `models` command');
    const raw = required(values, 'input', 'a v2 request body or a list of tensors, as JSON or @FILE');
    let text = raw;
    if (raw.startsWith('@')) {
      try {
        text = await readFile(raw.slice(1), 'utf8');
      } catch (err) {
        throw new UsageError(`cannot read ${raw.slice(1)}: ${(err as Error).message}`);
      }
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (err) {
      throw new UsageError(`--input is not JSON: ${(err as Error).message}`);
    }
    const inputs = (Array.isArray(body) ? body : (body as { inputs?: unknown }).inputs) as JsonTensor[] | undefined;
    if (!Array.isArray(inputs) || inputs.length === 0) throw new UsageError('--input needs at least one tensor: {"inputs": [{"name", "datatype", "shape", "data"}]}');
    const names = list(values, 'output-name');
    const r = await client.infer({ model, version: values['version'] as string | undefined, inputs, outputs: names.length > 0 ? names.map((name) => ({ name })) : undefined });
    output.emit({ model_name: r.modelName, model_version: r.modelVersion, id: r.id, outputs: r.outputs }, { model: r.modelName, version: r.modelVersion, outputs: r.outputs.map((o) => `${o.name}[${o.shape.join('x')}]`).join(' ') });
    return 0;
  },
};
