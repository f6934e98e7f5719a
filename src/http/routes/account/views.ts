/**
 * Server-rendered self-service pages (/account): overview, password change, two-factor (TOTP)
 * enrollment, passkeys, recovery codes, sessions, forgotten password and reset. Plain forms that
 * work without JavaScript (passkeys need the WebAuthn script), every value HTML-escaped, each form
 * carrying the session's CSRF token.
 */
import { escapeHtml, errorBlock, page, passkeyForm } from '../../../oidc/views.js';
import type { PasskeyInfo } from '../../../authn/webauthn.js';
import type { SessionInfo } from '../../../authn/sessions.js';

function nav(): string {
  return `<nav aria-label="Account"><a href="/account">Overview</a><a href="/account/password">Password</a><a href="/account/mfa">Two-factor</a><a href="/account/passkeys">Passkeys</a><a href="/account/recovery-codes">Recovery codes</a><a href="/account/sessions">Sessions</a></nav>`;
}

function csrfField(csrf: string): string {
  return `<input type="hidden" name="csrf" value="${escapeHtml(csrf)}">`;
}

function notice(msg: string | undefined): string {
  return msg ? `<p class="ok" role="status">${escapeHtml(msg)}</p>\n` : '';
}

/** A small form with one button (and optional hidden fields). */
function buttonForm(action: string, csrf: string, label: string, opts: { secondary?: boolean; fields?: Record<string, string> } = {}): string {
  const fields = Object.entries(opts.fields ?? {}).map(([k, v]) => `<input type="hidden" name="${escapeHtml(k)}" value="${escapeHtml(v)}">`).join('');
  return `<form method="post" action="${escapeHtml(action)}" class="inline">${csrfField(csrf)}${fields}<button type="submit"${opts.secondary ? ' class="secondary"' : ''}>${escapeHtml(label)}</button></form>`;
}

function shell(title: string, body: string): string {
  return page(title, `${nav()}\n<h1>${escapeHtml(title)}</h1>\n${body}`, { wide: true });
}

export interface OverviewFacts {
  userName: string;
  csrf: string;
  acr: string;
  amr: string[];
  totp: boolean;
  passkeys: number;
  recoveryCodes: number;
  sessions: number;
  notice?: string | undefined;
}

export function overviewPage(f: OverviewFacts): string {
  return shell(
    'Your account',
    `${notice(f.notice)}<p>Signed in as <strong>${escapeHtml(f.userName)}</strong> (${escapeHtml(f.acr.endsWith('aal2') ? 'two factors' : 'one factor')}: ${escapeHtml(f.amr.join(', '))}).</p>
<table><caption class="muted">Your sign-in methods</caption><tbody>
<tr><th scope="row">Authenticator app</th><td>${f.totp ? 'On' : 'Off'}</td><td><a href="/account/mfa">Manage</a></td></tr>
<tr><th scope="row">Passkeys</th><td>${f.passkeys}</td><td><a href="/account/passkeys">Manage</a></td></tr>
<tr><th scope="row">Recovery codes left</th><td>${f.recoveryCodes}</td><td><a href="/account/recovery-codes">Manage</a></td></tr>
<tr><th scope="row">Active sessions</th><td>${f.sessions}</td><td><a href="/account/sessions">Manage</a></td></tr>
</tbody></table>
${buttonForm('/account/signout', f.csrf, 'Sign out', { secondary: true })}`,
  );
}

export function passwordPage(o: { csrf: string; minLength: number; error?: string | undefined; notice?: string | undefined }): string {
  return shell(
    'Change your password',
    `${notice(o.notice)}${errorBlock(o.error)}<form method="post" action="/account/password">${csrfField(o.csrf)}
<label for="current">Current password</label>
<input id="current" name="current" type="password" autocomplete="current-password" required>
<label for="new">New password</label>
<p class="muted" id="new-help">At least ${o.minLength} characters. Any characters, spaces too; a phrase of unrelated words is easy to remember. Common passwords are refused.</p>
<input id="new" name="new" type="password" autocomplete="new-password" minlength="${o.minLength}" maxlength="256" aria-describedby="new-help" required>
<button type="submit">Change password</button>
</form>`,
  );
}

