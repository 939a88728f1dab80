/** One pino logger per process; secrets and payment tokens are redacted wherever they appear. */
import { pino, type Logger } from 'pino';

export function createLogger(name: string, level = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({
    name,
    level,
    redact: {
      paths: ['password', '*.password', 'token', '*.token', 'authorization', '*.authorization',
        'paymentMethod', '*.paymentMethod', 'jwtSecret', '*.jwtSecret'],
      censor: '[redacted]',
    },
  });
}
export type { Logger };
