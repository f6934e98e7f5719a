/**
 * `gatehouse audit verify` on a real database: passes on an untouched chain, and names the entry
 * after a row is edited by hand (and after one is deleted), on SQLite and PostgreSQL.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { sql } from 'kysely';
import { openStorage, type Storage } from '../../src/storage/database.js';
import { describeEachBackend } from '../support/backends.js';
import { ensureBuilt, runCli } from '../support/cli.js';

describeEachBackend('CLI: audit verify', (backend) => {
  let url: string;
  let drop: () => Promise<void>;
  let storage: Storage;
  const gatehouse = (args: string[], input = '') => runCli(args, { GATEHOUSE_DATABASE_URL: url }, input);

  beforeAll(async () => {
    await ensureBuilt();
    ({ url, drop } = await backend.create());
    // Real changes through the CLI: an administrator, two tokens, a client.
    expect(gatehouse(['admin', 'create', '--username', 'root', '--password-stdin'], 'correct horse battery staple\n').status).toBe(0);
    expect(gatehouse(['token', 'create', '--name', 'a', '--scopes', 'scim', '--json']).status).toBe(0);
    expect(gatehouse(['token', 'create', '--name', 'b', '--scopes', 'admin', '--json']).status).toBe(0);
    expect(gatehouse(['client', 'create', '--name', 'c', '--redirect-uri', 'https://c.example.com/cb', '--json']).status).toBe(0);
    storage = openStorage(url);
  }, 180_000);
  afterAll(async () => {
    await storage?.close();
    await drop?.();
  });

  it('passes on an untouched database', async () => {
    const count = Number((await storage.db.selectFrom('audit_events').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);
    expect(count).toBeGreaterThanOrEqual(4);
    const r = gatehouse(['audit', 'verify']);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`audit chain OK: ${count} entries verified\n`);
    const j = gatehouse(['audit', 'verify', '--json']);
    expect(JSON.parse(j.stdout)).toEqual({ ok: true, checked: count });
  });

  it('names the entry that was edited by hand', async () => {
    const victim = await storage.db.selectFrom('audit_events').select(['seq', 'id']).where('seq', '=', 3).executeTakeFirstOrThrow();
    await sql`UPDATE audit_events SET actor_id = 'someone-else' WHERE seq = 3`.execute(storage.db);
    const r = gatehouse(['audit', 'verify']);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe(`audit chain BROKEN at entry seq=3 id=${victim.id}: altered (2 entries verified before it)\n`);
    expect(JSON.parse(gatehouse(['audit', 'verify', '--json']).stdout)).toEqual({ ok: false, checked: 2, firstBad: { seq: 3, id: victim.id, reason: 'altered' } });
  });

  it('names the entry that was removed', async () => {
    await sql`DELETE FROM audit_events WHERE seq = 2`.execute(storage.db);
    const r = gatehouse(['audit', 'verify']);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('audit chain BROKEN at entry seq=2: missing (1 entries verified before it)\n');
  });
});
