/**
 * Explain: why a check was allowed (one path of tuples and rewrites from `object#relation` to the
 * subject) or denied (what was examined and why it did not count). Off the hot path: the Check
 * path carries no tracing.
 *
 * The verdict is Check's ({@link Evaluator.checkNodes}): allowed, denied or its error. When
 * allowed, the path is found by descending from `object#relation`, at each step taking the first
 * candidate (the subject's tuple, its wildcard, a userset, a parent, a union's branch) for which
 * Check's own answer to that part, asked at that depth ({@link Evaluator.holds}), is true; each
 * step is a live tuple whose condition holds, within the depth limit, so the path is one Check
 * grants by, and the descent asks at most a few questions per candidate of the path's nodes.
 * When denied (or an error), a depth-first search over the same rules as the evaluator (type
 * restrictions, wildcards, expiry, CEL conditions, intersection, exclusion, depth limit; one
 * visited set per question, as Check) collects what did not hold and why.
 */
import { GatehouseError } from '../kernel/errors.js';
import type { Evaluator } from './evaluator.js';
import type { GraphView } from './graph.js';
import { WILDCARD_REL, restrictionKey, type CompiledModel, type CompiledRelation, type Rewrite } from './model.js';
import type { ExplainStep, Explanation } from './contract.js';
import type { IdSet } from './idset.js';

const MAX_DENIED = 50;

/** A branch whose answer is an error (it neither holds nor fails). */
class Err {
  constructor(readonly error: GatehouseError) {}
}

/** A path that holds, null (does not hold), or an error. */
type Outcome = ExplainStep[] | null | Err;

function members(set: IdSet | undefined): number[] {
  if (set === undefined) return [];
  if (typeof set === 'number') return [set];
  return [...set];
}

/**
 * Explains Check(subject, relation, object) as `evaluator` answers it (its depth limit, its
 * verdict). Never throws for a condition error or the depth limit: when Check fails so, the
 * explanation is a denial whose `summary` (`error: CODE: message`) and `denied` carry the error.
 * `objectNode` -1: no tuple names the object (denied).
 */
