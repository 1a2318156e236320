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

describe("SMTP intake details", () => {
  async function refusedInLog(match: (e: any) => boolean, what: string): Promise<any> {
    return eventually(async () => {
      const r = await hk.api("GET", "/v1/logs?type=reception&limit=100");
      return (r.body.data ?? []).find((e: any) => !e.accepted && match(e));
    }, what);
  }

  for (const [what, first] of [
    ["a space", " "],
    ["a tab", "\t"],
  ] as const) {
    test(`DATA whose first line starts with ${what} is refused, not folded into our Received field`, async () => {
      const c = await session();
      const tag = what.replace(" ", "-");
      const reply = await transaction(c, `${first}by attacker.example; Mon, 1 Jan 2024 00:00:00 +0000\r\n${head}hi`, `folded-${tag}@ok.test`);
      assert.match(reply, /^550 5\.6\.0 DATA: the message starts with a space or tab/);
      assert.match(await transaction(c, `${head}hi`, `unfolded-${tag}@ok.test`), /^250 2\.0\.0 /, "the session carries on");
      c.close();
      assert.equal(await stored(`folded-${tag}@ok.test`), 0);
      assert.equal(await stored(`unfolded-${tag}@ok.test`), 1);
    });
  }

  test("MAIL FROM and RCPT TO that are not UTF-8 are refused with 553 5.1.3, not stored with U+FFFD", async () => {
    const c = await session();
    c.write(Buffer.concat([Buffer.from("MAIL FROM:<caf"), Buffer.from([0xe9]), Buffer.from("@city.test> SMTPUTF8\r\n")]));
    const mail = await c.reply();
    assert.match(mail.text, /^553 5\.1\.3 MAIL FROM: the address is not valid UTF-8/);
    assert.equal((await c.command("MAIL FROM:<café@city.test> SMTPUTF8")).code, 250, "the same address in UTF-8 is fine");
    c.write(Buffer.concat([Buffer.from("RCPT TO:<"), Buffer.from([0xff, 0xfe]), Buffer.from("@ok.test>\r\n")]));
    assert.match((await c.reply()).text, /^553 5\.1\.3 RCPT TO: the address is not valid UTF-8/);
    // A truncated multi-byte sequence (the first byte of "送" alone) is not UTF-8 either.
    c.write(Buffer.concat([Buffer.from("RCPT TO:<a"), Buffer.from([0xe9, 0x80]), Buffer.from("@ok.test>\r\n")]));
    assert.equal((await c.reply()).code, 553);
    assert.equal((await c.command("RCPT TO:<送@ok.test>")).code, 250);
    assert.equal((await c.command("DATA")).code, 354);
    c.write(`${head}hi\r\n.\r\n`);
    assert.match((await c.reply()).text, /^250 /);
    c.close();
    const [row] = await hk.service.db.sql`select count(*)::int as n from recipients where address like ${"%\uFFFD%"}`;
    assert.equal(row?.n, 0, "no address with U+FFFD was stored");
    assert.equal(await stored("送@ok.test"), 1);
    const ev = await refusedInLog((e) => /MAIL FROM: the address is not valid UTF-8/.test(e.reason), "the refused MAIL FROM in the reception log");
    assert.equal(ev.code, 553);
    assert.equal(ev.enhanced_code, "5.1.3");
  });

  test("a NUL in an address is refused at either door, and the refusal is in the reception log", async () => {
    const c = await session();
    assert.match((await c.command("MAIL FROM:<nul\0sender@city.test>")).text, /^501 5\.1\.7 /);
    assert.equal((await c.command("MAIL FROM:<sender@city.test>")).code, 250);
    assert.match((await c.command("RCPT TO:<nul\0rcpt@ok.test>")).text, /^501 5\.1\.3 /);
    c.close();
    const mail = await refusedInLog((e) => e.envelope_sender === "nul\\0sender@city.test", "the NUL sender's refusal");
    assert.deepEqual([mail.channel, mail.code, mail.enhanced_code, mail.recipient_count], ["smtp", 501, "5.1.7", 0]);
    assert.match(mail.reason, /^MAIL FROM: "nul\\u0000sender@city\.test" is not a valid address/);
    const rcpt = await refusedInLog((e) => /^RCPT TO: "nul\\u0000rcpt@ok\.test"/.test(e.reason), "the NUL recipient's refusal");
    assert.deepEqual([rcpt.envelope_sender, rcpt.code, rcpt.enhanced_code], ["sender@city.test", 501, "5.1.3"]);
    const http = await hk.api("POST", "/v1/messages", { from: "nul\u0000http@city.test", to: "a@ok.test", subject: "x", text: "x" });
    assert.equal(http.status, 422);
    const ev = await refusedInLog((e) => e.envelope_sender === "nul\\0http@city.test", "the NUL sender's refusal");
    assert.equal(ev.channel, "http");
    assert.equal(ev.code, 422);
    assert.match(ev.reason, /NUL character/);
  });
});
