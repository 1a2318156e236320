// The `hikyaku` command as a user runs it (node src/bin/hikyaku.mjs, real processes):
// on the embedded database (no DATABASE_URL) `start` creates the cluster and a first
// key, stops cleanly on SIGTERM, and reuses both on the next start; `accounts create`,
// `keys revoke` and `migrate` work beside a running service and on a stopped one. With
// DATABASE_URL, `start` uses that server instead.
import assert from "node:assert/strict";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { listening, type Running, runHikyaku, spawnHikyaku, stopHikyaku } from "./helpers/hikyaku-process.ts";
import { eventually, testDatabase } from "./helpers/service.ts";
import { freePort } from "./helpers/sink.ts";

const message = { from: "orders@shop.test", to: "alice@example.test", subject: "Hi", text: "Hello" };

async function post(url: string, key: string, path = "/v1/messages", body: unknown = message) {
  const res = await fetch(url + path, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as any };
}

async function get(url: string, key: string, path: string) {
  const res = await fetch(url + path, { headers: { authorization: `Bearer ${key}` } });
  return { status: res.status, body: (await res.json()) as any };
}

const keysIn = (text: string) => [...new Set(text.match(/hk_[0-9a-f]{8}_[A-Za-z0-9_-]+/g) ?? [])];

