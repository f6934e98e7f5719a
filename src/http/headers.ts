/**
 * Per-request work done once: the security headers of every response, computed at start-up by
 * @fastify/helmet itself, and request ids (UUIDv7, RFC 9562 §5.7) drawn from a pooled random buffer.
 */
import { randomFillSync } from 'node:crypto';
import Fastify from 'fastify';
import helmet, { type FastifyHelmetOptions } from '@fastify/helmet';
import { v7 as uuidv7 } from 'uuid';

/** Gatehouse's helmet configuration (one place: the headers below are derived from it). */
export const HELMET_OPTIONS: FastifyHelmetOptions = {
  contentSecurityPolicy: {
    useDefaults: true,
    directives: {
      // Sign-in forms post to this origin and are then redirected to the client's redirect_uri.
      'form-action': null,
      'upgrade-insecure-requests': null,
    },
  },
  // HSTS only makes sense behind TLS; the operator's proxy sets it.
  strictTransportSecurity: false,
};

/** Headers of a bare response, which helmet did not add. */
const NOT_FROM_HELMET = new Set(['content-type', 'content-length', 'date', 'connection', 'keep-alive', 'x-ping']);

/**
 * The security headers helmet sets with `options` (lower-case names → values), read once from a
 * throwaway Fastify instance; they do not depend on the request (no CSP nonces are used).
 */
export async function securityHeaders(options: FastifyHelmetOptions = HELMET_OPTIONS): Promise<Readonly<Record<string, string>>> {
  const probe = Fastify();
  try {
    await probe.register(helmet, options);
    probe.get('/', async (_request, reply) => reply.header('x-ping', '1').send('ok'));
    const res = await probe.inject({ method: 'GET', url: '/' });
    const out: Record<string, string> = {};
    for (const [name, value] of Object.entries(res.headers)) {
      if (!NOT_FROM_HELMET.has(name) && typeof value === 'string') out[name] = value;
    }
    return Object.freeze(out);
  } finally {
    await probe.close();
  }
}

/** 16 random bytes per id; refilled from the CSPRNG every {@link POOL_IDS} ids. */
const POOL_IDS = 256;
const pool = new Uint8Array(16 * POOL_IDS);
let poolNext = POOL_IDS;

function pooledRandom16(): Uint8Array {
  if (poolNext === POOL_IDS) {
    randomFillSync(pool);
    poolNext = 0;
  }
  const at = 16 * poolNext++;
  return pool.subarray(at, at + 16);
}

/** The 16 bytes of the id being made, and its 36 characters (8-4-4-4-12 lower-case hex, RFC 9562 §4). */
const idBytes = new Uint8Array(16);
const idText = Buffer.alloc(36);
const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1');

/**
 * A new request id: a UUIDv7 (RFC 9562 §5.7, laid out by the `uuid` package) whose random bits
 * come from a pooled CSPRNG buffer (one `randomFillSync` per 256 ids instead of one per id),
 * written out in one flat string (the package's own formatting builds it from some 20 pieces).
 * Not for secrets.
 */
export function newRequestId(): string {
  uuidv7({ rng: pooledRandom16 }, idBytes, 0);
  let at = 0;
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) idText[at++] = 0x2d; // '-'
    const b = idBytes[i] as number;
    idText[at++] = HEX_DIGITS[b >> 4] as number;
    idText[at++] = HEX_DIGITS[b & 15] as number;
  }
  return idText.toString('latin1', 0, 36);
}

/** Incoming `X-Request-ID` values kept as the request's own id (for logs): 1–128 characters of `[A-Za-z0-9._:-]`. */
const REQUEST_ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;

/** The id of a request whose `X-Request-ID` header is `given`: `given` when it is a safe id, else a new UUIDv7. */
export function requestIdFor(given: string | string[] | undefined): string {
  return typeof given === 'string' && REQUEST_ID_RE.test(given) ? given : newRequestId();
}
