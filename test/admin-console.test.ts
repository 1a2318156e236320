// The /admin console over plain HTTP, as a browser would speak it: sessions (cookie
// flags, expiry, sign-out, key revocation), CSRF on every form, the CSP, the sign-in
// guessing limit, tenant isolation, privacy, and the language choice.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { serviceCodes } from "../src/delivery/service-codes.ts";
import { setLogLevel } from "../src/logger.ts";
import { eventually, startTestService, type TestService } from "./helpers/service.ts";
import { type Receiver, startReceiver, verifyStandardWebhook } from "./helpers/webhook-receiver.ts";

let hk: TestService;
let rx: Receiver;
let other: { accountId: string; key: string };
const ADMIN = "test-admin-token-0123456789";

before(async () => {
  rx = await startReceiver();
  hk = await startTestService({ HIKYAKU_WEBHOOK_RETRY_SECONDS: "0.2" });
  other = await hk.newAccount("other");
});

after(async () => {
  await hk?.stop();
  await rx?.close();
});

/** A cookie jar and the requests a browser makes: redirects are not followed, so tests see them. */
class Browser {
  cookies = new Map<string, string>();
  constructor(private headers: Record<string, string> = {}) {}

  async get(path: string, headers: Record<string, string> = {}) {
    return this.send("GET", path, undefined, headers);
  }

  async post(path: string, fields: Record<string, string>, headers: Record<string, string> = {}) {
    return this.send("POST", path, new URLSearchParams(fields).toString(), { "content-type": "application/x-www-form-urlencoded", ...headers });
  }

  async send(method: string, path: string, body: string | undefined, headers: Record<string, string>) {
    const cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
    const res = await fetch(hk.url + path, { method, body, redirect: "manual", headers: { ...this.headers, ...(cookie ? { cookie } : {}), ...headers } });
    for (const line of res.headers.getSetCookie()) {
      const [pair = ""] = line.split(";");
      const eq = pair.indexOf("=");
      const value = pair.slice(eq + 1);
      if (value === "" || /max-age=0/i.test(line)) this.cookies.delete(pair.slice(0, eq));
      else this.cookies.set(pair.slice(0, eq), value);
    }
    return { status: res.status, headers: res.headers, setCookies: res.headers.getSetCookie(), text: await res.text() };
  }

  /** Signs in through the form, as a person would; returns the POST's answer. */
  async signIn(key: string, headers: Record<string, string> = {}) {
    const form = await this.get("/admin/sign-in", headers);
    return this.post("/admin/sign-in", { _csrf: hiddenCsrf(form.text), key }, headers);
  }
}

const hiddenCsrf = (html: string) => /name="_csrf" value="([^"]+)"/.exec(html)?.[1] ?? "";

async function signedIn(key = hk.key, headers: Record<string, string> = {}): Promise<Browser> {
  const b = new Browser(headers);
  const r = await b.signIn(key);
  assert.equal(r.status, 303, r.text);
  return b;
}

describe("sessions", () => {
  test("every console page without a session answers 303 to the sign-in page, GET and POST alike", async () => {
    const b = new Browser();
    for (const path of [
      "/admin",
      "/admin/logs",
      "/admin/reception",
      "/admin/logs/failures.csv",
      "/admin/domains",
      "/admin/smtp",
      "/admin/keys",
      "/admin/usage",
      "/admin/webhooks",
      `/admin/webhooks/${crypto.randomUUID()}`,
      "/admin/suppressions",
      "/admin/manual",
      "/admin/operator",
      "/admin/operator/destinations",
      `/admin/messages/${crypto.randomUUID()}`,
    ]) {
      const r = await b.get(path);
      assert.equal(r.status, 303, path);
      assert.equal(r.headers.get("location"), "/admin/sign-in", path);
    }
    for (const path of [
      "/admin/keys",
      "/admin/domains",
      "/admin/smtp/credentials",
      "/admin/webhooks",
      `/admin/webhooks/${crypto.randomUUID()}/rotate`,
      "/admin/suppressions",
      "/admin/suppressions/remove",
      "/admin/sign-out",
    ]) {
      const r = await b.post(path, { _csrf: "x" });
      assert.equal(r.status, 303, path);
      assert.equal(r.headers.get("location"), "/admin/sign-in", path);
    }
  });

  test("the session cookie is HttpOnly, SameSite=Strict, scoped to /admin, expires, and is Secure over TLS", async () => {
    const res = await new Browser().signIn(hk.key);
    const cookie = res.setCookies.find((c) => c.startsWith("hk_session=")) ?? "";
    assert.match(cookie, /HttpOnly/);
    assert.match(cookie, /SameSite=Strict/);
    assert.match(cookie, /Path=\/admin/);
    assert.match(cookie, /Max-Age=28800/);
    assert.doesNotMatch(cookie, /Secure/);
    assert.equal(res.headers.get("location"), "/admin/logs");
    assert.ok(!res.headers.get("location")?.includes(hk.key), "the key is never in a URL");
    // Behind a TLS-terminating proxy.
    const tls = await new Browser({ "x-forwarded-proto": "https" }).signIn(hk.key);
    assert.match(tls.setCookies.find((c) => c.startsWith("hk_session=")) ?? "", /; Secure/);
  });

  test("sign-out ends the session on the server: the old cookie no longer works", async () => {
    const b = await signedIn();
    const stolen = b.cookies.get("hk_session") ?? "";
    const logs = await b.get("/admin/logs");
    assert.equal(logs.status, 200);
    const out = await b.post("/admin/sign-out", { _csrf: hiddenCsrf(logs.text) });
    assert.equal(out.status, 303);
    assert.equal(out.headers.get("location"), "/admin/sign-in");
    const replay = await fetch(`${hk.url}/admin/logs`, { redirect: "manual", headers: { cookie: `hk_session=${stolen}` } });
    assert.equal(replay.status, 303);
  });

  test("a session expires, and revoking its API key ends it", async () => {
    const b = await signedIn();
    assert.equal((await b.get("/admin/logs")).status, 200);
    await hk.service.db.sql`update console_sessions set expires_at = now() - interval '1 second'`;
    assert.equal((await b.get("/admin/logs")).status, 303);

    const created = await hk.api("POST", "/v1/api-keys", { name: "short-lived" });
    const c = await signedIn(created.body.key);
    assert.equal((await c.get("/admin/usage")).status, 200);
    assert.equal((await hk.api("DELETE", `/v1/api-keys/${created.body.id}`)).status, 204);
    const r = await c.get("/admin/usage");
    assert.equal(r.status, 303);
    assert.equal(r.headers.get("location"), "/admin/sign-in");
  });
});

