// Per-account API request budgets shared by every API process (F18). A fixed window per
// account lives in PostgreSQL; each process leases a slice of it at a time (1% of the
// limit, at least one request), so most requests cost no query, and the window's total
// never exceeds the limit. The price: a process may refuse while another still holds
// unused requests of its slice, so at most (processes × slice) requests of a window go
// unused.
import { nowMs } from "../clock.ts";
import type { Db } from "../db/client.ts";

export interface Verdict {
  allowed: boolean;
  limit: number;
  /** Requests left in this window, as far as this process knows. */
  remaining: number;
  /** Seconds until the window ends. */
  resetSeconds: number;
}

interface Lease {
  window: number;
  /** Requests leased by this process and not yet used. */
  left: number;
  /** The window's total in the database at the last lease (every process's leases); at the limit, nothing more can be leased. */
  used: number;
  /** A lease under way: concurrent requests wait for it rather than take a slice each. */
  leasing: Promise<void> | null;
}

export class RateLimiter {
  private readonly leases = new Map<string, Lease>();

  constructor(
    private readonly db: Db,
    private readonly windowSeconds: number,
  ) {}

  /** Counts one request of `accountId` against `limit` per window. */
  async take(accountId: string, limit: number): Promise<Verdict> {
    for (;;) {
      const t = nowMs() / 1000;
      const window = Math.floor(t / this.windowSeconds);
      const resetSeconds = Math.max(1, Math.ceil((window + 1) * this.windowSeconds - t));
      const lease = this.current(accountId, window);
      if (lease.left > 0) {
        lease.left--;
        return { allowed: true, limit, remaining: Math.max(0, limit - lease.used) + lease.left, resetSeconds };
      }
      if (lease.used >= limit) return { allowed: false, limit, remaining: 0, resetSeconds };
      lease.leasing ??= this.lease(accountId, lease, limit).finally(() => {
        lease.leasing = null;
      });
      await lease.leasing;
    }
  }

  private current(accountId: string, window: number): Lease {
    let lease = this.leases.get(accountId);
    if (!lease || lease.window !== window) {
      if (this.leases.size > 100_000) this.leases.clear();
      lease = { window, left: 0, used: 0, leasing: null };
      this.leases.set(accountId, lease);
    }
    return lease;
  }

  /** One statement: add a slice to the window's total (dropping the account's older windows) and keep what fits under the limit. */
  private async lease(accountId: string, lease: Lease, limit: number): Promise<void> {
    const slice = Math.min(1000, Math.max(1, Math.floor(limit / 100)));
    const [row] = await this.db.sql<{ used: number }[]>`
      with old as (delete from api_rate_windows where account_id = ${accountId} and "window" < ${lease.window})
      insert into api_rate_windows (account_id, "window", used) values (${accountId}, ${lease.window}, ${slice})
      on conflict (account_id, "window") do update set used = api_rate_windows.used + excluded.used
      returning used`;
    const used = row?.used ?? limit + slice;
    const granted = Math.min(slice, Math.max(0, limit - (used - slice)));
    lease.left += granted;
    lease.used = Math.max(lease.used, used);
  }
}
