/**
 * The only script Gatehouse pages load (served at /assets/webauthn.js): it completes forms marked
 * `data-webauthn="get|create"` by fetching fresh options from `data-options-url`, calling
 * `navigator.credentials.get/create`, and submitting the JSON result in the `credential` field.
 * Everything else on the pages works without JavaScript.
 */
export const WEBAUTHN_SCRIPT = `'use strict';
(function () {
  function show(form, msg) {
    var p = form.querySelector('[data-webauthn-error]');
    if (p) { p.textContent = msg; p.hidden = false; }
  }
  document.querySelectorAll('form[data-webauthn]').forEach(function (form) {
    form.addEventListener('submit', async function (event) {
      if (form.credential.value) return;
      event.preventDefault();
      if (!window.PublicKeyCredential || !PublicKeyCredential.parseRequestOptionsFromJSON) {
        show(form, 'This browser does not support passkeys.');
        return;
      }
      try {
        var csrf = form.querySelector('input[name=csrf]');
        var res = await fetch(form.dataset.optionsUrl, {
          method: 'POST', credentials: 'same-origin',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: csrf ? 'csrf=' + encodeURIComponent(csrf.value) : ''
        });
        if (!res.ok) throw new Error('options');
        var options = await res.json();
        var cred = form.dataset.webauthn === 'create'
          ? await navigator.credentials.create({ publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options) })
          : await navigator.credentials.get({ publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options) });
        form.credential.value = JSON.stringify(cred.toJSON());
        form.submit();
      } catch (e) {
        show(form, 'The passkey request was cancelled or failed. Try again.');
      }
    });
  });
})();
`;
