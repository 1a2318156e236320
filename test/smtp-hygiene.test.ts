// Protocol hygiene on the SMTP door, with exact bytes on a raw socket: extensions,
// SMTP smuggling payloads, header line length, SIZE, the recipient cap, pipelining.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { MAX_RECIPIENTS } from "../src/accept/accept.ts";
import { eventually, startTestService, type TestService } from "./helpers/service.ts";
import { type RawSmtp, rawSmtp } from "./helpers/smtp-client.ts";

const LIMIT = 20_000;
let hk: TestService;

before(async () => {
  // No worker: these messages are only ever accepted or refused, never delivered.
  hk = await startTestService({ HIKYAKU_ROLES: "api,smtp", HIKYAKU_MAX_MESSAGE_BYTES: String(LIMIT) });
  assert.equal((await hk.api("PUT", "/v1/source-ips", { ips: ["127.0.0.1"] })).status, 200);
});

after(async () => {
  await hk?.stop();
});

async function session(): Promise<RawSmtp> {
  const c = await rawSmtp({ port: hk.service.smtp?.relayPort ?? 0 });
  assert.equal((await c.command("EHLO client.test")).code, 250);
  return c;
}

/** MAIL, RCPT and DATA, then `body` exactly as given, then a proper end of data; returns the reply to it. */
async function transaction(c: RawSmtp, body: Buffer | string, rcpt = "a@ok.test"): Promise<string> {
  assert.equal((await c.command("MAIL FROM:<sender@city.test>")).code, 250);
  assert.equal((await c.command(`RCPT TO:<${rcpt}>`)).code, 250);
  assert.equal((await c.command("DATA")).code, 354);
  c.write(body);
  c.write("\r\n.\r\n");
  return (await c.reply()).text;
}

async function stored(recipient: string): Promise<number> {
  const [row] = await hk.service.db.sql`select count(*)::int as n from recipients where address = ${recipient}`;
  return row?.n ?? 0;
}

const head = "From: sender@city.test\r\nTo: a@ok.test\r\nSubject: hygiene\r\n\r\n";

