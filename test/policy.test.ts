// Delivery policy end to end: scheduling, rescheduling, cancelling, quiet hours, expiry
// with its DSN, extended headers, and the expiry sweeper. Time moves through the clock
// module instead of sleeping.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { simpleParser } from "mailparser";
import { advanceClock, nowMs, resetClock } from "../src/clock.ts";
import { ConnectionPool } from "../src/delivery/connection-pool.ts";
import { createResolver } from "../src/delivery/dns.ts";
import { sweepExpired } from "../src/delivery/sweeper.ts";
import { startDns, type TestDns } from "./helpers/dns-server.ts";
import { eventually, startTestService, type TestService } from "./helpers/service.ts";
import { type Sink, startSink } from "./helpers/sink.ts";

let dns: TestDns;
let sink: Sink;
let hk: TestService;

before(async () => {
  sink = await startSink({
    host: "127.0.0.2",
    onRcpt: (rcpt) => {
      if (rcpt.startsWith("unknown@")) return { code: 550, message: "5.1.1 user unknown" };
      if (rcpt.startsWith("grey@")) return { code: 451, message: "4.7.1 greylisted" };
      return undefined;
    },
  });
  dns = await startDns({
    "ok.test": { MX: [{ exchange: "mx.ok.test", priority: 10 }] },
    "shop.test": { MX: [{ exchange: "mx.ok.test", priority: 10 }] },
    "mx.ok.test": { A: ["127.0.0.2"] },
    "refused.test": { MX: [{ exchange: "mx.refused.test", priority: 10 }] },
    "mx.refused.test": { A: ["127.0.0.3"] },
  });
  hk = await startTestService({ HIKYAKU_DNS_SERVERS: dns.address, HIKYAKU_MX_PORT: String(sink.port) });
});

after(async () => {
  resetClock();
  await hk?.stop();
  await sink?.close();
  await dns?.close();
});

const iso = (ms: number) => new Date(ms).toISOString();

async function send(body: Record<string, unknown>) {
  const res = await hk.api("POST", "/v1/messages", { from: "orders@shop.test", subject: "Notice", text: "Body", ...body });
  assert.equal(res.status, 202, JSON.stringify(res.body));
  return res.body as { id: string; message_id: string; state: string; expires_at: string };
}

async function events(id: string) {
  return (await hk.api("GET", `/v1/logs?message_id=${id}`)).body.data as any[];
}

const until = (id: string, event: string) =>
  eventually(async () => {
    const evs = await events(id);
    return evs.some((e) => e.event === event) ? evs : undefined;
  }, `a ${event} event for ${id}`);

const received = (messageId: string) => sink.messages.filter((m) => m.raw.includes(messageId));

describe("scheduling", () => {
  test("a message scheduled 2 s ahead waits, then is delivered", async () => {
    const m = await send({ to: "later@ok.test", send_at: iso(nowMs() + 2000) });
    assert.equal(m.state, "scheduled");
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(received(m.message_id).length, 0, "nothing before send_at");
    assert.equal((await hk.api("GET", `/v1/messages/${m.id}`)).body.state, "scheduled");
    advanceClock(2500);
    await until(m.id, "delivered");
  });

  test("reschedule later, then earlier (now)", async () => {
    const m = await send({ to: "moved@ok.test", send_at: iso(nowMs() + 3_600_000) });
    const later = iso(nowMs() + 7_200_000);
    const r1 = await hk.api("PATCH", `/v1/messages/${m.id}`, { send_at: later });
    assert.equal(r1.status, 200, JSON.stringify(r1.body));
    const got = (await hk.api("GET", `/v1/messages/${m.id}`)).body;
    assert.equal(got.send_at, later);
    assert.equal(Date.parse(got.expires_at) - Date.parse(later), 1800_000, "the lifetime counts from the new send_at");
    const r2 = await hk.api("PATCH", `/v1/messages/${m.id}`, { send_at: iso(nowMs()) });
    assert.equal(r2.status, 200);
    await until(m.id, "delivered");
    const r3 = await hk.api("PATCH", `/v1/messages/${m.id}`, { send_at: iso(nowMs() + 60_000) });
    assert.equal(r3.status, 409);
    assert.equal(r3.body.error.field, "send_at");
  });

  test("send_at validation: past, too far ahead, not RFC 3339", async () => {
    for (const send_at of [iso(nowMs() - 120_000), iso(nowMs() + 31 * 86_400_000), "tomorrow", "2026-12-01 09:00"]) {
      const r = await hk.api("POST", "/v1/messages", { from: "a@shop.test", to: "b@ok.test", text: "x", send_at });
      assert.equal(r.status, 422, send_at);
      assert.equal(r.body.error.field, "send_at");
    }
  });
});

