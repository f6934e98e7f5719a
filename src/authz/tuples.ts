import { hasLoneSurrogate } from '../kernel/normalize.js';
import { GatehouseError } from '../kernel/errors.js';

/** Id of each tenant's built-in store, which holds Gatehouse's own identities (DOMAIN.md). */
export const BUILTIN_STORE_ID = 'gatehouse';

/** `type:id` or `type:id#relation` (a userset). `subjectRelation` is '' for a plain object. */
export interface RelationTuple {
  objectType: string;
  objectId: string;
  relation: string;
  subjectType: string;
  subjectId: string;
  /** '' unless the subject is a userset such as `group:eng#member`. */
  subjectRelation: string;
  /** Name of a condition in the model, with its stored context (issue 3). */
  condition?: { name: string; context?: Record<string, unknown> | null } | null;
  /** Time-bound grant: ISO 8601 instant after which the tuple no longer grants anything. */
  expiresAt?: string | null;
}

const TYPE_RE = /^[A-Za-z_][A-Za-z0-9_-]{0,253}$/;
const RELATION_RE = /^[A-Za-z_][A-Za-z0-9_-]{0,49}$/;

/**
 * A tuple's six key columns (object, relation, subject), as every table that names a tuple stores
 * them (`authz_tuples`, `authz_changelog`, `authz_tuple_usage`).
 */
export function tupleKeyColumns(t: RelationTuple) {
  return {
    object_type: t.objectType,
    object_id: t.objectId,
    relation: t.relation,
    subject_type: t.subjectType,
    subject_id: t.subjectId,
    subject_relation: t.subjectRelation,
  };
}

/** Formats a tuple as `object_type:object_id#relation@subject_type:subject_id[#subject_relation]` (Zanzibar notation). */
export function formatTuple(t: RelationTuple): string {
  return `${t.objectType}:${t.objectId}#${t.relation}@${t.subjectType}:${t.subjectId}${t.subjectRelation ? `#${t.subjectRelation}` : ''}`;
}

/** Splits `type:id` (the id may itself contain colons, as in `permission:documents:read`). */
export function parseObject(s: string): { type: string; id: string } {
  const i = s.indexOf(':');
  if (i <= 0 || i === s.length - 1) throw new GatehouseError('invalid_input', `'${s}' is not of the form type:id`, { value: s });
  return { type: s.slice(0, i), id: s.slice(i + 1) };
}

/** Splits `type:id` or `type:id#relation` into a subject. */
export function parseSubject(s: string): { type: string; id: string; relation: string } {
  const hash = s.lastIndexOf('#');
  const base = hash > 0 ? s.slice(0, hash) : s;
  const relation = hash > 0 ? s.slice(hash + 1) : '';
  const o = parseObject(base);
  return { ...o, relation };
}

/**
 * Parses `object#relation@subject` into a tuple.
 * @throws GatehouseError `invalid_input` when malformed.
 */
export function parseTuple(s: string): RelationTuple {
  const at = s.indexOf('@');
  const left = at > 0 ? s.slice(0, at) : '';
  const hash = left.lastIndexOf('#');
  if (at <= 0 || hash <= 0) throw new GatehouseError('invalid_input', `'${s}' is not of the form type:id#relation@type:id[#relation]`, { value: s });
  const obj = parseObject(left.slice(0, hash));
  const sub = parseSubject(s.slice(at + 1));
  const t: RelationTuple = {
    objectType: obj.type,
    objectId: obj.id,
    relation: left.slice(hash + 1),
    subjectType: sub.type,
    subjectId: sub.id,
    subjectRelation: sub.relation,
  };
  validateTupleShape(t);
  return t;
}

/**
 * Checks the syntax of a tuple's parts (not its type restrictions, which need the model).
 * @throws GatehouseError `invalid_input`.
 */
export function validateTupleShape(t: RelationTuple): void {
  const bad = (what: string, v: string) =>
    new GatehouseError('invalid_input', `invalid ${what} '${v}' in tuple ${formatTuple(t)}`, { field: what, value: v });
  if (!TYPE_RE.test(t.objectType)) throw bad('object type', t.objectType);
  if (!TYPE_RE.test(t.subjectType)) throw bad('subject type', t.subjectType);
  if (!RELATION_RE.test(t.relation)) throw bad('relation', t.relation);
  if (t.subjectRelation && !RELATION_RE.test(t.subjectRelation)) throw bad('subject relation', t.subjectRelation);
  if (!t.objectId || t.objectId.length > 256 || /[\s#@]/.test(t.objectId) || hasLoneSurrogate(t.objectId)) throw bad('object id', t.objectId);
  if (!t.subjectId || t.subjectId.length > 256 || /[\s#@]/.test(t.subjectId) || hasLoneSurrogate(t.subjectId)) throw bad('subject id', t.subjectId);
}
