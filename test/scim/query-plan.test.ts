/**
 * The plans of the filtered list queries the benchmark times (issue 4): an email substring
 * value filter is answered from the trigram index (SQLite FTS5 rowids, PostgreSQL pg_trgm in an
 * InitPlan) even on a database without statistics, and `userName eq` from its unique index.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parseFilter } from '../../src/scim/filter-parser.js';
import { ScimQueryStore } from '../../src/scim/sql/query-store.js';
import { USER_RESOURCE } from '../../src/scim/schemas.js';
import { describeEachBackend } from '../support/backends.js';
import { startScim, type ScimHarness } from './support.js';

const ROWS = 20_000;

describeEachBackend('SCIM list query plans', (backend) => {
  let h: ScimHarness;
  let store: ScimQueryStore;
  beforeAll(async () => {
    h = await startScim(backend);
    // Enough rows (written straight to the tables, as the identity service writes them) that a
    // scan costs more than an index to the planner; no ANALYZE, as after a bulk provisioning.
    const db = h.gh.storage.db;
    const at = '2026-01-01T00:00:00.000Z';
    for (let from = 0; from < ROWS; from += 500) {
      const ids = Array.from({ length: 500 }, (_, k) => ({ i: from + k, id: `00000000-0000-4000-8000-${String(from + k).padStart(12, '0')}` }));
      await db.transaction().execute(async (tx) => {
        await tx
          .insertInto('users')
          .values(ids.map(({ i, id }) => ({ tenant_id: 'default', id, user_name: `user-${i}`, user_name_norm: `user-${i}`, status: 'active' as const, is_admin: 0, extra: '{}', created_at: at, updated_at: at, version: 1 })))
          .execute();
        await tx
          .insertInto('user_emails')
          .values(ids.flatMap(({ i, id }) => [
            { tenant_id: 'default', user_id: id, position: 0, value: `user-${i}@example.com`, value_norm: `user-${i}@example.com`, type: 'work', is_primary: 1 },
            { tenant_id: 'default', user_id: id, position: 1, value: `u${i}@home.example.org`, value_norm: `u${i}@home.example.org`, type: 'home', is_primary: 0 },
          ]))
          .execute();
      });
    }
    store = new ScimQueryStore(h.gh.storage);
  });
  afterAll(async () => h?.close());

  const plan = async (filter: string) =>
    (await store.explainUsers('default', USER_RESOURCE, { filter: parseFilter(filter), sortOrder: 'ascending', startIndex: 1, count: 100 })).join('\n');

  it('drives an email value filter from the trigram index', async () => {
    const p = await plan('emails[type eq "work" and value co "r-12@"]');
    if (backend.kind === 'sqlite') {
      expect(p).toContain('SCAN user_emails_trgm VIRTUAL TABLE');
      expect(p).toContain('SEARCH e USING INTEGER PRIMARY KEY (rowid=?)');
      expect(p).not.toMatch(/SCAN (u|e)\b|SEARCH u USING INDEX users_created_ix/);
    } else {
      expect(p).toMatch(/InitPlan/);
      expect(p).toMatch(/Tid Scan on user_emails e/);
    }
  });

  it('does not use the trigram index where a substring need not hold for the element to match', async () => {
    const p = await plan('emails[value co "r-12@" or type eq "home"]');
    expect(p).not.toMatch(/user_emails_trgm|Tid Scan|InitPlan/);
  });

  it('answers userName eq from its unique index', async () => {
    expect(await plan('userName eq "USER-12"')).toMatch(/users_user_name_norm_uq/);
  });

  it('finds the users the plans are about', async () => {
    const page = await store.listUsers('default', USER_RESOURCE, { filter: parseFilter('emails[type eq "work" and value co "r-12@"]'), sortOrder: 'ascending', startIndex: 1, count: 100 });
    expect([page.totalResults, page.items.map((u) => u.userName)]).toEqual([1, ['user-12']]);
  });
});
