// `health`: readiness (grpc.health.v1 Check, or /readyz over HTTP). Exit code 0 only when
// SERVING, so scripts and probes can use it as grpc_health_probe would be used.
import type { Command } from '../command.js';

export const healthCommand: Command = {
  name: 'health',
  usage: '[--service NAME]',
  summary: 'readiness; exit code 0 only when SERVING',
  options: { service: { type: 'string' } },
  async run({ client, values, output }) {
    const service = String(values['service'] ?? '');
    const status = await client.health(service);
    output.emit({ service, status }, { service, status });
    return status === 'SERVING' ? 0 : 1;
  },
};
