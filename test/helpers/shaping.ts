// For the destination shaping tests: real `hikyaku start` worker processes on a test's
// database, and the log events of a set of messages read straight from the table.
import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { components } from "../../sdk/src/schema.ts";
import type { Db } from "../../src/db/client.ts";
import { type OverrideSettings, setOverride } from "../../src/delivery/policy-store.ts";
import { type Running, spawnWorker, stopHikyaku } from "./hikyaku-process.ts";
import { eventually, startTestService, type TestService } from "./service.ts";
import { freePort } from "./sink.ts";

/** The secret of the worker processes: an API beside them must have it too (DKIM keys are stored under it). */
export const WORKER_SECRET = "shaping-test-secret-0123456789abcdef";

/** Starts `count` worker processes (HIKYAKU_ROLES=worker) and waits until each one's job runner beats. */
export async function startWorkers(db: Db, databaseUrl: string, count: number, env: Record<string, string>): Promise<Running[]> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "hikyaku-shaping-"));
  // Counted by pool id, not by rows: a killed worker's row may be removed meanwhile.
  const before = new Set((await db.sql<{ poolId: string }[]>`select pool_id as "poolId" from worker_heartbeats`).map((r) => r.poolId));
  const workers = Array.from({ length: count }, () =>
    spawnWorker(databaseUrl, {
      HIKYAKU_DATA_DIR: dataDir,
      HIKYAKU_SECRET_KEY: WORKER_SECRET,
      HIKYAKU_RETRY_INTERVAL: "1",
      HIKYAKU_SMTP_TIMEOUT: "10",
      ...env,
    }),
  );
  try {
    await eventually(
      async () => {
        for (const w of workers) if (w.child.exitCode !== null) throw new Error(`a worker exited: ${w.err().slice(-2000)}`);
        const rows = await db.sql<{ poolId: string }[]>`select pool_id as "poolId" from worker_heartbeats`;
        return rows.filter((r) => !before.has(r.poolId)).length >= count;
      },
      `${count} worker processes beating`,
      60_000,
    );
  } catch (err) {
    // The ones that did start would keep the test's process alive.
    await Promise.all(workers.map((w) => stopHikyaku(w)));
    throw err;
  }
  return workers;
}

/** A live state as the admin API answers it: the OpenAPI document's type, as the SDK has it. */
export type ApiLiveState = components["schemas"]["DestinationLiveState"];

/**
 * The live state of the budget mail to `domain` (through MX hosts `mx`) counts against,
 * read through the operator's API as an operator would; undefined while it has none.
 */
export async function liveStateOf(hk: TestService, domain: string, mx: string[] = []): Promise<ApiLiveState | undefined> {
  const query = mx.length ? `?mx=${encodeURIComponent(mx.join(","))}` : "";
  const r = await hk.api("GET", `/v1/admin/destination-policies/${domain}${query}`, undefined, { authorization: `Bearer ${hk.config.HIKYAKU_ADMIN_TOKEN}` });
  if (r.status !== 200) throw new Error(`GET destination policy of ${domain}: ${r.status} ${JSON.stringify(r.body)}`);
  return (r.body.policy.live as ApiLiveState[]).find((s) => s.key === r.body.key);
}

export interface LoggedEvent {
  messageId: string;
  recipient: string;
  event: string;
  attempt: number;
  code: number;
  response: string;
  serviceCode: string | null;
  createdAt: Date;
}

/** Every log event of these messages, oldest first. */
export async function eventsOf(db: Db, messageIds: string[]): Promise<LoggedEvent[]> {
  const rows = await db.sql<Omit<LoggedEvent, "serviceCode">[]>`
    select message_id as "messageId", recipient, event, attempt, code, response, created_at as "createdAt"
    from delivery_events where message_id = any(${messageIds}::uuid[]) order by id`;
  return rows.map((r) => ({ ...r, serviceCode: /\(hikyaku: ([a-z_]+)\)$/.exec(r.response)?.[1] ?? null }));
}

/** The most arrivals in any window of `windowMs` (arrival times in ms). */
export function mostInWindow(times: number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let most = 0;
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while ((sorted[i] as number) - (sorted[j] as number) >= windowMs) j++;
    most = Math.max(most, i - j + 1);
  }
  return most;
}

/**
 * A Hikyaku whose worker starts only after the test's destination policies are stored,
 * so that the first message already finds them: the API (and the database) of
 * startTestService, then a real `hikyaku start` worker process on the same database
 * (with the test's environment), which serves its own /metrics on `metricsUrl`.
 */
export async function startWithPolicies(
  env: Record<string, string>,
  policies: Record<string, OverrideSettings>,
): Promise<{ hk: TestService; metricsUrl: string; stop(): Promise<void> }> {
  const hk = await startTestService({ HIKYAKU_SECRET_KEY: WORKER_SECRET, ...env, HIKYAKU_ROLES: "api" });
  try {
    for (const [domain, settings] of Object.entries(policies)) await setOverride(hk.service.db, domain, settings);
    const metricsPort = await freePort();
    const workers = await startWorkers(hk.service.db, hk.config.DATABASE_URL as string, 1, {
      HIKYAKU_SMTP_TIMEOUT: "5",
      HIKYAKU_METRICS_PORT: String(metricsPort),
      ...(hk.config.HIKYAKU_METRICS_TOKEN ? {} : { HIKYAKU_METRICS_TOKEN: "shaping-worker-metrics-token" }),
      ...env,
    });
    return {
      hk,
      metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
      async stop() {
        for (const w of workers) await stopHikyaku(w);
        await hk.stop();
      },
    };
  } catch (err) {
    await hk.stop();
    throw err;
  }
}
