// Limits that keep the SMTP door up for everyone: a per-IP connection cap, an absolute
// session deadline, and a database outage answered with a retryable 451 — never a 5xx
// that would bounce good mail, and never a 250 without a commit.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import postgres from "postgres";
import { startTestService, type TestService } from "./helpers/service.ts";
import { type RawSmtp, rawSmtp } from "./helpers/smtp-client.ts";

let hk: TestService;

before(async () => {
  hk = await startTestService({ HIKYAKU_ROLES: "api,smtp", HIKYAKU_SMTP_MAX_CONNECTIONS_PER_IP: "3", HIKYAKU_SMTP_SESSION_SECONDS: "3" });
  assert.equal((await hk.api("PUT", "/v1/source-ips", { ips: ["127.0.0.1"] })).status, 200);
});

after(async () => {
  await hk?.stop();
});

const relay = (localAddress?: string) => rawSmtp({ port: hk.service.smtp?.relayPort ?? 0, ...(localAddress ? { localAddress } : {}) });

describe("SMTP limits", () => {
  test("one IP may hold only so many connections at once; others are unaffected", async () => {
    const open: RawSmtp[] = [];
    for (let i = 0; i < 3; i++) open.push(await relay("127.0.0.5"));
    for (const c of open) assert.equal(c.greeting.code, 220);
    const fourth = await relay("127.0.0.5");
    assert.match(fourth.greeting.text, /^421 4\.7\.0 Too many connections from 127\.0\.0\.5/);
    await fourth.closed;
    const other = await relay("127.0.0.6");
    assert.equal(other.greeting.code, 220);
    other.close();
    open.pop()?.close();
    await new Promise((r) => setTimeout(r, 100));
    const again = await relay("127.0.0.5");
    assert.equal(again.greeting.code, 220, "a closed connection frees its slot");
    for (const c of [...open, again]) c.close();
  });

  test("a session that outlives its deadline is closed with 421 4.4.2, however busy the client keeps it", async () => {
    const c = await relay();
    const started = Date.now();
    let last = "";
    while (!c.isClosed() && Date.now() - started < 8000) {
      last = (await c.command("NOOP").catch(() => ({ text: last }))).text;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(c.isClosed(), "the server closed the session");
    // The 421 may have arrived unasked, between two NOOPs.
    last = (await c.reply(100).catch(() => undefined))?.text ?? last;
    assert.match(last, /^421 4\.4\.2 Session time limit reached/);
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 2500 && elapsed < 6000, `closed after ${elapsed} ms`);
  });

  test("a database outage at the end of DATA answers 451 4.3.0, stores nothing, and intake recovers", async () => {
    const admin = postgres(process.env.HIKYAKU_TEST_ADMIN_URL ?? "", { max: 1, onnotice: () => {} });
    const name = new URL(hk.config.DATABASE_URL ?? "").pathname.slice(1);
    const c = await relay();
    try {
      await c.command("EHLO client.test");
      assert.equal((await c.command("MAIL FROM:<sender@city.test>")).code, 250);
      assert.equal((await c.command("RCPT TO:<outage@ok.test>")).code, 250);
      assert.equal((await c.command("DATA")).code, 354);
      await admin.unsafe(`alter database ${name} allow_connections false`);
      await admin`select pg_terminate_backend(pid) from pg_stat_activity where datname = ${name}`;
      c.write("From: sender@city.test\r\nSubject: outage\r\n\r\nhello\r\n.\r\n");
      const reply = await c.reply();
      assert.match(reply.text, /^451 4\.3\.0 /);
    } finally {
      await admin.unsafe(`alter database ${name} allow_connections true`);
      await admin.end();
      c.close();
    }
    const [row] = await hk.service.db.sql`select count(*)::int as n from recipients where address = 'outage@ok.test'`;
    assert.equal(row?.n, 0, "nothing was committed");

    const again = await relay();
    await again.command("EHLO client.test");
    await again.command("MAIL FROM:<sender@city.test>");
    await again.command("RCPT TO:<outage@ok.test>");
    await again.command("DATA");
    again.write("From: sender@city.test\r\nSubject: retry\r\n\r\nhello\r\n.\r\n");
    assert.match((await again.reply()).text, /^250 2\.0\.0 Ok: queued as /);
    again.close();
  });
});
