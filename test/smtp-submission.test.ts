// The submission doors: SMTP AUTH with per-account credentials, only over TLS
// (STARTTLS on the submission port, implicit TLS on the SMTPS port), with limits
// against password guessing shared through the database.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import tls from "node:tls";
import nodemailer from "nodemailer";
import { advanceClock, nowMs, resetClock } from "../src/clock.ts";
import { AUTH_FAILURE_LIMITS } from "../src/smtp/auth-failures.ts";
import { startDns, type TestDns } from "./helpers/dns-server.ts";
import { startTestService, type TestService } from "./helpers/service.ts";
import { type Sink, startSink } from "./helpers/sink.ts";
import { type RawSmtp, rawSmtp, refusal } from "./helpers/smtp-client.ts";

let dns: TestDns;
let sink: Sink;
let hk: TestService;
let cred: { id: string; username: string; password: string };

before(async () => {
  sink = await startSink({ host: "127.0.0.2" });
  dns = await startDns({ "ok.test": { MX: [{ exchange: "mx1.ok.test", priority: 10 }] }, "mx1.ok.test": { A: ["127.0.0.2"] } });
  hk = await startTestService({ HIKYAKU_DNS_SERVERS: dns.address, HIKYAKU_MX_PORT: String(sink.port) });
  const res = await hk.api("POST", "/v1/smtp-credentials", {});
  assert.equal(res.status, 201, JSON.stringify(res.body));
  cred = res.body;
});

after(async () => {
  resetClock();
  await hk?.stop();
  await sink?.close();
  await dns?.close();
});

const ports = () => hk.service.smtp ?? assert.fail("the smtp role runs");
const b64 = (s: string) => Buffer.from(s).toString("base64");
const plain = (user: string, pass: string) => `AUTH PLAIN ${b64(`\0${user}\0${pass}`)}`;
const message = (subject: string) => Buffer.from(`From: alerts@city.test\r\nTo: a@ok.test\r\nSubject: ${subject}\r\n\r\nhello\r\n`);

function submission(opts: { secure?: boolean; user?: string; pass?: string; localAddress?: string; authMethod?: string } = {}) {
  return nodemailer.createTransport({
    host: "127.0.0.1",
    port: opts.secure ? ports().smtpsPort : ports().submissionPort,
    secure: opts.secure ?? false,
    requireTLS: !opts.secure,
    auth: { user: opts.user ?? cred.username, pass: opts.pass ?? cred.password },
    ...(opts.authMethod ? { authMethod: opts.authMethod } : {}),
    ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
    tls: { rejectUnauthorized: false },
    connectionTimeout: 5000,
    greetingTimeout: 5000,
  });
}

/** A raw session on the submission port, upgraded with STARTTLS and greeted again. */
async function tlsSession(localAddress?: string): Promise<RawSmtp> {
  const c = await rawSmtp({ port: ports().submissionPort, ...(localAddress ? { localAddress } : {}) });
  await c.command("EHLO client.test");
  await c.starttls();
  await c.command("EHLO client.test");
  return c;
}

describe("SMTP credentials API", () => {
  test("creates with a chosen or generated username, lists without passwords, revokes", async () => {
    assert.match(cred.username, /^hk-[0-9a-f]{12}$/);
    assert.ok(cred.password.length >= 32);
    const named = await hk.api("POST", "/v1/smtp-credentials", { username: "city-alerts" });
    assert.equal(named.status, 201);
    assert.equal(named.body.username, "city-alerts");
    assert.equal((await hk.api("POST", "/v1/smtp-credentials", { username: "city-alerts" })).status, 409);
    const bad = await hk.api("POST", "/v1/smtp-credentials", { username: "no spaces" });
    assert.equal(bad.status, 422);
    assert.equal(bad.body.error.field, "username");

    const list = await hk.api("GET", "/v1/smtp-credentials");
    assert.deepEqual(
      list.body.data.map((c: any) => c.username),
      [cred.username, "city-alerts"],
    );
    assert.ok(list.body.data.every((c: any) => !("password" in c)));
    const [row] = await hk.service.db.sql`select password_hash from smtp_credentials where username = 'city-alerts'`;
    assert.match(row?.password_hash, /^scrypt\$/, "stored as a slow hash");
    assert.ok(!String(row?.password_hash).includes(named.body.password));

    const other = await hk.newAccount("other");
    const foreign = await fetch(`${hk.url}/v1/smtp-credentials/${named.body.id}`, { method: "DELETE", headers: { authorization: `Bearer ${other.key}` } });
    assert.equal(foreign.status, 404, "another account's credentials look unknown");
    assert.equal((await hk.api("DELETE", `/v1/smtp-credentials/${named.body.id}`)).status, 204);
    assert.equal((await hk.api("DELETE", `/v1/smtp-credentials/${named.body.id}`)).status, 404);
    const revoked = await refusal(
      submission({ user: "city-alerts", pass: named.body.password }).sendMail({ envelope: { from: "a@city.test", to: ["a@ok.test"] }, raw: message("x") }),
    );
    assert.equal(revoked.responseCode, 535);
  });
});