describe("CSRF", () => {
  test("a form posted with a forged, missing or another session's token is refused and changes nothing", async () => {
    const b = await signedIn();
    const eve = await signedIn(other.key);
    const eveToken = hiddenCsrf((await eve.get("/admin/keys")).text);
    const before = await hk.service.db.sql`select count(*)::int as n from api_keys where account_id = ${hk.accountId}`;
    for (const token of [undefined, "forged", eveToken]) {
      const r = await b.post("/admin/keys", token === undefined ? { name: "x" } : { _csrf: token, name: "x" });
      assert.equal(r.status, 403, `token ${token}`);
      assert.match(r.text, /This form has expired|フォームの有効期限/);
    }
    const afterwards = await hk.service.db.sql`select count(*)::int as n from api_keys where account_id = ${hk.accountId}`;
    assert.deepEqual(afterwards, before);
    // The real token works.
    const ok = await b.post("/admin/keys", { _csrf: hiddenCsrf((await b.get("/admin/keys")).text), name: "from the console" });
    assert.equal(ok.status, 200);
    assert.match(ok.text, /hk_[0-9a-f]{8}_/);
  });

  test("the sign-in form needs its own token: a cross-site sign-in is refused", async () => {
    const b = new Browser();
    const r = await b.post("/admin/sign-in", { key: hk.key });
    assert.equal(r.status, 403);
    assert.equal(b.cookies.has("hk_session"), false);
  });
});

describe("headers", () => {
  test("every console answer carries a strict CSP and no inline script or style", async () => {
    const b = await signedIn();
    for (const path of ["/admin/sign-in", "/admin/logs", "/admin/domains", "/admin/usage", "/admin/nope"]) {
      const r = await b.get(path);
      const csp = r.headers.get("content-security-policy") ?? "";
      assert.match(csp, /default-src 'none'/, path);
      assert.match(csp, /script-src 'self'(;|$)/, path);
      assert.match(csp, /style-src 'self'(;|$)/, path);
      assert.match(csp, /frame-ancestors 'none'/, path);
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/, path);
      assert.equal(r.headers.get("x-frame-options"), "DENY");
      assert.doesNotMatch(r.text, /<script>|<style|style="|on(click|load)=/i, path);
      assert.doesNotMatch(r.text, /https?:\/\/(?!127\.0\.0\.1)/, `${path}: nothing from outside`);
    }
  });
});

describe("limits", () => {
  test("a form body over 64 KB is a 413 page, not a 5xx, and nothing is stored", async () => {
    const b = await signedIn(hk.key, { "accept-language": "en" });
    const csrf = hiddenCsrf((await b.get("/admin/keys")).text);
    const r = await b.post("/admin/keys", { _csrf: csrf, name: "x".repeat(70_000) });
    assert.equal(r.status, 413);
    assert.match(r.text, /What was sent is too large/);
    const [n] = await hk.service.db.sql`select count(*)::int as n from api_keys where name like 'xxx%'`;
    assert.equal(n?.n, 0);
  });
});

