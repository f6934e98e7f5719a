/**
 * Runs the built CLI (`node dist/cli/main.js`) the way an operator does, on a temporary SQLite
 * file and on a fresh PostgreSQL database: `admin create --password-stdin` and `client create --json`.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { verifyPassword } from '../../src/authn/password.js';
import { sha256Hex } from '../../src/kernel/secrets.js';
import { openStorage, type Storage } from '../../src/storage/database.js';
import { describeEachBackend } from '../support/backends.js';
import { ensureBuilt, runCli, type CliRun as Run } from '../support/cli.js';

describeEachBackend('CLI: admin create and client create', (backend) => {
  let url: string;
  let drop: () => Promise<void>;
  let storage: Storage;
  const run = (args: string[], input?: string): Run => runCli(args, { GATEHOUSE_DATABASE_URL: url }, input ?? '');

  beforeAll(async () => {
    await ensureBuilt();
    ({ url, drop } = await backend.create());
  }, 180_000);
  afterAll(async () => {
    await storage?.close();
    await drop?.();
  });

  it('admin create reads the password from stdin, trims one newline, and prints one JSON object', async () => {
    const r = run(['admin', 'create', '--username', 'root', '--password-stdin', '--json'], 'correct horse battery staple\n');
    expect({ status: r.status, stderr: r.stderr.replace(/^.*unsupported runtime.*\n?/gim, '') }).toEqual({ status: 0, stderr: '' });
    const out = JSON.parse(r.stdout);
    expect(Object.keys(out).sort()).toEqual(['active', 'created_at', 'id', 'is_admin', 'status', 'user_name']);
    expect(out).toMatchObject({ user_name: 'root', is_admin: true, active: true, status: 'active' });
    storage = openStorage(url);
    const row = await storage.db.selectFrom('users').select(['id', 'is_admin', 'status', 'password_hash']).where('user_name', '=', 'root').executeTakeFirstOrThrow();
    expect({ id: row.id, is_admin: Number(row.is_admin), status: row.status }).toEqual({ id: out.id, is_admin: 1, status: 'active' });
    expect(await verifyPassword(row.password_hash!, 'correct horse battery staple')).toBe(true);
    expect(await verifyPassword(row.password_hash!, 'correct horse battery staple\n')).toBe(false);
  }, 120_000);

  it('admin create refuses bad input with exit 2 and a coded error on stderr', () => {
    const noFlag = run(['admin', 'create', '--username', 'root2', '--json'], 'correct horse battery staple\n');
    expect({ status: noFlag.status, stdout: noFlag.stdout }).toEqual({ status: 2, stdout: '' });
    expect(noFlag.stderr).toMatch(/^error \[invalid_input\]: --password-stdin is required/m);
    const empty = run(['admin', 'create', '--username', 'root2', '--password-stdin'], '\n');
    expect(empty.status).toBe(2);
    expect(empty.stderr).toMatch(/^error \[invalid_input\]: /m);
    const weak = run(['admin', 'create', '--username', 'root2', '--password-stdin'], 'short\n');
    expect(weak.status).toBe(2);
    expect(weak.stderr).toMatch(/^error \[weak_password\]: /m);
    const taken = run(['admin', 'create', '--username', 'ROOT', '--password-stdin'], 'another good passphrase\n');
    expect(taken.status).toBe(1);
    expect(taken.stderr).toMatch(/^error \[conflict\]: /m);
  }, 120_000);

  it('client create --json prints client_id and the secret once; only its hash is stored', async () => {
    const r = run(['client', 'create', '--name', 'Wiki', '--redirect-uri', 'https://wiki.example.com/cb', '--redirect-uri', 'http://localhost:3000/cb', '--json']);
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(Object.keys(out).sort()).toEqual(['client_id', 'client_name', 'client_secret', 'created_at', 'public', 'redirect_uris', 'token_endpoint_auth_method']);
    expect(out).toMatchObject({ client_name: 'Wiki', redirect_uris: ['https://wiki.example.com/cb', 'http://localhost:3000/cb'], token_endpoint_auth_method: 'client_secret_basic', public: false });
    expect(typeof out.client_id).toBe('string');
    expect(out.client_secret.length).toBeGreaterThanOrEqual(32);
    storage ??= openStorage(url);
    const row = await storage.db.selectFrom('applications').select(['client_secret_hash', 'metadata']).where('id', '=', out.client_id).executeTakeFirstOrThrow();
    expect(row.client_secret_hash).toBe(sha256Hex(out.client_secret));
    expect(row.metadata).not.toContain(out.client_secret);
  }, 120_000);

  it('client create --public has no secret and token_endpoint_auth_method none', () => {
    const r = run(['client', 'create', '--name', 'SPA', '--redirect-uri', 'https://spa.example.com/cb', '--public', '--json']);
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout);
    expect({ secret: out.client_secret, method: out.token_endpoint_auth_method, pub: out.public, uris: out.redirect_uris }).toEqual({
      secret: null,
      method: 'none',
      pub: true,
      uris: ['https://spa.example.com/cb'],
    });
  }, 120_000);

  it('client create refuses a missing or bad redirect URI with exit 2', () => {
    const none = run(['client', 'create', '--name', 'X', '--json']);
    expect({ status: none.status, stdout: none.stdout }).toEqual({ status: 2, stdout: '' });
    expect(none.stderr).toMatch(/^error \[invalid_input\]: at least one --redirect-uri/m);
    const bad = run(['client', 'create', '--name', 'X', '--redirect-uri', 'not a url', '--json']);
    expect({ status: bad.status, stdout: bad.stdout }).toEqual({ status: 2, stdout: '' });
    expect(bad.stderr).toMatch(/^error \[invalid_input\]: /m);
  }, 120_000);
});
