/**
 * The people-authentication module, built once in the composition root (src/gatehouse.ts):
 * sign-in checks, sessions, passwords (change, reset), TOTP, passkeys, recovery codes,
 * throttling and mail.
 */
import type { AuditLog } from '../audit/audit-log.js';
import type { Clock } from '../kernel/clock.js';
import type { Config } from '../kernel/config.js';
import type { Logger } from '../kernel/logger.js';
import type { Storage } from '../storage/database.js';
import { FlowStore } from './flows.js';
import { Mailer } from './mail.js';
import { PasswordService } from './password-reset.js';
import { RecoveryCodeService } from './recovery-codes.js';
import { SessionService } from './sessions.js';
import { SignInService } from './signin.js';
import { SignInThrottle } from './throttle.js';
import type { TotpService } from './totp.js';
import { PasskeyService, relyingPartyFor } from './webauthn.js';

/** Everything the sign-in pages, the OIDC interaction and the admin API use of authn. */
export interface AuthnServices {
  flows: FlowStore;
  throttle: SignInThrottle;
  sessions: SessionService;
  recoveryCodes: RecoveryCodeService;
  passkeys: PasskeyService;
  signIn: SignInService;
  passwords: PasswordService;
  mailer: Mailer;
  totp: TotpService;
}

/** Builds the module from the core services and the already-built TOTP service. */
export function createAuthnServices(s: { config: Config; storage: Storage; audit: AuditLog; clock: Clock; logger: Logger; totp: TotpService }): AuthnServices {
  const { config, storage, audit, clock, logger, totp } = s;
  const flows = new FlowStore(storage, clock);
  const throttle = new SignInThrottle(storage, clock, { lockoutThreshold: config.lockoutThreshold, lockoutSeconds: config.lockoutSeconds });
  const sessions = new SessionService(storage, audit, clock, { sessionTtlSeconds: config.sessionTtlSeconds, sessionIdleTimeoutSeconds: config.sessionIdleTimeoutSeconds });
  const recoveryCodes = new RecoveryCodeService(storage, audit, clock);
  const passkeys = new PasskeyService(storage, audit, clock, flows, relyingPartyFor(config.issuer));
  const signIn = new SignInService({ storage, audit, clock, throttle, totp, recoveryCodes, passkeys });
  const mailer = new Mailer(storage, clock, logger, { smtpUrl: config.smtpUrl, mailFrom: config.mailFrom });
  const passwords = new PasswordService({
    storage,
    audit,
    clock,
    mailer,
    sessions,
    signIn,
    throttle,
    settings: {
      issuer: config.issuer,
      passwordMinLength: config.passwordMinLength,
      passwordMinLengthWithMfa: config.passwordMinLengthWithMfa,
      passwordResetTtlSeconds: config.passwordResetTtlSeconds,
    },
  });
  return { flows, throttle, sessions, recoveryCodes, passkeys, signIn, passwords, mailer, totp };
}
