// The embedded PostgreSQL used when DATABASE_URL is unset, in-process: the cluster is
// created once in the data dir and reused, its password kept private, a busy port
// named in the error, and a running cluster shared only when asked (CLI commands).
import assert from "node:assert/strict";
import { chmodSync, existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import postgres from "postgres";
import { type EmbeddedDb, startEmbedded } from "../src/db/embedded.ts";
import { freePort } from "./helpers/sink.ts";

let dir: string;
let port: number;
const running: EmbeddedDb[] = [];

before(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), "hikyaku-embedded-"));
  chmodSync(dir, 0o755); // the embedded server runs as the postgres user
  port = await freePort();
});

after(async () => {
  for (const e of running.reverse()) await e.stop().catch(() => {});
  rmSync(dir, { recursive: true, force: true });
});

async function query<T>(url: string, fn: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    return await fn(sql);
  } finally {
    await sql.end();
  }
}

const portOpen = (p: number) =>
  new Promise<boolean>((resolve) => {
    const s = net.connect({ host: "127.0.0.1", port: p });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });

describe("embedded postgres", { concurrency: 1 }, () => {
  test("a fresh data dir gets a cluster, a private password file and the database", async () => {
    const e = await startEmbedded(dir, port);
    running.push(e);
    assert.ok(existsSync(path.join(dir, "pg", "PG_VERSION")));
    assert.equal(statSync(path.join(dir, "pg-password")).mode & 0o777, 0o600);
    assert.match(e.url, new RegExp(`^postgres://postgres:[^@]+@127\\.0\\.0\\.1:${port}/hikyaku$`));
    await query(e.url, (sql) => sql`create table kept (v text); insert into kept values ('still here')`.simple());
  });

  test("while it runs, another start refuses with a sentence naming what to change", async () => {
    await assert.rejects(startEmbedded(dir, port), (err: Error) => {
      assert.match(err.message, /HIKYAKU_EMBEDDED_PG_PORT or DATABASE_URL/);
      return true;
    });
  });

  test("while it runs, a command may share it; stopping the command's handle leaves it running", async () => {
    const shared = await startEmbedded(dir, port, "hikyaku", { reuseRunning: true });
    const [row] = await query(shared.url, (sql) => sql`select v from kept`);
    assert.equal(row?.v, "still here");
    await shared.stop();
    assert.equal(await portOpen(port), true, "the first cluster still runs");
  });

  test("stop shuts postgres down cleanly", async () => {
    const e = running.pop();
    await e?.stop();
    assert.equal(await portOpen(port), false);
    assert.equal(existsSync(path.join(dir, "pg", "postmaster.pid")), false);
  });

  test("the next start reuses the cluster and its data", async () => {
    const version = statSync(path.join(dir, "pg", "PG_VERSION")).mtimeMs;
    const e = await startEmbedded(dir, port);
    running.push(e);
    assert.equal(statSync(path.join(dir, "pg", "PG_VERSION")).mtimeMs, version, "no new initdb");
    const [row] = await query(e.url, (sql) => sql`select v from kept`);
    assert.equal(row?.v, "still here");
    await running.pop()?.stop();
  });

  test("a port taken by something else is named in the error", async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(port, "127.0.0.1", () => r()));
    try {
      await assert.rejects(startEmbedded(dir, port), (err: Error) => {
        assert.match(err.message, new RegExp(`port ${port}`));
        assert.match(err.message, /HIKYAKU_EMBEDDED_PG_PORT/);
        return true;
      });
      // Sharing is only for a Hikyaku cluster that answers with its own password.
      await assert.rejects(startEmbedded(dir, port, "hikyaku", { reuseRunning: true }));
    } finally {
      await new Promise<void>((r) => blocker.close(() => r()));
    }
  });
});
