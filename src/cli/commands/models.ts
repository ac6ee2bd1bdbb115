// `models`: ListModels, one line (or row) per model with its versions, state and settings.
import { ModelSchema } from '../../client/gen/gateway/v1/gateway_pb.js';
import type { Command } from '../command.js';
import { plain } from '../json.js';

export const modelsCommand: Command = {
  name: 'models',
  usage: '',
  summary: 'list the models, their versions and states',
  options: {},
  async run({ client, output }) {
    const { models } = await client.listModels();
    for (const m of models) {
      const provider = m.versions.find((v) => v.version === m.defaultVersion)?.executionProvider ?? '';
      output.emit(plain(ModelSchema, m), { name: m.name, kind: m.kind, state: m.state, default_version: m.defaultVersion, versions: m.versions.map((v) => v.version).join(','), provider });
    }
    return 0;
  },
};
