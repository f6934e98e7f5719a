/**
 * Request bodies and URLs free of U+0000 (NUL), and JSON bodies free of unpaired UTF-16
 * surrogates, refused at the edge of every API.
 *
 * PostgreSQL `text` cannot hold U+0000 (it answers `invalid byte sequence for encoding "UTF8": 0x00`),
 * while SQLite stores it: refusing it here keeps both backends alike and turns what would be a
 * database error (a 500) into a `400 invalid_input` in each API's own error format (the error is
 * raised in a hook or a content-type parser, so the route's scope formats it). An unpaired
 * surrogate (JSON `"\\ud800"`) cannot be encoded in UTF-8: both databases would store U+FFFD in
 * its place, a different string from the one the caller sent and the server keeps in memory.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { GatehouseError } from '../kernel/errors.js';
import { hasLoneSurrogate } from '../kernel/normalize.js';

/** Nesting deeper than this is left to the body's own validation (JSON bodies are at most 1 MiB). */
const MAX_DEPTH = 64;

/** True when any string (object key or value) in a parsed body satisfies `bad`. */
function anyString(value: unknown, bad: (s: string) => boolean, depth = 0): boolean {
  if (typeof value === 'string') return bad(value);
  if (value === null || typeof value !== 'object' || depth > MAX_DEPTH) return false;
  if (Array.isArray(value)) return value.some((v) => anyString(v, bad, depth + 1));
  for (const [k, v] of Object.entries(value)) if (bad(k) || anyString(v, bad, depth + 1)) return true;
  return false;
}

const hasNul = (s: string): boolean => s.includes('\u0000');

/** True when any string (object key or value) in a parsed body contains U+0000. */
export function containsNul(value: unknown): boolean {
  return anyString(value, hasNul);
}

/** A JSON escape of a UTF-16 surrogate (`\uD800` to `\uDFFF`): the only way JSON text can spell an unpaired one. */
const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F]/;

function loneSurrogateError(): GatehouseError {
  return new GatehouseError('invalid_input', 'the request body contains an unpaired UTF-16 surrogate (an escape from \\uD800 to \\uDFFF without its pair), which is not a Unicode character');
}

function nulError(where: 'URL' | 'body'): GatehouseError {
  return new GatehouseError('invalid_input', `the request ${where} contains U+0000 (NUL), which no Gatehouse field accepts`);
}

type Done = (err: Error | null, body?: unknown) => void;

/**
 * True when `text` cannot hold an object key `__proto__` or `constructor` nor a NUL: it has no
 * `\u` escape (RFC 8259 §7: the only escapes that can spell a letter, an underscore or NUL) and
 * neither name anywhere (as a key or not: a value holding one merely takes the long way).
 * secure-json-parse's own test (two regular expressions that also match the escaped spellings)
 * then has nothing to find, so `JSON.parse` alone gives the same value.
 */
function plainJson(text: string): boolean {
  return !text.includes('\\u') && !text.includes('__proto__') && !text.includes('constructor');
}

/**
 * A JSON content-type parser for `scope` (Fastify's own, secure-json-parse with `__proto__` and
 * `constructor` refused) that refuses U+0000 in any string. The body text is only walked when it
 * holds a `\u0000` escape, the one way JSON can carry NUL (RFC 8259 §7), so clean bodies cost one scan.
 *
 * A body that {@link plainJson} clears is given to `JSON.parse` directly (three substring scans,
 * about 3 µs for the 6.5 KB batch of the HTTP benchmark, instead of secure-json-parse's two
 * regular-expression scans, about 11 µs); if that throws, or the body is not plain, Fastify's
 * parser answers, with its own errors.
 *
 * @param emptyIsNone - an empty or blank body parses as no body (`undefined`) instead of an error.
 */
export function jsonBodyParser(scope: FastifyInstance, emptyIsNone: boolean): (request: FastifyRequest, body: string | Buffer, done: Done) => void {
  const parse = scope.getDefaultJsonParser('error', 'error');
  return (request, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (emptyIsNone && text.trim() === '') return done(null, undefined);
    if (text.length > 0 && plainJson(text)) {
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch {
        return parse(request, text, done);
      }
      return done(null, value);
    }
    const nul = text.includes('\\u0000');
    const surrogate = SURROGATE_ESCAPE.test(text);
    if (!nul && !surrogate) return parse(request, text, done);
    parse(request, text, (err, value) => {
      if (err) return done(err);
      if (nul && containsNul(value)) return done(nulError('body'));
      if (surrogate && anyString(value, hasLoneSurrogate)) return done(loneSurrogateError());
      done(null, value);
    });
  };
}

/** The error for a `%00` in the request URL (path or query string), or undefined; the app's `onRequest` hook calls it. */
export function nulInUrl(request: FastifyRequest): GatehouseError | undefined {
  return request.url.includes('%00') ? nulError('URL') : undefined;
}

/**
 * Installs the refusal on the root app: a NUL in a form body, and the JSON parser above for
 * `application/json` (scopes that replace their parsers use {@link jsonBodyParser} themselves).
 * A `%00` in the URL is refused by the app's `onRequest` hook ({@link nulInUrl}).
 */
export function refuseNul(app: FastifyInstance, bodyLimitBytes: number): void {
  app.addHook('preValidation', (request: FastifyRequest, _reply: FastifyReply, done: (err?: Error) => void) => {
    const type = request.headers['content-type'];
    if (typeof type === 'string' && type.startsWith('application/x-www-form-urlencoded') && containsNul(request.body)) return done(nulError('body'));
    done();
  });
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: bodyLimitBytes }, jsonBodyParser(app, false));
}
