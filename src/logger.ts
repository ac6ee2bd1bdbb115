// Structured JSON logs (pino) for the whole process; secrets never go into log fields.
import { pino, type Logger } from 'pino';

export function createLogger(level: string): Logger {
  return pino({ level, base: { service: 'inference-gateway' }, timestamp: pino.stdTimeFunctions.isoTime });
}
