import { pino, type Logger, type LoggerOptions } from 'pino';

/** Paths that must never reach a log line. */
export const REDACTED_PATHS = [
  'password',
  '*.password',
  'secret',
  '*.secret',
  'client_secret',
  '*.client_secret',
  'token',
  '*.token',
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
];

/** Levels accepted by `GATEHOUSE_LOG_LEVEL`. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Options for the JSON logger (pino), with secrets redacted. */
export function loggerOptions(level: LogLevel): LoggerOptions {
  return { level, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } };
}

/** A JSON logger with secrets redacted, on stdout (fd 1, the server) or stderr (fd 2, CLI commands whose stdout is data). */
export function createLogger(level: LogLevel, fd: 1 | 2 = 1): Logger {
  return pino(loggerOptions(level), pino.destination({ fd, sync: fd === 2 }));
}

export type { Logger };
