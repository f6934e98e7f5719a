/**
 * Passkeys (WebAuthn Level 3) with @simplewebauthn/server: registration, authentication with
 * discoverable credentials (passwordless: no user name typed, the authenticator chooses the
 * account), several per user, names, last-used times, removal, and signature-counter checks.
 *
 * - Relying party: id = the issuer's host name, origin = the issuer's origin. A passkey is bound
 *   to that origin by the browser, so it is phishing-resistant (NIST SP 800-63B-4 §3.2.5).
 * - Challenges are random (32 bytes), kept in `authn_flows` for {@link CHALLENGE_TTL_SECONDS} and
 *   taken (deleted) by the verification that uses them, so each is answered once.
 * - Counter: a credential that reports a counter not above the stored one (when either is
 *   non-zero) is refused as a possible clone (WebAuthn §6.1.1), and the stored counter only moves
 *   forward, with a conditional UPDATE.
 * - User verification is required at registration and sign-in, so a passkey sign-in is
 *   multi-factor (possession + the device's PIN or biometric): acr AAL2, amr `hwk` + `user` + `mfa`.
 */
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
} from '@simplewebauthn/server';
import { isoBase64URL } from '@simplewebauthn/server/helpers';
import type { AuditLog } from '../audit/audit-log.js';
import type { Clock } from '../kernel/clock.js';
import type { OperationContext } from '../kernel/context.js';
import { GatehouseError } from '../kernel/errors.js';
import type { Storage } from '../storage/database.js';
import type { FlowStore } from './flows.js';

/** How long a challenge may be answered, in seconds. */
export const CHALLENGE_TTL_SECONDS = 300;
/** Longest passkey name, in characters. */
export const PASSKEY_NAME_MAX = 64;

/** A passkey as listed to its owner. */
export interface PasskeyInfo {
  id: string;
  name: string;
  createdAt: string;
  lastUsedAt: string | null;
  /** `multiDevice` for synced passkeys, `singleDevice` for device-bound ones. */
  deviceType: string;
  backedUp: boolean;
}

export interface RelyingParty {
  /** The RP ID: the issuer's host name. */
  id: string;
  name: string;
  /** The issuer's origin, e.g. `https://id.example.com`. */
  origin: string;
}

/** A successful passkey sign-in. */
export interface PasskeyAssertion {
  userId: string;
  credentialId: string;
  userVerified: boolean;
}

/** Derives the relying party from the issuer URL. */
export function relyingPartyFor(issuer: string, name = 'Gatehouse'): RelyingParty {
  const u = new URL(issuer);
  return { id: u.hostname, name, origin: u.origin };
}

export class PasskeyService {
  constructor(
    private readonly storage: Storage,
    private readonly audit: AuditLog,
    private readonly clock: Clock,
    private readonly flows: FlowStore,
    readonly rp: RelyingParty,
  ) {}

  /** The user's passkeys, oldest first. */
  async list(tenantId: string, userId: string): Promise<PasskeyInfo[]> {
    const rows = await this.storage.db
      .selectFrom('webauthn_credentials')
      .select(['id', 'name', 'created_at', 'last_used_at', 'device_type', 'backed_up'])
      .where('tenant_id', '=', tenantId)
      .where('user_id', '=', userId)
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    return rows.map((r) => ({ id: r.id, name: r.name, createdAt: r.created_at, lastUsedAt: r.last_used_at, deviceType: r.device_type, backedUp: r.backed_up === 1 }));
  }

  /**
   * Options for `navigator.credentials.create()`: a discoverable credential (resident key
   * required), user verification required, no attestation, the user's existing passkeys excluded.
   */
  async registrationOptions(tenantId: string, user: { id: string; userName: string; displayName?: string | null }): Promise<PublicKeyCredentialCreationOptionsJSON> {
    const existing = await this.storage.db
      .selectFrom('webauthn_credentials')
      .select(['id', 'transports'])
      .where('tenant_id', '=', tenantId)
      .where('user_id', '=', user.id)
      .execute();
    const options = await generateRegistrationOptions({
      rpName: this.rp.name,
      rpID: this.rp.id,
      userName: user.userName,
      userID: new TextEncoder().encode(user.id),
      userDisplayName: user.displayName ?? user.userName,
      attestationType: 'none',
      excludeCredentials: existing.map((c) => ({ id: c.id, transports: JSON.parse(c.transports) as string[] })),
      authenticatorSelection: { residentKey: 'required', userVerification: 'required' },
      timeout: CHALLENGE_TTL_SECONDS * 1000,
    });
    await this.flows.put(tenantId, `webauthn-reg:${user.id}`, { challenge: options.challenge }, CHALLENGE_TTL_SECONDS, user.id);
    return options;
  }

