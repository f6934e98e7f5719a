import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import SQLite from 'better-sqlite3';
import pg from 'pg';
import { CompiledQuery, Kysely, PostgresDialect, SqliteDialect, type DatabaseConnection, type Driver, type Transaction, type TransactionSettings } from 'kysely';
import { GatehouseError } from '../kernel/errors.js';
import type { Database } from './schema.js';
import { activeDatabase } from './transactions.js';
import { usePreparedStatements } from './prepared.js';

/** The backends Gatehouse runs on. */
export type StorageKind = 'sqlite' | 'postgres';

/** A query builder: the database itself or an open transaction. */
export type Executor = Kysely<Database> | Transaction<Database>;

/** An open database. */
export interface Storage {
  readonly kind: StorageKind;
  /** The database; inside `runSharedTransaction` on it, that transaction (see storage/transactions.ts). */
  readonly db: Kysely<Database>;
  /** The database itself, never a shared transaction. */
  readonly rootDb: Kysely<Database>;
  /** The URL with any password removed, for logs. */
  readonly displayUrl: string;
  close(): Promise<void>;
}

// PostgreSQL int8 (bigint) and numeric arrive as strings by default; Gatehouse's bigints
// (revisions, audit sequence numbers) stay far below 2^53.
pg.types.setTypeParser(20, (v) => Number.parseInt(v, 10));

/**
 * Opens the database named by `url`.
 *
 * - `sqlite:PATH` (relative paths resolve from the working directory; the folder is created)
 *   or `sqlite::memory:`.
 * - `postgres://user@host:port/db` or `postgresql://…`.
 *
 * Options: `poolSize`, PostgreSQL pool connections (default 10); `preparedStatements`, whether
 * PostgreSQL connections send the registered hot texts as named prepared statements (default
 * true; see storage/prepared.ts).
 *
 * @throws GatehouseError `invalid_config` for an unknown scheme, `storage_unavailable` if the file cannot be opened.
 */
export function openStorage(url: string, options: { poolSize?: number; preparedStatements?: boolean } = {}): Storage {
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length);
    if (!path) throw new GatehouseError('invalid_config', 'GATEHOUSE_DATABASE_URL: sqlite: needs a file path, e.g. sqlite:./data/gatehouse.db');
    let sqlite: SQLite.Database;
    try {
      if (path !== ':memory:') mkdirSync(dirname(resolve(path)), { recursive: true });
      sqlite = new SQLite(path);
    } catch (err) {
      throw new GatehouseError('storage_unavailable', `cannot open SQLite database at ${path}: ${(err as Error).message}`, undefined, { cause: err });
    }
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('synchronous = NORMAL');
    sqlite.pragma('busy_timeout = 5000');
    sqlite.pragma('foreign_keys = ON');
    // Statement journals (the undo record of an open SAVEPOINT or of a multi-row statement) in
    // memory rather than spilled to temporary files: every SCIM write runs inside a savepoint, and
    // a user's inserts spilled one (open/write/unlink) each time. Only the temporary objects move;
    // the database and its WAL are written as before.
    sqlite.pragma('temp_store = MEMORY');
    const db = new Kysely<Database>({ dialect: new ImmediateSqliteDialect({ database: withStatementCache(sqlite) }) });
    return storageOf('sqlite', db, url);
  }
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    const pool = new pg.Pool({ connectionString: url, max: options.poolSize ?? 10 });
    // An idle client's error (server restart) must not crash the process.
    pool.on('error', () => undefined);
    // A checked-out client's error (its connection ended between two queries, e.g. inside a
    // transaction) is also reported to the query that next uses it; without a listener Node
    // throws it as an uncaught exception. pg-pool discards the client when it is released.
    pool.on('connect', (client) => client.on('error', () => undefined));
    if (options.preparedStatements ?? true) usePreparedStatements(pool);
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    return storageOf('postgres', db, redactUrl(url));
  }
  throw new GatehouseError('invalid_config', 'GATEHOUSE_DATABASE_URL must start with sqlite:, postgres:// or postgresql://');
}

/**
 * SQLite whose transactions begin with `BEGIN IMMEDIATE` (the write lock taken at once, waiting
 * up to `busy_timeout`) instead of a deferred `BEGIN`. With several processes on one file (the
 * `gatehouse serve` workers, the CLI next to a running server), a deferred transaction that read
 * before writing fails with SQLITE_BUSY when another process wrote meanwhile, without waiting
 * (https://www.sqlite.org/lang_transaction.html, https://www.sqlite.org/wal.html §2.2); the audit
 * chain's head, read once per transaction, relies on writers taking turns.
 * A transaction opened with `setAccessMode('read only')` begins deferred: a WAL snapshot that
 * takes no write lock (the authorization index build reads one for seconds).
 * Within one process transactions already run one at a time on the single connection.
 */
class ImmediateSqliteDialect extends SqliteDialect {
  override createDriver(): Driver {
    const driver = super.createDriver();
    driver.beginTransaction = async (connection: DatabaseConnection, settings: TransactionSettings) => {
      await connection.executeQuery(CompiledQuery.raw(settings.accessMode === 'read only' ? 'begin' : 'begin immediate'));
    };
    return driver;
  }
}

/**
 * `sqlite` whose prepared statements are reused: Kysely's SQLite driver prepares every query anew,
 * which costs as much as running it. Keeps the `maxStatements` most recently used SQL texts; a
 * statement still being iterated (`busy`) is never handed out twice.
 */
function withStatementCache(sqlite: SQLite.Database, maxStatements = 512) {
  const cache = new Map<string, SQLite.Statement>();
  return {
    prepare(sqlText: string): SQLite.Statement {
      const cached = cache.get(sqlText);
      cache.delete(sqlText);
      const stmt = cached && !cached.busy ? cached : sqlite.prepare(sqlText);
      cache.set(sqlText, stmt);
      if (cache.size > maxStatements) cache.delete(cache.keys().next().value as string);
      return stmt;
    },
    close(): void {
      cache.clear();
      sqlite.close();
    },
  };
}

function storageOf(kind: StorageKind, root: Kysely<Database>, displayUrl: string): Storage {
  return {
    kind,
    get db() {
      return activeDatabase(root);
    },
    rootDb: root,
    displayUrl,
    close: () => root.destroy(),
  };
}

/** `url` with its password replaced by `***`. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url.replace(/:[^:@/]*@/, ':***@');
  }
}

/**
 * True if `err` is a unique-constraint violation from either backend
 * (SQLite `SQLITE_CONSTRAINT_UNIQUE`/`_PRIMARYKEY`, PostgreSQL SQLSTATE 23505).
 */
export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string } | null;
  return e?.code === 'SQLITE_CONSTRAINT_UNIQUE' || e?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || e?.code === '23505';
}

/**
 * True if `err` (or an error in its `cause` chain) is PostgreSQL's verdict that the transaction
 * was aborted only because of a concurrent one: SQLSTATE 40P01 (deadlock detected) or 40001
 * (serialization failure). Such a transaction can be run again as it was (PostgreSQL
 * documentation, "Serialization Failure Handling"). SQLite, one writer at a time, raises neither.
 */
export function isTransientConflict(err: unknown): boolean {
  for (let e = err as { code?: unknown; cause?: unknown } | null | undefined, depth = 0; e && typeof e === 'object' && depth < 8; e = e.cause as typeof e, depth++) {
    if (e.code === '40P01' || e.code === '40001') return true;
  }
  return false;
}
