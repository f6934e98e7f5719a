/**
 * The one injectable source of time. Tests pass a {@link FixedClock} to freeze time.
 */
export interface Clock {
  /** Current instant. */
  now(): Date;
}

/** The wall clock. */
export const systemClock: Clock = { now: () => new Date() };

/** A clock that only moves when told to; for tests. */
export class FixedClock implements Clock {
  private ms: number;
  constructor(start: Date | string | number = Date.UTC(2026, 0, 1)) {
    this.ms = new Date(start).getTime();
  }
  now(): Date {
    return new Date(this.ms);
  }
  /** Move forward by `seconds` seconds. */
  advanceSeconds(seconds: number): void {
    this.ms += seconds * 1000;
  }
  set(instant: Date | string | number): void {
    this.ms = new Date(instant).getTime();
  }
}

/** An instant as stored in the database: ISO 8601 UTC with milliseconds, e.g. `2026-01-01T00:00:00.000Z`. */
export function toStoredInstant(d: Date): string {
  return d.toISOString();
}

/** `seconds` from `from`, as a stored instant. */
export function instantAfterSeconds(from: Date, seconds: number): string {
  return new Date(from.getTime() + seconds * 1000).toISOString();
}

/**
 * Waits before a retry: `base` to `4 × base` milliseconds, chosen at random (jitter, so that
 * writers that collided do not collide again in step).
 *
 * @param baseMs - the shortest pause, in milliseconds.
 */
export function jitteredPause(baseMs: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, baseMs + Math.random() * 3 * baseMs));
}
