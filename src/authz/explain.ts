/**
 * Explain: why a check was allowed (one path of tuples and rewrites from `object#relation` to the
 * subject) or denied (what was examined and why it did not count). A separate, simple depth-first
 * search, so the hot Check path carries no tracing; it follows the same rules as the evaluator
 * (type restrictions, wildcards, expiry, CEL conditions, intersection, exclusion, depth limit).
 */
import { GatehouseError } from '../kernel/errors.js';
import type { GraphView } from './graph.js';
import { WILDCARD_REL, restrictionKey, type CompiledModel, type CompiledRelation, type Rewrite } from './model.js';
import type { ExplainStep, Explanation } from './contract.js';
import type { IdSet } from './idset.js';

const MAX_DENIED = 50;

function members(set: IdSet | undefined): number[] {
  if (set === undefined) return [];
  if (typeof set === 'number') return [set];
  return [...set];
}

/** Explains Check(subject, relation, object); `decision` is the explainer's own answer. */
export function explainCheck(
  view: GraphView,
  model: CompiledModel,
  subject: { type: number; node: number; relation: number },
  objectNode: number,
  relation: number,
  nowMs: number,
  context: Record<string, unknown> | undefined,
  maxDepth: number,
): Explanation {
  const names = model.symbols;
  const rel = (r: number) => names.relations.name(r);
  const fmt = (n: number) => {
    const d = view.describe(n);
    return `${d.type}:${d.id}`;
  };
  const at = (n: number, r: number) => `${fmt(n)}#${rel(r)}`;
  const tupleText = (o: number, r: number, sr: number, s: number) => `${at(o, r)}@${fmt(s)}${sr ? `#${rel(sr)}` : ''}`;
  const denied: Array<{ at: string; reason: string }> = [];
  const deny = (where: string, reason: string) => {
    if (denied.length < MAX_DENIED) denied.push({ at: where, reason });
  };

  /** Usable edge? Records why not. Returns the condition name when one held. */
  const usable = (o: number, r: number, sr: number, s: number): { ok: boolean; condition?: string } => {
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
    if (!c.evaluate(m.condition.context, context)) {
      deny(at(o, r), `condition ${m.condition.name} of ${tupleText(o, r, sr, s)} is false`);
      return { ok: false };
    }
    return { ok: true, condition: m.condition.name };
  };

  const step = (kind: ExplainStep['kind'], where: string, extra: Partial<ExplainStep> = {}): ExplainStep => ({ kind, at: where, ...extra });

  const why = (o: number, r: number, depth: number, path: Set<number>): ExplainStep[] | null => {
    if (depth > maxDepth) throw new GatehouseError('resolution_too_complex', `the check needed more than ${maxDepth} nested rewrites or usersets`, { maxDepth });
    const k = o * 4096 + r;
    if (path.has(k)) return null;
    const cr = model.relation(view.typeOf(o), r);
    if (!cr) return null;
    path.add(k);
    const mark = denied.length;
    try {
      const res = rewrite(o, cr, cr.rewrite, depth, path);
      // Dead ends explored before a path was found are not reasons for a denial.
      if (res) denied.length = mark;
      return res;
    } finally {
      path.delete(k);
    }
  };

  const rewrite = (o: number, cr: CompiledRelation, rw: Rewrite, depth: number, path: Set<number>): ExplainStep[] | null => {
    const r = cr.relationId;
    const here = at(o, r);
    switch (rw.kind) {
      case 'this': {
        const s = subject.node;
        const sr = subject.relation;
        if (s >= 0 && cr.directTypes.has(restrictionKey(subject.type, sr)) && view.has(o, r, sr, s)) {
          const u = usable(o, r, sr, s);
          if (u.ok) return [step('direct', here, { tuple: tupleText(o, r, sr, s), contextual: view.isContextual(o, r, sr, s) || undefined, condition: u.condition })];
        }
        if (sr === 0 && subject.type >= 0 && cr.directTypes.has(restrictionKey(subject.type, WILDCARD_REL))) {
          const w = view.wildcardNode(subject.type);
          if (w >= 0 && view.has(o, r, 0, w)) {
            const u = usable(o, r, 0, w);
            if (u.ok) return [step('wildcard', here, { tuple: tupleText(o, r, 0, w), contextual: view.isContextual(o, r, 0, w) || undefined, condition: u.condition })];
          }
        }
        const row = view.subjectRow(o, r);
        if (row) {
          for (let usr = 1; usr < row.length; usr++) {
            for (const m of members(row[usr])) {
              if (!cr.directTypes.has(restrictionKey(view.typeOf(m), usr))) continue;
              const u = usable(o, r, usr, m);
              if (!u.ok) continue;
              const sub = why(m, usr, depth + 1, path);
              if (sub) return [step('userset', here, { tuple: tupleText(o, r, usr, m), contextual: view.isContextual(o, r, usr, m) || undefined, condition: u.condition }), ...sub];
            }
          }
        }
        deny(here, 'no tuple names the subject, a wildcard for it, or a userset containing it');
        return null;
      }
      case 'computed': {
        const sub = why(o, rw.relation, depth + 1, path);
        return sub ? [step('computed', here), ...sub] : null;
      }
      case 'ttu': {
        const ts = model.relation(cr.typeId, rw.tupleset);
        for (const p of members(view.subjects(o, rw.tupleset, 0))) {
          if (!ts?.directTypes.has(restrictionKey(view.typeOf(p), 0)) || !model.relation(view.typeOf(p), rw.computed)) continue;
          const u = usable(o, rw.tupleset, 0, p);
          if (!u.ok) continue;
          const sub = why(p, rw.computed, depth + 1, path);
          if (sub) return [step('ttu', here, { tuple: tupleText(o, rw.tupleset, 0, p), contextual: view.isContextual(o, rw.tupleset, 0, p) || undefined, condition: u.condition }), ...sub];
        }
        deny(here, `no parent through ${rel(rw.tupleset)} grants ${rel(rw.computed)}`);
        return null;
      }
      case 'union': {
        const mark = denied.length;
        for (const c of rw.children) {
          const sub = rewrite(o, cr, c, depth, path);
          if (sub) {
            denied.length = mark;
            return sub;
          }
        }
        return null;
      }
      case 'intersection': {
        const all: ExplainStep[] = [step('intersection', here)];
        for (const c of rw.children) {
          const sub = rewrite(o, cr, c, depth + 1, new Set());
          if (!sub) {
            deny(here, 'an operand of the intersection does not hold');
            return null;
          }
          all.push(...sub);
        }
        return all;
      }
      case 'difference': {
        const base = rewrite(o, cr, rw.base, depth + 1, new Set());
        if (!base) return null;
        const sub = rewrite(o, cr, rw.subtract, depth + 1, new Set());
        if (sub) {
          deny(here, `excluded: ${sub.filter((x) => x.tuple).map((x) => x.tuple).join(' → ')}`);
          return null;
        }
        return [step('difference', here), ...base];
      }
    }
  };

  const path = objectNode >= 0 ? why(objectNode, relation, 0, new Set()) : null;
  if (objectNode < 0) deny(`?#${rel(relation)}`, 'no tuple names the object');
  const subj = subject.node >= 0 ? `${fmt(subject.node)}${subject.relation ? `#${rel(subject.relation)}` : ''}` : 'the subject';
  if (path) {
    const chain = path.map((p) => p.tuple ?? `${p.kind} ${p.at}`).join(' → ');
    return { decision: true, path, summary: `allowed: ${chain}` };
  }
  return { decision: false, path: [], summary: `denied: no path from ${objectNode >= 0 ? at(objectNode, relation) : 'the object'} to ${subj}`, denied };
}
