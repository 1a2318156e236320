// Connection slots shared by every worker process (max_connections, counted at the
// destination): a process leases one of a budget's slots in destination_connections
// before it opens a connection, and frees it when the connection closes. Leases are
// renewed while held and lapse on their own after a crashed process's TTL. A reused
// connection costs no query.
import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import { nowMs } from "../clock.ts";
import type { Db } from "../db/client.ts";
import { log } from "../logger.ts";
import type { SlotLeaser, SlotRequest } from "./connection-pool.ts";

export class ConnectionSlots implements SlotLeaser {
  /** This process, as the holder of its leases. */
  readonly holder = `${hostname()}:${process.pid}:${randomBytes(4).toString("hex")}`;
  private held = 0;

  constructor(
    private readonly db: Db,
    /** A lease not renewed for this long is free again (a crashed process's). */
    private readonly ttlMs: number,
  ) {}

  async acquire(key: string, max: number): Promise<number | undefined> {
    // Two processes may pick the same free slot at once; the loser looks again. One
    // statement per try: the lease, or (every slot held) the count and the wish for one
    // that the holders read at their renewal.
    for (let i = 0; i < 3; i++) {
      const at = new Date(nowMs());
      const [row] = await this.db.sql<{ slot: number | null; held: number }[]>`
        with free as (
          select s from generate_series(1, ${max}::int) s
          where not exists (select 1 from destination_connections c where c.key = ${key} and c.slot = s and c.expires_at > ${at})
          order by random() limit 1
        ),
        leased as (
          insert into destination_connections (key, slot, holder, expires_at)
          select ${key}, s, ${this.holder}, ${new Date(at.getTime() + this.ttlMs)} from free
          on conflict (key, slot) do update set holder = excluded.holder, expires_at = excluded.expires_at
            where destination_connections.expires_at <= ${at}
          returning slot
        ),
        held as (
          select count(*)::int as n from destination_connections where key = ${key} and slot <= ${max}::int and expires_at > ${at}
        ),
        wanted as (
          insert into destination_state (key, connections_wanted_at, connections_wanted_by, updated_at)
          select ${key}, ${at}, ${this.holder}, ${at}
          where not exists (select 1 from leased) and (select n from held) >= ${max}::int
          on conflict (key) do update set connections_wanted_at = excluded.connections_wanted_at, connections_wanted_by = excluded.connections_wanted_by
        )
        select (select slot from leased) as slot, (select n from held) as held`;
      if (row?.slot != null) {
        this.held++;
        return row.slot;
      }
      if ((row?.held ?? 0) >= max) return undefined;
    }
    return undefined;
  }

  release(key: string, slot: number): void {
    this.held--;
    this.db.sql`delete from destination_connections where key = ${key} and slot = ${slot} and holder = ${this.holder}`.catch((err) =>
      log.warn("could not free a connection slot; it lapses on its own", { key, err: err as Error }),
    );
  }

  /**
   * Keeps this process's leases alive; returns the budgets of theirs that another process
   * found full within `wantedMs`, each with how many processes share it (the holders of
   * its live leases, and the one that asked) and whether the asker holds any yet.
   */
  async renew(wantedMs: number): Promise<SlotRequest[]> {
    if (this.held <= 0) return [];
    const at = new Date(nowMs());
    const rows = await this.db.sql<SlotRequest[]>`
      with renewed as (
        update destination_connections set expires_at = ${new Date(at.getTime() + this.ttlMs)} where holder = ${this.holder} returning key
      ),
      asked as (
        select distinct r.key, s.connections_wanted_by as asker from renewed r join destination_state s on s.key = r.key
        where s.connections_wanted_at > ${new Date(at.getTime() - wantedMs)} and s.connections_wanted_by <> ${this.holder}
      )
      select a.key, h.holders + (case when h.asker_holds then 0 else 1 end) as processes, h.asker_holds as "askerHolds"
      from asked a, lateral (
        select count(distinct c.holder)::int as holders, coalesce(bool_or(c.holder = a.asker), false) as asker_holds
        from destination_connections c where c.key = a.key and c.expires_at > ${at}
      ) h`;
    return rows.map((r) => ({ key: r.key, processes: Math.max(1, r.processes), askerHolds: r.askerHolds }));
  }

  /** At shutdown: every lease of this process, at once. */
  async releaseAll(): Promise<void> {
    await this.db.sql`delete from destination_connections where holder = ${this.holder}`;
    this.held = 0;
  }
}