describe("sign-in", () => {
  test("unknown, revoked and malformed keys get one generic sentence; the limit then stops even the right key", async () => {
    const created = await hk.api("POST", "/v1/api-keys", {});
    await hk.api("DELETE", `/v1/api-keys/${created.body.id}`);
    await hk.service.db.sql`delete from auth_failures`;
    const b = new Browser({ "accept-language": "en" });
    const answers = new Set<string>();
    for (const key of ["hk_00000000_unknown", created.body.key, "x".repeat(500), hk.key.slice(0, -1)]) {
      const r = await b.signIn(key);
      assert.equal(r.status, 401);
      answers.add(/role="alert">([^<]*)</.exec(r.text)?.[1] ?? "");
      assert.ok(!r.text.includes(key), "the page does not echo the key");
    }
    assert.deepEqual([...answers], ["Sign-in failed. Check the key and try again."]);
    for (let i = 4; i < 10; i++) assert.equal((await b.signIn(`hk_wrong_${i}`)).status, 401);
    const locked = await b.signIn(hk.key);
    assert.equal(locked.status, 429);
    assert.match(locked.text, /Too many failed sign-ins/);
    assert.equal(b.cookies.has("hk_session"), false);
    await hk.service.db.sql`delete from auth_failures`;
    assert.equal((await b.signIn(hk.key)).status, 303);
  });

  test("no key or token reaches the service's own log lines, signed in or refused", async () => {
    const lines: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
      lines.push(String(chunk));
      return write(chunk, ...rest);
    }) as typeof process.stderr.write;
    setLogLevel("debug");
    try {
      await hk.service.db.sql`delete from auth_failures`;
      const b = new Browser();
      await b.signIn(hk.key);
      await b.get("/admin/logs?source_ip=bad");
      await new Browser().signIn(ADMIN);
      await new Browser().signIn(`${hk.key}x`);
    } finally {
      setLogLevel("error");
      process.stderr.write = write;
    }
    const text = lines.join("");
    for (const secret of [hk.key, ADMIN, `${hk.key}x`]) assert.ok(!text.includes(secret), "a secret in the log");
  });

  test("the operator token opens the operator view; an account cannot reach it, nor the operator account pages", async () => {
    const op = await signedIn(ADMIN);
    assert.equal((await op.get("/admin")).headers.get("location"), "/admin/operator");
    const page = await op.get("/admin/operator");
    assert.equal(page.status, 200);
    assert.match(page.text, /other/);
    assert.equal((await op.get("/admin/logs")).status, 404);
    const acct = await signedIn();
    assert.equal((await acct.get("/admin/operator")).status, 404);
  });
});

describe("isolation and privacy", () => {
  test("another account's message is a 404 page, like an unknown one", async () => {
    const theirs = await hk.api(
      "POST",
      "/v1/messages",
      { from: "x@other.test", to: "victim@elsewhere.test", subject: "s", text: "t" },
      { authorization: `Bearer ${other.key}` },
    );
    assert.equal(theirs.status, 202, JSON.stringify(theirs.body));
    const b = await signedIn();
    for (const id of [theirs.body.id, crypto.randomUUID(), "not-a-uuid"]) {
      const r = await b.get(`/admin/messages/${id}`);
      assert.equal(r.status, 404, id);
      assert.ok(!r.text.includes("victim@elsewhere.test"));
    }
    const cancel = await b.post(`/admin/messages/${theirs.body.id}/cancel`, { _csrf: hiddenCsrf((await b.get("/admin/logs")).text) });
    assert.equal(cancel.status, 404);
    const [still] = await hk.service.db.sql`select cancelled_at from messages where id = ${theirs.body.id}`;
    assert.equal(still?.cancelled_at, null);
    const log = await b.get(`/admin/logs?message_id=${theirs.body.id}`);
    assert.equal(log.status, 200);
    assert.ok(!log.text.includes("victim@elsewhere.test"));
  });

  test("the console shows no subject, body or display name", async () => {
    const sent = await hk.api("POST", "/v1/messages", {
      from: "Secret Sender <news@shop.test>",
      to: { name: "Hidden Person", email: "reader@shop.test" },
      subject: "SUBJECT-NEVER-SHOWN",
      text: "BODY-NEVER-SHOWN",
      send_at: new Date(Date.now() + 3600_000).toISOString(),
    });
    assert.equal(sent.status, 202, JSON.stringify(sent.body));
    const b = await signedIn();
    for (const path of [`/admin/messages/${sent.body.id}`, "/admin/reception", "/admin/logs"]) {
      const r = await b.get(path);
      assert.equal(r.status, 200);
      for (const secret of ["SUBJECT-NEVER-SHOWN", "BODY-NEVER-SHOWN", "Secret Sender", "Hidden Person"])
        assert.ok(!r.text.includes(secret), `${path}: ${secret}`);
    }
    assert.match((await b.get(`/admin/messages/${sent.body.id}`)).text, /reader@shop\.test/);
  });
});

describe("language", () => {
  test("Japanese when the browser prefers it, English otherwise, and the switch wins over both", async () => {
    const ja = new Browser({ "accept-language": "ja,en-US;q=0.8" });
    assert.match((await ja.get("/admin/sign-in")).text, /<html lang="ja">[\s\S]*サインイン/);
    const en = new Browser({ "accept-language": "en-US,ja;q=0.5" });
    assert.match((await en.get("/admin/sign-in")).text, /<html lang="en">[\s\S]*Sign in/);
    const sw = await en.get(`/admin/lang/ja?back=${encodeURIComponent("/admin/sign-in?x=1")}`);
    assert.equal(sw.status, 303);
    assert.equal(sw.headers.get("location"), "/admin/sign-in?x=1");
    assert.match((await en.get("/admin/sign-in")).text, /<html lang="ja">/);
    for (const away of ["https://evil.example/", "//evil.example/admin", "/admin@evil.example", "/admin/\\evil.example"]) {
      assert.equal((await en.get(`/admin/lang/en?back=${encodeURIComponent(away)}`)).headers.get("location"), "/admin", away);
    }
  });

  test("a bad filter is a 422 with a sentence in the user's language, naming what to fix", async () => {
    const ja = await signedIn(hk.key, { "accept-language": "ja" });
    const r = await ja.get("/admin/logs?source_ip=not-an-ip");
    assert.equal(r.status, 422);
    assert.match(r.text, /送信元 IP は IPv4 か IPv6 のアドレスで指定してください。/);
    const en = await signedIn(hk.key, { "accept-language": "en" });
    const e = await en.get("/admin/logs?recipient=nobody");
    assert.equal(e.status, 422);
    assert.match(e.text, /Give the recipient as an address like a@example\.jp/);
  });
});

