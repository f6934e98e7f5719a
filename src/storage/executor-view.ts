/**
 * A view of a Kysely database or transaction that behaves as its target except for
 * `transaction()`: what `storage.db` stands for (see storage/transactions.ts), the root database
 * whose transactions run deferred work before they commit, or a shared transaction whose
 * `transaction()` opens a savepoint.
 *
 * Kysely keeps its state in private fields, so a method must run with the target itself as `this`.
 * A view is a plain object (its target and its `transaction`) whose prototype forwards every other
 * method and getter of the target's class to the target; that prototype is built once per class
 * (Kysely, Transaction). Creating a view costs one object, and a query through it allocates
 * nothing more than through its target (the Proxy used before bound a new function on every method
 * access, i.e. on every query).
 */
import type { Kysely } from 'kysely';
import type { Database } from './schema.js';

/** The view's target, under a key no Kysely member can have. */
const TARGET = Symbol('executor view target');

interface View {
  [TARGET]: object;
}

/** Per class prototype (Kysely.prototype, Transaction.prototype): the forwarding prototype of its views. */
const forwarders = new WeakMap<object, object>();

/**
 * A prototype inheriting from `proto` whose methods and accessors, found on `proto` and the
 * prototypes it inherits from (up to Object.prototype), run on the view's target.
 */
function forwarderOf(proto: object): object {
  let forwarder = forwarders.get(proto);
  if (forwarder) return forwarder;
  forwarder = Object.create(proto) as object;
  for (let p: object | null = proto; p && p !== Object.prototype; p = Object.getPrototypeOf(p) as object | null) {
    for (const key of Reflect.ownKeys(p)) {
      if (key === 'constructor' || Object.hasOwn(forwarder, key)) continue; // the nearest definition wins, as in the class
      const d = Object.getOwnPropertyDescriptor(p, key)!;
      if (typeof d.value === 'function') {
        const method = d.value as (...args: unknown[]) => unknown;
        // `apply(…, arguments)` passes the arguments on without building an array (optimised by V8).
        Object.defineProperty(forwarder, key, {
          configurable: true,
          writable: true,
          value: function (this: View) {
            // eslint-disable-next-line prefer-rest-params
            return method.apply(this[TARGET], arguments as unknown as unknown[]);
          },
        });
      } else if (d.get || d.set) {
        const { get, set } = d;
        Object.defineProperty(forwarder, key, {
          configurable: true,
          get: get && function (this: View) { return get.call(this[TARGET]); },
          set: set && function (this: View, v: unknown) { set.call(this[TARGET], v); },
        });
      }
    }
  }
  forwarders.set(proto, forwarder);
  return forwarder;
}

/**
 * `target` (the root database or an open transaction) with `transaction()` replaced by
 * `transaction`: every other method and getter runs on `target` itself, so queries through the
 * view are queries on `target`. The view is an `instanceof` the target's class; it is a new object
 * each call (callers keep the one they make: identity matters to deferUntilCommit/transactionMemo).
 */
export function executorView(target: Kysely<Database>, transaction: () => unknown): Kysely<Database> {
  const view = Object.create(forwarderOf(Object.getPrototypeOf(target) as object)) as View & { transaction: () => unknown };
  view[TARGET] = target;
  view.transaction = transaction;
  return view as unknown as Kysely<Database>;
}
