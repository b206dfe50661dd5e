/**
 * Pipelining of the client's auto-batched calls: per node address, how many are outstanding
 * and which single-key calls wait for one of them to be answered. Plain state, no timers, no
 * I/O; the client (client.ts) makes the calls.
 *
 * Contract:
 *  - The unit of admission is one event-loop turn's auto-batched calls for one address
 *    (`admit`). They go now (as the batches their grouping makes: any number of calls, each
 *    counted by `started`) when fewer than `max` calls to the address are outstanding and
 *    nothing waits for it; otherwise they join the address's waiting list, after what already
 *    waits (calls keep their order).
 *  - `answered(address)`: one outstanding call to the address is answered (success or
 *    failure). Everything waiting for the address is handed back at once, to go out now as
 *    batches (each again counted by `started`): a wait ends at the first answer, never later.
 *    So at most `max` calls are outstanding when a turn's calls wait, and a flush may add
 *    more than one call (one per kind, level, near-cache stream, or per 500 keys).
 *  - Below the limit nothing waits: at low load a call goes at the end of its turn as before.
 *    max = Infinity: nothing ever waits (the behaviour without pipelining).
 *  - Waiting implies at least `max` calls outstanding, so every waiting call goes out when
 *    one of them is answered; each is answered or fails within its deadline, so no call
 *    waits for ever. `drain()` (the client closes) hands back every waiting call and forgets
 *    the counts.
 *  - An address with nothing outstanding and nothing waiting holds no state.
 */
export class Pipeline<T> {
  private readonly nodes = new Map<string, { out: number; waiting: T[] }>();

  /** max: calls outstanding per address before a turn's calls wait (>= 1, or Infinity). */
  constructor(private readonly max: number) {}

  /** A turn's calls for address: true = send them now; false = they now wait (answered() hands them back). */
  admit(address: string, calls: readonly T[]): boolean {
    const n = this.nodes.get(address);
    if (n === undefined || (n.out < this.max && n.waiting.length === 0)) return true;
    for (const c of calls) n.waiting.push(c);
    return false;
  }

  /** One call to address was sent. */
  started(address: string): void {
    const n = this.nodes.get(address);
    if (n === undefined) this.nodes.set(address, { out: 1, waiting: [] });
    else n.out++;
  }

  /** One call to address was answered: the calls waiting for it, to send now (empty if none). */
  answered(address: string): T[] {
    const n = this.nodes.get(address);
    if (n === undefined) return [];
    n.out--;
    const waiting = n.waiting;
    if (waiting.length > 0) n.waiting = [];
    if (n.out <= 0 && n.waiting.length === 0) this.nodes.delete(address);
    return waiting;
  }

  /** Calls outstanding to address (diagnostics and tests). */
  outstanding(address: string): number {
    return this.nodes.get(address)?.out ?? 0;
  }

  /** Calls waiting for address. */
  waiting(address: string): number {
    return this.nodes.get(address)?.waiting.length ?? 0;
  }

  /** Every waiting call (the client is closing); counts are forgotten. */
  drain(): T[] {
    const all: T[] = [];
    for (const n of this.nodes.values()) for (const c of n.waiting) all.push(c);
    this.nodes.clear();
    return all;
  }
}
