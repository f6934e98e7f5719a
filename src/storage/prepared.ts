/**
 * Named prepared statements on PostgreSQL for the few hottest statement texts.
 *
 * Kysely sends every query as an unnamed statement, which the server parses, analyses and plans
 * again each time. The statement that creates a user with its emails and audit event (see
 * storage/insert-rows.ts and AuditLog.insertWithEvent) is one large WITH query whose text never
 * changes: sent as a named statement, each connection prepares it once and then only binds and
 * runs it (PostgreSQL docs, "Extended Query" protocol; node-postgres `name` query option).
 *
 * Only texts registered with {@link prepareOnPostgres} are named, at most {@link MAX_PREPARED} of
 * them: each one stays prepared on every pooled connection for the connection's life. Those texts
 * are INSERTs and primary-key updates, whose generic plan is the custom one, so reusing a plan
 * cannot pick a worse one (filtered reads, whose plan depends on the values, are never named).
 *
 * Deployment: a connection pooler between Gatehouse and PostgreSQL must keep a client's prepared
 * statements on the server session it runs them on: PgBouncer in session mode, or in transaction
 * mode from 1.21 with `max_prepared_statements` set. An older PgBouncer in transaction mode would
 * answer "prepared statement gh_p1 does not exist": set GATEHOUSE_DATABASE_PREPARED_STATEMENTS=false there.
 */
import type pg from 'pg';

/** Most texts named per process (each is kept prepared on every connection). */
export const MAX_PREPARED = 64;

/** Registered texts: SQL text → statement name. */
const names = new Map<string, string>();

/**
 * Asks that `text` (a parameterised statement) run as a named prepared statement on PostgreSQL
 * connections opened by {@link usePreparedStatements}. Ignored once {@link MAX_PREPARED} texts are named.
 */
export function prepareOnPostgres(text: string): void {
  if (names.size < MAX_PREPARED && !names.has(text)) names.set(text, `gh_p${names.size + 1}`);
}

function isPrimitive(v: unknown): boolean {
  return v === null || typeof v !== 'object';
}

/**
 * Makes each client `pool` connects send registered texts as named statements: `query(text,
 * values)` becomes `query({ name, text, values })`; any other call is passed on unchanged.
 * node-postgres keeps, per connection, which names it has prepared (and forgets one whose Parse failed).
 */
export function usePreparedStatements(pool: pg.Pool): void {
  pool.on('connect', (client) => {
    const query = client.query as (...args: unknown[]) => unknown;
    client.query = function (this: pg.PoolClient, text: unknown, values?: unknown, callback?: unknown) {
      // Named only when every value is a primitive or null: pg serialises an object while binding
      // (JSON.stringify, toPostgres), and when that throws it closes the named statement on the
      // server yet keeps it listed as parsed on the connection, so every later run of the text
      // there would fail with 26000 "prepared statement … does not exist".
      const name = typeof text === 'string' && Array.isArray(values) && values.length > 0 && values.every(isPrimitive) ? names.get(text) : undefined;
      // eslint-disable-next-line prefer-rest-params
      return name === undefined ? query.apply(this, arguments as unknown as unknown[]) : query.call(this, { name, text, values }, callback);
    } as typeof client.query;
  });
}
