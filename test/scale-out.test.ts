// Several processes of every role on one database, as behind a load balancer: two API
// processes (this test's own and a `hikyaku start`), two smtp processes and two worker
// processes (`hikyaku start` each). Messages sent at once, alternately through both API
// processes and both SMTP processes, each arrive at the destination exactly once, with
// one reception event and one `delivered` event each.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import nodemailer from "nodemailer";
import { listening, type Running, spawnHikyaku, stopHikyaku } from "./helpers/hikyaku-process.ts";
import { eventually, startTestService, type TestService } from "./helpers/service.ts";
import { startWorkers, WORKER_SECRET } from "./helpers/shaping.ts";
import { freePort, type Sink, startSink } from "./helpers/sink.ts";

const EACH = 12;
let hk: TestService;
let sink: Sink;
const procs: Running[] = [];
let apiUrl: string;
const relayPorts: number[] = [];

before(async () => {
  sink = await startSink({ host: "127.0.0.2", port: await freePort("127.0.0.2"), starttls: false });
  const routes = `*=127.0.0.2:${sink.port}`;
  hk = await startTestService({ HIKYAKU_ROLES: "api", HIKYAKU_SECRET_KEY: WORKER_SECRET });
  const url = hk.config.DATABASE_URL as string;
  await hk.service.db.sql`insert into source_ips (ip, account_id) values ('127.0.0.1', ${hk.accountId})`;
  const common = {
    DATABASE_URL: url,
    HIKYAKU_SECRET_KEY: WORKER_SECRET,
    HIKYAKU_HOSTNAME: "hikyaku.test",
    HIKYAKU_LOG_LEVEL: "error",
    HIKYAKU_API_RATE_LIMIT: "100000000",
  };
  const apiPort = await freePort();
  apiUrl = `http://127.0.0.1:${apiPort}`;
  procs.push(spawnHikyaku(["start"], { ...common, HIKYAKU_ROLES: "api", HIKYAKU_HTTP_PORT: String(apiPort) }));
  for (let i = 0; i < 2; i++) {
    const port = await freePort();
    relayPorts.push(port);
    procs.push(
      spawnHikyaku(["start"], {
        ...common,
        HIKYAKU_ROLES: "smtp",
        HIKYAKU_SMTP_RELAY_PORT: String(port),
        HIKYAKU_SMTP_SUBMISSION_PORT: "0",
        HIKYAKU_SMTPS_PORT: "0",
      }),
    );
  }
  procs.push(...(await startWorkers(hk.service.db, url, 2, { HIKYAKU_ROUTES: routes })));
  await eventually(async () => (await fetch(`${apiUrl}/healthz`).catch(() => undefined))?.ok, "the second API process", 120_000);
  for (const port of relayPorts) await eventually(() => listening(port), `the smtp process on ${port}`, 120_000);
});

after(async () => {
  for (const p of procs) await stopHikyaku(p);
  await hk?.stop();
  await sink?.close();
});

async function viaApi(base: string, n: number): Promise<string> {
  const res = await fetch(`${base}/v1/messages`, {
    method: "POST",
    headers: { authorization: `Bearer ${hk.key}`, "content-type": "application/json" },
    body: JSON.stringify({ from: "shop@shop.test", to: `http${n}@dest.test`, subject: `http ${n}`, text: "hello" }),
  });
  const body = (await res.json()) as { id: string };
  assert.equal(res.status, 202, JSON.stringify(body));
  return body.id;
}

async function viaSmtp(port: number, n: number): Promise<string> {
  const transport = nodemailer.createTransport({ host: "127.0.0.1", port, secure: false, ignoreTLS: true });
  try {
    const info = await transport.sendMail({ from: "shop@shop.test", to: `smtp${n}@dest.test`, subject: `smtp ${n}`, text: "hello" });
    const id = /queued as ([0-9a-f-]{36})/.exec(info.response)?.[1];
    assert.ok(id, info.response);
    return id;
  } finally {
    transport.close();
  }
}

test("two API, two smtp and two worker processes on one database: every message sent through any of them arrives once, logged once", async () => {
  const bases = [hk.url, apiUrl];
  const ids = await Promise.all([
    ...Array.from({ length: 2 * EACH }, (_, n) => viaApi(bases[n % 2] as string, n)),
    ...Array.from({ length: 2 * EACH }, (_, n) => viaSmtp(relayPorts[n % 2] as number, n)),
  ]);
  assert.equal(new Set(ids).size, 4 * EACH, "one id per message");
  await sink.waitFor(4 * EACH, 60_000);
  // A duplicate sent at once would show here; a later one, in the delivered events below.
  await new Promise((r) => setTimeout(r, 1000));
  const subjects = sink.messages.map((m) => /^Subject: (.*)$/m.exec(m.raw.toString("latin1"))?.[1]);
  assert.equal(sink.messages.length, 4 * EACH, `${sink.messages.length} arrived`);
  assert.equal(new Set(subjects).size, 4 * EACH, "no message arrived twice");

  const db = hk.service.db;
  const delivered = await db.sql<{ id: string; n: number }[]>`
    select message_id as id, count(*)::int as n from delivery_events where message_id = any(${ids}::uuid[]) and event = 'delivered' group by 1`;
  assert.equal(delivered.length, 4 * EACH);
  assert.ok(
    delivered.every((r) => r.n === 1),
    JSON.stringify(delivered.filter((r) => r.n !== 1)),
  );
  const received = await db.sql<{ id: string; channel: string; n: number }[]>`
    select message_id as id, min(channel) as channel, count(*)::int as n from reception_events
    where message_id = any(${ids}::uuid[]) and accepted group by 1`;
  assert.equal(received.length, 4 * EACH, "a reception event for every message");
  assert.ok(
    received.every((r) => r.n === 1),
    JSON.stringify(received.filter((r) => r.n !== 1)),
  );
  assert.deepEqual(
    ["http", "smtp"].map((c) => received.filter((r) => r.channel === c).length),
    [2 * EACH, 2 * EACH],
  );
});
