/**
 * The requests of the OpenID AuthZEN Authorization API 1.0 certification scenario
 * (openid/authzen, certification/authorization-api-1_0-scenario.md), as data: each case names its
 * test id (C.x.y.z), its certification sub-level, the request and what the harness validates.
 */

export type Level = 'Basic Core' | 'Basic Properties' | 'Batch Core' | 'Batch Properties' | 'Search Core' | 'Search Properties' | 'Discovery';

export interface ScenarioCase {
  id: string;
  level: Level;
  title: string;
  path: string;
  body?: unknown;
  /** A raw body (for malformed JSON, empty body). */
  raw?: string;
  /** Content type; default application/json; null for none. */
  contentType?: string | null;
  expect: {
    status: number;
    decision?: boolean;
    /** Exact decisions of `evaluations`, in order. */
    evaluations?: boolean[];
    /** Only the number of `evaluations` is validated. */
    evaluationsLength?: number;
    /** Search: every result has `type` equal to this. */
    resultType?: string;
    /** Search: these ids (or action names) appear in `results`. */
    includes?: string[];
    /** Search: `results` is exactly empty. */
    empty?: boolean;
  };
}

const alice = { type: 'user', id: 'alice' };
const bob = { type: 'user', id: 'bob' };
const bobAdmin = { type: 'user', id: 'bob', properties: { role: 'admin' } };
const record1 = { type: 'record', id: 'record-1' };
const record2 = { type: 'record', id: 'record-2' };
const record2Archived = { type: 'record', id: 'record-2', properties: { status: 'archived' } };
const read = { name: 'read' };
const write = { name: 'write' };

const E = '/access/v1/evaluation';
const ES = '/access/v1/evaluations';
const SS = '/access/v1/search/subject';
const SR = '/access/v1/search/resource';
const SA = '/access/v1/search/action';

