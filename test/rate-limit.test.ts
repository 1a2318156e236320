// API rate limits across processes: this test's in-process service and a second API
// process started with `hikyaku start` share one database, and one account's budget
// holds across both; requests count, not recipients; the 429 carries the headers.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { advanceClock, resetClock } from "../src/clock.ts";
import { eventually, startTestService, type TestService } from "./helpers/service.ts";
import { freePort } from "./helpers/sink.ts";

const WINDOW = 3600;
const ADMIN = { authorization: "Bearer test-admin-token-0123456789" };
let hk: TestService;
let child: ChildProcess;
let otherUrl: string;

before(async () => {
  const env = { HIKYAKU_API_RATE_LIMIT: "1000", HIKYAKU_API_RATE_WINDOW_SECONDS: String(WINDOW) };
  hk = await startTestService(env);
  const port = await freePort();
  child = spawn(process.execPath, ["src/bin/hikyaku.mjs", "start"], {
    env: { ...process.env, ...env, DATABASE_URL: hk.service.databaseUrl, HIKYAKU_ROLES: "api", HIKYAKU_HTTP_PORT: String(port), HIKYAKU_LOG_LEVEL: "error" },
    stdio: ["ignore", "ignore", "inherit"],
  });
  otherUrl = `http://127.0.0.1:${port}`;
  await eventually(async () => (await fetch(`${otherUrl}/healthz`).catch(() => undefined))?.ok, "the second API process", 150_000);
});

after(async () => {
  resetClock();
  if (child && child.exitCode === null) {
    child.kill("SIGTERM");
    await new Promise((r) => child.once("exit", r));
  }
  await hk?.stop();
});

async function call(base: string, key: string, method = "GET", path = "/v1/suppressions", body?: unknown) {
  const res = await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body ? { "content-type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const header = (n: string) => res.headers.get(n);
  return {
    status: res.status,
    body: (await res.json()) as any,
    limit: header("ratelimit-limit"),
    remaining: header("ratelimit-remaining"),
    reset: header("ratelimit-reset"),
    retryAfter: header("retry-after"),
  };
}

/** A window this test will not see end: with less than 30 s left, wait for the next one. */
async function freshWindow(): Promise<void> {
  const left = WINDOW - ((Date.now() / 1000) % WINDOW);
  if (left < 30) await new Promise((r) => setTimeout(r, (left + 1) * 1000));
}

describe("API rate limits", () => {
  test("one account's limit holds across two API processes: 429 with RateLimit-* and Retry-After", async () => {
    await freshWindow();
    const acct = await hk.newAccount("limited");
    const set = await hk.api("PATCH", `/v1/admin/accounts/${acct.accountId}`, { api_rate_limit: 6 }, ADMIN);
    assert.equal(set.status, 200, JSON.stringify(set.body));
    assert.equal(set.body.api_rate_limit, 6);

    const answers = [];
    for (let i = 0; i < 12; i++) answers.push(await call(i % 2 === 0 ? hk.url : otherUrl, acct.key));
    const ok = answers.filter((a) => a.status === 200);
    const refused = answers.filter((a) => a.status === 429);
    assert.equal(ok.length, 6, `exactly the limit passes across both processes: ${answers.map((a) => a.status).join(",")}`);
    assert.equal(refused.length, 6);
    assert.ok(
      answers.slice(0, 6).every((a) => a.status === 200),
      "the first six pass, whichever process took them",
    );
    for (const a of answers) assert.equal(a.limit, "6");
    for (const r of refused) {
      assert.equal(r.remaining, "0");
      assert.equal(r.body.error.code, "rate_limited");
      assert.match(r.body.error.message, /retry in \d+ s/);
      assert.ok(Number(r.reset) > 0 && Number(r.reset) <= WINDOW, `RateLimit-Reset ${r.reset}`);
      assert.equal(r.retryAfter, r.reset);
      assert.match(r.body.error.request_id, /^req_/);
    }
    // Another account, on the default limit, is untouched in both processes.
    for (const base of [hk.url, otherUrl]) {
      const other = await call(base, hk.key);
      assert.equal(other.status, 200);
      assert.equal(other.limit, "1000");
    }
  });

  test("requests count, not recipients: a message to 50 recipients costs one", async () => {
    await freshWindow();
    const acct = await hk.newAccount("counted");
    const first = await call(hk.url, acct.key);
    const to = Array.from({ length: 50 }, (_, i) => `r${i}@example.test`);
    const sent = await call(hk.url, acct.key, "POST", "/v1/messages", {
      from: "shop@shop.test",
      to,
      subject: "s",
      text: "t",
      send_at: new Date(Date.now() + 86_400_000).toISOString(),
    });
    assert.equal(sent.status, 202, JSON.stringify(sent.body));
    const third = await call(hk.url, acct.key);
    assert.deepEqual(
      [first.remaining, sent.remaining, third.remaining].map(Number),
      [999, 998, 997].map((n) => n),
    );
  });

  test("a new window gives the budget back; without an account limit the service default applies", async () => {
    await freshWindow();
    const acct = await hk.newAccount("reset");
    await hk.api("PATCH", `/v1/admin/accounts/${acct.accountId}`, { api_rate_limit: 1 }, ADMIN);
    assert.equal((await call(hk.url, acct.key)).status, 200);
    const refused = await call(hk.url, acct.key);
    assert.equal(refused.status, 429);
    advanceClock(Number(refused.reset) * 1000);
    const next = await call(hk.url, acct.key);
    assert.equal(next.status, 200, `the next window starts with a full budget: ${JSON.stringify({ refused, next })}`);
    assert.equal(next.remaining, "0");
    const cleared = await hk.api("PATCH", `/v1/admin/accounts/${acct.accountId}`, { api_rate_limit: null }, ADMIN);
    assert.equal(cleared.body.api_rate_limit, null);
    // Verified keys are cached for two seconds: the new limit shows once the cache lets go.
    const back = await eventually(async () => {
      const r = await call(hk.url, acct.key);
      return r.limit === "1000" ? r : undefined;
    }, "the service default limit");
    assert.equal(back.status, 200);
    const bad = await hk.api("PATCH", `/v1/admin/accounts/${acct.accountId}`, { api_rate_limit: 0 }, ADMIN);
    assert.equal(bad.status, 422);
    assert.equal(bad.body.error.field, "api_rate_limit");
  });
});
