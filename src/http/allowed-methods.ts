/**
 * 405 Method Not Allowed (RFC 9110 §15.5.6): a table of every registered route's URL pattern and
 * methods, filled by an `onRoute` hook while the app is built, so each API's 404 handler can tell
 * "no such path" (404) from "path known, method not" (405, with the `Allow` header listing the
 * methods the path does serve, §10.2.1).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { GatehouseError } from '../kernel/errors.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Every route registered on the app, for 405 answers (see {@link RouteTable}). */
    routeTable: RouteTable;
  }
}

/** AuthZEN's paths, at the root and per store: their 404/405 answers use AuthZEN's error body. */
export const AUTHZEN_PATH = /^\/(?:stores\/[^/]+\/)?access\/v1(?:\/|$)/;

/** One segment of a route pattern: a literal, a parameter (one segment) or a wildcard (the rest). */
type Part = { literal: string } | { param: true } | { rest: true };

/** Route patterns (Fastify syntax: `/stores/:store_id/check`, `/oauth2/*`) and their methods. */
export class RouteTable {
  private readonly routes = new Map<string, { parts: Part[]; methods: Set<string> }>();

  /** Records a route; `HEAD` is implied by `GET` (Fastify serves it). */
  add(method: string | string[], url: string): void {
    let entry = this.routes.get(url);
    if (!entry) {
      entry = { parts: compile(url), methods: new Set() };
      this.routes.set(url, entry);
    }
    for (const m of Array.isArray(method) ? method : [method]) {
      entry.methods.add(m.toUpperCase());
      if (m.toUpperCase() === 'GET') entry.methods.add('HEAD');
    }
  }

  /** The methods some route serves at `path` (no query string), sorted; empty when no route matches it. */
  allowed(path: string): string[] {
    const segments = path.split('/');
    const found = new Set<string>();
    for (const { parts, methods } of this.routes.values()) if (matches(parts, segments)) for (const m of methods) found.add(m);
    return [...found].sort();
  }
}

function compile(url: string): Part[] {
  return url.split('/').map((s): Part => (s === '*' ? { rest: true } : s.startsWith(':') ? { param: true } : { literal: s }));
}

function matches(parts: Part[], segments: string[]): boolean {
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i] as Part;
    if ('rest' in p) return true;
    const s = segments[i];
    if (s === undefined) return false;
    if ('param' in p) {
      if (s === '') return false;
    } else if (p.literal !== s) return false;
  }
  return parts.length === segments.length;
}

/** Installs the table on a root app: call before any route or plugin is registered. */
export function trackRoutes(app: FastifyInstance): RouteTable {
  const table = new RouteTable();
  app.decorate('routeTable', table);
  app.addHook('onRoute', (route) => table.add(route.method, route.url ?? route.path));
  return table;
}

/**
 * The error an API's not-found handler answers in its own format: `method_not_allowed` (405) with
 * the `Allow` header set on `reply` when the path is served under other methods, else a 404.
 */
export function unmatchedRoute(request: FastifyRequest, reply: FastifyReply): Error {
  const path = request.url.split('?')[0] ?? '';
  const allow = request.server.routeTable?.allowed(path) ?? [];
  if (allow.length > 0 && !allow.includes(request.method)) {
    reply.header('allow', allow.join(', '));
    return new GatehouseError('method_not_allowed', `${request.method} is not allowed on ${path}; allowed: ${allow.join(', ')}`, { method: request.method, allow });
  }
  return Object.assign(new Error(`no route for ${request.method} ${path}`), { statusCode: 404 });
}