describe("pages", () => {
  test("times are shown, and filter times read, in the account's time zone", async () => {
    await hk.service.db.sql`update accounts set time_zone = 'Asia/Tokyo' where id = ${hk.accountId}`;
    try {
      const at = new Date("2026-11-30T15:30:00Z"); // 00:30 on 1 December in Tokyo
      await hk.service.db.sql`
        insert into delivery_events (account_id, created_at, event, message_id, recipient, envelope_sender, channel, attempt, code, response, code_source)
        values (${hk.accountId}, ${at}, 'delivered', ${crypto.randomUUID()}, 'tokyo@example.jp', 'a@shop.test', 'http', 1, 250, '250 ok', 'destination')`;
      const b = await signedIn(hk.key, { "accept-language": "en" });
      const inside = await b.get("/admin/logs?since=2026-12-01T00:00&until=2026-12-01T01:00");
      assert.equal(inside.status, 200);
      assert.match(inside.text, /tokyo@example\.jp/);
      assert.match(inside.text, /01\/12\/2026, 00:30:00/);
      assert.match(inside.text, /Asia\/Tokyo/);
      // 15:30 on 30 November is UTC; in Tokyo that hour holds nothing.
      const outside = await b.get("/admin/logs?since=2026-11-30T15:00&until=2026-11-30T16:00");
      assert.doesNotMatch(outside.text, /tokyo@example\.jp/);
    } finally {
      await hk.service.db.sql`update accounts set time_zone = 'UTC' where id = ${hk.accountId}`;
    }
  });

  test("a scheduled message can be rescheduled and cancelled from its page, and a second cancel says why not", async () => {
    const sent = await hk.api("POST", "/v1/messages", {
      from: "a@shop.test",
      to: "later@shop.test",
      subject: "s",
      text: "t",
      send_at: new Date(Date.now() + 3600_000).toISOString(),
    });
    const b = await signedIn(hk.key, { "accept-language": "en" });
    const pageText = (await b.get(`/admin/messages/${sent.body.id}`)).text;
    assert.match(pageText, /Reschedule/);
    const csrf = hiddenCsrf(pageText);
    const when = new Date(Date.now() + 2 * 3600_000);
    const moved = await b.post(`/admin/messages/${sent.body.id}/reschedule`, { _csrf: csrf, send_at: when.toISOString().slice(0, 16) });
    assert.equal(moved.status, 200);
    assert.match(moved.text, /The message was rescheduled/);
    const [m] = await hk.service.db.sql`select deliverable_at from messages where id = ${sent.body.id}`;
    assert.equal((m?.deliverable_at as Date | undefined)?.toISOString().slice(0, 16), when.toISOString().slice(0, 16));
    const past = await b.post(`/admin/messages/${sent.body.id}/reschedule`, { _csrf: csrf, send_at: "2020-01-01T00:00" });
    assert.equal(past.status, 422);
    assert.match(past.text, /Give a send time from now up to 30 days ahead/);
    const cancelled = await b.post(`/admin/messages/${sent.body.id}/cancel`, { _csrf: csrf });
    assert.match(cancelled.text, /were cancelled/);
    assert.match(cancelled.text, /cancelled by the sender before delivery/);
    const again = await b.post(`/admin/messages/${sent.body.id}/cancel`, { _csrf: csrf });
    assert.equal(again.status, 409);
    assert.match(again.text, /Nothing is left to cancel/);
    const api = await hk.api("GET", `/v1/messages/${sent.body.id}`);
    assert.equal(api.body.recipients[0].state, "cancelled");
  });

  test("SMTP source IPs: more than five, or a bad address, are refused with a sentence; nothing changes", async () => {
    const b = await signedIn(hk.key, { "accept-language": "ja" });
    const csrf = hiddenCsrf((await b.get("/admin/smtp")).text);
    const six = await b.post("/admin/smtp/source-ips", { _csrf: csrf, ips: "192.0.2.1 192.0.2.2 192.0.2.3 192.0.2.4 192.0.2.5 192.0.2.6" });
    assert.equal(six.status, 422);
    assert.match(six.text, /送信元 IP は 5 件までです。/);
    const bad = await b.post("/admin/smtp/source-ips", { _csrf: csrf, ips: "192.0.2.1\nnot-an-ip" });
    assert.match(bad.text, /IPv4 か IPv6 のアドレスではないものがあります。/);
    assert.deepEqual((await hk.api("GET", "/v1/source-ips")).body.ips, []);
  });

  test("API keys: a new one is shown once and works; revoking the session's own key signs out", async () => {
    const b = await signedIn();
    const created = await b.post("/admin/keys", { _csrf: hiddenCsrf((await b.get("/admin/keys")).text), name: "rotation" });
    const key = /(hk_[0-9a-f]{8}_[A-Za-z0-9_-]+)/.exec(created.text)?.[1] ?? "";
    assert.equal((await hk.api("GET", "/v1/usage", undefined, { authorization: `Bearer ${key}` })).status, 200);
    assert.ok(!(await b.get("/admin/keys")).text.includes(key), "shown only once");
    const mine = await signedIn(key);
    const list = await mine.get("/admin/keys");
    const ownId = /action="\/admin\/keys\/([0-9a-f-]{36})\/revoke"[\s\S]{0,400}?aria-label="[^"]*: hk_/.exec(list.text);
    assert.ok(ownId);
    const [row] = await hk.service.db.sql`select id from api_keys where prefix = ${key.split("_").slice(0, 2).join("_")}`;
    const out = await mine.post(`/admin/keys/${row?.id}/revoke`, { _csrf: hiddenCsrf(list.text) });
    assert.equal(out.headers.get("location"), "/admin/sign-in");
    assert.equal((await mine.get("/admin/keys")).status, 303);
    assert.equal((await hk.api("GET", "/v1/usage", undefined, { authorization: `Bearer ${key}` })).status, 401);
  });

  test("the operator creates an account (its key works) and sets its quota and time zone; a bad zone is refused", async () => {
    const op = await signedIn(ADMIN, { "accept-language": "en" });
    const csrf = hiddenCsrf((await op.get("/admin/operator")).text);
    const made = await op.post("/admin/operator/accounts", { _csrf: csrf, name: "Shibuya City" });
    const key = /(hk_[0-9a-f]{8}_[A-Za-z0-9_-]+)/.exec(made.text)?.[1] ?? "";
    assert.equal((await hk.api("GET", "/v1/usage", undefined, { authorization: `Bearer ${key}` })).status, 200);
    const [acct] = await hk.service.db.sql`select id from accounts where name = 'Shibuya City'`;
    const set = await op.post(`/admin/operator/accounts/${acct?.id}`, { _csrf: csrf, monthly_quota: "1000", time_zone: "Asia/Tokyo" });
    assert.equal(set.status, 303);
    const usage = await hk.api("GET", "/v1/usage", undefined, { authorization: `Bearer ${key}` });
    assert.equal(usage.body.monthly_quota, 1000);
    assert.equal(usage.body.time_zone, "Asia/Tokyo");
    const bad = await op.post(`/admin/operator/accounts/${acct?.id}`, { _csrf: csrf, monthly_quota: "", time_zone: "Mars/Olympus" });
    assert.equal(bad.status, 422);
    assert.match(bad.text, /Give the time zone as an IANA name such as Asia\/Tokyo/);
    assert.equal((await hk.api("GET", "/v1/usage", undefined, { authorization: `Bearer ${key}` })).body.monthly_quota, 1000);
  });

  test("a domain is added, rotated, and a bad or taken name gets its sentence", async () => {
    const b = await signedIn(hk.key, { "accept-language": "en" });
    const csrf = hiddenCsrf((await b.get("/admin/domains")).text);
    assert.equal((await b.post("/admin/domains", { _csrf: csrf, domain: "rotate.test" })).status, 303);
    const before = (await hk.api("GET", "/v1/domains/rotate.test")).body.dkim_keys.length;
    assert.equal((await b.post("/admin/domains/rotate.test/rotate", { _csrf: csrf })).status, 303);
    assert.equal((await hk.api("GET", "/v1/domains/rotate.test")).body.dkim_keys.length, before * 2);
    const taken = await b.post("/admin/domains", { _csrf: csrf, domain: "rotate.test" });
    assert.equal(taken.status, 409);
    assert.match(taken.text, /already registered/);
    const bad = await b.post("/admin/domains", { _csrf: csrf, domain: "gmail.com" });
    assert.match(bad.text, /Enter a domain name you can send from/);
    assert.equal((await b.post("/admin/domains/unknown.test/verify", { _csrf: csrf })).status, 404);
  });
});

