// The operator's destination policies, read from destination_policies and kept in
// memory, so that finding a domain's policy on the delivery path costs no query. Every
// process re-reads the table when it changes (a one-row probe each second), so a PUT
// is in force everywhere within about a second.
import type { Db, Sql, Tx } from "../db/client.ts";
import { type PollLoop, startPollLoop } from "../util/poll-loop.ts";
import { type Overrides, type OverrideSettings, type ResolvedPolicy, resolvePolicy } from "./destination-policy.ts";

export type { OverrideSettings };

export class PolicyStore {
  private overrides: Overrides = new Map();
  private fingerprint = "";
  private loop: PollLoop | undefined;

  private constructor(private readonly db: Db) {}

  /** Reads the table once, then follows its changes until stop(). */
  static async start(db: Db, pollMs = 1000): Promise<PolicyStore> {
    const store = new PolicyStore(db);
    await store.refresh();
    store.loop = startPollLoop(
      "destination policies",
      async () => {
        await store.refresh();
        return false;
      },
      pollMs,
    );
    return store;
  }

  async stop(): Promise<void> {
    await this.loop?.stop();
  }

  /** The policy and budget key for mail to `domain` through `mxHosts`. */
  resolve(domain: string, mxHosts: string[]): ResolvedPolicy {
    return resolvePolicy(domain, mxHosts, this.overrides);
  }

  current(): Overrides {
    return this.overrides;
  }

  /** Re-reads the overrides if the table changed since the last read. */
  async refresh(): Promise<void> {
    const [probe] = await this.db.sql<{ f: string }[]>`
      select count(*)::text || '/' || coalesce(max(updated_at)::text, '') || '/' || coalesce(sum(hashtext(domain || settings::text)), 0)::text as f
      from destination_policies`;
    if (probe?.f === this.fingerprint) return;
    this.overrides = await readOverrides(this.db);
    this.fingerprint = probe?.f ?? "";
  }
}

export async function readOverrides(db: Db): Promise<Overrides> {
  return readFrom(db.sql);
}

async function readFrom(sql: Sql | Tx): Promise<Overrides> {
  const rows = await sql<{ domain: string; settings: OverrideSettings }[]>`select domain, settings from destination_policies`;
  return new Map(rows.map((r) => [r.domain, r.settings]));
}

/** Sets (replaces) the operator's settings for `domain` (a recipient domain, or `*`), unchecked: for seeding (tests, the bench). */
export async function setOverride(db: Db, domain: string, settings: OverrideSettings): Promise<void> {
  await writeTo(db.sql, domain, settings);
}

async function writeTo(sql: Sql | Tx, domain: string, settings: OverrideSettings): Promise<void> {
  await sql`
    insert into destination_policies (domain, settings, updated_at) values (${domain}, ${sql.json(settings as never)}, clock_timestamp())
    on conflict (domain) do update set settings = excluded.settings, updated_at = excluded.updated_at`;
}

/**
 * Sets `domain`'s settings to what `decide` makes of the overrides stored now (null:
 * removes them), one change at a time (a transaction lock): a check against the other
 * policies (an MX suffix belongs to one) cannot pass for two changes at once. `decide`
 * may throw; then nothing is written.
 */
export async function changeOverride(db: Db, domain: string, decide: (current: Overrides) => OverrideSettings | null): Promise<void> {
  await db.sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(hashtextextended('destination-policies', 0))`;
    const next = decide(await readFrom(tx));
    if (next === null) await tx`delete from destination_policies where domain = ${domain}`;
    else await writeTo(tx, domain, next);
  });
}
