// `health`: grpc.health.v1 Check of the whole server or of one service. Exit code 0 only when
// SERVING, so scripts and probes can use it as grpc_health_probe would be used.
import type { Command } from '../command.js';

export const healthCommand: Command = {
  name: 'health',
  usage: '[--service NAME]',
  summary: 'readiness (grpc.health.v1 Check); exit code 0 only when SERVING',
  options: { service: { type: 'string', default: '' } },
  async run({ client, values, print }) {
    const service = String(values['service'] ?? '');
    const status = await client.health(service);
    print({ service, status });
    return status === 'SERVING' ? 0 : 1;
  },
};
