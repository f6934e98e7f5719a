import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/kernel/config.js';
import { renderConfigReference } from '../../src/kernel/config-doc.js';
import { GatehouseError } from '../../src/kernel/errors.js';
import { normalizeIdentifier } from '../../src/kernel/normalize.js';

describe('configuration', () => {
  it('has defaults that run on embedded SQLite at 127.0.0.1:8080', () => {
    const c = loadConfig({});
    expect(c.databaseUrl).toBe('sqlite:./data/gatehouse.db');
    expect(c.host).toBe('127.0.0.1');
    expect(c.port).toBe(8080);
    expect(c.issuer).toBe('http://127.0.0.1:8080');
    expect(c.logLevel).toBe('info');
    expect(c.bodyLimitBytes).toBe(1048576);
  });

  it('reads environment variables', () => {
    const c = loadConfig({ PORT: '9090', HOST: '0.0.0.0', GATEHOUSE_ISSUER: 'https://id.example.com/', GATEHOUSE_LOG_LEVEL: 'warn', GATEHOUSE_DATABASE_URL: 'postgres://u@h/db' });
    expect(c).toMatchObject({ port: 9090, host: '0.0.0.0', issuer: 'https://id.example.com', logLevel: 'warn', databaseUrl: 'postgres://u@h/db' });
  });

  it('names each bad setting and its variable', () => {
    let err: unknown;
    try {
      loadConfig({ PORT: 'eighty', GATEHOUSE_DATABASE_URL: 'mysql://x', GATEHOUSE_LOG_LEVEL: 'loud' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(GatehouseError);
    const g = err as GatehouseError;
    expect(g.code).toBe('invalid_config');
    expect(g.message).toContain('PORT (port)');
    expect(g.message).toContain('GATEHOUSE_DATABASE_URL (databaseUrl)');
    expect(g.message).toContain('GATEHOUSE_LOG_LEVEL (logLevel)');
  });

  it('GATEHOUSE_DATABASE_PREPARED_STATEMENTS: on by default, `false` turns it off, anything else is rejected', () => {
    expect(loadConfig({}).databasePreparedStatements).toBe(true);
    expect(loadConfig({ GATEHOUSE_DATABASE_PREPARED_STATEMENTS: 'false' }).databasePreparedStatements).toBe(false);
    expect(loadConfig({ GATEHOUSE_DATABASE_PREPARED_STATEMENTS: 'true' }).databasePreparedStatements).toBe(true);
    expect(() => loadConfig({ GATEHOUSE_DATABASE_PREPARED_STATEMENTS: 'maybe' })).toThrow(/GATEHOUSE_DATABASE_PREPARED_STATEMENTS/);
  });

  it('GATEHOUSE_KEEP_ALIVE_TIMEOUT_SECONDS: 72 by default, a whole number of seconds from 1 to 3600, a bad value named with its variable', () => {
    expect(loadConfig({}).keepAliveTimeoutSeconds).toBe(72);
    expect(loadConfig({ GATEHOUSE_KEEP_ALIVE_TIMEOUT_SECONDS: '5' }).keepAliveTimeoutSeconds).toBe(5);
    expect(loadConfig({ GATEHOUSE_KEEP_ALIVE_TIMEOUT_SECONDS: '3600' }).keepAliveTimeoutSeconds).toBe(3600);
    expect(loadConfig({}, { keepAliveTimeoutSeconds: 1 }).keepAliveTimeoutSeconds).toBe(1);
    for (const bad of ['0', '-1', '1.5', '3601', 'soon']) {
      let err: unknown;
      try {
        loadConfig({ GATEHOUSE_KEEP_ALIVE_TIMEOUT_SECONDS: bad });
      } catch (e) {
        err = e;
      }
      expect(err, bad).toBeInstanceOf(GatehouseError);
      expect((err as GatehouseError).code, bad).toBe('invalid_config');
      expect((err as GatehouseError).message, bad).toContain('GATEHOUSE_KEEP_ALIVE_TIMEOUT_SECONDS (keepAliveTimeoutSeconds)');
    }
  });

  it('rejects an issuer that is not an http(s) URL', () => {
    expect(() => loadConfig({ GATEHOUSE_ISSUER: 'ftp://x' })).toThrow(/GATEHOUSE_ISSUER/);
  });

  it('reports an unreadable config file clearly', () => {
    expect(() => loadConfig({ GATEHOUSE_CONFIG: '/nonexistent/gatehouse.json' })).toThrow(/GATEHOUSE_CONFIG: cannot read/);
  });

  it('docs/configuration.md is generated from the schema and up to date', () => {
    const doc = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
    expect(doc).toBe(renderConfigReference());
  });
});

describe('identifier normalisation', () => {
  it('folds case after NFC', () => {
    expect(normalizeIdentifier('Alice@Example.COM')).toBe('alice@example.com');
    // "é" precomposed vs e + combining acute accent
    expect(normalizeIdentifier('Ren\u00e9')).toBe(normalizeIdentifier('RENE\u0301'));
    expect(normalizeIdentifier('STRASSE')).toBe(normalizeIdentifier('straße'));
  });
});