export function mfaPage(o: { csrf: string; totp: boolean; enrollment?: { qrSvg: string; secret: string } | undefined; error?: string | undefined; notice?: string | undefined }): string {
  let body: string;
  if (o.enrollment) {
    body = `<p>Scan this QR code with your authenticator app, or type the key below, then enter the 6-digit code it shows.</p>
<figure role="img" aria-label="QR code for your authenticator app" style="max-width:14rem">${o.enrollment.qrSvg}</figure>
<p>Key: <code>${escapeHtml(o.enrollment.secret.match(/.{1,4}/g)!.join(' '))}</code></p>
<form method="post" action="/account/mfa/totp/confirm">${csrfField(o.csrf)}
<label for="code">Code from the app</label>
<input id="code" name="code" type="text" inputmode="numeric" pattern="[0-9 ]*" maxlength="8" autocomplete="one-time-code" required autofocus>
<button type="submit">Turn on</button>
</form>`;
  } else if (o.totp) {
    body = `<p>An authenticator app is set up for your account.</p>
${buttonForm('/account/mfa/totp/begin', o.csrf, 'Replace with a new app')}
${buttonForm('/account/mfa/totp/remove', o.csrf, 'Turn off the authenticator app', { secondary: true })}`;
  } else {
    body = `<p>Add an authenticator app (TOTP) as a second factor: sign-ins then need your password and a code from the app.</p>
${buttonForm('/account/mfa/totp/begin', o.csrf, 'Set up an authenticator app')}`;
  }
  return shell('Two-factor authentication', `${notice(o.notice)}${errorBlock(o.error)}${body}`);
}

export function passkeysPage(o: { csrf: string; passkeys: PasskeyInfo[]; error?: string | undefined; notice?: string | undefined }): string {
  const rows = o.passkeys
    .map(
      (p) => `<tr><td>${escapeHtml(p.name)}</td><td>${escapeHtml(p.createdAt.slice(0, 16).replace('T', ' '))}</td><td>${escapeHtml(p.lastUsedAt ? p.lastUsedAt.slice(0, 16).replace('T', ' ') : 'never')}</td><td>${p.deviceType === 'multiDevice' ? 'synced' : 'this device'}</td>
<td><form method="post" action="/account/passkeys/rename" class="inline">${csrfField(o.csrf)}<input type="hidden" name="id" value="${escapeHtml(p.id)}"><label class="muted" for="n-${escapeHtml(p.id)}">New name</label><input id="n-${escapeHtml(p.id)}" name="name" maxlength="64" required><button type="submit" class="secondary">Rename</button></form>
${buttonForm('/account/passkeys/remove', o.csrf, 'Remove', { secondary: true, fields: { id: p.id } })}</td></tr>`,
    )
    .join('\n');
  const table = o.passkeys.length
    ? `<table><thead><tr><th scope="col">Name</th><th scope="col">Added (UTC)</th><th scope="col">Last used (UTC)</th><th scope="col">Kind</th><th scope="col">Actions</th></tr></thead><tbody>\n${rows}\n</tbody></table>`
    : '<p>You have no passkeys yet.</p>';
  const add = passkeyForm({
    action: '/account/passkeys',
    mode: 'create',
    optionsUrl: '/account/passkeys/options',
    label: 'Add a passkey',
    extra: `${csrfField(o.csrf)}<label for="pk-name">Name for the new passkey</label><input id="pk-name" name="name" maxlength="64" value="Passkey">\n`,
  });
  return shell('Passkeys', `${notice(o.notice)}${errorBlock(o.error)}<p>A passkey signs you in without a password, with your device's screen lock. It cannot be phished.</p>\n${table}\n<h2>Add a passkey</h2>\n${add}`);
}