export function explainCheck(
  evaluator: Evaluator,
  view: GraphView,
  model: CompiledModel,
  subject: { type: number; node: number; relation: number },
  objectNode: number,
  relation: number,
  nowMs: number,
  context: Record<string, unknown> | undefined,
): Explanation {
  const maxDepth = evaluator.maxDepth;
  const names = model.symbols;
  const rel = (r: number) => names.relations.name(r);
  const fmt = (n: number) => {
    const d = view.describe(n);
    return `${d.type}:${d.id}`;
  };
  const at = (n: number, r: number) => `${fmt(n)}#${rel(r)}`;
  const tupleText = (o: number, r: number, sr: number, s: number) => `${at(o, r)}@${fmt(s)}${sr ? `#${rel(sr)}` : ''}`;
  // The restriction a tuple naming the subject must pass: `type:*` when the subject is its type's wildcard (as in Check).
  const wildSubject = subject.node >= 0 && subject.relation === 0 && view.wildcardNode(subject.type) === subject.node;
  const subjectKey = restrictionKey(subject.type, wildSubject ? WILDCARD_REL : subject.relation);
  const denied: Array<{ at: string; reason: string }> = [];
  const deny = (where: string, reason: string) => {
    if (denied.length < MAX_DENIED) denied.push({ at: where, reason });
  };

  /** Usable edge? Records why not. The condition name when one held; an {@link Err} when it could not be evaluated. */
  const usable = (o: number, r: number, sr: number, s: number): { ok: boolean; condition?: string; error?: Err } => {
    if (!view.hasMeta(o)) return { ok: true };
    const m = view.edgeMeta(o, r, sr, s);
    if (!m) return { ok: true };
    if (m.expiresAtMs <= nowMs) {
      deny(at(o, r), `tuple ${tupleText(o, r, sr, s)} expired`);
      return { ok: false };
    }
    if (!m.condition) return { ok: true };
    const c = model.conditions.get(m.condition.name);
    if (!c) {
      deny(at(o, r), `tuple ${tupleText(o, r, sr, s)} names undeclared condition ${m.condition.name}`);
      return { ok: false };
    }
    let holds: boolean;
    try {
      holds = c.evaluate(m.condition.context, context);
    } catch (err) {
      if (!(err instanceof GatehouseError)) throw err;
      deny(at(o, r), `condition ${m.condition.name} of ${tupleText(o, r, sr, s)} could not be evaluated: ${err.message}`);
      return { ok: false, error: new Err(err) };
    }
    if (!holds) {
      deny(at(o, r), `condition ${m.condition.name} of ${tupleText(o, r, sr, s)} is false`);
      return { ok: false };
    }
    return { ok: true, condition: m.condition.name };
  };

  const step = (kind: ExplainStep['kind'], where: string, extra: Partial<ExplainStep> = {}): ExplainStep => ({ kind, at: where, ...extra });

  /** The search for reasons: `visited` holds the `node#relation`s of one question already expanded (as Check's). */
  const why = (o: number, r: number, depth: number, visited: Set<number>): Outcome => {
    if (depth > maxDepth) {
      const err = new GatehouseError('resolution_too_complex', `the check needed more than ${maxDepth} nested rewrites or usersets`, { maxDepth });
      deny(at(o, r), err.message);
      return new Err(err);
    }
    const k = o * 4096 + r;
    if (visited.has(k)) return null;
    const cr = model.relation(view.typeOf(o), r);
    if (!cr) return null;
    visited.add(k);
    const mark = denied.length;
    const res = rewrite(o, cr, cr.rewrite, depth, visited);
    // Dead ends explored before a path was found are not reasons for a denial.
    if (Array.isArray(res)) denied.length = mark;
    return res;
  };

  /** Union of candidate paths (OpenFGA): the first that holds wins; else the first error; else null. */
  const anyOf = (first: Err | null, tries: Iterable<() => Outcome>): Outcome => {
    let error = first;
    for (const attempt of tries) {
      const res = attempt();
      if (Array.isArray(res)) return res;
      if (res instanceof Err) error ??= res;
    }
    return error;
  };

  const rewrite = (o: number, cr: CompiledRelation, rw: Rewrite, depth: number, visited: Set<number>): Outcome => {
    const r = cr.relationId;
    const here = at(o, r);
    const tupleStep = (kind: ExplainStep['kind'], to: number, tr: number, sr: number, s: number, condition: string | undefined) =>
      step(kind, here, { tuple: tupleText(to, tr, sr, s), contextual: view.isContextual(to, tr, sr, s) || undefined, condition });
    switch (rw.kind) {
      case 'this': {
        const s = subject.node;
        const sr = subject.relation;
        let error: Err | null = null;
        if (s >= 0 && cr.directTypes.has(subjectKey) && view.has(o, r, sr, s)) {
          const u = usable(o, r, sr, s);
          if (u.ok) return [tupleStep(wildSubject ? 'wildcard' : 'direct', o, r, sr, s, u.condition)];
          error ??= u.error ?? null;
        }
        if (sr === 0 && subject.type >= 0 && cr.directTypes.has(restrictionKey(subject.type, WILDCARD_REL))) {
          const w = view.wildcardNode(subject.type);
          if (w >= 0 && w !== s && view.has(o, r, 0, w)) {
            const u = usable(o, r, 0, w);
            if (u.ok) return [tupleStep('wildcard', o, r, 0, w, u.condition)];
            error ??= u.error ?? null;
          }
        }
        const row = view.subjectRow(o, r);
        const tries: Array<() => Outcome> = [];
        if (row) {
          for (let usr = 1; usr < row.length; usr++) {
            for (const m of members(row[usr])) {
              if (!cr.directTypes.has(restrictionKey(view.typeOf(m), usr))) continue;
              tries.push(() => {
                const u = usable(o, r, usr, m);
                if (!u.ok) return u.error ?? null;
                const sub = why(m, usr, depth + 1, visited);
                return Array.isArray(sub) ? [tupleStep('userset', o, r, usr, m, u.condition), ...sub] : sub;
              });
            }
          }
        }
        const res = anyOf(error, tries);
        if (!Array.isArray(res)) deny(here, 'no tuple names the subject, a wildcard for it, or a userset containing it');
        return res;
      }
      case 'computed': {
        const sub = why(o, rw.relation, depth + 1, visited);
        return Array.isArray(sub) ? [step('computed', here), ...sub] : sub;
      }
      case 'ttu': {
        const ts = model.relation(cr.typeId, rw.tupleset);
        const tries: Array<() => Outcome> = [];
        for (const p of members(view.subjects(o, rw.tupleset, 0))) {
          if (!ts?.directTypes.has(restrictionKey(view.typeOf(p), 0)) || !model.relation(view.typeOf(p), rw.computed)) continue;
          tries.push(() => {
            const u = usable(o, rw.tupleset, 0, p);
            if (!u.ok) return u.error ?? null;
            const sub = why(p, rw.computed, depth + 1, visited);
            return Array.isArray(sub) ? [tupleStep('ttu', o, rw.tupleset, 0, p, u.condition), ...sub] : sub;
          });
        }
        const res = anyOf(null, tries);
        if (!Array.isArray(res)) deny(here, `no parent through ${rel(rw.tupleset)} grants ${rel(rw.computed)}`);
        return res;
      }
      case 'union': {
        const mark = denied.length;
        const res = anyOf(null, rw.children.map((c) => () => rewrite(o, cr, c, depth, visited)));
        if (Array.isArray(res)) denied.length = mark;
        return res;
      }
      case 'intersection': {
        // Any operand that does not hold denies, even when another could not be evaluated.
        const all: ExplainStep[] = [step('intersection', here)];
        let error: Err | null = null;
        for (const c of rw.children) {
          const sub = rewrite(o, cr, c, depth + 1, new Set());
          if (sub === null) {
            deny(here, 'an operand of the intersection does not hold');
            return null;
          }
          if (sub instanceof Err) error ??= sub;
          else all.push(...sub);
        }
        return error ?? all;
      }
      case 'difference': {
        // Denied when the base does not hold or the subtracted set holds, whatever the other side; else any error stands.
        const base = rewrite(o, cr, rw.base, depth + 1, new Set());
        if (base === null) return null;
        const sub = rewrite(o, cr, rw.subtract, depth + 1, new Set());
        if (Array.isArray(sub)) {
          deny(here, `excluded: ${sub.filter((x) => x.tuple).map((x) => x.tuple).join(' → ')}`);
          return null;
        }
        if (base instanceof Err) return base;
        if (sub instanceof Err) return sub;
        return [step('difference', here), ...base];
      }
    }
  };

  /** Check's answer to `part` of `cr` at `node` reached at `depth` (null: the relation itself); an error is not true. */
  const holds = (node: number, cr: CompiledRelation, part: Rewrite | null, depth: number): boolean => {
    try {
      return evaluator.holds(view, model, subject.type, subject.node, subject.relation, node, cr, part, depth, nowMs, context);
    } catch (err) {
      if (err instanceof GatehouseError) return false;
      throw err;
    }
  };
  /** Is the edge usable (live, its condition true)? Records nothing: the descent only follows what holds. */
  const grants = (o: number, r: number, sr: number, s: number): { ok: boolean; condition?: string } => {
    if (!view.hasMeta(o)) return { ok: true };
    const m = view.edgeMeta(o, r, sr, s);
    if (!m) return { ok: true };
    if (m.expiresAtMs <= nowMs) return { ok: false };
    if (!m.condition) return { ok: true };
    const c = model.conditions.get(m.condition.name);
    if (!c) return { ok: false };
    try {
      return c.evaluate(m.condition.context, context) ? { ok: true, condition: m.condition.name } : { ok: false };
    } catch (err) {
      if (err instanceof GatehouseError) return { ok: false };
      throw err;
    }
  };
  /** The path of `o#r`, which Check holds at `depth`. */
  const descendRelation = (o: number, r: number, depth: number): ExplainStep[] | null => {
    const cr = model.relation(view.typeOf(o), r);
    return cr ? descend(o, cr, cr.rewrite, depth) : null;
  };
  /** The path of `rw`, a part of `cr` at `o` that Check holds at `depth`: the first candidate that holds, in the evaluator's order. */
  const descend = (o: number, cr: CompiledRelation, rw: Rewrite, depth: number): ExplainStep[] | null => {
    const r = cr.relationId;
    const here = at(o, r);
    const tupleStep = (kind: ExplainStep['kind'], to: number, tr: number, sr: number, s: number, condition: string | undefined) =>
      step(kind, here, { tuple: tupleText(to, tr, sr, s), contextual: view.isContextual(to, tr, sr, s) || undefined, condition });
    const then = (first: ExplainStep, rest: ExplainStep[] | null) => (rest === null ? null : [first, ...rest]);
    switch (rw.kind) {
      case 'this': {
        const s = subject.node;
        const sr = subject.relation;
        if (s >= 0 && cr.directTypes.has(subjectKey) && view.has(o, r, sr, s)) {
          const u = grants(o, r, sr, s);
          if (u.ok) return [tupleStep(wildSubject ? 'wildcard' : 'direct', o, r, sr, s, u.condition)];
        }
        if (sr === 0 && subject.type >= 0 && cr.directTypes.has(restrictionKey(subject.type, WILDCARD_REL))) {
          const w = view.wildcardNode(subject.type);
          if (w >= 0 && w !== s && view.has(o, r, 0, w)) {
            const u = grants(o, r, 0, w);
            if (u.ok) return [tupleStep('wildcard', o, r, 0, w, u.condition)];
          }
        }
        const row = view.subjectRow(o, r);
        if (!row) return null;
        for (let usr = 1; usr < row.length; usr++) {
          for (const m of members(row[usr])) {
            if (!cr.directTypes.has(restrictionKey(view.typeOf(m), usr))) continue;
            const mr = model.relation(view.typeOf(m), usr);
            if (!mr) continue;
            const u = grants(o, r, usr, m);
            if (u.ok && holds(m, mr, null, depth + 1)) return then(tupleStep('userset', o, r, usr, m, u.condition), descendRelation(m, usr, depth + 1));
          }
        }
        return null;
      }
      case 'computed':
        return then(step('computed', here), descendRelation(o, rw.relation, depth + 1));
      case 'ttu': {
        const ts = model.relation(cr.typeId, rw.tupleset);
        for (const p of members(view.subjects(o, rw.tupleset, 0))) {
          const pr = model.relation(view.typeOf(p), rw.computed);
          if (!ts?.directTypes.has(restrictionKey(view.typeOf(p), 0)) || !pr) continue;
          const u = grants(o, rw.tupleset, 0, p);
          if (u.ok && holds(p, pr, null, depth + 1)) return then(tupleStep('ttu', o, rw.tupleset, 0, p, u.condition), descendRelation(p, rw.computed, depth + 1));
        }
        return null;
      }
      case 'union':
        for (const c of rw.children) if (holds(o, cr, c, depth)) return descend(o, cr, c, depth);
        return null;
      case 'intersection': {
        // Every operand holds (each its own question, one deeper, as Check asks it).
        const all: ExplainStep[] = [step('intersection', here)];
        for (const c of rw.children) {
          const sub = descend(o, cr, c, depth + 1);
          if (sub === null) return null;
          all.push(...sub);
        }
        return all;
      }
      case 'difference':
        // The base holds and the subtracted part does not (Check's verdict on the whole).
        return then(step('difference', here), descend(o, cr, rw.base, depth + 1));
    }
  };

  let verdict = false;
  let error: GatehouseError | null = null;
  if (objectNode >= 0) {
    try {
      verdict = evaluator.checkNodes(view, model, subject.type, subject.node, subject.relation, objectNode, relation, nowMs, context);
    } catch (err) {
      if (!(err instanceof GatehouseError)) throw err;
      error = err;
    }
  }
  if (verdict) {
    const path = descendRelation(objectNode, relation, 0);
    if (path !== null) return { decision: true, path, summary: `allowed: ${path.map((p) => p.tuple ?? `${p.kind} ${p.at}`).join(' → ')}` };
    // Not reached: every part Check holds has a candidate that holds.
    return { decision: true, path: [], summary: `allowed: the path from ${at(objectNode, relation)} could not be traced` };
  }
  if (objectNode >= 0) why(objectNode, relation, 0, new Set());
  else deny(`?#${rel(relation)}`, 'no tuple names the object');
  if (error !== null) return { decision: false, path: [], summary: `error: ${error.code}: ${error.message}`, denied };
  const subj = subject.node >= 0 ? `${fmt(subject.node)}${subject.relation ? `#${rel(subject.relation)}` : ''}` : 'the subject';
  return { decision: false, path: [], summary: `denied: no path from ${objectNode >= 0 ? at(objectNode, relation) : 'the object'} to ${subj}`, denied };
}