  /**
   * Verifies a registration response against the pending challenge and stores the passkey.
   * Audit: `passkey.register`.
   * @throws GatehouseError `invalid_input` when the response does not verify, the challenge is
   *   missing or used, or the credential is already registered.
   */
  async register(ctx: OperationContext, userId: string, response: unknown, name: string): Promise<PasskeyInfo> {
    const flow = await this.flows.take<{ challenge: string }>(ctx.tenantId, `webauthn-reg:${userId}`);
    if (!flow) throw new GatehouseError('invalid_input', 'the passkey registration expired; start again', { reason: 'challenge_missing' });
    let verified;
    try {
      verified = await verifyRegistrationResponse({
        response: response as RegistrationResponseJSON,
        expectedChallenge: flow.challenge,
        expectedOrigin: this.rp.origin,
        expectedRPID: this.rp.id,
        requireUserVerification: true,
      });
    } catch (err) {
      throw new GatehouseError('invalid_input', 'the passkey could not be verified', { reason: 'verification_failed' }, { cause: err });
    }
    if (!verified.verified) throw new GatehouseError('invalid_input', 'the passkey could not be verified', { reason: 'verification_failed' });
    const info = verified.registrationInfo;
    const now = this.clock.now().toISOString();
    const cleanName = (name.trim() || 'Passkey').slice(0, PASSKEY_NAME_MAX);
    const row = {
      tenant_id: ctx.tenantId,
      id: info.credential.id,
      user_id: userId,
      name: cleanName,
      public_key: isoBase64URL.fromBuffer(info.credential.publicKey),
      sign_count: info.credential.counter,
      transports: JSON.stringify(info.credential.transports ?? []),
      device_type: info.credentialDeviceType,
      backed_up: info.credentialBackedUp ? 1 : 0,
      aaguid: info.aaguid,
      created_at: now,
      last_used_at: null,
    };
    await this.storage.db.transaction().execute(async (trx) => {
      const dup = await trx.selectFrom('webauthn_credentials').select('id').where('tenant_id', '=', ctx.tenantId).where('id', '=', row.id).executeTakeFirst();
      if (dup) throw new GatehouseError('invalid_input', 'this passkey is already registered', { reason: 'duplicate' });
      await trx.insertInto('webauthn_credentials').values(row).execute();
      await this.audit.append(trx, ctx, {
        action: 'passkey.register',
        target: { type: 'user', id: userId },
        details: { credential_id: row.id, name: cleanName, device_type: row.device_type, aaguid: row.aaguid },
      });
    });
    return { id: row.id, name: cleanName, createdAt: now, lastUsedAt: null, deviceType: row.device_type, backedUp: row.backed_up === 1 };
  }

  /**
   * Options for `navigator.credentials.get()` with no allow-list (discoverable credentials), user
   * verification required; the challenge is kept under `flowKey` (an interaction or sign-in flow id).
   */
  async authenticationOptions(tenantId: string, flowKey: string): Promise<PublicKeyCredentialRequestOptionsJSON> {
    const options = await generateAuthenticationOptions({ rpID: this.rp.id, userVerification: 'required', timeout: CHALLENGE_TTL_SECONDS * 1000 });
    await this.flows.put(tenantId, `webauthn-auth:${flowKey}`, { challenge: options.challenge }, CHALLENGE_TTL_SECONDS);
    return options;
  }