export function recoveryCodesPage(o: { csrf: string; remaining: number; codes?: string[] | undefined }): string {
  const shown = o.codes
    ? `<p class="ok" role="status">Here are your new recovery codes. Save them somewhere safe now: they will not be shown again. Each works once.</p>
<code class="codes" aria-label="Recovery codes">${o.codes.map(escapeHtml).join('\n')}</code>\n`
    : '';
  return shell(
    'Recovery codes',
    `${shown}<p>Recovery codes let you sign in when you cannot use your authenticator app. You have <strong>${o.remaining}</strong> unused codes.</p>
${buttonForm('/account/recovery-codes', o.csrf, o.remaining ? 'Make new codes (the old ones stop working)' : 'Make recovery codes')}`,
  );
}

export function sessionsPage(o: { csrf: string; sessions: SessionInfo[]; currentId: string; notice?: string | undefined }): string {
  const rows = o.sessions
    .map(
      (s) => `<tr><td>${escapeHtml(s.createdAt.slice(0, 16).replace('T', ' '))}${s.id === o.currentId ? ' <strong>(this browser)</strong>' : ''}</td><td>${escapeHtml(s.lastSeenAt.slice(0, 16).replace('T', ' '))}</td><td>${escapeHtml(s.sourceIp ?? '')}</td><td>${escapeHtml((s.userAgent ?? '').slice(0, 60))}</td><td>${escapeHtml(s.amr.join(', '))}</td>
<td>${buttonForm('/account/sessions/end', o.csrf, s.id === o.currentId ? 'Sign out' : 'End', { secondary: true, fields: { id: s.id } })}</td></tr>`,
    )
    .join('\n');
  return shell(
    'Your sessions',
    `${notice(o.notice)}<table><thead><tr><th scope="col">Started (UTC)</th><th scope="col">Last used (UTC)</th><th scope="col">Address</th><th scope="col">Browser</th><th scope="col">Methods</th><th scope="col">Action</th></tr></thead><tbody>\n${rows}\n</tbody></table>
<p class="muted">Ending a session signs that browser out and revokes the tokens applications received through it.</p>`,
  );
}

export function forgotPage(o: { sent?: boolean; error?: string | undefined }): string {
  const body = o.sent
    ? '<p class="ok" role="status">If that account exists and has an email address, we sent it a link to choose a new password. The link works once and expires soon.</p>'
    : `${errorBlock(o.error)}<form method="post" action="/account/forgot">
<label for="identifier">Username or email</label>
<input id="identifier" name="identifier" type="text" autocomplete="username" autocapitalize="none" spellcheck="false" required autofocus>
<button type="submit">Send a reset link</button>
</form>`;
  return page('Forgot password', `<h1>Forgot your password?</h1>\n${body}\n<p class="muted"><a href="/account/signin">Back to sign in</a></p>`);
}

export function resetPage(o: { action: string; minLength: number; totp: boolean; recoveryCode: boolean; error?: string | undefined; done?: boolean; invalid?: boolean }): string {
  if (o.done) return page('Password changed', '<h1>Your password was changed</h1>\n<p class="ok" role="status">Every session was signed out. <a href="/account/signin">Sign in</a> with your new password.</p>');
  if (o.invalid) return page('Link not valid', `<h1>This link is not valid</h1>\n${errorBlock(o.error ?? 'It was used already, has expired, or is mistyped.')}<p><a href="/account/forgot">Ask for a new link</a></p>`);
  const second =
    o.totp || o.recoveryCode
      ? `<label for="otp">Code from your authenticator app${o.recoveryCode ? ' or a recovery code' : ''}</label>
<p class="muted" id="otp-help">Your account has a second factor, so a reset needs it too.</p>
<input id="otp" name="${o.totp ? 'otp' : 'recovery_code'}" type="text" autocomplete="one-time-code" aria-describedby="otp-help" maxlength="64" required>
`
      : '';
  return page(
    'Choose a new password',
    `<h1>Choose a new password</h1>
${errorBlock(o.error)}<form method="post" action="${escapeHtml(o.action)}">
<label for="password">New password</label>
<p class="muted" id="pw-help">At least ${o.minLength} characters; common passwords are refused.</p>
<input id="password" name="password" type="password" autocomplete="new-password" minlength="${o.minLength}" maxlength="256" aria-describedby="pw-help" required autofocus>
${second}<button type="submit">Set the new password</button>
</form>`,
  );
}
