/**
 * Pages of the device authorization grant (RFC 8628 §3.3): enter the user code, confirm it,
 * done. oidc-provider supplies the forms (with their CSRF token); these wrap them in Gatehouse's
 * page layout. Every interpolated value is HTML-escaped.
 */
import type { KoaContextWithOIDC } from 'oidc-provider';
import { escapeHtml, page } from './views.js';

function clientLabel(ctx: KoaContextWithOIDC): string {
  return escapeHtml(ctx.oidc.client?.clientName ?? ctx.oidc.client?.clientId ?? 'an application');
}

/** `features.deviceFlow.userCodeInputSource`. */
export async function userCodeInputSource(ctx: KoaContextWithOIDC, form: string, _out?: unknown, err?: { userCode?: string; name?: string }): Promise<void> {
  let message = '<p class="muted">Enter the code shown on your device.</p>';
  if (err && (err.userCode || err.name === 'NoCodeError')) message = '<p class="error" role="alert">That code is not valid. Check it and try again.</p>';
  else if (err?.name === 'AbortedError') message = '<p class="error" role="alert">The sign-in request was cancelled.</p>';
  else if (err) message = '<p class="error" role="alert">The request could not be processed.</p>';
  ctx.type = 'html';
  ctx.body = page('Connect a device', `<h1>Connect a device</h1>\n${message}\n${form}\n<button type="submit" form="op.deviceInputForm">Continue</button>`);
}

/** `features.deviceFlow.userCodeConfirmSource`. */
export async function userCodeConfirmSource(ctx: KoaContextWithOIDC, form: string, _client: unknown, _deviceInfo: unknown, userCode: string): Promise<void> {
  ctx.type = 'html';
  ctx.body = page(
    'Confirm the device',
    `<h1>Confirm the device</h1>
<p><strong>${clientLabel(ctx)}</strong> asks to sign in. Check that your device shows this code:</p>
<p><code id="user-code">${escapeHtml(userCode)}</code></p>
${form}
<button type="submit" form="op.deviceConfirmForm">Continue</button>
<button type="submit" class="secondary" form="op.deviceConfirmForm" name="abort" value="yes">Cancel</button>`,
  );
}

/** `features.deviceFlow.successSource`. */
export async function deviceSuccessSource(ctx: KoaContextWithOIDC): Promise<void> {
  ctx.type = 'html';
  ctx.body = page('Device connected', `<h1>Device connected</h1>\n<p>You signed in to ${clientLabel(ctx)}. You can close this page and return to your device.</p>`);
}
