// Starts a real Hikyaku for a test file: a database of its own (cloned from the
// migrated template), the HTTP API on an ephemeral port, the worker, and an account
// with an API key. Destination MX servers and DNS come from sink.ts and dns-server.ts.
import { randomBytes } from "node:crypto";
import postgres from "postgres";
import { createAccount } from "../../src/accounts/accounts.ts";
import { type Config, loadConfig } from "../../src/config.ts";
import { connect, type Db } from "../../src/db/client.ts";
import { type Service, startService } from "../../src/service.ts";
import { startDns, type TestDns } from "./dns-server.ts";
import { type Sink, type SinkOptions, startSink } from "./sink.ts";

export async function testDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const adminUrl = process.env.HIKYAKU_TEST_ADMIN_URL;
  const template = process.env.HIKYAKU_TEST_TEMPLATE;
  if (!adminUrl || !template) throw new Error("Run the tests with `npm test`, which starts the test database.");
  const name = `t_${randomBytes(6).toString("hex")}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  for (let i = 0; ; i++) {
    try {
      await admin.unsafe(`create database ${name} template ${template}`);
      break;
    } catch (err) {
      // Two clones of one template at the same instant collide; take turns.
      if (i > 20 || !/being accessed by other users/.test(String(err))) throw err;
      await new Promise((r) => setTimeout(r, 100 + Math.random() * 200));
    }
  }
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    async drop() {
      await admin.unsafe(`drop database if exists ${name} with (force)`).catch(() => {});
      await admin.end();
    },
  };
}

export interface TestService {
  service: Service;
  config: Config;
  url: string;
  key: string;
  accountId: string;
  api(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any }>;
  newAccount(name?: string): Promise<{ accountId: string; key: string }>;
  stop(): Promise<void>;
}

/** `seed` writes rows (destination policies, say) before the service starts, so the worker finds them from its first look. */
export async function startTestService(env: Record<string, string> = {}, opts: { seed?: (db: Db) => Promise<void> } = {}): Promise<TestService> {
  const database = await testDatabase();
  if (opts.seed) {
    const db = connect(database.url, { max: 1 });
    try {
      await opts.seed(db);
    } finally {
      await db.close();
    }
  }
  const config = loadConfig({
    DATABASE_URL: database.url,
    HIKYAKU_HTTP_PORT: "0",
    HIKYAKU_SMTP_RELAY_PORT: "0",
    HIKYAKU_SMTP_SUBMISSION_PORT: "0",
    HIKYAKU_SMTPS_PORT: "0",
    HIKYAKU_HOSTNAME: "hikyaku.test",
    HIKYAKU_ALLOW_PRIVATE_DESTINATIONS: "true",
    HIKYAKU_RETRY_INTERVAL: "1",
    HIKYAKU_SMTP_TIMEOUT: "5",
    HIKYAKU_HEARTBEAT_SECONDS: "1",
    HIKYAKU_LOG_LEVEL: "error",
    HIKYAKU_ADMIN_TOKEN: "test-admin-token-0123456789",
    // Tests poll the API freely; test/rate-limit.test.ts sets its own limits.
    HIKYAKU_API_RATE_LIMIT: "100000000",
    ...env,
  });
  const service = await startService(config);
  const { account, key } = await createAccount(service.db, "test");
  const url = service.httpUrl ?? "";
  const api: TestService["api"] = async (method, path, body, headers = {}) => {
    const res = await fetch(url + path, {
      method,
      headers: { authorization: `Bearer ${key.key}`, ...(body !== undefined ? { "content-type": "application/json" } : {}), ...headers },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {}
    return { status: res.status, body: parsed };
  };
  return {
    service,
    config,
    url,
    key: key.key,
    accountId: account.id,
    api,
    async newAccount(name = "other") {
      const r = await createAccount(service.db, name);
      return { accountId: r.account.id, key: r.key.key };
    },
    async stop() {
      await service.stop();
      await database.drop();
    },
  };
}

/** A promise and the function that settles it: a signal between a test and the code it holds back. */
export function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve = () => {};
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** Polls until fn returns a truthy value, or fails with `what` after timeoutMs. */
export async function eventually<T>(fn: () => Promise<T | undefined | false | null>, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ""}`);
}

export interface MxWorld {
  hk: TestService;
  /** The destination MX for ok.test (mx.ok.test → 127.0.0.2). */
  sink: Sink;
  dns: TestDns;
  stop(): Promise<void>;
}

/** A Hikyaku whose MX look-ups go to a loopback DNS server where ok.test's MX is one sink on 127.0.0.2. */
export async function startWithMx(sinkOptions: SinkOptions = {}, env: Record<string, string> = {}): Promise<MxWorld> {
  const sink = await startSink({ host: "127.0.0.2", ...sinkOptions });
  const dns = await startDns({ "ok.test": { MX: [{ exchange: "mx.ok.test", priority: 10 }] }, "mx.ok.test": { A: ["127.0.0.2"] } });
  const hk = await startTestService({ HIKYAKU_DNS_SERVERS: dns.address, HIKYAKU_MX_PORT: String(sink.port), ...env });
  return {
    hk,
    sink,
    dns,
    async stop() {
      await hk.stop();
      await sink.close();
      await dns.close();
    },
  };
}

/** One plain message through the HTTP API (its 202 asserted): its id and its Message-ID. */
export async function sendPlain(hk: TestService, to: string, subject = "test"): Promise<{ id: string; message_id: string }> {
  const res = await hk.api("POST", "/v1/messages", { from: "shop@shop.test", to, subject, text: "hello" });
  if (res.status !== 202) throw new Error(`POST /v1/messages answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body as { id: string; message_id: string };
}

/** The newest log event of a message, once it has one. */
export async function firstLogEvent(hk: TestService, messageId: string): Promise<any> {
  return eventually(async () => {
    const r = await hk.api("GET", `/v1/logs?message_id=${messageId}`);
    return (r.body as { data: unknown[] }).data[0];
  }, `a log event for ${messageId}`);
}

/** What a sink received of one message, found by its Message-ID. */
export const arrivedAt = (sink: Sink, messageId: string) => sink.messages.filter((m) => m.raw.includes(messageId));