describe("submission", () => {
  test("AUTH PLAIN over STARTTLS submits into the pipeline and the mail is delivered", async () => {
    const before = sink.messages.length;
    const info = await submission().sendMail({ envelope: { from: "bounces@city.test", to: ["a@ok.test"] }, raw: message("starttls") });
    assert.match(info.response, /^250 2\.0\.0 Ok: queued as [0-9a-f-]{36}$/);
    const [got] = (await sink.waitFor(before + 1)).slice(before);
    assert.match(got?.raw.toString() ?? "", /^Received: from .*\r\n\tby hikyaku\.test \(Hikyaku\) with ESMTPSA;/m);
  });

  test("AUTH LOGIN over implicit TLS on the SMTPS port", async () => {
    const info = await submission({ secure: true, authMethod: "LOGIN" }).sendMail({
      envelope: { from: "bounces@city.test", to: ["a@ok.test"] },
      raw: message("smtps"),
    });
    const id = /queued as ([0-9a-f-]{36})/.exec(info.response)?.[1];
    const msg = await hk.api("GET", `/v1/messages/${id}`);
    assert.equal(msg.status, 200);
    assert.equal(msg.body.channel, "smtp");
  });

  test("TLS older than 1.2 is refused", async () => {
    const attempt = (maxVersion: tls.SecureVersion) =>
      new Promise<string>((resolve) => {
        const s = tls.connect({
          host: "127.0.0.1",
          port: ports().smtpsPort,
          rejectUnauthorized: false,
          minVersion: "TLSv1",
          maxVersion,
          ciphers: "DEFAULT@SECLEVEL=0",
        });
        s.once("secureConnect", () => {
          resolve(s.getProtocol() ?? "?");
          s.destroy();
        });
        s.once("error", (err) => resolve(`error: ${err.message}`));
      });
    assert.match(await attempt("TLSv1.1"), /^error: /);
    assert.equal(await attempt("TLSv1.2"), "TLSv1.2");
  });

  test("AUTH before STARTTLS gets 538 5.7.11; MAIL before AUTH gets 530 5.7.0", async () => {
    const plainText = await rawSmtp({ port: ports().submissionPort });
    const ehlo = await plainText.command("EHLO client.test");
    assert.match(ehlo.text, /STARTTLS/);
    assert.doesNotMatch(ehlo.text, /AUTH/, "AUTH is not advertised before STARTTLS");
    const early = await plainText.command(plain(cred.username, cred.password));
    assert.equal(early.code, 538);
    assert.match(early.text, /^538 5\.7\.11 /);
    const mail = await plainText.command("MAIL FROM:<a@city.test>");
    assert.match(mail.text, /^530 5\.7\.0 Authentication required/);
    plainText.close();

    const secured = await rawSmtp({ port: ports().submissionPort });
    await secured.command("EHLO client.test");
    await secured.starttls();
    assert.match((await secured.command("EHLO client.test")).text, /^250-AUTH PLAIN LOGIN$/m, "offered once TLS is up");
    assert.match((await secured.command("MAIL FROM:<a@city.test>")).text, /^530 5\.7\.0 /);
    assert.match((await secured.command(plain(cred.username, cred.password))).text, /^235 /);
    assert.match((await secured.command("MAIL FROM:<a@city.test>")).text, /^250 /);
    secured.close();
  });

  test("wrong credentials get 535 5.7.8 with the same words; the third failure closes the connection", async () => {
    const c = await tlsSession("127.0.0.7");
    const unknown = await c.command(plain("nobody-here", "x"));
    const wrong = await c.command(plain(cred.username, "wrong password"));
    assert.equal(unknown.code, 535);
    assert.match(unknown.text, /^535 5\.7\.8 /);
    assert.equal(unknown.text, wrong.text, "unknown user and wrong password read the same");
    const third = await c.command(plain(cred.username, "again wrong"));
    assert.equal(third.text, unknown.text);
    await c.closed;
    assert.ok(c.isClosed());
  });

  test("10 failures for one username from one IP lock out that pair only, case-insensitively, until the window passes", async () => {
    const ip = "127.0.0.8";
    const victim = (await hk.api("POST", "/v1/smtp-credentials", { username: "Pair-Victim" })).body;
    for (let done = 0; done < 10; ) {
      const c = await tlsSession(ip);
      // The guesser varies the case: the counter does not care.
      for (let i = 0; i < 3 && done < 10; i++, done++)
        assert.equal((await c.command(plain(done % 2 ? "pair-victim" : "PAIR-VICTIM", `guess-${done}`))).code, 535);
      c.close();
    }
    const locked = await refusal(
      submission({ user: "pair-victim", pass: victim.password, localAddress: ip }).sendMail({
        envelope: { from: "a@city.test", to: ["a@ok.test"] },
        raw: message("x"),
      }),
    );
    assert.equal(locked.responseCode, 454);
    assert.match(locked.response, /^454 4\.7\.0 Too many failed logins for this username from this address/);
    const persistent = await tlsSession(ip);
    for (let i = 0; i < 3; i++) assert.equal((await persistent.command(plain("Pair-Victim", victim.password))).code, 454);
    await persistent.closed;

    const send = (user: string, pass: string, localAddress: string) =>
      submission({ user, pass, localAddress }).sendMail({ envelope: { from: "a@city.test", to: ["a@ok.test"] }, raw: message("x") });
    assert.match((await send("pair-victim", victim.password, "127.0.0.9")).response, /^250 /, "the customer elsewhere still logs in");
    assert.match((await send(cred.username, cred.password, ip)).response, /^250 /, "other usernames from the guesser's address still log in");

    advanceClock(10 * 60 * 1000 + 1000);
    assert.match((await send("pair-victim", victim.password, ip)).response, /^250 /);
  });

  test(`${AUTH_FAILURE_LIMITS.ip} failures from one IP, over many usernames, lock that IP out`, async () => {
    const ip = "127.0.0.15";
    for (let done = 0; done < AUTH_FAILURE_LIMITS.ip; ) {
      const c = await tlsSession(ip);
      for (let i = 0; i < 3 && done < AUTH_FAILURE_LIMITS.ip; i++, done++) assert.equal((await c.command(plain(`spray-${done}`, "x"))).code, 535);
      c.close();
    }
    const locked = await refusal(submission({ localAddress: ip }).sendMail({ envelope: { from: "a@city.test", to: ["a@ok.test"] }, raw: message("x") }));
    assert.equal(locked.responseCode, 454);
    assert.match(locked.response, /^454 4\.7\.0 Too many failed logins from this address;/);
    const elsewhere = await submission({ localAddress: "127.0.0.16" }).sendMail({ envelope: { from: "a@city.test", to: ["a@ok.test"] }, raw: message("x") });
    assert.match(elsewhere.response, /^250 /, "another IP with the right password is not locked out");
    advanceClock(10 * 60 * 1000 + 1000);
  });

  test(`the global guard: ${AUTH_FAILURE_LIMITS.user} failures for one username from anywhere lock it everywhere`, async () => {
    const victim = (await hk.api("POST", "/v1/smtp-credentials", { username: "victim" })).body;
    const send = (localAddress: string) =>
      submission({ user: "victim", pass: victim.password, localAddress }).sendMail({ envelope: { from: "a@city.test", to: ["a@ok.test"] }, raw: message("x") });
    // All but the last failure stand in for a guess spread over many addresses; they are
    // written as the SMTP door counts them against the username.
    const at = new Date(nowMs());
    const spread = Array.from({ length: AUTH_FAILURE_LIMITS.user - 1 }, () => ({ key: "user:victim", at }));
    await hk.service.db.sql`insert into auth_failures ${hk.service.db.sql(spread)}`;
    assert.match((await send("127.0.0.17")).response, /^250 /, "one below the global limit, the customer still logs in");
    const c = await tlsSession("127.0.0.18");
    assert.equal((await c.command(plain("VICTIM", "one more guess"))).code, 535);
    c.close();
    const locked = await refusal(send("127.0.0.19"));
    assert.equal(locked.responseCode, 454);
    assert.match(locked.response, /^454 4\.7\.0 Too many failed logins for this username;/);
    const [row] = await hk.service.db.sql`select count(*)::int as n from reception_events where code = 535 and account_id = ${hk.accountId}`;
    assert.ok((row?.n ?? 0) >= 10, "failed logins for the account's usernames are in its reception log");
    advanceClock(10 * 60 * 1000 + 1000);
  });

  test("usernames are case-insensitive: unique whatever the case, and any case logs in", async () => {
    const made = await hk.api("POST", "/v1/smtp-credentials", { username: "School-Gate" });
    assert.equal(made.status, 201);
    assert.equal(made.body.username, "School-Gate", "shown as chosen");
    const clash = await hk.api("POST", "/v1/smtp-credentials", { username: "school-gate" });
    assert.equal(clash.status, 409);
    assert.equal(clash.body.error.field, "username");
    assert.match(clash.body.error.message, /case-insensitive/);
    const other = await hk.newAccount("another school");
    const foreign = await fetch(`${hk.url}/v1/smtp-credentials`, {
      method: "POST",
      headers: { authorization: `Bearer ${other.key}`, "content-type": "application/json" },
      body: JSON.stringify({ username: "SCHOOL-GATE" }),
    });
    assert.equal(foreign.status, 409, "another account cannot take it in another case either");
    for (const user of ["school-gate", "SCHOOL-GATE", "School-Gate"]) {
      const info = await submission({ user, pass: made.body.password }).sendMail({ envelope: { from: "a@city.test", to: ["a@ok.test"] }, raw: message(user) });
      assert.match(info.response, /^250 /, user);
    }
  });
});
