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
.muted{color:#5b6475;font-size:.9rem}`;

/** A whole page around `body` (already-safe HTML). `title` is escaped. */
export function page(title: string, body: string): string {
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
<main>
${body}
</main>
</body>
</html>
`;
}

function errorBlock(message: string | undefined): string {
  return message ? `<p class="error" role="alert">${escapeHtml(message)}</p>\n` : '';
}

/** Where a form posts: `/login/<uid>` (the uid is escaped). */
function formAction(uid: string): string {
  return `/login/${encodeURIComponent(uid)}`;
}

/**
 * The first sign-in form: fields `username` and `password`, posted to `/login/<uid>`.
 * The username is deliberately not echoed back, so a failed attempt renders byte-for-byte the
 * same page whether or not the account exists.
 */
export function loginPage(opts: { uid: string; clientName: string | undefined; error?: string }): string {
  const to = opts.clientName ? ` to ${escapeHtml(opts.clientName)}` : '';
  return page(
    'Sign in',
    `<h1>Sign in${to}</h1>
${errorBlock(opts.error)}<form method="post" action="${escapeHtml(formAction(opts.uid))}" autocomplete="on">
<label for="username">Username or email</label>
<input id="username" name="username" type="text" autocomplete="username" autocapitalize="none" spellcheck="false" required autofocus>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>`,
  );
}

/** The second form, for users with TOTP: field `otp`, posted to `/login/<uid>`. */
export function otpPage(opts: { uid: string; error?: string }): string {
  return page(
    'Verification code',
    `<h1>Enter your verification code</h1>
<p class="muted">Open your authenticator app and enter the 6-digit code for Gatehouse.</p>
${errorBlock(opts.error)}<form method="post" action="${escapeHtml(formAction(opts.uid))}">
<label for="otp">Verification code</label>
<input id="otp" name="otp" type="text" inputmode="numeric" pattern="[0-9 ]*" maxlength="8" autocomplete="one-time-code" required autofocus>
<button type="submit">Verify</button>
</form>`,
  );
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