describe("SMTP protocol hygiene", () => {
  test("EHLO advertises SIZE, PIPELINING, 8BITMIME, SMTPUTF8, ENHANCEDSTATUSCODES and STARTTLS, and no proxy commands", async () => {
    const c = await rawSmtp({ port: hk.service.smtp?.relayPort ?? 0 });
    assert.match(c.greeting.text, /^220 hikyaku\.test ESMTP/);
    const ehlo = (await c.command("EHLO client.test")).text;
    for (const ext of ["PIPELINING", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", `SIZE ${LIMIT}`, "STARTTLS"])
      assert.match(ehlo, new RegExp(`^250[- ]${ext}$`, "m"));
    assert.doesNotMatch(ehlo, /XCLIENT|XFORWARD|AUTH/);
    assert.match((await c.command("XCLIENT ADDR=192.0.2.1")).text, /^500 /);
    assert.match((await c.command("XFORWARD ADDR=192.0.2.1")).text, /^500 /);
    c.close();
  });

  test("pipelined commands are answered in order, and 8-bit UTF-8 mail is accepted", async () => {
    const c = await session();
    c.write("MAIL FROM:<送信@city.test> BODY=8BITMIME SMTPUTF8\r\nRCPT TO:<a@ok.test>\r\nRCPT TO:<b@ok.test>\r\nDATA\r\n");
    const replies = [await c.reply(), await c.reply(), await c.reply(), await c.reply()].map((r) => r.code);
    assert.deepEqual(replies, [250, 250, 250, 354]);
    c.write(`${head}避難所は小学校です。\r\n.\r\n`);
    assert.match((await c.reply()).text, /^250 2\.0\.0 Ok: queued as /);
    c.close();
  });

  const smuggling: [string, string][] = [
    ["a bare-LF end of data", `${head}hello\n.\nMAIL FROM:<x@city.test>\nRCPT TO:<smuggled@ok.test>\nDATA\n\nsmuggled\n`],
    ["CRLF then a dot and a bare LF", `${head}hello\r\n.\nMAIL FROM:<x@city.test>\r\nRCPT TO:<smuggled@ok.test>\r\nDATA\r\n`],
    ["a bare LF then a dot and CRLF", `${head}hello\n.\r\nMAIL FROM:<x@city.test>\r\nRCPT TO:<smuggled@ok.test>\r\nDATA\r\n`],
    ["a bare CR end of data", `${head}hello\r.\rMAIL FROM:<x@city.test>\r\nRCPT TO:<smuggled@ok.test>\r\n`],
    ["a NUL byte", `${head}hel\0lo`],
  ];
  for (const [what, payload] of smuggling) {
    test(`DATA with ${what} is refused whole, and nothing is smuggled in`, async () => {
      const c = await session();
      const reply = await transaction(c, Buffer.from(payload, "utf8"), "victim@ok.test");
      assert.match(reply, /^550 5\.6\.0 DATA: the message contains (a bare LF|a bare CR|a NUL byte)/);
      assert.match((await c.command("NOOP")).text, /^250 /, "the session carries on with no smuggled transaction open");
      c.close();
      assert.equal(await stored("victim@ok.test"), 0);
      assert.equal(await stored("smuggled@ok.test"), 0);
    });
  }

  test("a refused DATA is in the reception log with its code and reason", async () => {
    const events = await eventually(async () => {
      const r = await hk.api("GET", "/v1/logs?type=reception&limit=100");
      const found = (r.body.data ?? []).filter((e: any) => !e.accepted && e.code === 550 && /bare LF/.test(e.reason));
      return found.length >= 3 ? found : undefined;
    }, "refused DATA in the reception log");
    assert.equal(events[0].channel, "smtp");
    assert.equal(events[0].enhanced_code, "5.6.0");
    assert.equal(events[0].envelope_sender, "sender@city.test");
    assert.equal(events[0].recipient_count, 1);
  });

  test("a header line over 998 octets is refused", async () => {
    const c = await session();
    const reply = await transaction(c, `From: sender@city.test\r\nX-Long: ${"a".repeat(995)}\r\n\r\nbody`, "long@ok.test");
    assert.match(reply, /^550 5\.6\.0 A header line is longer than 998 octets/);
    c.close();
    assert.equal(await stored("long@ok.test"), 0);
  });

  test("SIZE is enforced: declared at MAIL FROM, and counted while the data arrives", async () => {
    const c = await session();
    const declared = await c.command(`MAIL FROM:<sender@city.test> SIZE=${LIMIT + 1}`);
    assert.match(declared.text, /^552 5\.3\.4 The message is larger than the 20000-byte limit/);
    const reply = await transaction(c, `${head}${"x".repeat(78)}\r\n`.repeat(Math.ceil((LIMIT * 1.5) / 80)), "big@ok.test");
    assert.match(reply, /^552 5\.3\.4 The message is larger than the 20000-byte limit/);
    assert.match((await c.command("NOOP")).text, /^250 /);
    c.close();
    assert.equal(await stored("big@ok.test"), 0);
  });

  test(`recipients are capped at ${MAX_RECIPIENTS} per message with 452 4.5.3`, async () => {
    const c = await session();
    const n = MAX_RECIPIENTS + 1;
    c.write(`MAIL FROM:<sender@city.test>\r\n${Array.from({ length: n }, (_, i) => `RCPT TO:<r${i}@ok.test>\r\n`).join("")}`);
    assert.equal((await c.reply()).code, 250);
    const codes: number[] = [];
    let last = "";
    for (let i = 0; i < n; i++) {
      const r = await c.reply();
      codes.push(r.code);
      last = r.text;
    }
    assert.equal(codes.filter((x) => x === 250).length, MAX_RECIPIENTS);
    assert.match(last, /^452 4\.5\.3 Too many recipients/);
    assert.match((await c.command("RSET")).text, /^250 /);
    c.close();
  });

  test("a refused recipient address is answered at RCPT TO, and the others still go", async () => {
    const c = await session();
    assert.equal((await c.command("MAIL FROM:<sender@city.test>")).code, 250);
    assert.match((await c.command("RCPT TO:<someone@[127.0.0.1]>")).text, /^553 5\.1\.3 RCPT TO: /);
    assert.equal((await c.command("RCPT TO:<fine@ok.test>")).code, 250);
    assert.equal((await c.command("DATA")).code, 354);
    c.write(`${head}hi\r\n.\r\n`);
    assert.match((await c.reply()).text, /^250 /);
    c.close();
    assert.equal(await stored("fine@ok.test"), 1);
  });
});
