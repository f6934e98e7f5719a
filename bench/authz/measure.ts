/**
 * Measurement helpers for `npm run bench:authz`: throughput (checks per second over a tight loop,
 * no timers inside) and latency percentiles (each call timed with `process.hrtime.bigint()`, whose
 * own cost is measured and reported as `timerNs` so small latencies can be read against it).
 */

/** One engine's figures on one workload. */
export interface Measurement {
  engine: string;
  /** Decisions per second in a tight loop over the query set (wall clock). */
  checksPerSecond: number;
  /**
   * Decisions per second of this process's CPU time over the same loop: what one core gives
   * when nothing else competes for it (other work on the machine lowers `checksPerSecond` far
   * more than this figure).
   */
  checksPerCpuSecond: number;
  /** Median latency of one decision, in microseconds (timer cost included). */
  p50Us: number;
  /** 99th percentile latency of one decision, in microseconds (timer cost included). */
  p99Us: number;
  /** Number of `true` decisions over the query set: engines must agree. */
  allowed: number;
  queries: number;
  note?: string;
}

/** A decision function under test: answers query `i` of the workload. */
export type Decide = (i: number) => boolean;

/**
 * Measures `decide` over queries `0..n-1`: a warm-up pass, a throughput pass repeated until at
 * least `minMs` have passed, and a latency pass timing up to `latencySamples` calls one by one.
 */
export function measure(engine: string, n: number, decide: Decide, opts: { minMs?: number; latencySamples?: number; note?: string } = {}): Measurement {
  const minMs = opts.minMs ?? 1500;
  let allowed = 0;
  // Warm-up, and the decision count that engines are compared on.
  for (let i = 0; i < n; i++) if (decide(i)) allowed++;
  let calls = 0;
  let sink = 0;
  const cpu0 = process.cpuUsage();
  const start = process.hrtime.bigint();
  let elapsedNs = 0n;
  do {
    for (let i = 0; i < n; i++) if (decide(i)) sink++;
    calls += n;
    elapsedNs = process.hrtime.bigint() - start;
  } while (elapsedNs < BigInt(minMs) * 1_000_000n);
  const cpu = process.cpuUsage(cpu0);
  if (sink < 0) console.log(sink);
  const checksPerSecond = calls / (Number(elapsedNs) / 1e9);
  const checksPerCpuSecond = calls / ((cpu.user + cpu.system) / 1e6);
  const samples = Math.min(opts.latencySamples ?? 200_000, Math.max(n, 1) * 20);
  const lat = new Float64Array(samples);
  for (let s = 0; s < samples; s++) {
    const i = s % n;
    const t0 = process.hrtime.bigint();
    decide(i);
    lat[s] = Number(process.hrtime.bigint() - t0);
  }
  lat.sort();
  return {
    engine,
    checksPerSecond,
    checksPerCpuSecond,
    p50Us: percentile(lat, 0.5) / 1000,
    p99Us: percentile(lat, 0.99) / 1000,
    allowed,
    queries: n,
    ...(opts.note ? { note: opts.note } : {}),
  };
}

/** Measures async decisions (one awaited at a time): throughput and latency in the same pass. */
export async function measureAsync(engine: string, n: number, decide: (i: number) => Promise<boolean>, opts: { minMs?: number; note?: string } = {}): Promise<Measurement> {
  const minMs = opts.minMs ?? 1500;
  let allowed = 0;
  for (let i = 0; i < n; i++) if (await decide(i)) allowed++;
  const lat: number[] = [];
  const cpu0 = process.cpuUsage();
  const start = process.hrtime.bigint();
  let elapsedNs = 0n;
  let i = 0;
  do {
    const t0 = process.hrtime.bigint();
    await decide(i % n);
    const t1 = process.hrtime.bigint();
    lat.push(Number(t1 - t0));
    i++;
    elapsedNs = t1 - start;
  } while (elapsedNs < BigInt(minMs) * 1_000_000n);
  const cpu = process.cpuUsage(cpu0);
  const sorted = Float64Array.from(lat).sort();
  return {
    engine,
    checksPerSecond: i / (Number(elapsedNs) / 1e9),
    checksPerCpuSecond: i / ((cpu.user + cpu.system) / 1e6),
    p50Us: percentile(sorted, 0.5) / 1000,
    p99Us: percentile(sorted, 0.99) / 1000,
    allowed,
    queries: n,
    ...(opts.note ? { note: opts.note } : {}),
  };
}

/** The cost of one `process.hrtime.bigint()` pair, in nanoseconds (median). */
export function timerCostNs(): number {
  const n = 100_000;
  const lat = new Float64Array(n);
  for (let s = 0; s < n; s++) {
    const t0 = process.hrtime.bigint();
    lat[s] = Number(process.hrtime.bigint() - t0);
  }
  lat.sort();
  return percentile(lat, 0.5);
}

/** The `q` quantile (0..1) of sorted values (nearest rank). */
export function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[idx] as number;
}

/** A deterministic pseudo-random generator (mulberry32), so every run uses the same workload. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Formats a number with thousands separators. */
export function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

/** Prints measurements side by side; the ratio column compares CPU-time throughput with `baseline`'s. */
export function printTable(title: string, rows: Measurement[], baseline: string): void {
  const base = rows.find((r) => r.engine === baseline);
  console.log(`\n== ${title}`);
  const header = ['engine', 'checks/s', 'checks/CPU-s', 'p50 µs', 'p99 µs', `× vs ${baseline}`, 'allowed/queries', 'note'];
  const lines = rows.map((r) => [
    r.engine,
    fmt(r.checksPerSecond),
    fmt(r.checksPerCpuSecond),
    fmt(r.p50Us, 2),
    fmt(r.p99Us, 2),
    base ? `${fmt(r.checksPerCpuSecond / base.checksPerCpuSecond, 3)}×` : '',
    `${r.allowed}/${r.queries}`,
    r.note ?? '',
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...lines.map((l) => (l[c] ?? '').length)));
  const row = (cells: string[]) => cells.map((x, c) => (c === 0 || c === cells.length - 1 ? x.padEnd(widths[c] ?? 0) : x.padStart(widths[c] ?? 0))).join('  ');
  console.log(row(header));
  for (const l of lines) console.log(row(l));
}
