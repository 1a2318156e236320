// Crashes of the embedded database, as an operator meets them, on real processes:
// `hikyaku start` killed with SIGKILL (its PostgreSQL outlives it; the next start must
// stop that one and come up), and the embedded PostgreSQL killed under a running service
// (it is started again, /readyz says what is wrong meanwhile, nothing answered 202 is lost).
import assert from "node:assert/strict";
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { alive, apiCall, postmasterPid, type Running, spawnHikyaku, stopHikyaku, stopPostmastersUnder } from "./helpers/hikyaku-process.ts";
import { eventually } from "./helpers/service.ts";
import { freePort, type Sink, startSink } from "./helpers/sink.ts";

const message = (n: number) => ({ from: "city@town.test", to: `resident${n}@example.test`, subject: "Evacuate", text: `Notice ${n}` });

let base: string;
let sink: Sink;
const running: Running[] = [];

before(async () => {
  // base is enterable by the postgres account (the tests run as root too); the data dir inside is private.
  base = mkdtempSync(path.join(os.tmpdir(), "hikyaku-crash-"));
  chmodSync(base, 0o755);
  sink = await startSink({ starttls: false });
});

after(async () => {
  for (const r of running) await stopHikyaku(r, "SIGKILL");
  await stopPostmastersUnder(base); // what a failed step left behind
  await sink?.close();
  rmSync(base, { recursive: true, force: true });
});

describe("the embedded database after crashes", { concurrency: 1 }, () => {
  let env: Record<string, string>;
  let service: Running;
  let url: string;
  let key: string;
  let clusterDir: string;
  let firstMessage: string;

  before(async () => {
    const data = path.join(base, "data");
    mkdirSync(data, { mode: 0o700 }); // as root, the postgres account cannot enter it: the cluster goes to the system dir
    const httpPort = await freePort();
    env = {
      HIKYAKU_DATA_DIR: data,
      HIKYAKU_EMBEDDED_PG_SYSTEM_DIR: path.join(base, "system"),
      HIKYAKU_EMBEDDED_PG_PORT: String(await freePort()),
      HIKYAKU_HTTP_PORT: String(httpPort),
      HIKYAKU_ROLES: "api,worker",
      HIKYAKU_ROUTES: `*=127.0.0.1:${sink.port}`,
      HIKYAKU_HOSTNAME: "hikyaku.test",
      HIKYAKU_RETRY_INTERVAL: "1",
      HIKYAKU_HEARTBEAT_SECONDS: "1",
    };
  });

  test("kill -9 of `hikyaku start` leaves its PostgreSQL running; the next start stops that one and comes up on the same data", async () => {
    const first = spawnHikyaku(["start"], env);
    running.push(first);
    clusterDir = (await first.waitFor(/cluster in (\S+)\n/, 90_000))[1] as string;
    url = (/API on (http:\/\/\S+?) /.exec(first.out()) as RegExpExecArray)[1] as string;
    key = (/hk_[0-9a-f]{8}_[A-Za-z0-9_-]+/.exec(first.out()) as RegExpExecArray)[0];
    const sent = await apiCall(url, key, "POST", "/v1/messages", message(0));
    assert.equal(sent.status, 202, JSON.stringify(sent.body));
    firstMessage = sent.body.id;
    const orphan = postmasterPid(clusterDir);
    assert.ok(orphan && alive(orphan), "the service's postgres runs");

    first.child.kill("SIGKILL");
    await first.exited;
    assert.ok(alive(orphan), "postgres outlives a start killed with SIGKILL (what the next start must handle)");

    service = spawnHikyaku(["start"], env);
    running.push(service);
    await service.waitFor(/API on http:\/\/\S+ /, 90_000);
    assert.equal(alive(orphan), false, "the left-over postgres was stopped");
    const now = postmasterPid(clusterDir);
    assert.ok(now && now !== orphan && alive(now), "a postgres of its own runs");
    assert.match(service.err(), /left running by a process that died/);
    assert.equal((await apiCall(url, key, "GET", `/v1/messages/${firstMessage}`)).status, 200, "same cluster, same data");
    assert.equal((await fetch(`${url}/readyz`)).status, 200);
  });

  test("the PostgreSQL killed under the running service is started again; /readyz says why meanwhile; every 202 is delivered", async () => {
    const victim = postmasterPid(clusterDir) as number;
    const readiness: { status: number; body: any }[] = [];
    const sends: { status: number; body: any }[] = [];
    process.kill(victim, "SIGKILL");
    // Watch /readyz and keep sending until it is ready again with a new server.
    await eventually(
      async () => {
        const r = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(10_000) });
        readiness.push({ status: r.status, body: await r.json() });
        sends.push(await apiCall(url, key, "POST", "/v1/messages", message(sends.length + 1)));
        const pid = postmasterPid(clusterDir);
        return r.status === 200 && pid !== undefined && pid !== victim;
      },
      "the postgres to be started again and /readyz to say ready",
      90_000,
    );
    const down = readiness.filter((r) => r.status === 503);
    assert.ok(down.length > 0, `/readyz said 503 while postgres was down: ${JSON.stringify(readiness.slice(0, 3))}`);
    for (const r of down) {
      assert.equal(r.body.database, "unreachable");
      assert.match(r.body.reason, /PostgreSQL|database/, JSON.stringify(r.body));
    }
    assert.ok(
      down.some((r) => /exited \(signal SIGKILL\)/.test(r.body.reason)),
      `a reason names the crash: ${JSON.stringify(down.map((r) => r.body.reason))}`,
    );
    for (const s of sends) {
      assert.ok(s.status === 202 || s.status === 503, `only 202 or 503 while postgres was down: ${JSON.stringify(s)}`);
      if (s.status === 503) assert.equal(s.body.error.code, "unavailable");
    }
    // The new server answers /readyz a moment before the supervisor's own start-up check returns and logs.
    await eventually(async () => /embedded postgres restarted/.test(service.err()), "the supervisor to log the restart", 10_000);
    const after = await apiCall(url, key, "POST", "/v1/messages", message(999));
    assert.equal(after.status, 202, JSON.stringify(after.body));

    const accepted = [...sends.filter((s) => s.status === 202), after].map((s) => s.body.message_id as string);
    await eventually(
      async () => accepted.every((id) => sink.messages.some((m) => m.raw.includes(id))),
      `every accepted message (${accepted.length}) at the destination`,
      60_000,
    ).catch((err) => {
      throw new Error(`${err.message}\nservice log: ${service.err().slice(-4000)}`);
    });
    const code = await stopHikyaku(service);
    assert.equal(code, 0, service.err().slice(-3000));
  });
});