/** Both groups share the machine's two cores; they run side by side to keep the file short. */
describe("hikyaku", { concurrency: 2 }, () => {
  describe("on the embedded database", { concurrency: 1 }, () => {
    let dir: string;
    let env: Record<string, string>;
    let pgPort: number;
    let httpPort: number;
    let service: Running | undefined;
    let url: string;
    let firstKey: string;
    let firstMessage: string;
    let second: { account_id: string; api_key: string; key_id: string };

    before(async () => {
      dir = mkdtempSync(path.join(os.tmpdir(), "hikyaku-cli-"));
      chmodSync(dir, 0o755); // the embedded server runs as the postgres user
      pgPort = await freePort();
      httpPort = await freePort();
      env = {
        HIKYAKU_DATA_DIR: dir,
        HIKYAKU_EMBEDDED_PG_PORT: String(pgPort),
        HIKYAKU_HTTP_PORT: String(httpPort),
        HIKYAKU_ROLES: "api,worker",
        HIKYAKU_ROUTES: `*=127.0.0.1:${await freePort()}`,
        HIKYAKU_HOSTNAME: "hikyaku.test",
      };
    });

    after(async () => {
      if (service) await stopHikyaku(service);
      // If a step failed half-way, stop the postgres it left behind (by its own pid).
      const pidFile = path.join(dir, "pg", "postmaster.pid");
      if (existsSync(pidFile)) {
        const pid = Number(readFileSync(pidFile, "utf8").split("\n")[0]);
        if (pid > 0) {
          try {
            process.kill(pid, "SIGQUIT");
          } catch {}
          await eventually(async () => !existsSync(pidFile), "the leftover postgres to stop", 10_000).catch(() => {});
        }
      }
      rmSync(dir, { recursive: true, force: true });
    });

    test("start creates the cluster and prints a first API key once", async () => {
      service = spawnHikyaku(["start"], env);
      url = (await service.waitFor(/API on (http:\/\/\S+?) /, 120_000))[1] as string;
      assert.equal(url, `http://127.0.0.1:${httpPort}`);
      // The banner's last line may come in a later chunk than the API's.
      await service.waitFor(/Embedded PostgreSQL on .*\n/, 10_000);
      assert.ok(existsSync(path.join(dir, "pg", "PG_VERSION")), "the cluster is in HIKYAKU_DATA_DIR");
      assert.match(
        service.out(),
        new RegExp(`Embedded PostgreSQL on 127\\.0\\.0\\.1:${pgPort}, cluster in ${path.join(dir, "pg")}\n`),
        "the banner says where",
      );
      const keys = keysIn(service.out());
      assert.equal(keys.length, 1, service.out());
      firstKey = keys[0] as string;
      assert.match(service.out(), /shown only now/);
      assert.doesNotMatch(service.err(), new RegExp(firstKey), "the key is not in the log lines");
      // HIKYAKU_WORKER_PROCESSES unset (auto): on two or more cores delivery runs in one child.
      if (os.availableParallelism() >= 2) {
        const pid = Number((await service.waitFor(/Delivery in 1 worker process \(pid (\d+)\)\n/, 10_000))[1]);
        const ppid = Number(readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ")[1]);
        assert.equal(ppid, service.child.pid, "the worker is a child of this start");
      } else assert.doesNotMatch(service.out(), /Delivery in/);
    });

    test("a POST with that key answers 202", async () => {
      const res = await post(url, firstKey);
      assert.equal(res.status, 202, JSON.stringify(res.body));
      firstMessage = res.body.id;
    });

    test("accounts create, beside the running service, prints a key that works at once", async () => {
      const r = await runHikyaku(["accounts", "create", "--name", "Shibuya City"], env);
      assert.equal(r.code, 0, r.err);
      second = JSON.parse(r.out);
      assert.match(second.api_key, /^hk_/);
      assert.equal((await post(url, second.api_key)).status, 202);
    });

    test("keys revoke --id stops that key and only that key", async () => {
      const extra = await post(url, second.api_key, "/v1/api-keys", { name: "to revoke" });
      assert.equal(extra.status, 201);
      assert.equal((await post(url, extra.body.key)).status, 202);
      const r = await runHikyaku(["keys", "revoke", "--id", extra.body.id], env);
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, new RegExp(`revoked ${extra.body.id}`));
      // Another process revoked it: the service's key cache lets it live for at most a moment.
      await eventually(async () => (await post(url, extra.body.key)).status === 401, "the revoked key to get 401", 5000);
      assert.equal((await post(url, second.api_key)).status, 202, "the account's other key still works");

      const again = await runHikyaku(["keys", "revoke", "--id", extra.body.id], env);
      assert.notEqual(again.code, 0);
      assert.match(again.err, new RegExp(extra.body.id));
    });

    test("migrate works beside the running service", async () => {
      const r = await runHikyaku(["migrate"], env);
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, /up to date/);
    });

    test("a second start on the same data directory refuses with a sentence, leaving the first alone", async () => {
      const r = await runHikyaku(["start"], { ...env, HIKYAKU_HTTP_PORT: String(await freePort()) });
      assert.notEqual(r.code, 0);
      assert.match(r.err, /HIKYAKU_EMBEDDED_PG_PORT or DATABASE_URL/);
      assert.equal((await post(url, firstKey)).status, 202, "the first service still works");
    });

    test("SIGTERM stops the service and then its postgres cleanly (exit 0)", async () => {
      assert.ok(service);
      const stopped = service;
      const code = await stopHikyaku(stopped);
      service = undefined;
      assert.equal(code, 0, stopped.err().slice(-3000));
      assert.match(stopped.err(), /hikyaku stopped/);
      assert.doesNotMatch(stopped.err(), /"level":"error"/, "postgres outlived the worker: no connection errors");
      assert.equal(await listening(httpPort), false, "HTTP closed");
      assert.equal(await listening(pgPort), false, "postgres stopped");
      assert.equal(existsSync(path.join(dir, "pg", "postmaster.pid")), false, "postgres shut down, not killed");
    });

    test("a second start reuses the cluster: no new key, the old keys and messages are there", async () => {
      service = spawnHikyaku(["start"], env);
      await service.waitFor(/API on http:\/\/\S+ /, 120_000);
      assert.deepEqual(keysIn(service.out()), [], service.out());
      const m = await get(url, firstKey, `/v1/messages/${firstMessage}`);
      assert.equal(m.status, 200, JSON.stringify(m.body));
      assert.equal((await post(url, second.api_key)).status, 202);
      const stopped = service;
      assert.equal(await stopHikyaku(stopped, "SIGINT"), 0, "Ctrl-C stops as cleanly as SIGTERM");
      service = undefined;
      assert.doesNotMatch(stopped.err(), /"level":"error"/);
      assert.equal(await listening(pgPort), false, "postgres stopped");
    });

    test("on a stopped cluster, a command starts postgres for itself and stops it again", async () => {
      const r = await runHikyaku(["accounts", "list"], env);
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, /default/);
      assert.match(r.out, /Shibuya City/);
      assert.equal(await listening(pgPort), false, "postgres stopped after the command");
      assert.equal(existsSync(path.join(dir, "pg", "postmaster.pid")), false);
    });

    test("a wrong command prints the usage and exits 2", async () => {
      const r = await runHikyaku(["acounts"], env);
      assert.equal(r.code, 2);
      assert.match(r.err, /Usage: hikyaku/);
    });
  });

  describe("with DATABASE_URL", { concurrency: 1 }, () => {
    let db: Awaited<ReturnType<typeof testDatabase>>;
    let service: Running | undefined;

    before(async () => {
      db = await testDatabase();
    });

    after(async () => {
      if (service) await stopHikyaku(service);
      await db?.drop();
    });

    test("start runs against that server; a key from accounts create works; SIGTERM exits 0", async () => {
      const httpPort = await freePort();
      const dataDir = mkdtempSync(path.join(os.tmpdir(), "hikyaku-cli-url-"));
      const env = {
        DATABASE_URL: db.url,
        HIKYAKU_DATA_DIR: dataDir,
        HIKYAKU_HTTP_PORT: String(httpPort),
        HIKYAKU_ROLES: "api,worker",
        HIKYAKU_ROUTES: `*=127.0.0.1:${await freePort()}`,
        HIKYAKU_HOSTNAME: "hikyaku.test",
      };
      try {
        service = spawnHikyaku(["start"], env);
        const url = (await service.waitFor(/API on (http:\/\/\S+?) /, 45_000))[1] as string;
        assert.deepEqual(keysIn(service.out()), [], "no first key on an operator's own database");
        assert.equal(existsSync(path.join(dataDir, "pg")), false, "no embedded cluster");
        const created = await runHikyaku(["accounts", "create", "--name", "Ops"], env);
        assert.equal(created.code, 0, created.err);
        const { api_key } = JSON.parse(created.out);
        const res = await post(url, api_key);
        assert.equal(res.status, 202, JSON.stringify(res.body));
        const stopped = service;
        assert.equal(await stopHikyaku(stopped), 0, "not 143: nothing else exits the process before service.stop() finishes");
        service = undefined;
        assert.match(stopped.err(), /hikyaku stopped/);
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
      }
    });
  });
});
