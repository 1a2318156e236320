// The database connection after PostgreSQL went away and came back, as a process meets
// it during a crash-restart: the real test PostgreSQL behind a loopback TCP proxy that
// drops every connection and refuses new ones for a second (as a killed server does),
// while requests keep arriving. postgres.js's own reconnect backoff grows with every
// failed attempt of any of the pool's connections, to 10-20 s within a second's outage
// under traffic; a request then waited that long for its refusal, or after the server
// was back for its answer (a PostgreSQL restart held the API for 7-13 s). And a server
// that accepts connections without answering them (stalled) must cost a statement the
// connect timeout, not the driver's 30 s.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { CONNECT_TIMEOUT_S, connect, type Db } from "../src/db/client.ts";
import { isDatabaseDown } from "../src/db/driver-faults.ts";
import { testDatabase } from "./helpers/service.ts";
import { startProxy, type TcpProxy } from "./helpers/tcp-proxy.ts";

let database: { url: string; drop(): Promise<void> };
let proxy: TcpProxy;
let db: Db;

before(async () => {
  database = await testDatabase();
  const target = new URL(database.url);
  proxy = await startProxy({ host: target.hostname, port: Number(target.port) });
  const viaProxy = new URL(database.url);
  viaProxy.port = String(proxy.port);
  db = connect(viaProxy.toString());
});

after(async () => {
  await db?.close();
  await proxy?.close();
  await database?.drop();
});

test("while PostgreSQL is away each statement fails at once, and once it is back the next one runs at once", async () => {
  // Every connection of the pool open, as under load.
  await Promise.all(Array.from({ length: 20 }, () => db.sql`select pg_sleep(0.05)`));

  await proxy.cut();
  // A second of requests, twenty at a time, every 50 ms: each must be refused, and soon
  // (the API answers 503 and the client retries), not held while the pool waits to
  // reconnect: with the driver's default, the third round here waited 19 s.
  const failures = new Set<string>();
  let slowest = 0;
  const until = Date.now() + 1000;
  for (let round = 0; round < 40 && Date.now() < until; round++) {
    const started = performance.now();
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => db.sql`select 1`));
    slowest = Math.max(slowest, performance.now() - started);
    for (const r of results) {
      assert.equal(r.status, "rejected", "nothing answers while the server is down");
      if (r.status === "rejected") {
        assert.ok(isDatabaseDown(r.reason), `a refusal that reads as the database being down: ${r.reason?.code} ${r.reason?.message}`);
        failures.add(String(r.reason?.code));
      }
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  // The pool waits at most half a second before it connects again (reconnectDelay). 3 s
  // leaves room for a loaded machine; the driver's default waits 10-20 s by then.
  assert.ok(slowest < 3000, `a round of statements took ${Math.round(slowest)} ms to be refused (${[...failures].join(", ")})`);

  await proxy.restore();
  const started = performance.now();
  const [row] = await db.sql<{ ok: number }[]>`select 1 as ok`;
  const waited = performance.now() - started;
  assert.equal(row?.ok, 1);
  assert.ok(waited < 3000, `the first statement after the server came back waited ${Math.round(waited)} ms`);
});

test("a server that accepts connections and never answers costs a statement the connect timeout, not the driver's 30 s", async () => {
  await Promise.all(Array.from({ length: 5 }, () => db.sql`select 1`));
  proxy.stall();
  // The pool's connections have seen their close: the statement needs a new one.
  await new Promise((r) => setTimeout(r, 300));
  const started = performance.now();
  const result = await Promise.allSettled([db.sql`select 1`]);
  const waited = performance.now() - started;
  await proxy.restore();
  const [r] = result;
  assert.equal(r?.status, "rejected", "nothing answers while the server hangs");
  if (r?.status === "rejected") assert.ok(isDatabaseDown(r.reason), `a refusal that reads as the database being down: ${r.reason?.code} ${r.reason?.message}`);
  // CONNECT_TIMEOUT_S (5 s), with room for a loaded machine; the driver's default held it 30 s.
  assert.ok(waited < (CONNECT_TIMEOUT_S + 3) * 1000, `the statement waited ${Math.round(waited)} ms for its refusal`);
  const [row] = await db.sql<{ ok: number }[]>`select 1 as ok`;
  assert.equal(row?.ok, 1);
});
