// `embed --model NAME [--image FILE] [--text T]...`: L2-normalized embeddings (clip models).
import { readFile } from 'node:fs/promises';
import { EmbedResponseSchema } from '../../client/gen/gateway/v1/gateway_pb.js';
import { type Command, UsageError, list, required } from '../command.js';
import { plain } from '../json.js';

export const embedCommand: Command = {
  name: 'embed',
  usage: '--model NAME [--image FILE] [--text T]...',
  summary: 'embeddings of an image and/or texts (clip models)',
  options: { model: { type: 'string', short: 'm' }, version: { type: 'string' }, image: { type: 'string' }, text: { type: 'string', multiple: true } },
  async run({ client, values, output }) {
    const model = required(values, 'model', 'a clip model; see the `models` command');
    const texts = list(values, 'text');
    const file = values['image'] as string | undefined;
    if (!file && texts.length === 0) throw new UsageError('embed needs --image FILE and/or --text T');
    let image: Uint8Array | undefined;
    if (file) {
      try {
        image = await readFile(file);
      } catch (err) {
        throw new UsageError(`cannot read ${file}: ${(err as Error).message}`);
      }
    }
    const r = await client.embed({ model, version: values['version'] as string | undefined, image, texts });
    output.emit(plain(EmbedResponseSchema, r), { model: r.model, version: r.version, dimensions: r.dimensions, image: r.imageEmbedding ? 1 : 0, texts: r.textEmbeddings.length });
    return 0;
  },
};
