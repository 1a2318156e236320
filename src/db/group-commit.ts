// Group commit for statements that can carry many items. Every statement costs a round
// trip, a commit and its WAL flush whatever it carries, and on small shared machines each
// socket write and wake-up is dear. So while `maxInFlight` statements run, the items that
// arrive meanwhile wait and go together in the next one; a lone item goes at once, with
// no timer, so a quiet service adds no latency. The caller's write must be one statement:
// a batch that fails has written nothing, and is split in halves and tried again until the
// item that fails is alone, so one bad item cannot fail the others.
export interface GroupCommitOptions<I> {
  /** Statements running at once (default 2). */
  maxInFlight?: number;
  /** The size an item adds to a batch (default 1). */
  weight?: (item: I) => number;
  /** A batch stops growing at this total weight; a heavier item still goes, alone. */
  maxWeight: number;
  /**
   * While busy (the statement before carried more than one item, and ended less than ten
   * lingers ago), a batch of fewer than `lingerItems` waits up to this many ms for more
   * before it goes. A lone item on a quiet service still goes at once. Unset: never waits.
   */
  lingerMs?: number;
  lingerItems?: number;
}

interface Waiting<I, O> {
  item: I;
  resolve: (out: O) => void;
  reject: (err: unknown) => void;
}

export class GroupCommit<I, O> {
  private queue: Waiting<I, O>[] = [];
  private inFlight = 0;
  private lastBatch = 0;
  private lastEnded = 0;
  private linger: NodeJS.Timeout | undefined;

  /** `write` must answer one result per item, in order. */
  constructor(
    private readonly write: (items: I[]) => Promise<O[]>,
    private readonly opts: GroupCommitOptions<I>,
  ) {}

  add(item: I): Promise<O> {
    return new Promise((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.pump();
    });
  }

  /** Busy: the last statement carried several items and is running, or ended within ten lingers. */
  private busy(lingerMs: number): boolean {
    return this.lastBatch > 1 && (this.inFlight > 0 || performance.now() - this.lastEnded < 10 * lingerMs);
  }

  private pump(lingered = false): void {
    const weight = this.opts.weight ?? (() => 1);
    const { lingerMs, lingerItems = 16 } = this.opts;
    while (this.inFlight < (this.opts.maxInFlight ?? 2) && this.queue.length > 0) {
      if (lingerMs && !lingered && this.queue.length < lingerItems && this.busy(lingerMs)) {
        this.linger ??= setTimeout(() => {
          this.linger = undefined;
          this.pump(true);
        }, lingerMs);
        return;
      }
      clearTimeout(this.linger);
      this.linger = undefined;
      lingered = false;
      let total = 0;
      let n = 0;
      for (const w of this.queue) {
        const next = weight(w.item);
        if (n > 0 && total + next > this.opts.maxWeight) break;
        total += next;
        n++;
      }
      const batch = this.queue.splice(0, n);
      this.lastBatch = n;
      this.inFlight++;
      void this.run(batch).finally(() => {
        this.inFlight--;
        this.lastEnded = performance.now();
        this.pump();
      });
    }
  }

  private async run(batch: Waiting<I, O>[]): Promise<void> {
    try {
      const out = await this.write(batch.map((w) => w.item));
      for (const [i, w] of batch.entries()) w.resolve(out[i] as O);
    } catch (err) {
      if (batch.length === 1) return batch[0]?.reject(err);
      const half = Math.ceil(batch.length / 2);
      await Promise.all([this.run(batch.slice(0, half)), this.run(batch.slice(half))]);
    }
  }
}

/**
 * One GroupCommit per database client (a service in tests may run beside another):
 * `groupFor(client)` makes it on first use, and `write` is handed that client.
 */
export function groupCommitPer<K extends object, I, O>(
  write: (client: K, items: I[]) => Promise<O[]>,
  opts: GroupCommitOptions<I>,
): (client: K) => GroupCommit<I, O> {
  const groups = new WeakMap<K, GroupCommit<I, O>>();
  return (client) => {
    let group = groups.get(client);
    if (!group) {
      group = new GroupCommit((items: I[]) => write(client, items), opts);
      groups.set(client, group);
    }
    return group;
  };
}