/** A delivery event written as the outcome writer writes it (the log's triggers queue its webhooks and suppressions). */
async function logEvent(accountId: string, fields: { event: string; recipient: string; code: number; enhanced: string; response: string }) {
  const messageId = crypto.randomUUID();
  const [row] = await hk.service.db.sql<{ id: number }[]>`
    insert into delivery_events (account_id, created_at, event, message_id, recipient, envelope_sender, channel, attempt, code, enhanced_code, response, code_source)
    values (${accountId}, now(), ${fields.event}, ${messageId}, ${fields.recipient}, 'a@shop.test', 'http', 1, ${fields.code}, ${fields.enhanced},
      ${fields.response}, 'destination')
    returning id`;
  return { messageId, eventId: Number(row?.id) };
}

const secretIn = (html: string) => /(whsec_[A-Za-z0-9+/=]{40,})/.exec(html)?.[1] ?? "";

describe("webhooks", () => {
  test("create (the secret once, bad input refused by sentence), deliveries with status and time, disable, replay, rotate, delete", async () => {
    const b = await signedIn(hk.key, { "accept-language": "en" });
    const list = await b.get("/admin/webhooks");
    assert.equal(list.status, 200);
    assert.match(list.text, /No webhooks yet/);
    const csrf = hiddenCsrf(list.text);

    // Refusals: no event chosen, not a URL, credentials in it, an unknown event only. Nothing is stored.
    const none = await b.post("/admin/webhooks", { _csrf: csrf, url: rx.url });
    assert.equal(none.status, 422);
    assert.match(none.text, /Choose at least one event/);
    for (const url of ["ftp://example.test/x", "not a url", "https://user:pw@app.example/hooks"]) {
      const bad = await b.post("/admin/webhooks", { _csrf: csrf, url, events: "delivered" });
      assert.equal(bad.status, 422, url);
      assert.match(bad.text, /Give the URL like https:\/\/app\.example\/hooks/, url);
    }
    const unknown = await b.post("/admin/webhooks", { _csrf: csrf, url: rx.url, events: "opened" });
    assert.match(unknown.text, /Choose at least one event/);
    assert.deepEqual((await hk.api("GET", "/v1/webhooks")).body.data, []);
    // A forged token changes nothing.
    assert.equal((await b.post("/admin/webhooks", { _csrf: "forged", url: rx.url, events: "delivered" })).status, 403);
    assert.deepEqual((await hk.api("GET", "/v1/webhooks")).body.data, []);

    const body = new URLSearchParams([
      ["_csrf", csrf],
      ["url", rx.url],
      ["events", "delivered"],
      ["events", "bounced"],
    ]);
    const made = await b.send("POST", "/admin/webhooks", body.toString(), { "content-type": "application/x-www-form-urlencoded" });
    assert.equal(made.status, 200, made.text);
    const secret = secretIn(made.text);
    assert.ok(secret, "the secret is shown");
    const [hook] = (await hk.api("GET", "/v1/webhooks")).body.data;
    assert.deepEqual(hook.events, ["delivered", "bounced"]);
    assert.equal(hook.url, rx.url);
    assert.ok(!(await b.get("/admin/webhooks")).text.includes(secret), "shown only once");

    // An event reaches the receiver, signed with that secret; the endpoint's page shows the attempt.
    const sent = await logEvent(hk.accountId, { event: "delivered", recipient: "hook@shop.test", code: 250, enhanced: "2.0.0", response: "250 ok" });
    const got = await eventually(async () => rx.received.find((r) => r.json?.message_id === sent.messageId), "the webhook");
    assert.ok(verifyStandardWebhook(secret, got.headers, got.body));
    const detail = await eventually(async () => {
      const r = await b.get(`/admin/webhooks/${hook.id}`);
      return /class="wh-delivered"/.test(r.text) ? r : undefined;
    }, "the delivery on the page");
    assert.equal(detail.status, 200);
    assert.match(detail.text, /<td class="code">200<\/td><td>\d+ ms<\/td>/);

    // Disable: the API agrees, the list says so, and replay is refused with the reason.
    assert.equal((await b.post(`/admin/webhooks/${hook.id}/disable`, { _csrf: csrf })).status, 303);
    assert.equal((await hk.api("GET", `/v1/webhooks/${hook.id}`)).body.enabled, false);
    assert.match((await b.get("/admin/webhooks?done=disabled")).text, /Disabled[\s\S]*Enable/);
    const range = { since: new Date(Date.now() - 3600_000).toISOString().slice(0, 16), until: new Date(Date.now() + 60_000).toISOString().slice(0, 16) };
    const refused = await b.post(`/admin/webhooks/${hook.id}/replay`, { _csrf: csrf, ...range });
    assert.equal(refused.status, 409);
    assert.match(refused.text, /This webhook is disabled; enable it, then replay/);
    assert.equal((await b.post(`/admin/webhooks/${hook.id}/enable`, { _csrf: csrf })).status, 303);
    assert.equal((await hk.api("GET", `/v1/webhooks/${hook.id}`)).body.enabled, true);

    // Replay: a backwards range and a non-time are refused by sentence; the hour before now is sent again, same webhook-id.
    const backwards = await b.post(`/admin/webhooks/${hook.id}/replay`, { _csrf: csrf, since: range.until, until: range.since });
    assert.equal(backwards.status, 422);
    assert.match(backwards.text, /The end time must be later than the start time/);
    const garbage = await b.post(`/admin/webhooks/${hook.id}/replay`, { _csrf: csrf, since: "yesterday", until: range.until });
    assert.match(garbage.text, /The start time is not a valid time/);
    const replayed = await b.post(`/admin/webhooks/${hook.id}/replay`, { _csrf: csrf, ...range });
    assert.equal(replayed.status, 200);
    assert.match(replayed.text, /1 events queued again/);
    const again = await eventually(async () => {
      const both = rx.received.filter((r) => r.json?.message_id === sent.messageId);
      return both.length >= 2 ? both : undefined;
    }, "the replayed webhook");
    assert.equal(again[1]?.headers["webhook-id"], again[0]?.headers["webhook-id"]);

    // Rotate: a new secret, shown once; the old one still signs for a day.
    const rotated = await b.post(`/admin/webhooks/${hook.id}/rotate`, { _csrf: csrf });
    const fresh = secretIn(rotated.text);
    assert.ok(fresh && fresh !== secret);
    assert.ok((await hk.api("GET", `/v1/webhooks/${hook.id}`)).body.previous_secret_expires_at);
    assert.match((await b.get("/admin/webhooks")).text, /The previous secret also signs until/);

    // Another account sees none of it and can change none of it.
    const eve = await signedIn(other.key, { "accept-language": "en" });
    const eveCsrf = hiddenCsrf((await eve.get("/admin/webhooks")).text);
    assert.equal((await eve.get(`/admin/webhooks/${hook.id}`)).status, 404);
    for (const action of ["disable", "rotate", "delete"]) {
      assert.equal((await eve.post(`/admin/webhooks/${hook.id}/${action}`, { _csrf: eveCsrf })).status, 404, action);
    }
    assert.equal((await eve.post(`/admin/webhooks/${hook.id}/replay`, { _csrf: eveCsrf, ...range })).status, 404);
    assert.equal((await hk.api("GET", `/v1/webhooks/${hook.id}`)).body.enabled, true);
    assert.equal((await b.get("/admin/webhooks/not-a-uuid")).status, 404);

    // Delete.
    assert.equal((await b.post(`/admin/webhooks/${hook.id}/delete`, { _csrf: csrf })).status, 303);
    assert.deepEqual((await hk.api("GET", "/v1/webhooks")).body.data, []);
  });

  test("the webhook sentences exist in Japanese", async () => {
    const b = await signedIn(hk.key, { "accept-language": "ja" });
    const csrf = hiddenCsrf((await b.get("/admin/webhooks")).text);
    assert.match(
      (await b.post("/admin/webhooks", { _csrf: csrf, url: "ftp://x.test/", events: "delivered" })).text,
      /URL は https:\/\/app\.example\/hooks のように/,
    );
    assert.match((await b.post("/admin/webhooks", { _csrf: csrf, url: rx.url })).text, /受け取るイベントを 1 つ以上選んでください。/);
  });
});