  /**
   * Verifies an assertion against the challenge kept under `flowKey` (taken, so answered once),
   * checks and advances the signature counter, and records the last-used time.
   * @returns the account and credential, or undefined when anything does not verify (the reason
   *   is in `onFailure`, for the audit log).
   */
  async authenticate(tenantId: string, flowKey: string, response: unknown, onFailure?: (reason: string, userId: string | null) => void): Promise<PasskeyAssertion | undefined> {
    const fail = (reason: string, userId: string | null = null) => {
      onFailure?.(reason, userId);
      return undefined;
    };
    const flow = await this.flows.take<{ challenge: string }>(tenantId, `webauthn-auth:${flowKey}`);
    if (!flow) return fail('challenge_missing');
    const resp = response as AuthenticationResponseJSON;
    if (!resp || typeof resp !== 'object' || typeof resp.id !== 'string' || resp.id.length > 1024) return fail('malformed');
    const cred = await this.storage.db
      .selectFrom('webauthn_credentials')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('id', '=', resp.id)
      .executeTakeFirst();
    if (!cred) return fail('unknown_credential');
    if (resp.response?.userHandle) {
      let handle = '';
      try {
        handle = new TextDecoder().decode(isoBase64URL.toBuffer(resp.response.userHandle));
      } catch {
        return fail('malformed', cred.user_id);
      }
      if (handle !== cred.user_id) return fail('user_handle_mismatch', cred.user_id);
    }
    let verified;
    try {
      verified = await verifyAuthenticationResponse({
        response: resp,
        expectedChallenge: flow.challenge,
        expectedOrigin: this.rp.origin,
        expectedRPID: this.rp.id,
        credential: { id: cred.id, publicKey: isoBase64URL.toBuffer(cred.public_key), counter: Number(cred.sign_count), transports: JSON.parse(cred.transports) as string[] },
        requireUserVerification: true,
      });
    } catch (err) {
      const counter = /counter/i.test((err as Error).message);
      return fail(counter ? 'counter_not_increased' : 'verification_failed', cred.user_id);
    }
    if (!verified.verified) return fail('verification_failed', cred.user_id);
    const newCount = verified.authenticationInfo.newCounter;
    const res = await this.storage.db
      .updateTable('webauthn_credentials')
      .set({ sign_count: newCount, last_used_at: this.clock.now().toISOString() })
      .where('tenant_id', '=', tenantId)
      .where('id', '=', cred.id)
      .where((eb) => (newCount === 0 ? eb('sign_count', '=', 0) : eb('sign_count', '<', newCount)))
      .executeTakeFirst();
    if (Number(res.numUpdatedRows) !== 1) return fail('counter_not_increased', cred.user_id);
    return { userId: cred.user_id, credentialId: cred.id, userVerified: verified.authenticationInfo.userVerified };
  }

  /** Renames one of the user's passkeys. Audit: `passkey.rename`. @throws GatehouseError `not_found`. */
  async rename(ctx: OperationContext, userId: string, credentialId: string, name: string): Promise<void> {
    const clean = (name.trim() || 'Passkey').slice(0, PASSKEY_NAME_MAX);
    await this.storage.db.transaction().execute(async (trx) => {
      const res = await trx
        .updateTable('webauthn_credentials')
        .set({ name: clean })
        .where('tenant_id', '=', ctx.tenantId)
        .where('user_id', '=', userId)
        .where('id', '=', credentialId)
        .executeTakeFirst();
      if (Number(res.numUpdatedRows) !== 1) throw new GatehouseError('not_found', 'no such passkey', { resource: 'Passkey', id: credentialId });
      await this.audit.append(trx, ctx, { action: 'passkey.rename', target: { type: 'user', id: userId }, details: { credential_id: credentialId, name: clean } });
    });
  }

  /** Removes one of the user's passkeys. Audit: `passkey.remove`. @throws GatehouseError `not_found`. */
  async remove(ctx: OperationContext, userId: string, credentialId: string): Promise<void> {
    await this.storage.db.transaction().execute(async (trx) => {
      const res = await trx
        .deleteFrom('webauthn_credentials')
        .where('tenant_id', '=', ctx.tenantId)
        .where('user_id', '=', userId)
        .where('id', '=', credentialId)
        .executeTakeFirst();
      if (Number(res.numDeletedRows) !== 1) throw new GatehouseError('not_found', 'no such passkey', { resource: 'Passkey', id: credentialId });
      await this.audit.append(trx, ctx, { action: 'passkey.remove', target: { type: 'user', id: userId }, details: { credential_id: credentialId } });
    });
  }
}
