/**
 * Runs a test suite on every storage backend: SQLite always, PostgreSQL when
 * GATEHOUSE_TEST_DATABASE_URL names a server (`.ci/run` sets it). Each suite gets a fresh
 * database: a temporary SQLite file, or a new PostgreSQL database created on that server.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { describe } from 'vitest';
import { openStorage, type Storage, type StorageKind } from '../../src/storage/database.js';
import { migrateToLatest } from '../../src/storage/migrate.js';

export const PG_URL = process.env.GATEHOUSE_TEST_DATABASE_URL;

export interface Backend {
  kind: StorageKind;
  /** Creates a fresh, empty database and returns its URL plus a function that removes it. */
  create(): Promise<{ url: string; drop: () => Promise<void> }>;
}

const sqliteBackend: Backend = {
  kind: 'sqlite',
  async create() {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-test-'));
    return { url: `sqlite:${join(dir, 'gatehouse.db')}`, drop: async () => rmSync(dir, { recursive: true, force: true }) };
  },
};

const postgresBackend: Backend = {
  kind: 'postgres',
  async create() {
    if (!PG_URL) throw new Error('GATEHOUSE_TEST_DATABASE_URL is not set');
    const name = `gh_t_${randomBytes(6).toString('hex')}`;
    const admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    try {
      await admin.query(`CREATE DATABASE ${name}`);
    } finally {
      await admin.end();
    }
    const u = new URL(PG_URL);
    u.pathname = `/${name}`;
    return {
      url: u.toString(),
      drop: async () => {
        const c = new pg.Client({ connectionString: PG_URL });
        await c.connect();
        try {
          await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        } finally {
          await c.end();
        }
      },
    };
  },
};

/** The backends this run covers. */
export const BACKENDS: Backend[] = PG_URL ? [sqliteBackend, postgresBackend] : [sqliteBackend];

if (!PG_URL) {
  // Said once per test file that uses backends, so a run without PostgreSQL is never mistaken for a full run.
  console.warn('[gatehouse tests] GATEHOUSE_TEST_DATABASE_URL is not set: PostgreSQL suites are skipped (SQLite only).');
}

/** `describe` once per backend, titled `title [sqlite]`, `title [postgres]`. */
export function describeEachBackend(title: string, fn: (backend: Backend) => void): void {
  for (const b of BACKENDS) describe(`${title} [${b.kind}]`, () => fn(b));
}

/** Opens a fresh, migrated database on `backend`. Call `close()` in afterAll. */
export async function freshStorage(backend: Backend): Promise<{ storage: Storage; url: string; close: () => Promise<void> }> {
  const { url, drop } = await backend.create();
  const storage = openStorage(url);
  await migrateToLatest(storage);
  return {
    storage,
    url,
    close: async () => {
      await storage.close();
      await drop();
    },
  };
}
