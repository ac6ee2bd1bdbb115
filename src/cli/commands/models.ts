// `models`: ListModels, every model with its versions, state and serving settings.
import type { Command } from '../command.js';

export const modelsCommand: Command = {
  name: 'models',
  usage: '',
  summary: 'list the models, their versions and states (gRPC ListModels)',
  options: {},
  async run({ client, print }) {
    print(await client.listModels());
    return 0;
  },
};
