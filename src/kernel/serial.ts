/**
 * {@link KeyedSerial}: runs asynchronous work one at a time per key, in arrival order, within
 * one process.
 */

/**
 * Runs work one at a time per key: work for a key starts when the work queued before it for the
 * same key has settled (fulfilled or rejected); work for other keys runs independently. Keys
 * with nothing queued hold no memory.
 *
 * Used where concurrent read-modify-writes of one resource would otherwise race and be re-run
 * (SCIM PUT/PATCH of one group from a burst of membership changes): queued, each applies once.
 * It orders work in this process only; other processes still meet at the database.
 */
export class KeyedSerial {
  private readonly tails = new Map<string, Promise<void>>();

  /**
   * Runs `work` after the work queued before it under `key`.
   * @returns what `work` returns; rejects with what it throws (the next work still runs).
   */
  run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key);
    const result = prev === undefined ? work() : prev.then(work);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }

  /** Number of keys with work queued or running. */
  get size(): number {
    return this.tails.size;
  }
}