describe("suppressions", () => {
  test("add (with reason and note), an address already there, a bad one; a hard bounce with its causing event; pages by cursor; remove", async () => {
    await hk.service.db.sql`update accounts set suppression_list = true where id = ${hk.accountId}`;
    const b = await signedIn(hk.key, { "accept-language": "en" });
    const first = await b.get("/admin/suppressions");
    assert.equal(first.status, 200);
    const csrf = hiddenCsrf(first.text);

    const added = await b.post("/admin/suppressions", { _csrf: csrf, address: " Gone@Shop.TEST ", reason: "complaint", detail: "phoned to complain" });
    assert.equal(added.status, 200);
    assert.match(added.text, /Added\./);
    assert.match(added.text, /<td>gone@shop\.test<\/td><td>complaint<\/td><td>—<\/td><td>phoned to complain<\/td>/);
    const api = (await hk.api("GET", "/v1/suppressions")).body.data;
    assert.deepEqual(
      api.map((s: any) => [s.address, s.reason, s.detail]),
      [["gone@shop.test", "complaint", "phoned to complain"]],
    );
    assert.match((await b.post("/admin/suppressions", { _csrf: csrf, address: "gone@shop.test" })).text, /already on the list \(unchanged\)/);
    const bad = await b.post("/admin/suppressions", { _csrf: csrf, address: "not-an-address" });
    assert.equal(bad.status, 422);
    assert.match(bad.text, /Give the address like a@example\.jp/);
    assert.match(bad.text, /value="not-an-address"/, "the typed address stays in the field");
    assert.equal((await b.post("/admin/suppressions", { _csrf: "forged", address: "x@shop.test" })).status, 403);
    assert.equal((await hk.api("GET", "/v1/suppressions")).body.data.length, 1);

    // A hard bounce suppresses its recipient; the page links the event's message.
    const bounce = await logEvent(hk.accountId, {
      event: "bounced",
      recipient: "unknown@shop.test",
      code: 550,
      enhanced: "5.1.1",
      response: "550 5.1.1 user unknown",
    });
    const withBounce = await b.get("/admin/suppressions");
    assert.match(
      withBounce.text,
      new RegExp(`unknown@shop\\.test</td><td>hard bounce</td><td><a href="/admin/messages/${bounce.messageId}">#${bounce.eventId} · `),
    );
    assert.match(withBounce.text, /550 5\.1\.1 user unknown/);

    // Pages of 50, newest first: the entries added by hand before these come on page 2.
    await hk.service.db.sql`
      insert into suppressions (account_id, address, reason, created_at)
      select ${hk.accountId}, 'bulk' || g || '@shop.test', 'manual', now() + g * interval '1 second' from generate_series(1, 50) g`;
    const one = await b.get("/admin/suppressions");
    assert.equal((one.text.match(/<tr class="suppression">/g) ?? []).length, 50);
    assert.ok(!one.text.includes("gone@shop.test"));
    const next = /href="(\/admin\/suppressions\?cursor=[^"]+)" rel="next"/.exec(one.text)?.[1] ?? "";
    assert.ok(next, "a next-page link");
    const two = await b.get(next.replace(/&amp;/g, "&"));
    assert.match(two.text, /gone@shop\.test/);
    assert.match(two.text, /unknown@shop\.test/);
    assert.equal((two.text.match(/<tr class="suppression">/g) ?? []).length, 2);
    assert.equal((await b.get("/admin/suppressions?cursor=garbage")).status, 422);

    // Remove; removing what is not there says so. Another account cannot remove ours.
    const eve = await signedIn(other.key, { "accept-language": "en" });
    const eveList = await eve.get("/admin/suppressions");
    assert.ok(!eveList.text.includes("gone@shop.test"));
    assert.equal((await eve.post("/admin/suppressions/remove", { _csrf: hiddenCsrf(eveList.text), address: "gone@shop.test" })).status, 404);
    const removed = await b.post("/admin/suppressions/remove", { _csrf: csrf, address: "gone@shop.test" });
    assert.equal(removed.status, 303);
    assert.match((await b.get(removed.headers.get("location") ?? "")).text, /Removed: the next message to it will be attempted/);
    const gone = await b.post("/admin/suppressions/remove", { _csrf: csrf, address: "gone@shop.test" });
    assert.equal(gone.status, 404);
    assert.match(gone.text, /That address is not on the list/);
    assert.ok(!(await hk.api("GET", "/v1/suppressions?limit=100")).body.data.some((s: any) => s.address === "gone@shop.test"));
    await hk.service.db.sql`delete from suppressions where account_id = ${hk.accountId}`;
  });
});

