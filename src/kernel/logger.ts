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

/** Query parameters whose values are secrets (RFC 6750 §2.3 access_token, OAuth codes, client secrets, ...). */
const SECRET_QUERY_PARAMS = /^(access_token|refresh_token|id_token|id_token_hint|token|code|code_verifier|client_secret|client_assertion|password|otp|logout_token|assertion|subject_token|actor_token|device_code|user_code|state)$/i;

/**
 * A request URL fit for a log line: the values of secret-bearing query parameters replaced by
 * `[redacted]`. A URL that cannot be parsed keeps only its path.
 */
export function redactRequestUrl(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  try {
    const params = new URLSearchParams(url.slice(q + 1));
    let changed = false;
    for (const key of [...new Set(params.keys())]) {
      if (SECRET_QUERY_PARAMS.test(key)) {
        params.set(key, '[redacted]');
        changed = true;
      }
    }
    return changed ? `${url.slice(0, q)}?${params.toString()}` : url;
  } catch {
    return url.slice(0, q);
  }
}

interface LoggedRequest {
  method?: string;
  url?: string;
  host?: string;
  ip?: string;
  socket?: { remotePort?: number };
}

/** Options for the JSON logger (pino), with secrets redacted (bodies are never logged; headers are not logged). */
export function loggerOptions(level: LogLevel): LoggerOptions {
  return {
    level,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    serializers: {
      req: (req: LoggedRequest) => ({
        method: req.method,
        url: req.url === undefined ? undefined : redactRequestUrl(req.url),
        host: req.host,
        remoteAddress: req.ip,
        remotePort: req.socket?.remotePort,
      }),
    },
  };
}

/** A JSON logger with secrets redacted, on stdout (fd 1, the server) or stderr (fd 2, CLI commands whose stdout is data). */
export function createLogger(level: LogLevel, fd: 1 | 2 = 1): Logger {
  return pino(loggerOptions(level), pino.destination({ fd, sync: fd === 2 }));
}

export type { Logger };
