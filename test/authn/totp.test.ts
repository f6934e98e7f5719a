/**
 * TOTP: RFC 6238 Appendix B SHA-1 vectors (secret "12345678901234567890"), the ±1 step window,
 * and single use of each time step, on every backend with a frozen clock.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generate, verify } from 'otplib';
import { AuditLog } from '../../src/audit/audit-log.js';
import { TotpService } from '../../src/authn/totp.js';
import { FixedClock } from '../../src/kernel/clock.js';
import { systemContext } from '../../src/kernel/context.js';
import { isGatehouseError } from '../../src/kernel/errors.js';
import type { Storage } from '../../src/storage/database.js';
import { describeEachBackend, freshStorage } from '../support/backends.js';

const RFC_SECRET_ASCII = '12345678901234567890';
/** Base32 of the ASCII secret above. */
const RFC_SECRET_BASE32 = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';
/** RFC 6238 Appendix B, SHA-1 column: [T (Unix seconds), 8-digit TOTP]. */
const RFC_SHA1_VECTORS: Array<[number, string]> = [
  [59, '94287082'],
  [1111111109, '07081804'],
  [1111111111, '14050471'],
  [1234567890, '89005924'],
  [2000000000, '69279037'],
  [20000000000, '65353130'],
];

describe('otplib 13 against RFC 6238 SHA-1 vectors', () => {
  const secret = new TextEncoder().encode(RFC_SECRET_ASCII);
  for (const [t, code] of RFC_SHA1_VECTORS) {
    it(`T=${t} gives ${code} (8 digits)`, async () => {
      expect(await generate({ secret, digits: 8, algorithm: 'sha1', period: 30, epoch: t })).toBe(code);
    });
  }
  it('the Base32 form of the secret gives the same codes', async () => {
    expect(await generate({ secret: RFC_SECRET_BASE32, digits: 8, epoch: 59 })).toBe('94287082');
    expect((await verify({ secret: RFC_SECRET_BASE32, digits: 8, epoch: 59, token: '94287082' })).valid).toBe(true);
  });
});

async function insertUser(storage: Storage, id: string, userName: string): Promise<void> {
  const now = new Date().toISOString();
  await storage.db
    .insertInto('users')
    .values({
      tenant_id: 'default', id, user_name: userName, user_name_norm: userName.toLowerCase(), external_id: null, display_name: null,
      given_name: null, family_name: null, middle_name: null, formatted_name: null, honorific_prefix: null, honorific_suffix: null,
      nick_name: null, title: null, user_type: null, preferred_language: null, locale: null, timezone: null, employee_number: null,
      cost_center: null, organization: null, division: null, department: null, manager_id: null, status: 'active', is_admin: 0,
      password_hash: null, extra: '{}', created_at: now, updated_at: now, version: 1,
    })
    .execute();
}

