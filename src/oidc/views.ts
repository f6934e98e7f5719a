/**
 * Server-rendered pages of the sign-in flow: plain HTML forms that work without JavaScript,
 * with every interpolated value HTML-escaped and no external resources (styles are inline,
 * which the Content-Security-Policy's `style-src 'unsafe-inline'` allows; no scripts at all).
 */

/** Escapes text for HTML element content and double-quoted attribute values. */
export function escapeHtml(value: unknown): string {
  return String(value ?? '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

const STYLE = `body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;background:#f4f5f7;color:#1d2330;margin:0}
main{max-width:22rem;margin:10vh auto;background:#fff;padding:2rem;border-radius:8px;box-shadow:0 1px 4px rgba(0,0,0,.15)}
h1{font-size:1.3rem;margin:0 0 1rem}label{display:block;margin:.8rem 0 .3rem;font-weight:600}
input{width:100%;box-sizing:border-box;padding:.55rem;font-size:1rem;border:1px solid #9aa3b2;border-radius:4px}
button{margin-top:1.2rem;width:100%;padding:.6rem;font-size:1rem;border:0;border-radius:4px;background:#2257d6;color:#fff;cursor:pointer}
button.secondary{background:#e4e7ec;color:#1d2330}.error{background:#fdecec;color:#8a1111;padding:.6rem;border-radius:4px}
.muted{color:#5b6475;font-size:.9rem}.ok{background:#e8f5ec;color:#14532d;padding:.6rem;border-radius:4px}
table{width:100%;border-collapse:collapse;font-size:.9rem}th,td{text-align:left;padding:.35rem;border-bottom:1px solid #e4e7ec;vertical-align:top}
nav a{margin-right:.8rem}code.codes{display:block;white-space:pre;font-size:1.05rem;line-height:1.6;background:#f4f5f7;padding:.6rem}
main.wide{max-width:44rem}a{color:#2257d6}td form button,.inline button{width:auto;margin-top:0;padding:.3rem .7rem;font-size:.9rem}`;

/** A whole page around `body` (already-safe HTML). `title` is escaped. */
export function page(title: string, body: string, opts: { wide?: boolean } = {}): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(title)} · Gatehouse</title>
<style>${STYLE}</style>
</head>
<body>
<main${opts.wide ? ' class="wide"' : ''}>
${body}
</main>
</body>
</html>
`;
}

/** An alert paragraph for an error message (nothing when absent). */
export function errorBlock(message: string | undefined): string {
  return message ? `<p class="error" role="alert">${escapeHtml(message)}</p>\n` : '';
}

/** Where a form posts: `/login/<uid>` (the uid is escaped). */
function formAction(uid: string): string {
  return `/login/${encodeURIComponent(uid)}`;
}

/** Path of the one script Gatehouse pages load: the WebAuthn calls (served by src/http/routes/account.ts). */
export const WEBAUTHN_SCRIPT_PATH = '/assets/webauthn.js';

/**
 * A form that the WebAuthn script completes: `mode` get (sign in) or create (register). The script
 * POSTs to `optionsUrl` for fresh options (a new challenge each time, so the page itself is the
 * same for every visitor), calls the browser, puts the JSON result in the `credential` field and
 * submits the form.
 */
export function passkeyForm(opts: { action: string; mode: 'get' | 'create'; optionsUrl: string; label: string; extra?: string; secondary?: boolean }): string {
  return `<form method="post" action="${escapeHtml(opts.action)}" data-webauthn="${opts.mode}" data-options-url="${escapeHtml(opts.optionsUrl)}">
<input type="hidden" name="credential" value="">
${opts.extra ?? ''}<p class="error" role="alert" data-webauthn-error hidden></p>
<button type="submit"${opts.secondary ? ' class="secondary"' : ''}>${escapeHtml(opts.label)}</button>
</form>
<script src="${WEBAUTHN_SCRIPT_PATH}" defer></script>`;
}

/** Options of {@link signInPage}. */
export interface SignInPageOptions {
  /** Where the username + password form posts. */
  action: string;
  heading: string;
  error?: string | undefined;
  /** Passkey sign-in: where the assertion posts and where the script gets options (absent: no passkey button). */
  passkey?: { action: string; optionsUrl: string } | undefined;
  /** Extra HTML below the forms (links). */
  footer?: string;
}

/**
 * The first sign-in form: fields `username` and `password`, plus a "Sign in with a passkey"
 * button (discoverable credential, no username needed). The username is deliberately not echoed
 * back, so a failed attempt renders the same page whether or not the account exists.
 */
export function signInPage(o: SignInPageOptions): string {
  const passkey = o.passkey
    ? `<p class="muted" style="text-align:center;margin:1.2rem 0 0">or</p>\n${passkeyForm({ action: o.passkey.action, mode: 'get', optionsUrl: o.passkey.optionsUrl, label: 'Sign in with a passkey', secondary: true })}`
    : '';
  return page(
    'Sign in',
    `<h1>${escapeHtml(o.heading)}</h1>
${errorBlock(o.error)}<form method="post" action="${escapeHtml(o.action)}" autocomplete="on">
<label for="username">Username or email</label>
<input id="username" name="username" type="text" autocomplete="username webauthn" autocapitalize="none" spellcheck="false" required autofocus>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>
${passkey}${o.footer ?? ''}`,
  );
}

/** The OIDC interaction's sign-in form, posted to `/login/<uid>`. */
export function loginPage(opts: { uid: string; clientName: string | undefined; error?: string | undefined }): string {
  const action = formAction(opts.uid);
  return signInPage({
    action,
    heading: `Sign in${opts.clientName ? ` to ${opts.clientName}` : ''}`,
    error: opts.error,
    passkey: { action: `${action}/passkey`, optionsUrl: `${action}/passkey/options` },
    footer: '<p class="muted"><a href="/account/forgot">Forgot your password?</a></p>',
  });
}

/**
 * The second-factor form: field `otp` (TOTP) and, when the user has recovery codes, a second form
 * with field `recovery_code`; both post to `action`.
 */
export function secondFactorPage(o: { action: string; totp: boolean; recoveryCode: boolean; error?: string | undefined; stepUp?: boolean }): string {
  const intro = o.stepUp ? '<p class="muted">This application asks for a second factor.</p>\n' : '';
  const totp = o.totp
    ? `<form method="post" action="${escapeHtml(o.action)}">
<label for="otp">Verification code</label>
<p class="muted" id="otp-help">Open your authenticator app and enter the 6-digit code for Gatehouse.</p>
<input id="otp" name="otp" type="text" inputmode="numeric" pattern="[0-9 ]*" maxlength="8" autocomplete="one-time-code" aria-describedby="otp-help" required autofocus>
<button type="submit">Verify</button>
</form>\n`
    : '';
  const recovery = o.recoveryCode
    ? `<details${o.totp ? '' : ' open'}><summary>Use a recovery code</summary>
<form method="post" action="${escapeHtml(o.action)}">
<label for="recovery_code">Recovery code</label>
<input id="recovery_code" name="recovery_code" type="text" autocomplete="off" autocapitalize="none" spellcheck="false" maxlength="64" required>
<button type="submit" class="secondary">Use recovery code</button>
</form></details>\n`
    : '';
  return page('Verification code', `<h1>Enter your verification code</h1>\n${intro}${errorBlock(o.error)}${totp}${recovery}`);
}

/** The interaction's second form, posted to `/login/<uid>`. */
export function otpPage(opts: { uid: string; error?: string | undefined; totp?: boolean; recoveryCode?: boolean; stepUp?: boolean }): string {
  return secondFactorPage({ action: formAction(opts.uid), totp: opts.totp ?? true, recoveryCode: opts.recoveryCode ?? false, error: opts.error, stepUp: opts.stepUp });
}

/** A terminal error page (expired or unknown sign-in request, or an OAuth error with no redirect). */
export function errorPage(opts: { title: string; message: string; code?: string | undefined }): string {
  const code = opts.code ? `<p class="muted">Error: <code>${escapeHtml(opts.code)}</code></p>` : '';
  return page(opts.title, `<h1>${escapeHtml(opts.title)}</h1>\n<p>${escapeHtml(opts.message)}</p>\n${code}`);
}

/**
 * The RP-initiated logout confirmation page. `form` is oidc-provider's own hidden form
 * (`id="op.logoutForm"`, with its xsrf token), inserted as given; the buttons submit it.
 */
export function logoutConfirmPage(opts: { form: string; clientName: string | undefined }): string {
  const from = opts.clientName ? ` from ${escapeHtml(opts.clientName)}` : '';
  return page(
    'Sign out',
    `<h1>Do you want to sign out${from}?</h1>
${opts.form}
<button type="submit" form="op.logoutForm" name="logout" value="yes" autofocus>Yes, sign me out</button>
<button type="submit" form="op.logoutForm" class="secondary">No, stay signed in</button>`,
  );
}

/** Shown after a logout with no post_logout_redirect_uri. */
export function loggedOutPage(): string {
  return page('Signed out', '<h1>You are signed out</h1>\n<p>You can close this page.</p>');
}