export const SCENARIO: ScenarioCase[] = [
  // ---- C.2 Basic: Access Evaluation
  { id: 'C.2.2.1', level: 'Basic Core', title: 'permit (rule 1)', path: E, body: { subject: alice, action: read, resource: record1 }, expect: { status: 200, decision: true } },
  { id: 'C.2.2.2', level: 'Basic Core', title: 'deny (rule 4)', path: E, body: { subject: bob, action: write, resource: record1 }, expect: { status: 200, decision: false } },
  {
    id: 'C.2.2.3',
    level: 'Basic Core',
    title: 'optional context',
    path: E,
    body: { subject: alice, action: read, resource: record1, context: { time: '2025-06-27T18:03-07:00', ip: '192.168.1.1' } },
    expect: { status: 200, decision: true },
  },
  {
    id: 'C.2.2.4',
    level: 'Basic Properties',
    title: 'deny on resource properties (rule 5)',
    path: E,
    body: { subject: alice, action: write, resource: record2Archived },
    expect: { status: 200, decision: false },
  },
  {
    id: 'C.2.2.5',
    level: 'Basic Properties',
    title: 'permit on subject properties (rule 6)',
    path: E,
    body: { subject: bobAdmin, action: write, resource: record2Archived },
    expect: { status: 200, decision: true },
  },
  {
    id: 'C.2.2.6',
    level: 'Basic Properties',
    title: 'permit on action properties (rule 7)',
    path: E,
    body: { subject: alice, action: { name: 'delete', properties: { soft: true } }, resource: record1 },
    expect: { status: 200, decision: true },
  },
  {
    id: 'C.2.2.7',
    level: 'Basic Properties',
    title: 'deny on action properties (rule 8)',
    path: E,
    body: { subject: alice, action: { name: 'delete', properties: { soft: false } }, resource: record1 },
    expect: { status: 200, decision: false },
  },
  {
    id: 'C.2.2.8',
    level: 'Basic Core',
    title: 'additional properties',
    path: E,
    body: {
      subject: { type: 'user', id: 'alice', properties: { department: 'Sales', role: 'manager' } },
      action: { name: 'read', properties: { method: 'GET' } },
      resource: { type: 'record', id: 'record-1', properties: { status: 'active', owner: 'bob' } },
    },
    expect: { status: 200, decision: true },
  },
  {
    id: 'C.2.2.9',
    level: 'Basic Core',
    title: 'unknown fields are ignored',
    path: E,
    body: { subject: alice, action: read, resource: record1, foo: 'bar', futureField: { nested: true } },
    expect: { status: 200, decision: true },
  },
  { id: 'C.2.4.1a', level: 'Basic Core', title: 'missing subject', path: E, body: { action: read, resource: record1 }, expect: { status: 400 } },
  { id: 'C.2.4.1b', level: 'Basic Core', title: 'missing action', path: E, body: { subject: alice, resource: record1 }, expect: { status: 400 } },
  { id: 'C.2.4.1c', level: 'Basic Core', title: 'missing resource', path: E, body: { subject: alice, action: read }, expect: { status: 400 } },
  { id: 'C.2.4.2a', level: 'Basic Core', title: 'subject missing type', path: E, body: { subject: { id: 'alice' }, action: read, resource: record1 }, expect: { status: 400 } },
  { id: 'C.2.4.2b', level: 'Basic Core', title: 'subject missing id', path: E, body: { subject: { type: 'user' }, action: read, resource: record1 }, expect: { status: 400 } },
  { id: 'C.2.4.2c', level: 'Basic Core', title: 'action missing name', path: E, body: { subject: alice, action: {}, resource: record1 }, expect: { status: 400 } },
  { id: 'C.2.4.2d', level: 'Basic Core', title: 'resource missing type', path: E, body: { subject: alice, action: read, resource: { id: 'record-1' } }, expect: { status: 400 } },
  { id: 'C.2.4.2e', level: 'Basic Core', title: 'resource missing id', path: E, body: { subject: alice, action: read, resource: { type: 'record' } }, expect: { status: 400 } },
  {
    id: 'C.2.4.3',
    level: 'Basic Core',
    title: 'invalid content type',
    path: E,
    raw: JSON.stringify({ subject: alice, action: read, resource: record1 }),
    contentType: 'text/plain',
    expect: { status: 400 },
  },
  { id: 'C.2.4.4', level: 'Basic Core', title: 'malformed JSON', path: E, raw: '{"subject": {"type": "user", "id": "alice"', expect: { status: 400 } },
  { id: 'C.2.4.5', level: 'Basic Core', title: 'empty body', path: E, raw: '', expect: { status: 400 } },
  { id: 'C.2.4.6a', level: 'Basic Core', title: 'subject is a string', path: E, body: { subject: 'alice', action: read, resource: record1 }, expect: { status: 400 } },
  { id: 'C.2.4.6b', level: 'Basic Core', title: 'action.name is a number', path: E, body: { subject: alice, action: { name: 123 }, resource: record1 }, expect: { status: 400 } },

  // ---- C.3 Batch: Access Evaluations
  {
    id: 'C.3.2.1',
    level: 'Batch Core',
    title: 'evaluations array',
    path: ES,
    body: { subject: alice, action: read, evaluations: [{ resource: record1 }, { resource: record2 }] },
    expect: { status: 200, evaluationsLength: 2 },
  },
  {
    id: 'C.3.2.2',
    level: 'Batch Core',
    title: 'fixture decisions, in order (rules 3, 4)',
    path: ES,
    body: { subject: bob, resource: record1, evaluations: [{ action: read }, { action: write }] },
    expect: { status: 200, evaluations: [true, false] },
  },
  {
    id: 'C.3.2.3',
    level: 'Batch Properties',
    title: 'resource properties per item (rules 2, 5)',
    path: ES,
    body: {
      subject: alice,
      action: write,
      evaluations: [{ resource: { type: 'record', id: 'record-1', properties: { status: 'active' } } }, { resource: record2Archived }],
    },
    expect: { status: 200, evaluations: [true, false] },
  },
  {
    id: 'C.3.2.4',
    level: 'Batch Properties',
    title: 'subject properties per item (rules 5, 6)',
    path: ES,
    body: { action: write, resource: record2Archived, evaluations: [{ subject: alice }, { subject: bobAdmin }] },
    expect: { status: 200, evaluations: [false, true] },
  },
  {
    id: 'C.3.2.5',
    level: 'Batch Core',
    title: 'fully specified items',
    path: ES,
    body: { evaluations: [{ subject: alice, action: read, resource: record1 }, { subject: bob, action: write, resource: record1 }] },
    expect: { status: 200, evaluations: [true, false] },
  },
  {
    id: 'C.3.2.6',
    level: 'Batch Core',
    title: 'context inheritance and override',
    path: ES,
    body: {
      subject: alice,
      action: read,
      context: { time: '2025-06-27T18:03-07:00' },
      evaluations: [{ resource: record1 }, { resource: record2, context: { time: '2025-06-27T19:00-07:00', source: 'batch-override' } }],
    },
    expect: { status: 200, evaluationsLength: 2 },
  },
  {
    id: 'C.3.2.7',
    level: 'Batch Properties',
    title: 'default value merging (entity-level, required members fall back)',
    path: ES,
    body: {
      subject: alice,
      action: write,
      resource: { type: 'record' },
      evaluations: [{ resource: { id: 'record-1', properties: { status: 'active' } } }, { resource: record2Archived }],
    },
    expect: { status: 200, evaluations: [true, false] },
  },
  {
    id: 'C.3.4.1',
    level: 'Batch Core',
    title: 'an invalid item fails alone',
    path: ES,
    body: { subject: alice, action: read, evaluations: [{ resource: record1 }, {}] },
    expect: { status: 200, evaluations: [true, false] },
  },
  {
    id: 'C.3.4.2',
    level: 'Batch Core',
    title: 'no evaluations array: a single evaluation',
    path: ES,
    body: { subject: alice, action: read, resource: record1 },
    expect: { status: 200, decision: true },
  },
  {
    id: 'C.3.4.3',
    level: 'Batch Core',
    title: 'empty evaluations array: a single evaluation',
    path: ES,
    body: { subject: alice, action: read, resource: record1, evaluations: [] },
    expect: { status: 200, decision: true },
  },
  { id: 'C.3.4.x', level: 'Batch Core', title: 'malformed JSON is a whole-payload error', path: ES, raw: '{"evaluations": [', expect: { status: 400 } },

  // ---- C.4 Search
  {
    id: 'C.4.2.1',
    level: 'Search Core',
    title: 'subject search',
    path: SS,
    body: { subject: { type: 'user' }, action: read, resource: record1 },
    expect: { status: 200, resultType: 'user', includes: ['alice', 'bob'] },
  },
  {
    id: 'C.4.2.2',
    level: 'Search Core',
    title: 'subject search with context',
    path: SS,
    body: { subject: { type: 'user' }, action: read, resource: record1, context: { time: '2025-06-27T18:03-07:00' } },
    expect: { status: 200, resultType: 'user', includes: ['alice', 'bob'] },
  },
  {
    id: 'C.4.2.3',
    level: 'Search Core',
    title: 'subject search without subject.id',
    path: SS,
    body: { subject: { type: 'user' }, action: read, resource: record2 },
    expect: { status: 200, resultType: 'user', includes: ['alice', 'bob'] },
  },
  {
    id: 'C.4.2.4',
    level: 'Search Properties',
    title: 'subject search with resource properties (rule 6)',
    path: SS,
    body: { subject: { type: 'user' }, action: write, resource: record2Archived },
    expect: { status: 200, resultType: 'user', includes: ['bob'] },
  },
  {
    id: 'C.4.3.1',
    level: 'Search Core',
    title: 'resource search',
    path: SR,
    body: { subject: alice, action: read, resource: { type: 'record' } },
    expect: { status: 200, resultType: 'record', includes: ['record-1'] },
  },
  {
    id: 'C.4.3.2',
    level: 'Search Core',
    title: 'resource search without resource.id',
    path: SR,
    body: { subject: bob, action: read, resource: { type: 'record' } },
    expect: { status: 200, resultType: 'record', includes: ['record-1'] },
  },
  {
    id: 'C.4.3.3',
    level: 'Search Properties',
    title: 'resource search with subject properties (rule 6)',
    path: SR,
    body: { subject: bobAdmin, action: write, resource: { type: 'record' } },
    expect: { status: 200, resultType: 'record', includes: ['record-2'] },
  },
  {
    id: 'C.4.4.1',
    level: 'Search Core',
    title: 'action search',
    path: SA,
    body: { subject: alice, resource: record1 },
    expect: { status: 200, includes: ['read', 'write'] },
  },
  {
    id: 'C.4.4.2',
    level: 'Search Core',
    title: 'action search with context',
    path: SA,
    body: { subject: alice, resource: record1, context: { time: '2025-06-27T18:03-07:00' } },
    expect: { status: 200, includes: ['read', 'write'] },
  },
  {
    id: 'C.4.4.3',
    level: 'Search Properties',
    title: 'action search with properties (rule 6)',
    path: SA,
    body: { subject: bobAdmin, resource: record2Archived },
    expect: { status: 200, includes: ['write'] },
  },
  {
    id: 'C.4.6.1',
    level: 'Search Core',
    title: 'unknown entity id: empty results',
    path: SA,
    body: { subject: { type: 'user', id: 'nonexistent-user' }, resource: record1 },
    expect: { status: 200, empty: true },
  },
  {
    id: 'C.4.6.2',
    level: 'Search Core',
    title: 'unknown entity type: empty results',
    path: SS,
    body: { subject: { type: 'spaceship' }, action: read, resource: record1 },
    expect: { status: 200, empty: true },
  },
  { id: 'C.4.7.1a', level: 'Search Core', title: 'subject search missing action', path: SS, body: { subject: { type: 'user' }, resource: record1 }, expect: { status: 400 } },
  { id: 'C.4.7.1b', level: 'Search Core', title: 'resource search missing subject', path: SR, body: { action: read, resource: { type: 'record' } }, expect: { status: 400 } },
  { id: 'C.4.7.1c', level: 'Search Core', title: 'action search missing resource', path: SA, body: { subject: alice }, expect: { status: 400 } },
  { id: 'C.4.7.2a', level: 'Search Core', title: 'subject search: resource missing id', path: SS, body: { subject: { type: 'user' }, action: read, resource: { type: 'record' } }, expect: { status: 400 } },
  { id: 'C.4.7.2b', level: 'Search Core', title: 'resource search: subject missing id', path: SR, body: { subject: { type: 'user' }, action: read, resource: { type: 'record' } }, expect: { status: 400 } },
];