describe("operator: destination policies", () => {
  test("the built-in policies and the live state, for the operator only", async () => {
    const op = await signedIn(ADMIN, { "accept-language": "en" });
    const r = await op.get("/admin/operator/destinations");
    assert.equal(r.status, 200);
    assert.match(r.text, /<th scope="row"><code>\*<\/code><\/th>/);
    assert.match(r.text, /a starting guess/);
    assert.match(r.text, /<th scope="row"><code>docomo\.ne\.jp<\/code><\/th>/);
    assert.match(r.text, /No destination has state yet|\*:/);
    assert.match((await op.get("/admin/operator")).text, /href="\/admin\/operator\/destinations"/);
    assert.equal((await (await signedIn()).get("/admin/operator/destinations")).status, 404);
  });
});

describe("manual", () => {
  /** The manual's table of service codes: name, then "code enhanced". */
  const codeRows = (html: string) =>
    [
      ...html.matchAll(
        /<tr id="code-([a-z_]+)"><th scope="row"><code>\1<\/code><\/th><td><code>(\d{3} \d\.\d{1,3}\.\d{1,3})<\/code><\/td><td>[^<]+<\/td><td>([^<]+)<\/td><\/tr>/g,
      ),
    ].map((m) => [m[1] ?? "", m[2] ?? "", m[3] ?? ""] as const);

  test("in Japanese and English: every service code with its code and a sentence, the events, links into the console and to /docs, none outside", async () => {
    const expected = Object.entries(serviceCodes).map(([name, c]) => [name, `${c.code} ${c.enhanced}`]);
    const texts: Record<string, string[]> = {};
    for (const lang of ["ja", "en"]) {
      const b = await signedIn(hk.key, { "accept-language": lang });
      const r = await b.get("/admin/manual");
      assert.equal(r.status, 200);
      assert.match(r.text, new RegExp(`<html lang="${lang}">`));
      assert.match(r.text, lang === "ja" ? /<h1>マニュアル<\/h1>[\s\S]*届いたかどうかを確かめる/ : /<h1>Manual<\/h1>[\s\S]*Did the message arrive\?/);
      const rows = codeRows(r.text);
      assert.deepEqual(
        rows.map(([name, code]) => [name, code]),
        expected,
        "every service code, in the table's order",
      );
      texts[lang] = rows.map(([, , meaning]) => meaning);
      for (const [name, , meaning] of rows) assert.ok(meaning.trim().length > 10, `${lang}: ${name} has a sentence`);
      for (const event of ["delivered", "deferred", "bounced", "expired", "cancelled", "suppressed", "reception.accepted", "reception.refused"])
        assert.match(r.text, new RegExp(`<code>${event.replace(".", "\\.")}</code>`), `${lang}: ${event}`);
      assert.match(r.text, /<code>include:_spf\.[^<]+<\/code>/);
      for (const href of ["/docs", "/admin/logs", "/admin/reception", "/admin/smtp", "/admin/keys", "/admin/domains", "/admin/suppressions", "/admin/webhooks"])
        assert.match(r.text, new RegExp(`href="${href}"`), `${lang}: a link to ${href}`);
      assert.ok(![...r.text.matchAll(/href="([^"]+)"/g)].some(([, h]) => /^(https?:)?\/\//.test(h ?? "")), "no link leaves the service");
      assert.match(r.text, /<a href="\/admin\/manual" aria-current="page">/);
    }
    const [ja = [], en = []] = [texts.ja, texts.en];
    for (const [i, sentence] of ja.entries()) {
      assert.match(sentence, /[ぁ-んァ-ン一-龯]/, `the Japanese sentence of ${expected[i]?.[0]}`);
      assert.notEqual(sentence, en[i], `${expected[i]?.[0]} is not translated`);
    }
  });

  test("the SMTP host, ports and SPF include are the running config's", async () => {
    const { consoleApp } = await import("../src/admin/console.tsx");
    const b = await signedIn(hk.key, { "accept-language": "en" });
    const cookie = [...b.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
    const config = {
      ...hk.config,
      HIKYAKU_HOSTNAME: "mail.city.example",
      HIKYAKU_SPF_INCLUDE: "_spf.city.example",
      HIKYAKU_SMTP_RELAY_PORT: 25,
      HIKYAKU_SMTP_SUBMISSION_PORT: 587,
      HIKYAKU_SMTPS_PORT: 465,
    };
    const r = await consoleApp().request(
      "/admin/manual",
      { headers: { cookie, "accept-language": "en" } },
      { deps: { db: hk.service.db, config }, requestId: "t" },
    );
    const html = await r.text();
    assert.equal(r.status, 200);
    assert.match(html, /<dt>Server<\/dt><dd><code>mail\.city\.example<\/code><\/dd>/);
    assert.match(html, /<dt>Relay port 25<\/dt><dd>No password/);
    assert.match(html, /<dt>Submission port 587<\/dt><dd>STARTTLS/);
    assert.match(html, /<dt>SMTPS port 465<\/dt><dd>TLS from the start/);
    assert.match(html, /<code>include:_spf\.city\.example<\/code>/);
  });

  test("the operator reads it too, from the nav; the account pages are named, not linked", async () => {
    const op = await signedIn(ADMIN, { "accept-language": "en" });
    const r = await op.get("/admin/manual");
    assert.equal(r.status, 200);
    assert.match(r.text, /href="\/admin\/manual"/);
    assert.equal(codeRows(r.text).length, Object.keys(serviceCodes).length);
    assert.doesNotMatch(r.text, /href="\/admin\/logs"/);
    assert.match(r.text, /href="\/docs"/);
  });
});
