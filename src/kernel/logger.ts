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

/** A JSON logger on stdout with secrets redacted. */
export function createLogger(level: LogLevel): Logger {
  return pino(loggerOptions(level));
}

export type { Logger };
