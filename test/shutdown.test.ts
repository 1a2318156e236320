// SIGTERM while the database is unreachable: the process still exits by itself, within
// HIKYAKU_SHUTDOWN_SECONDS, with a code that says it was not clean; the delivery it was in
// the middle of is not lost but stays locked under its last heartbeat, and the next start
// unlocks and delivers it. Real processes, a real PostgreSQL stopped under them.
import assert from "node:assert/strict";
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { type EmbeddedDb, startEmbedded } from "../src/db/embedded.ts";
import { apiCall, type Running, runHikyaku, spawnHikyaku, stopHikyaku, stopPostmastersUnder } from "./helpers/hikyaku-process.ts";
import { deferred, eventually } from "./helpers/service.ts";
import { freePort, type Sink, startSink } from "./helpers/sink.ts";

const message = { from: "city@town.test", to: "resident@example.test", subject: "Evacuate", text: "Now" };

let base: string;
const sinks: Sink[] = [];
const running: Running[] = [];
const clusters: EmbeddedDb[] = [];

before(() => {
  base = mkdtempSync(path.join(os.tmpdir(), "hikyaku-shutdown-"));
  chmodSync(base, 0o755); // the embedded server runs as the postgres account when root
});

after(async () => {
  for (const r of running) await stopHikyaku(r, "SIGKILL");
  for (const c of clusters) await c.stop().catch(() => {});
  for (const s of sinks) await s.close();
  await stopPostmastersUnder(base);
  rmSync(base, { recursive: true, force: true });
});

describe("SIGTERM while the database is gone", { concurrency: 1 }, () => {
  test("exits by itself within HIKYAKU_SHUTDOWN_SECONDS with code 1; the next start delivers the message that was in flight", async () => {
    const dbDir = path.join(base, "db");
    mkdirSync(dbDir, { mode: 0o755 });
    const pgPort = await freePort();
    let db = await startEmbedded(dbDir, pgPort, "hikyaku", { systemDir: path.join(base, "system") });
    clusters.push(db);
    const hold = deferred();
    const stuck = await startSink({ starttls: false, holdData: hold.promise });
    const fresh = await startSink({ starttls: false });
    sinks.push(stuck, fresh);
    const httpPort = String(await freePort());
    const env = (sinkPort: number) => ({
      DATABASE_URL: db.url,
      HIKYAKU_DATA_DIR: path.join(base, "db-service"),
      HIKYAKU_HTTP_PORT: httpPort,
      HIKYAKU_ROLES: "api,worker",
      HIKYAKU_ROUTES: `*=127.0.0.1:${sinkPort}`,
      HIKYAKU_HOSTNAME: "hikyaku.test",
      HIKYAKU_HEARTBEAT_SECONDS: "1",
    });
    const created = await runHikyaku(["accounts", "create", "--name", "City"], env(stuck.port));
    assert.equal(created.code, 0, created.err);
    const key = JSON.parse(created.out).api_key as string;

    const first = spawnHikyaku(["start"], env(stuck.port));
    running.push(first);
    const url = (await first.waitFor(/API on (http:\/\/\S+?) /, 60_000))[1] as string;
    const sent = await apiCall(url, key, "POST", "/v1/messages", message);
    assert.equal(sent.status, 202);
    await eventually(async () => stuck.connections > 0, "the delivery to start", 30_000);
    await new Promise((r) => setTimeout(r, 500)); // into DATA, whose answer the sink holds

    await db.stop(); // the database goes away under the running service
    const signalled = Date.now();
    const code = await stopHikyaku(first, "SIGTERM", 60_000);
    const seconds = (Date.now() - signalled) / 1000;
    console.log(`# SIGTERM with the database gone: exit code ${code} after ${seconds.toFixed(1)} s`);
    assert.equal(code, 1, `exits by itself, saying it was not clean (not killed: -1)\n${first.err().slice(-3000)}`);
    assert.match(first.err(), /did not finish in time|did not stop cleanly/);

    // The database is back: a new start unlocks the dead worker's job after missed heartbeats and delivers.
    db = await startEmbedded(dbDir, pgPort, "hikyaku", { systemDir: path.join(base, "system") });
    clusters.push(db);
    const second = spawnHikyaku(["start"], env(fresh.port));
    running.push(second);
    await second.waitFor(/API on http:\/\/\S+ /, 60_000);
    const [delivered] = await fresh.waitFor(1, 60_000);
    assert.ok(delivered?.raw.includes(sent.body.message_id), "the message that was in flight");
    await eventually(
      async () => (await apiCall(url, key, "GET", `/v1/messages/${sent.body.id}`)).body.recipients?.[0]?.state === "delivered",
      "the recipient to be delivered",
      30_000,
    );
    assert.equal(await stopHikyaku(second), 0, second.err().slice(-3000));
    hold.resolve();
  });
});
