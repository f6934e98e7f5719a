/**
 * Browser-test helpers: Debian's Chromium driven by playwright-core (no downloaded browsers),
 * a fresh profile per launch, Chromium's virtual WebAuthn authenticator over the DevTools
 * protocol, full-page screenshots into test-results/screenshots/, and an accessibility check of
 * the page's basics (lang, title, h1, a label for every field).
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type BrowserContext, type CDPSession, type Page } from 'playwright-core';
import { describe, expect } from 'vitest';
import { createGatehouse, type Gatehouse } from '../../src/gatehouse.js';
import { loadConfig } from '../../src/kernel/config.js';
import { freePort } from '../oidc/support.js';

/** Debian's Chromium (`apt-get install -y chromium`). */
export const CHROMIUM_PATH = '/usr/bin/chromium';
/** Whether Chromium is installed; browser suites are skipped (with a warning) when it is not. */
export const HAS_CHROMIUM = existsSync(CHROMIUM_PATH);

/** Launch flags: headless, no network chatter of its own (no updates, sync or QUIC probes). */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Where screenshots go (gitignored). */
export const SCREENSHOT_DIR = resolve('test-results/screenshots');

/** `describe`, or a skipped one with a clear warning when Chromium is absent. */
export function describeWithChromium(title: string, fn: () => void): void {
  if (!HAS_CHROMIUM) console.warn(`[gatehouse tests] ${CHROMIUM_PATH} not found: browser tests "${title}" are skipped (apt-get install -y chromium).`);
  describe.skipIf(!HAS_CHROMIUM)(title, fn);
}

/**
 * Starts Gatehouse on `databaseUrl`, listening on 127.0.0.1 at a free port, with the issuer
 * `http://localhost:<port>`: its URL as the browser sees it. Not `127.0.0.1`: a WebAuthn relying
 * party id must be a domain name, and browsers refuse passkeys on an IP-address origin
 * ("SecurityError: This is an invalid domain"); `localhost` is a secure context like 127.0.0.1.
 */
export async function startGatehouseForBrowser(databaseUrl: string): Promise<{ gh: Gatehouse; base: string }> {
  const port = await freePort();
  const base = `http://localhost:${port}`;
  const config = loadConfig({}, { databaseUrl, port, host: '127.0.0.1', logLevel: 'silent', issuer: base });
  const gh = await createGatehouse({ config });
  await gh.listen();
  return { gh, base };
}

/** A Chromium with a fresh, temporary user-data directory; `close()` removes it. */
export async function launchChromium(): Promise<{ context: BrowserContext; page: Page; close: () => Promise<void> }> {
  const profile = mkdtempSync(join(tmpdir(), 'gatehouse-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1000, height: 760 },
    locale: 'en-GB',
  });
  context.setDefaultTimeout(15_000);
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    context,
    page,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/**
 * Adds a virtual platform authenticator (CTAP2, internal transport, resident keys, user
 * verification that always succeeds) to `page` through the DevTools protocol's WebAuthn domain.
 */
export async function addVirtualAuthenticator(context: BrowserContext, page: Page): Promise<{ cdp: CDPSession; authenticatorId: string }> {
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
  });
  return { cdp, authenticatorId };
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/**
 * Saves a full-page screenshot as test-results/screenshots/<name>.png and checks the file exists
 * and is a PNG (signature, IHDR, a plausible size). @returns the file path.
 */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const path = join(SCREENSHOT_DIR, `${name}.png`);
  rmSync(path, { force: true });
  await page.screenshot({ path, fullPage: true });
  expect(existsSync(path), path).toBe(true);
  const bytes = readFileSync(path);
  expect(bytes.subarray(0, 8).equals(PNG_SIGNATURE), `${path} is a PNG`).toBe(true);
  expect(bytes.subarray(12, 16).toString('latin1')).toBe('IHDR');
  expect(bytes.readUInt32BE(16)).toBeGreaterThanOrEqual(320); // width
  expect(bytes.readUInt32BE(20)).toBeGreaterThanOrEqual(200); // height
  expect(statSync(path).size).toBeGreaterThan(2000);
  return path;
}

/** What {@link accessibilityProblems} looked at. */
export interface AccessibilityFacts {
  lang: string;
  title: string;
  h1: string[];
  problems: string[];
}

/**
 * The basics WCAG 2.2 asks of a form page, read from the live DOM: `<html lang>` (3.1.1), a
 * non-empty `<title>` (2.4.2), an `<h1>`, and an accessible name from a `<label>` (for= or
 * wrapping), `aria-label` or `aria-labelledby` for every visible field (1.3.1, 3.3.2, 4.1.2).
 */
export async function accessibilityFacts(page: Page): Promise<AccessibilityFacts> {
  // A string, evaluated in the page: the project's TypeScript has no DOM library.
  return page.evaluate<AccessibilityFacts>(`(() => {
    const problems = [];
    const lang = document.documentElement.getAttribute('lang') ?? '';
    if (!lang.trim()) problems.push('<html> has no lang');
    const title = document.title.trim();
    if (!title) problems.push('no <title>');
    const h1 = [...document.querySelectorAll('h1')].map((h) => (h.textContent ?? '').trim());
    if (h1.length === 0 || h1.some((t) => !t)) problems.push('no (non-empty) <h1>');
    const text = (el) => (el?.textContent ?? '').trim();
    for (const input of document.querySelectorAll('input, select, textarea')) {
      if (['hidden', 'submit', 'button', 'reset', 'image'].includes(input.type)) continue;
      const byFor = input.id ? document.querySelector('label[for="' + CSS.escape(input.id) + '"]') : null;
      const labelledBy = (input.getAttribute('aria-labelledby') ?? '').split(' ').filter(Boolean).map((id) => text(document.getElementById(id))).join('');
      const named = text(byFor) || text(input.closest('label')) || (input.getAttribute('aria-label') ?? '').trim() || labelledBy;
      if (!named) problems.push('field ' + (input.name || input.id) + ' has no label');
    }
    for (const b of document.querySelectorAll('button')) if (!text(b) && !b.getAttribute('aria-label')) problems.push('a button has no text');
    for (const img of document.querySelectorAll('img')) if (!img.hasAttribute('alt')) problems.push('an <img> has no alt');
    return { lang, title, h1, problems };
  })()`);
}

/** Asserts {@link accessibilityFacts} found nothing wrong; returns them. */
export async function expectAccessible(page: Page): Promise<AccessibilityFacts> {
  const facts = await accessibilityFacts(page);
  expect(facts.problems, `${page.url()}: ${facts.problems.join('; ')}`).toEqual([]);
  expect(facts.lang).toBe('en');
  expect(facts.title).toMatch(/· Gatehouse$/);
  return facts;
}

/** Screenshot plus accessibility check of the page as it is now. */
export async function capture(page: Page, name: string): Promise<AccessibilityFacts> {
  await screenshot(page, name);
  return expectAccessible(page);
}

/**
 * `page.goto` that tolerates a navigation still running from the step before (for example the
 * redirect to the relying party's unreachable redirect_uri ending on Chromium's error page):
 * it waits for that navigation to settle and goes again.
 */
export async function gotoSettled(page: Page, url: string): Promise<void> {
  try {
    await page.goto(url);
  } catch (err) {
    if (!/interrupted by another navigation/.test(String(err))) throw err;
    await page.waitForLoadState('load');
    await page.goto(url);
  }
}
