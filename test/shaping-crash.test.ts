// A worker killed with SIGKILL while it holds a destination's only connection slot does
// not block the destination for good: the slot's lease lapses (six heartbeats), another
// worker takes it, and every message is delivered once in the log.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { setOverride } from "../src/delivery/policy-store.ts";
import { startDns, type TestDns } from "./helpers/dns-server.ts";
import { type Running, stopHikyaku } from "./helpers/hikyaku-process.ts";
import { deferred, eventually, startTestService, type TestService } from "./helpers/service.ts";
import { eventsOf, startWorkers } from "./helpers/shaping.ts";
import { freePort, type Sink, startSink } from "./helpers/sink.ts";

let hk: TestService;
let dns: TestDns;
let sink: Sink;
let port: number;
const workers: Running[] = [];
const hold = deferred();

before(async () => {
  port = await freePort("127.0.0.2");
  sink = await startSink({ host: "127.0.0.2", port, starttls: false, holdData: hold.promise });
  dns = await startDns({ "crash.test": { MX: [{ exchange: "mx.crash.test", priority: 10 }] }, "mx.crash.test": { A: ["127.0.0.2"] } });
  hk = await startTestService({ HIKYAKU_ROLES: "api" });
  await setOverride(hk.service.db, "crash.test", { max_connections: 1 });
});

after(async () => {
  hold.resolve();
  await Promise.all(workers.map((w) => stopHikyaku(w)));
  await hk?.stop();
  await sink?.close();
  await dns?.close();
});

const env = () => ({ HIKYAKU_DNS_SERVERS: dns.address, HIKYAKU_MX_PORT: String(port), HIKYAKU_SMTP_TIMEOUT: "30" });

test("a killed worker's connection slot lapses; another worker delivers everything", async () => {
  const db = hk.service.db;
  workers.push(...(await startWorkers(db, hk.service.databaseUrl, 1, env())));
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) {
    const r = await hk.api("POST", "/v1/messages", { from: "a@shop.test", to: `c${i}@crash.test`, subject: `crash ${i}`, text: "x" });
    assert.equal(r.status, 202);
    ids.push(r.body.id);
  }
  // The first worker holds the only slot, its connection stuck in DATA.
  const [lease] = await eventually(async () => {
    const rows = await db.sql<{ holder: string }[]>`select holder from destination_connections where key = 'crash.test' and expires_at > now()`;
    return rows.length > 0 && sink.openConnections === 1 ? rows : undefined;
  }, "the first worker holding the slot");
  const first = workers[0] as Running;
  first.child.kill("SIGKILL");
  await first.exited;
  hold.resolve();

  workers.push(...(await startWorkers(db, hk.service.databaseUrl, 1, env())));
  const evs = await eventually(
    async () => {
      const got = await eventsOf(db, ids);
      return got.filter((e) => e.event === "delivered").length === ids.length ? got : undefined;
    },
    "every message delivered by the second worker",
    60_000,
  );
  for (const id of ids) assert.equal(evs.filter((e) => e.messageId === id && e.event === "delivered").length, 1, `one delivery of ${id}`);
  assert.equal(sink.peakConnections, 1, "never more than the one connection the policy allows");
  const [left] = await db.sql<{ n: number }[]>`
    select count(*)::int as n from destination_connections where holder = ${lease?.holder ?? ""} and expires_at > now()`;
  assert.equal(left?.n, 0, "the killed worker holds no live slot");
});
