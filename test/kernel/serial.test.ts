import { describe, expect, it } from 'vitest';
import { KeyedSerial } from '../../src/kernel/serial.js';

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('KeyedSerial', () => {
  it('runs work of one key one at a time, in arrival order, and keeps going after a rejection', async () => {
    const serial = new KeyedSerial();
    const log: string[] = [];
    let running = 0;
    let most = 0;
    const job = (name: string, ms: number, fail = false) => async () => {
      running++;
      most = Math.max(most, running);
      log.push(`start ${name}`);
      await tick(ms);
      log.push(`end ${name}`);
      running--;
      if (fail) throw new Error(name);
      return name;
    };
    const results = await Promise.allSettled([serial.run('g1', job('a', 15)), serial.run('g1', job('b', 1, true)), serial.run('g1', job('c', 5))]);
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message))).toEqual(['a', 'b', 'c']);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(log).toEqual(['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
    expect(most).toBe(1);
  });

  it('runs work of different keys side by side, and forgets a key once its work has settled', async () => {
    const serial = new KeyedSerial();
    const started: string[] = [];
    const slow = serial.run('x', async () => {
      started.push('x');
      await tick(20);
    });
    const other = serial.run('y', async () => {
      started.push('y');
    });
    await other;
    await tick(0);
    expect(started).toEqual(['x', 'y']);
    expect(serial.size).toBe(1);
    await slow;
    await tick(0);
    expect(serial.size).toBe(0);
  });
});
