// A worker killed with SIGKILL in the middle of a webhook delivery loses no event: the
// outbox rows stay until a 2xx is recorded, and the next worker (once the dead one's
// job is unlocked by the heartbeats) delivers every one of them.
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { after, before, test } from "node:test";
import { spawnWorker } from "./helpers/hikyaku-process.ts";
import { eventually, startTestService, type TestService } from "./helpers/service.ts";
import { type Receiver, startReceiver } from "./helpers/webhook-receiver.ts";

let hk: TestService;
let rx: Receiver;
const children: ChildProcess[] = [];

before(async () => {
  rx = await startReceiver();
  hk = await startTestService({ HIKYAKU_ROLES: "api" });
});

after(async () => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  await hk?.stop();
  await rx?.close();
});

function worker(): ChildProcess {
  const { child } = spawnWorker(hk.service.databaseUrl, { HIKYAKU_WEBHOOK_RETRY_SECONDS: "0.2" });
  children.push(child);
  return child;
}

test("a worker killed mid-delivery loses no webhook event", async () => {
  const hook = await hk.api("POST", "/v1/webhooks", { url: rx.url, events: ["reception.refused"] });
  assert.equal(hook.status, 201);
  // The receiver holds its first request open: the worker is mid-delivery when it dies.
  let held = false;
  let release = () => {};
  rx.answer = () => {
    if (held) return 200;
    held = true;
    return new Promise<number>((r) => {
      release = () => r(200);
    });
  };
  for (let i = 0; i < 5; i++) await hk.api("POST", "/v1/messages", { from: "orders@shop.test", to: `bad address ${i}`, subject: "x", text: "y" });
  // The refusals are logged just after their answers.
  const refused = await eventually(async () => {
    const rows = await hk.service.db.sql<{ id: number }[]>`select id from reception_events where not accepted order by id`;
    return rows.length === 5 ? rows : undefined;
  }, "the five refusals in the log");
  const first = worker();
  await eventually(async () => rx.received.length > 0, "the first webhook request", 60_000);
  first.kill("SIGKILL");
  await new Promise((r) => first.once("exit", r));
  release(); // its connection is gone: this answer reaches nobody
  worker();
  await eventually(
    async () => {
      const [row] = await hk.service.db.sql<{ n: number }[]>`select count(*)::int as n from webhook_outbox`;
      return row?.n === 0;
    },
    "the outbox drained by the second worker",
    60_000,
  );
  const got = new Set(rx.received.map((r) => r.headers["webhook-id"]));
  for (const { id } of refused) assert.ok(got.has(`evt_r${id}`), `event ${id} was delivered`);
  const attempts = (await hk.api("GET", `/v1/webhooks/${hook.body.id}/deliveries`)).body.data as any[];
  const delivered = new Set(attempts.filter((a) => a.result === "delivered").map((a) => a.webhook_id));
  assert.equal(delivered.size, 5, "every event has a recorded 2xx");
});
