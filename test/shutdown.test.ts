// SIGTERM while the database is unreachable: the process still exits by itself, within
// HIKYAKU_SHUTDOWN_SECONDS, with a code that says it was not clean; the delivery it was in
// the middle of is not lost but stays locked under its last heartbeat, and the next start
// unlocks and delivers it. Real processes; the database goes away as a network failure
// (a relay in front of the test PostgreSQL drops every connection and refuses new ones).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { createAccount } from "../src/accounts/accounts.ts";
import { connect } from "../src/db/client.ts";
import { apiCall, type Running, spawnHikyaku, stopHikyaku } from "./helpers/hikyaku-process.ts";
import { deferred, eventually, testDatabase } from "./helpers/service.ts";
import { freePort, type Sink, startSink } from "./helpers/sink.ts";
import { startProxy, type TcpProxy } from "./helpers/tcp-proxy.ts";

const message = { from: "city@town.test", to: "resident@example.test", subject: "Evacuate", text: "Now" };

let base: string;
const sinks: Sink[] = [];
const running: Running[] = [];
const proxies: TcpProxy[] = [];
const databases: { drop(): Promise<void> }[] = [];

before(() => {
  base = mkdtempSync(path.join(os.tmpdir(), "hikyaku-shutdown-"));
});

after(async () => {
  for (const r of running) await stopHikyaku(r, "SIGKILL");
  for (const p of proxies) await p.close();
  for (const s of sinks) await s.close();
  for (const d of databases) await d.drop();
  rmSync(base, { recursive: true, force: true });
});

describe("SIGTERM while the database is gone", { concurrency: 1 }, () => {
  test("exits by itself within HIKYAKU_SHUTDOWN_SECONDS with code 1; the next start delivers the message that was in flight", async () => {
    const database = await testDatabase();
    databases.push(database);
    const real = new URL(database.url);
    const proxy = await startProxy({ host: real.hostname, port: Number(real.port) });
    proxies.push(proxy);
    const through = new URL(database.url);
    through.port = String(proxy.port);
    const direct = connect(database.url, { max: 1 });
    const key = (await createAccount(direct, "City")).key.key;
    await direct.close();
    const hold = deferred();
    const stuck = await startSink({ starttls: false, holdData: hold.promise });
    const fresh = await startSink({ starttls: false });
    sinks.push(stuck, fresh);
    const httpPort = String(await freePort());
    const env = (sinkPort: number) => ({
      DATABASE_URL: through.toString(),
      HIKYAKU_DATA_DIR: path.join(base, "db-service"),
      HIKYAKU_HTTP_PORT: httpPort,
      HIKYAKU_ROLES: "api,worker",
      HIKYAKU_ROUTES: `*=127.0.0.1:${sinkPort}`,
      HIKYAKU_HOSTNAME: "hikyaku.test",
      HIKYAKU_HEARTBEAT_SECONDS: "1",
    });
    const first = spawnHikyaku(["start"], env(stuck.port));
    running.push(first);
    const url = (await first.waitFor(/API on (http:\/\/\S+?) /, 60_000))[1] as string;
    const sent = await apiCall(url, key, "POST", "/v1/messages", message);
    assert.equal(sent.status, 202);
    await eventually(async () => stuck.connections > 0, "the delivery to start", 30_000);
    await new Promise((r) => setTimeout(r, 500)); // into DATA, whose answer the sink holds

    await proxy.cut(); // the database goes away under the running service
    await new Promise((r) => setTimeout(r, 2000));
    assert.equal(first.child.exitCode, null, `the service outlives its database\n${first.err().slice(-2000)}`);
    const signalled = Date.now();
    const code = await stopHikyaku(first, "SIGTERM", 60_000);
    const seconds = (Date.now() - signalled) / 1000;
    console.log(`# SIGTERM with the database gone: exit code ${code} after ${seconds.toFixed(1)} s`);
    assert.equal(code, 1, `exits by itself, saying it was not clean (not killed: -1)\n${first.err().slice(-3000)}`);
    assert.match(first.err(), /"msg":"shutting down"/);
    assert.match(first.err(), /did not finish in time|did not stop cleanly/, "the log says why the exit code is 1");

    // The database is back: a new start unlocks the dead worker's job after missed heartbeats and delivers.
    await proxy.restore();
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