describe("cancel", () => {
  test("cancel while scheduled: every recipient gets one cancelled event; a second cancel is 409", async () => {
    const m = await send({ to: ["c1@ok.test", "c2@ok.test"], send_at: iso(nowMs() + 3_600_000) });
    const r = await hk.api("DELETE", `/v1/messages/${m.id}`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.cancelled, 2);
    const evs = await events(m.id);
    assert.deepEqual(evs.map((e) => e.event).sort(), ["cancelled", "cancelled"]);
    assert.equal(evs[0].code_source, "hikyaku");
    const again = await hk.api("DELETE", `/v1/messages/${m.id}`);
    assert.equal(again.status, 409);
    const [row] = await hk.service.db.sql`select count(*)::int as n from message_contents where message_id = ${m.id}`;
    assert.equal(row?.n, 0, "the stored message is deleted once every recipient is final");
  });

  test("cancel while deferred stops the retries", async () => {
    const m = await send({ to: "grey@ok.test" });
    await until(m.id, "deferred");
    const r = await hk.api("DELETE", `/v1/messages/${m.id}`);
    assert.equal(r.status, 200);
    const evs = await until(m.id, "cancelled");
    const attempts = evs.filter((e) => e.event === "deferred").length;
    await new Promise((r) => setTimeout(r, 2500)); // retry interval is 1 s in tests
    const later = await events(m.id);
    assert.equal(later.filter((e) => e.event === "deferred").length, attempts, "no attempt after the DELETE answered");
    assert.equal(later.filter((e) => e.event === "cancelled").length, 1);
  });

  test("cancel after delivery is 409; another account's message is 404", async () => {
    const m = await send({ to: "done@ok.test" });
    await until(m.id, "delivered");
    assert.equal((await hk.api("DELETE", `/v1/messages/${m.id}`)).status, 409);
    const other = await hk.newAccount();
    const res = await fetch(`${hk.url}/v1/messages/${m.id}`, { method: "DELETE", headers: { authorization: `Bearer ${other.key}` } });
    assert.equal(res.status, 404);
  });
});

describe("quiet hours and expiry", () => {
  test("a quiet window holds the message, pauses its lifetime, then releases it", async () => {
    const hhmm = (ms: number) => new Date(ms).toISOString().slice(11, 16);
    const t = nowMs();
    const m = await send({ to: "quiet@ok.test", quiet_hours: { start: hhmm(t - 3_600_000), end: hhmm(t + 3_600_000), time_zone: "UTC" } });
    await eventually(async () => {
      const [row] = await hk.service.db.sql`select expires_at from messages where id = ${m.id}`;
      return row && (row.expires_at as Date).getTime() > Date.parse(m.expires_at) ? row : undefined;
    }, "the lifetime to be extended by the hold");
    assert.equal(received(m.message_id).length, 0, "no attempt inside the window");
    assert.equal((await events(m.id)).length, 0);
    advanceClock(3_700_000);
    await until(m.id, "delivered");
  });

  test("lifetime passes → expired, and a DSN reaches the return path, checked field by field", async () => {
    const m = await send({ to: "nobody@refused.test", return_path: "bounces@shop.test", subject: "Evacuation notice", lifetime: 60 });
    await until(m.id, "deferred");
    advanceClock(61_000);
    const evs = await until(m.id, "expired");
    assert.equal(evs.filter((e) => e.event === "expired").length, 1);
    const dsnMsg = await eventually(async () => sink.messages.find((x) => x.envelope.from === "" && x.raw.includes(m.id)), "the DSN at the sink");
    assert.deepEqual(dsnMsg.envelope.to, ["bounces@shop.test"]);
    const parsed = await simpleParser(dsnMsg.raw);
    assert.match(String(parsed.headers.get("content-type") && (parsed.headers.get("content-type") as any).value), /multipart\/report/);
    assert.match(parsed.from?.text ?? "", /MAILER-DAEMON@hikyaku\.test/);
    const text = dsnMsg.raw.toString();
    const status = /Content-Type: message\/delivery-status\r\n\r\n([\s\S]*?)\r\n--/.exec(text)?.[1] ?? "";
    assert.match(status, /^Reporting-MTA: dns; hikyaku\.test$/m);
    assert.match(status, /^Final-Recipient: rfc822; nobody@refused\.test$/m);
    assert.match(status, /^Action: failed$/m);
    assert.match(status, /^Status: 5\.4\.7$/m);
    assert.match(status, /^Diagnostic-Code: smtp; 554 5\.4\.7 /m);
    const headersPart = /Content-Type: text\/rfc822-headers\r\n\r\n([\s\S]*?)\r\n--/.exec(text)?.[1] ?? "";
    assert.match(headersPart, new RegExp(`Message-ID: <${m.message_id}>`));
    assert.match(headersPart, /Subject: Evacuation notice/);
    assert.doesNotMatch(text, /Body/, "the DSN carries the original headers, not the body");
  });

  test("a 550 bounce sends one DSN; a DSN that bounces sends none", async () => {
    const m = await send({ to: "unknown@ok.test", return_path: "unknown@shop.test" });
    await until(m.id, "bounced");
    const dsnAfter = async () =>
      hk.service.db
        .sql`select id from messages where channel = 'dsn' and created_at >= (select created_at from messages where id = ${m.id}) order by created_at`;
    const [dsn] = await eventually(async () => {
      const rows = await dsnAfter();
      return rows.length > 0 ? rows : undefined;
    }, "a DSN for the bounce");
    const evs = await until(dsn?.id as string, "bounced");
    assert.equal(evs[0].envelope_sender, "", "a DSN has an empty envelope sender");
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal((await dsnAfter()).length, 1, "never a bounce to a bounce");
  });

  test("an account that turned bounces off gets no DSN", async () => {
    await hk.service.db.sql`update accounts set bounces_enabled = false where id = ${hk.accountId}`;
    const before = (await hk.service.db.sql`select count(*)::int as n from messages where channel = 'dsn'`)[0]?.n;
    const m = await send({ to: "unknown@ok.test" });
    await until(m.id, "bounced");
    await new Promise((r) => setTimeout(r, 500));
    const afterCount = (await hk.service.db.sql`select count(*)::int as n from messages where channel = 'dsn'`)[0]?.n;
    assert.equal(afterCount, before);
    await hk.service.db.sql`update accounts set bounces_enabled = true where id = ${hk.accountId}`;
  });

  test("the sweeper expires a recipient stranded in 'sending' exactly once", async () => {
    const m = await send({ to: "stuck@refused.test", lifetime: 60, return_path: "bounces@shop.test" });
    await until(m.id, "deferred");
    await hk.service.db.sql`delete from delivery_queue where message_id = ${m.id}`;
    await hk.service.db.sql`update recipients set state = 'sending' where message_id = ${m.id}`;
    advanceClock(60_000 + 61_000);
    const ctx = {
      db: hk.service.db,
      config: hk.config,
      pool: new ConnectionPool({ heloName: "x", timeoutMs: 1000 }),
      destination: { resolver: createResolver([dns.address]), allowPrivate: true },
      maxRecipientsPerTransaction: 100,
    };
    await Promise.all([sweepExpired(ctx), sweepExpired(ctx)]);
    await sweepExpired(ctx);
    const evs = await events(m.id);
    assert.equal(evs.filter((e) => e.event === "expired").length, 1);
    assert.equal((await hk.api("GET", `/v1/messages/${m.id}`)).body.state, "completed");
  });
});

