// Structured JSON logs (pino) for the whole process; secrets never go into log fields.
import { type DestinationStream, pino, type Logger } from 'pino';

/** The process logger; `destination` defaults to stdout (tests pass a memory stream). */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  // Redaction is a second line of defence: no code logs headers or keys on purpose.
  return pino({
    level,
    base: { service: 'inference-gateway' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: ['authorization', '*.authorization', 'headers.authorization', '*.headers.authorization', 'apiKey', '*.apiKey'], censor: '[redacted]' },
  }, destination);
}
