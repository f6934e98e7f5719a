/**
 * Tables of the people-authentication module (migration 0005_authn), merged into the one
 * {@link Database} schema type in schema.ts. Same conventions: ISO text instants, 0/1 booleans,
 * JSON as text, `tenant_id` on every row.
 */

/** Passkeys (WebAuthn public-key credentials). `id` is the credential id, base64url. */
export interface WebauthnCredentialsTable {
  tenant_id: string;
  id: string;
  user_id: string;
  /** A name the user chose ("Laptop", "Phone"). */
  name: string;
  /** COSE public key, base64url. */
  public_key: string;
  /** The authenticator's signature counter as last seen (WebAuthn §6.1.1); 0 when it keeps none. */
  sign_count: number;
  /** JSON array of AuthenticatorTransport strings. */
  transports: string;
  /** `singleDevice` or `multiDevice` (synced passkey). */
  device_type: string;
  backed_up: number;
  aaguid: string | null;
  created_at: string;
  last_used_at: string | null;
}

/** Recovery codes (NIST SP 800-63B-4 look-up secrets): only SHA-256 of each 120-bit code is kept. */
export interface RecoveryCodesTable {
  tenant_id: string;
  user_id: string;
  code_hash: string;
  created_at: string;
  used_at: string | null;
}

/** Failed-attempt counters (NIST SP 800-63B-4 §3.2.2): `account:<userId>`, `identifier:<norm>`, `ip:<address>`. */
export interface AuthnThrottleTable {
  tenant_id: string;
  key: string;
  /** Consecutive failures since the last success. */
  failures: number;
  last_failure_at: string | null;
  /** Set when `failures` reached the lockout threshold. */
  locked_until: string | null;
}

/** Password-reset links: only SHA-256 of the token is kept; consumed once. */
export interface PasswordResetsTable {
  tenant_id: string;
  id: string;
  user_id: string;
  token_hash: string;
  created_at: string;
  expires_at: string;
  consumed_at: string | null;
}

/** Server-side browser sessions (cookie `gh_session` holds the token; only its SHA-256 is stored). */
export interface AuthnSessionsTable {
  tenant_id: string;
  id: string;
  token_hash: string;
  user_id: string;
  /** Authentication context class reached (`urn:gatehouse:aal1` | `urn:gatehouse:aal2`). */
  acr: string;
  /** JSON array of RFC 8176 method references. */
  amr: string;
  /** When the user last proved who they are. */
  auth_time: string;
  created_at: string;
  last_seen_at: string;
  /** Absolute end of the session. The idle end is `last_seen_at` + the idle timeout. */
  expires_at: string;
  ended_at: string | null;
  source_ip: string | null;
  user_agent: string | null;
}

/** OIDC grants issued under a session, so ending the session revokes their tokens. */
export interface AuthnSessionGrantsTable {
  tenant_id: string;
  session_id: string;
  grant_id: string;
  client_id: string;
  created_at: string;
}

/** Short-lived sign-in state: pending second factors, WebAuthn challenges, TOTP enrollments. JSON `data`. */
export interface AuthnFlowsTable {
  tenant_id: string;
  id: string;
  user_id: string | null;
  data: string;
  expires_at: string;
}

/** Mail written when no SMTP server is configured, listed by `GET /api/v1/outbox`. */
export interface MailOutboxTable {
  tenant_id: string;
  id: string;
  recipient: string;
  subject: string;
  body_text: string;
  /** `password_reset`, `password_changed`, `mfa_changed`, ... */
  kind: string;
  user_id: string | null;
  created_at: string;
}

/** The tables above, as Kysely table names. */
export interface AuthnDatabase {
  webauthn_credentials: WebauthnCredentialsTable;
  recovery_codes: RecoveryCodesTable;
  authn_throttle: AuthnThrottleTable;
  password_resets: PasswordResetsTable;
  authn_sessions: AuthnSessionsTable;
  authn_session_grants: AuthnSessionGrantsTable;
  authn_flows: AuthnFlowsTable;
  mail_outbox: MailOutboxTable;
}