describeEachBackend('TotpService', (backend) => {
  let storage: Storage;
  let close: () => Promise<void>;
  const clock = new FixedClock(59_000);
  let totp: TotpService;

  beforeAll(async () => {
    ({ storage, close } = await freshStorage(backend));
    totp = new TotpService(storage, new AuditLog(storage.kind, clock), clock);
    for (const [i, name] of ['vec', 'enr', 'race'].entries()) await insertUser(storage, `u${i}`, name);
  });
  afterAll(async () => close?.());

  /** Gives user `u0` the RFC secret, with no step used yet. */
  async function useRfcSecret(): Promise<void> {
    await storage.db.deleteFrom('user_totp').where('user_id', '=', 'u0').execute();
    await storage.db
      .insertInto('user_totp')
      .values({ tenant_id: 'default', user_id: 'u0', secret: RFC_SECRET_BASE32, last_used_step: null, created_at: clock.now().toISOString() })
      .execute();
  }

  it('accepts each RFC 6238 vector (6-digit truncation) at its time, once', async () => {
    for (const [t, code8] of RFC_SHA1_VECTORS) {
      await useRfcSecret();
      clock.set(t * 1000);
      const code6 = code8.slice(-6);
      expect(await totp.check('default', 'u0', code6)).toBe('accepted');
      expect(await totp.check('default', 'u0', code6)).toBe('replayed');
      expect(await totp.verify('default', 'u0', code6)).toBe(false);
      const row = await storage.db.selectFrom('user_totp').select('last_used_step').where('user_id', '=', 'u0').executeTakeFirstOrThrow();
      expect(Number(row.last_used_step)).toBe(Math.floor(t / 30));
    }
  });

  it('accepts one step either side, never an older step than one already used, never two steps away', async () => {
    await useRfcSecret();
    const t = 1111111111; // step 37037037
    const codeAt = (s: number) => generate({ secret: RFC_SECRET_BASE32, epoch: s * 30 });
    clock.set(t * 1000);
    const step = Math.floor(t / 30);
    expect(await totp.check('default', 'u0', await codeAt(step + 2))).toBe('invalid');
    expect(await totp.check('default', 'u0', await codeAt(step - 2))).toBe('invalid');
    expect(await totp.check('default', 'u0', await codeAt(step + 1))).toBe('accepted'); // clock drift: the next step
    expect(await totp.check('default', 'u0', await codeAt(step))).toBe('replayed'); // an earlier step after a later one
    expect(await totp.check('default', 'u0', await codeAt(step - 1))).toBe('replayed');
    clock.set((t + 30) * 1000);
    expect(await totp.check('default', 'u0', await codeAt(step + 2))).toBe('accepted');
  });

  it('refuses malformed codes and users without TOTP', async () => {
    await useRfcSecret();
    clock.set(59_000);
    for (const bad of ['', 'abcdef', '94287082', '28708', '2870822', '28708x']) expect(await totp.check('default', 'u0', bad)).toBe('invalid');
    expect(await totp.check('default', 'u0', '287 082')).toBe('accepted'); // spaces as typed from some apps
    expect(await totp.check('default', 'u1', '287082')).toBe('not_enrolled');
    expect(await totp.hasTotp('default', 'u1')).toBe(false);
  });

  it('lets exactly one of several concurrent verifications of the same code succeed', async () => {
    await useRfcSecret();
    clock.set(1234567890 * 1000);
    const results = await Promise.all(Array.from({ length: 8 }, () => totp.verify('default', 'u0', '005924')));
    expect(results.filter(Boolean)).toHaveLength(1);
  });

  it('enrolls: SHA-1/6/30 otpauth URI with issuer and label, replaces an earlier secret, audits totp.enroll', async () => {
    clock.set(Date.UTC(2026, 0, 1));
    const first = await totp.enroll(systemContext(), 'u1');
    expect(first.secret).toMatch(/^[A-Z2-7]{32}$/);
    const uri = new URL(first.otpauthUri);
    expect(uri.protocol).toBe('otpauth:');
    expect(uri.host).toBe('totp');
    expect(decodeURIComponent(uri.pathname)).toBe('/Gatehouse:enr');
    expect(uri.searchParams.get('secret')).toBe(first.secret);
    expect(uri.searchParams.get('issuer')).toBe('Gatehouse');
    expect(await totp.hasTotp('default', 'u1')).toBe(true);
    const code = await generate({ secret: first.secret, epoch: clock.now().getTime() / 1000 });
    expect(await totp.verify('default', 'u1', code)).toBe(true);

    const second = await totp.enroll(systemContext(), 'u1');
    expect(second.secret).not.toBe(first.secret);
    const rows = await storage.db.selectFrom('user_totp').selectAll().where('user_id', '=', 'u1').execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]!.secret).toBe(second.secret);
    expect(rows[0]!.last_used_step).toBeNull();

    const audit = await storage.db.selectFrom('audit_events').select(['action', 'target_id', 'details']).where('action', '=', 'totp.enroll').orderBy('seq').execute();
    expect(audit.map((a) => [a.target_id, JSON.parse(a.details!).replaced])).toEqual([
      ['u1', false],
      ['u1', true],
    ]);
    expect(JSON.stringify(audit)).not.toContain(second.secret);
  });

  it('refuses to enroll an unknown user with not_found', async () => {
    const err = await totp.enroll(systemContext(), 'nobody').catch((e: unknown) => e);
    expect(isGatehouseError(err, 'not_found')).toBe(true);
  });
});