describe("extended headers", () => {
  const raw = (extra: string) =>
    `From: orders@shop.test\r\nTo: ext@ok.test\r\nSubject: Raw\r\n${extra}MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nHello\r\n`;

  test("X-Hikyaku-* headers in a raw submission are honoured and removed before delivery", async () => {
    const r = await hk.api("POST", "/v1/messages", {
      raw: raw("X-Hikyaku-Priority: high\r\nX-Hikyaku-Tags: otp, school\r\nX-Hikyaku-Lifetime: 600\r\nX-Hikyaku-Retry-Interval: 30\r\n"),
      envelope: { from: "orders@shop.test", to: ["ext@ok.test"] },
    });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const got = (await hk.api("GET", `/v1/messages/${r.body.id}`)).body;
    assert.equal(got.priority, "high");
    assert.deepEqual(got.tags, ["otp", "school"]);
    assert.equal(Date.parse(got.expires_at) - Date.parse(got.created_at), 600_000);
    await until(r.body.id, "delivered");
    const delivered = received(r.body.message_id)[0];
    assert.ok(delivered);
    assert.doesNotMatch(delivered.raw.toString(), /X-Hikyaku-/i);
    assert.match(delivered.raw.toString(), /^Subject: Raw$/m);
  });

  test("each invalid extended header is refused with a sentence naming it", async () => {
    const cases: [string, string][] = [
      ["X-Hikyaku-Lifetime: 5\r\n", "X-Hikyaku-Lifetime"],
      ["X-Hikyaku-Lifetime: soon\r\n", "X-Hikyaku-Lifetime"],
      ["X-Hikyaku-Retry-Interval: 99999\r\n", "X-Hikyaku-Retry-Interval"],
      ["X-Hikyaku-Priority: urgent\r\n", "X-Hikyaku-Priority"],
      ["X-Hikyaku-Send-At: tomorrow\r\n", "X-Hikyaku-Send-At"],
      ["X-Hikyaku-Quiet-Hours: 22-7\r\n", "X-Hikyaku-Quiet-Hours"],
      ["X-Hikyaku-Quiet-Hours: 22:00-07:00 Mars/Olympus\r\n", "X-Hikyaku-Quiet-Hours"],
      ["X-Hikyaku-Tags: a b\r\n", "X-Hikyaku-Tags"],
      ["X-Hikyaku-Priorty: high\r\n", "X-Hikyaku-Priorty"],
    ];
    for (const [header, name] of cases) {
      const r = await hk.api("POST", "/v1/messages", { raw: raw(header), envelope: { from: "orders@shop.test", to: ["ext@ok.test"] } });
      assert.equal(r.status, 422, header);
      assert.equal(r.body.error.field, name, header);
      assert.match(r.body.error.message, new RegExp(name), header);
    }
  });
});
