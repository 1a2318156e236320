// Duplicates under a storm of worker kills. Sends N messages (each to its own
// recipient) while a worker process is killed with SIGKILL every --every ms and a fresh
// one started; when all are delivered, counts the copies the destination received.
// Every duplicate is a message whose outcome a kill kept from being committed after the
// destination had answered the final dot; the result gives duplicates per kill.
//
//   node --import tsx test/bench/kill-storm.ts [--messages 3000] [--every 1500]
import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { createAccount } from "../../src/accounts/accounts.ts";
import { connect } from "../../src/db/client.ts";
import { startEmbedded } from "../../src/db/embedded.ts";
import { migrate } from "../../src/db/migrate.ts";
import { freePort } from "../helpers/sink.ts";
import { startLightSink } from "./light-sink.ts";

const { values: args } = parseArgs({ options: { messages: { type: "string", default: "3000" }, every: { type: "string", default: "1500" } } });
const N = Number(args.messages);

async function main() {
  const dir = mkdtempSync(path.join(os.tmpdir(), "hikyaku-storm-"));
  chmodSync(dir, 0o755);
  const embedded = await startEmbedded(dir, await freePort(), "bench");
  const db = connect(embedded.url, { max: 4 });
  const sink = await startLightSink();
  const children: ChildProcess[] = [];
  try {
    await migrate(db, embedded.url);
    const { key } = await createAccount(db, "storm");
    const httpPort = await freePort();
    const env = {
      ...process.env,
      DATABASE_URL: embedded.url,
      HIKYAKU_HTTP_PORT: String(httpPort),
      HIKYAKU_ROUTES: `*=127.0.0.1:${sink.port}`,
      HIKYAKU_LOG_LEVEL: "silent",
      HIKYAKU_HEARTBEAT_SECONDS: "0.5",
      HIKYAKU_HOSTNAME: "storm.hikyaku.test",
      // The storm sends faster than the default 6,000 requests a minute; a refused POST
      // would never be delivered, and the storm would wait for it until its deadline.
      HIKYAKU_API_RATE_LIMIT: "100000000",
    };
    const start = (roles: string) => {
      const c = spawn(process.execPath, ["src/bin/hikyaku.mjs", "start"], { env: { ...env, HIKYAKU_ROLES: roles }, stdio: "ignore" });
      children.push(c);
      return c;
    };
    start("api");
    let worker = start("worker");
    const base = `http://127.0.0.1:${httpPort}`;
    for (
      let i = 0;
      i < 300 &&
      !(await fetch(`${base}/readyz`).then(
        (r) => r.ok,
        () => false,
      ));
      i++
    )
      await new Promise((r) => setTimeout(r, 100));
    let next = 0;
    const sending = Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < N) {
          const i = next++;
          const res = await fetch(`${base}/v1/messages`, {
            method: "POST",
            headers: { authorization: `Bearer ${key.key}`, "content-type": "application/json" },
            body: JSON.stringify({ from: "storm@shop.example", to: `r${i}@dest.example`, subject: "storm", text: "x".repeat(500) }),
          });
          // Only the API process is up the whole time, so anything but 202 is a fault of the storm's set-up.
          if (res.status !== 202) throw new Error(`POST /v1/messages answered ${res.status}: ${await res.text()}`);
        }
      }),
    );
    let kills = 0;
    const delivered = async () => (await db.sql<{ n: number }[]>`select count(*)::int as n from delivery_events where event = 'delivered'`)[0]?.n ?? 0;
    const deadline = Date.now() + 900_000;
    // Each kill waits until the current worker has delivered something, so that it lands
    // in the middle of deliveries however slowly a worker starts on a loaded machine.
    let atStart = 0;
    while ((await delivered()) < N && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, Number(args.every)));
      const now = await delivered();
      if (now >= N) break;
      if (now <= atStart) continue;
      atStart = now;
      worker.kill("SIGKILL");
      kills++;
      worker = start("worker");
    }
    await sending;
    const copies = sink.copies();
    const duplicates = [...copies.values()].reduce((n, c) => n + (c - 1), 0);
    const [events] = await db.sql<{ n: number; distinct: number }[]>`
      select count(*)::int as n, count(distinct recipient)::int as distinct from delivery_events where event = 'delivered'`;
    console.log(
      JSON.stringify(
        {
          messages: N,
          kill_every_ms: Number(args.every),
          kills,
          destination_copies: sink.received(),
          distinct_recipients: copies.size,
          duplicates,
          duplicates_per_kill: kills ? Number((duplicates / kills).toFixed(2)) : 0,
          delivered_events: events?.n,
          delivered_events_distinct: events?.distinct,
        },
        null,
        2,
      ),
    );
  } finally {
    for (const c of children) c.kill("SIGKILL");
    await sink.close();
    await db.close();
    await embedded.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
