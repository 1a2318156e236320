// DKIM on the wire: every door (composed JSON, raw JSON, SMTP, DSN) delivers through the
// real service to a loopback smtp-server, and the bytes that server received are checked
// by two verifiers that are not our signer, mailauth and dkimpy (Debian python3-dkim with
// python3-nacl for Ed25519): both signatures, rsa-sha256 and ed25519-sha256, must pass.
// The bytes must also be CRLF-only with no line over 998 octets, so no relay on the way has
// a reason to rewrite them, and what was stored must be exactly what arrived.
import assert from "node:assert/strict";
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { promises as nodeDns } from "node:dns";
import { createRequire } from "node:module";
import { createInterface } from "node:readline";
import { after, before, describe, test } from "node:test";
import { simpleParser } from "mailparser";
import { accept } from "../src/accept/accept.ts";
import { AppError } from "../src/errors.ts";
import { startDns, type TestDns } from "./helpers/dns-server.ts";
import { deferred, eventually, startTestService, type TestService } from "./helpers/service.ts";
import { type Sink, startSink } from "./helpers/sink.ts";
import { rawSmtp } from "./helpers/smtp-client.ts";

const require = createRequire(import.meta.url);
const { dkimVerify } = require("mailauth/lib/dkim/verify") as {
  dkimVerify: (m: Buffer, o: object) => Promise<{ results: { signingDomain: string; algo: string; status: { result: string; comment?: string } }[] }>;
};

// The Debian interpreter, where python3-dkim lives (a python3 earlier on PATH may lack it).
const PYTHON = "/usr/bin/python3";
// One process for the whole file (importing dkim takes seconds on a loaded machine): one
// JSON line in per message, one JSON line out with each signature's verdict.
const DKIMPY = `
import base64, json, sys
import dkim, nacl  # nacl: dkimpy verifies ed25519-sha256 with it
from dkim.util import parse_tag_value
print("ready", flush=True)
for line in sys.stdin:
    req = json.loads(line)
    keys = {k.encode(): v.encode() for k, v in req["keys"].items()}
    msg = base64.b64decode(req["message"])
    def dnsfunc(name, timeout=5):
        return keys.get(name.rstrip(b"."))
    out = []
    sigs = [v for k, v in dkim.DKIM(msg).headers if k.lower() == b"dkim-signature"]
    for i, v in enumerate(sigs):
        tags = parse_tag_value(b"".join(v.split()))
        try:
            ok, error = dkim.DKIM(msg).verify(idx=i, dnsfunc=dnsfunc), None
        except Exception as e:
            ok, error = False, repr(e)
        out.append({"d": tags[b"d"].decode(), "a": tags[b"a"].decode(), "ok": bool(ok), "error": error})
    print(json.dumps(out), flush=True)
`;

// A destination's reply that is long, spans two lines and is not ASCII: it goes into the DSN.
const BOUNCE_REPLY = `5.1.1 宛先のメールボックスは存在しません (user unknown) ${"detail ".repeat(120)}\n5.1.1 second line of the reply`;

let dns: TestDns;
let sink: Sink;
let held: Sink;
const release = deferred();
let hk: TestService;

function resolver() {
  const r = new nodeDns.Resolver({ timeout: 2000, tries: 1 });
  r.setServers([dns.address]);
  return (name: string, rr: string) => r.resolve(name, rr as "TXT");
}

type DkimpyVerdict = { d: string; a: string; ok: boolean; error: string | null }[];
let python: ChildProcessWithoutNullStreams;
const answers: { resolve: (line: string) => void; reject: (err: Error) => void }[] = [];

/** Starts dkimpy and waits until it has imported its modules; fails the file when it cannot. */
function startDkimpy(): Promise<void> {
  python = spawn(PYTHON, ["-c", DKIMPY]);
  let stderr = "";
  python.stderr.on("data", (d) => {
    stderr += d;
  });
  const failed = (why: string) => new Error(`dkimpy (${PYTHON}, Debian python3-dkim and python3-nacl) ${why}: ${stderr}`);
  python.on("error", (err) => {
    for (const w of answers.splice(0)) w.reject(failed(err.message));
  });
  python.on("exit", (code) => {
    for (const w of answers.splice(0)) w.reject(failed(`exited with ${code}`));
  });
  createInterface({ input: python.stdout }).on("line", (line) => answers.shift()?.resolve(line));
  return new Promise((resolve, reject) => answers.push({ resolve: () => resolve(), reject }));
}

async function dkimpy(raw: Buffer): Promise<DkimpyVerdict> {
  const keys: Record<string, string> = {};
  for (const [name, rec] of Object.entries(dns.records)) if (rec.TXT?.[0]) keys[name] = rec.TXT[0].join("");
  const line = new Promise<string>((resolve, reject) => answers.push({ resolve, reject }));
  python.stdin.write(`${JSON.stringify({ message: raw.toString("base64"), keys })}\n`);
  return JSON.parse(await line);
}

/** What a relay on the way could rewrite: a bare CR or LF, a line over 998 octets. */
function assertWireForm(raw: Buffer): void {
  const text = raw.toString("latin1");
  assert.doesNotMatch(text, /[^\r]\n|^\n/, "no bare LF");
  assert.doesNotMatch(text, /\r(?!\n)/, "no bare CR");
  const longest = Math.max(...text.split("\r\n").map((l) => l.length));
  assert.ok(longest <= 998, `no line over 998 octets (the longest has ${longest})`);
  assert.ok(text.endsWith("\r\n"), "ends in CRLF");
}

let verified = 0;
/** The received bytes are in wire form and both verifiers pass both of our signatures. */
async function assertSignedOnTheWire(raw: Buffer): Promise<void> {
  assertWireForm(raw);
  const byMailauth = (await dkimVerify(raw, { resolver: resolver() })).results.filter((r) => r.signingDomain === "shop.test");
  assert.deepEqual(byMailauth.map((r) => r.algo).sort(), ["ed25519-sha256", "rsa-sha256"], "mailauth sees both of our signatures");
  for (const r of byMailauth) assert.equal(r.status.result, "pass", `mailauth ${r.algo}: ${r.status.comment ?? ""}`);
  const byDkimpy = (await dkimpy(raw)).filter((r) => r.d === "shop.test");
  assert.deepEqual(byDkimpy.map((r) => r.a).sort(), ["ed25519-sha256", "rsa-sha256"], "dkimpy sees both of our signatures");
  for (const r of byDkimpy) assert.ok(r.ok, `dkimpy ${r.a}: ${r.error ?? "fail"}`);
  verified++;
}

async function received(headerId: string, from: Sink = sink): Promise<Buffer> {
  const got = await eventually(async () => from.messages.find((m) => m.raw.includes(`<${headerId}>`)), `the sink to receive ${headerId}`, 90_000);
  return got.raw;
}

async function post(body: Record<string, unknown>): Promise<{ id: string; messageId: string }> {
  const res = await hk.api("POST", "/v1/messages", body);
  assert.equal(res.status, 202, JSON.stringify(res.body));
  return { id: res.body.id, messageId: res.body.message_id };
}

const crlf = (s: string) => s.replace(/\r\n|\r|\n/g, "\r\n");
const b64 = (s: string | Buffer) => Buffer.from(s).toString("base64");
const longAscii = `${"The quick brown fox jumps over the lazy dog. ".repeat(30)}end`; // 1,353 octets, one line
const longJapanese = "長い行の日本語テキストです。".repeat(40); // 1,680 octets, one line

interface Composed {
  name: string;
  body: Record<string, unknown>;
}
const composed: Composed[] = [
  {
    name: "the reported case: Japanese text with LF, trailing spaces, blank lines at the end, html, an attachment",
    body: {
      text: "お届け予定日は明日です。\nLine with trailing spaces   \n\n\n",
      html: "<p>お届け予定日は明日です。</p>\n<p>Line</p>\n",
      attachments: [{ filename: "receipt.pdf", content: b64(Buffer.from("%PDF-1.4\n\u0000\u00ff\r\u0001", "latin1")), content_type: "application/pdf" }],
    },
  },
  { name: "ASCII text with LF (7bit)", body: { text: "line one\nline two\n" } },
  { name: "ASCII text with CRLF", body: { text: "line one\r\nline two\r\n" } },
  { name: "ASCII text with CR", body: { text: "line one\rline two\r" } },
  { name: "text mixing LF, CR and CRLF, quoted-printable", body: { text: "café\nnaïve\rrésumé\r\nfin" } },
  { name: "html with LF, CR and CRLF", body: { text: "see html", html: "<p>a</p>\n<p>b</p>\r<p>c</p>\r\n" } },
  { name: "trailing spaces and tabs on every line", body: { text: "a   \nb\t\t\nc \t \n", html: "<p>a</p>   \n<p>b</p>\t\n" } },
  { name: "blank lines and whitespace-only lines at the end", body: { text: "last words\n\n   \n\t\n\n\n" } },
  { name: "an ASCII line over 998 octets in text and html", body: { text: `${longAscii}\nshort\n`, html: `<p>${longAscii}</p>\n` } },
  { name: "a Japanese line over 998 octets (base64)", body: { text: `${longJapanese}\n${longJapanese}\n` } },
  { name: "lines that start with dots (dot-stuffing is transport only)", body: { text: ".\n..\n.hidden\nend.\n" } },
  {
    name: "UTF-8 subject and display names",
    body: {
      from: { email: "orders@shop.test", name: "飛脚商店 (Hikyaku Shop) — お知らせ係" },
      to: ["山田 太郎 <a@dest.test>"],
      cc: [{ email: "b@dest.test", name: "Ünïcødé Ñame" }],
      reply_to: { email: "support@shop.test", name: "サポート" },
      subject: `【重要】避難指示のお知らせ — ${"件名が長い場合の折り返し ".repeat(8)}✓`,
      text: "本文\n",
    },
  },
  {
    name: "attachments: binary, text/plain with LF, an .eml message with LF, an inline image",
    body: {
      text: "attached\n",
      html: '<p>attached <img src="cid:logo@shop.test"></p>\n',
      attachments: [
        { filename: "data.bin", content: b64(Buffer.from([0, 10, 13, 10, 13, 255, 0x2e, 10])) },
        { filename: "notes.txt", content: b64("first line  \nsecond line\n\n"), content_type: "text/plain" },
        { filename: "forwarded.eml", content: b64("From: x@other.test\nSubject: fwd\n\nforwarded body  \n.\n") },
        {
          filename: "領収書.png",
          content: b64(Buffer.from([0x89, 0x50, 0x4e, 0x47, 13, 10, 26, 10])),
          content_type: "image/png",
          content_id: "logo@shop.test",
        },
      ],
    },
  },
  { name: "html only, with LF", body: { html: "<html>\n<body>\n<p>only html  </p>\n</body>\n</html>\n" } },
  { name: "text without a final line break", body: { text: "no newline at the end" } },
];

const rawHead = (id: string, nl: string) =>
  [
    `From: =?UTF-8?B?${b64("飛脚")}?= <orders@shop.test>`,
    "To: a@dest.test",
    "Subject: raw",
    `Message-ID: <${id}>`,
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=utf-8",
    "Content-Transfer-Encoding: 8bit",
    "",
  ].join(nl) + nl;

const rawCases: [string, string, (id: string) => string][] = [
  ["LF line endings", "raw-lf@shop.test", (id) => `${rawHead(id, "\n")}本文\ntrailing  \n\n\n`],
  ["CR line endings", "raw-cr@shop.test", (id) => `${rawHead(id, "\r")}本文\rtrailing  \r\r`],
  ["CRLF with trailing whitespace, blank lines, no final CRLF", "raw-crlf@shop.test", (id) => `${rawHead(id, "\r\n")}a \t \r\n\r\n \r\nlast`],
  ["a body line of exactly 998 octets", "raw-998@shop.test", (id) => `${rawHead(id, "\r\n")}${"z".repeat(998)}\r\n`],
];

const sent = new Map<string, Promise<Buffer>>();
function start(name: string, delivery: Promise<Buffer>): void {
  delivery.catch(() => {}); // its test reports the failure
  sent.set(name, delivery);
}
const inFlight = (name: string) => sent.get(name) ?? Promise.reject(new Error(`${name} was not sent`));

before(async () => {
  const dkimpyReady = startDkimpy();
  dkimpyReady.catch(() => {}); // awaited below, once the service is up
  sink = await startSink({ host: "127.0.0.2", onRcpt: (rcpt) => (rcpt === "bounce@dest.test" ? { code: 550, message: BOUNCE_REPLY } : undefined) });
  // Holds every DATA answer until the test has read the stored message back; same port, its own address.
  held = await startSink({ host: "127.0.0.3", port: sink.port, holdData: release.promise });
  dns = await startDns({
    "dest.test": { MX: [{ exchange: "mx.dest.test", priority: 10 }] },
    "mx.dest.test": { A: ["127.0.0.2"] },
    "shop.test": { MX: [{ exchange: "mx.dest.test", priority: 10 }] },
    "held.test": { MX: [{ exchange: "mx.held.test", priority: 10 }] },
    "mx.held.test": { A: ["127.0.0.3"] },
  });
  hk = await startTestService({
    HIKYAKU_DNS_SERVERS: dns.address,
    HIKYAKU_MX_PORT: String(sink.port),
    // DSNs come From MAILER-DAEMON@<hostname>: a subdomain of shop.test, so they are signed too.
    HIKYAKU_HOSTNAME: "mailer.shop.test",
  });
  const created = await hk.api("POST", "/v1/domains", { domain: "shop.test" });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  for (const r of created.body.records) if (r.purpose === "dkim") dns.records[r.name] = { TXT: [r.strings] };
  assert.equal((await hk.api("POST", "/v1/domains/shop.test/verify")).body.status, "active");
  assert.equal((await hk.api("PUT", "/v1/source-ips", { ips: ["127.0.0.1"] })).status, 200);
  await dkimpyReady;
  // Every composed and raw case is sent at once; each test then checks what its own case received.
  for (const c of composed)
    start(
      c.name,
      post({ from: "orders@shop.test", to: "a@dest.test", subject: "wire", ...c.body }).then((m) => received(m.messageId)),
    );
  for (const [name, id, make] of rawCases) {
    start(
      name,
      post({ raw: make(id), envelope: { from: "orders@shop.test", to: ["a@dest.test"] } }).then(() => received(id)),
    );
  }
});

after(async () => {
  python?.kill();
  release.resolve();
  await hk?.stop();
  await sink?.close();
  await held?.close();
  await dns?.close();
});

describe("composed JSON messages verify at the destination", () => {
  for (const c of composed) {
    test(c.name, async () => {
      const raw = await inFlight(c.name);
      await assertSignedOnTheWire(raw);
      // An independent parser reads back what was given, line breaks as CRLF.
      const parsed = await simpleParser(raw);
      const text = c.body.text as string | undefined;
      const html = c.body.html as string | undefined;
      const given = (c.body.attachments as { filename: string; content: string }[] | undefined) ?? [];
      // mailparser shows an attached message inline, after the text.
      const parsedText = crlf(parsed.text ?? "").replace(/\r\n$/, "");
      const expectedText = crlf(text ?? "").replace(/\r\n$/, "");
      if (text !== undefined && given.some((a) => a.filename.endsWith(".eml"))) assert.ok(parsedText.startsWith(expectedText), "the text arrives as given");
      else if (text !== undefined) assert.equal(parsedText, expectedText, "the text arrives as given");
      // mailparser rewrites the html of a message with attachments (cid: to data:, attached messages inline).
      if (html !== undefined && given.length === 0)
        assert.equal(crlf(String(parsed.html)).replace(/\r\n$/, ""), crlf(html).replace(/\r\n$/, ""), "the html arrives as given");
      for (const a of given) {
        const bytes = Buffer.from(a.content, "base64");
        if (a.filename.endsWith(".eml")) {
          assert.ok(raw.includes(Buffer.from(crlf(bytes.toString("latin1")), "latin1")), `the attached message ${a.filename} arrives with CRLF lines`);
          continue;
        }
        const got = parsed.attachments.find((p) => p.filename === a.filename);
        assert.ok(got, `attachment ${a.filename} arrives`);
        assert.deepEqual(got.content, bytes, `attachment ${a.filename} arrives byte for byte`);
      }
    });
  }

  test("what was stored is exactly what the destination received", async () => {
    const { id, messageId } = await post({
      from: "orders@shop.test",
      to: "a@held.test",
      subject: "stored = received",
      text: `.dot\nお届け予定日は明日です。\n${longAscii}\ntrailing   \n\n\n`,
      html: "<p>x</p>\r<p>y</p>\n",
      attachments: [{ filename: "a.eml", content: b64("Subject: x\n\n.\n") }],
    });
    // The destination holds its answer to the final dot: the message is still stored.
    await eventually(async () => held.connections > 0 || undefined, "the delivery to start");
    const [row] = await hk.service.db.sql<{ raw: Buffer }[]>`select raw from message_contents where message_id = ${id}`;
    assert.ok(row, "the message is still stored while the destination holds its answer");
    release.resolve();
    const raw = await received(messageId, held);
    assert.deepEqual(raw, row.raw, "the signed bytes, stored, are the bytes on the wire");
    await assertSignedOnTheWire(raw);
  });

  test("a subject word too long to fold is refused with a sentence naming subject", async () => {
    const res = await hk.api("POST", "/v1/messages", { from: "orders@shop.test", to: "a@dest.test", subject: "x".repeat(998), text: "t" });
    assert.equal(res.status, 422, JSON.stringify(res.body));
    assert.equal(res.body.error.field, "subject");
    assert.match(res.body.error.message, /998 octets/);
  });

  test("an attached message with a line over 998 octets is refused, naming the attachment", async () => {
    const res = await hk.api("POST", "/v1/messages", {
      from: "orders@shop.test",
      to: "a@dest.test",
      text: "t",
      attachments: [{ filename: "long.eml", content: b64(`Subject: x\n\n${"y".repeat(1200)}\n`) }],
    });
    assert.equal(res.status, 422, JSON.stringify(res.body));
    assert.equal(res.body.error.field, "attachments[0].content");
    assert.match(res.body.error.message, /line of 1200 octets/);
  });
});

describe("raw JSON messages verify at the destination", () => {
  for (const [name, id, make] of rawCases) {
    test(name, async () => {
      const given = make(id);
      const raw = await inFlight(name);
      await assertSignedOnTheWire(raw);
      const expected = Buffer.from(crlf(given).replace(/(?<!\r\n)$/, "\r\n"), "utf8");
      assert.deepEqual(raw.subarray(raw.length - expected.length), expected, "the given message, its line breaks as CRLF, below our signatures");
    });
  }

  test("a body line over 998 octets is refused with 422 naming raw, and nothing is stored", async () => {
    const id = "raw-999@shop.test";
    const res = await hk.api("POST", "/v1/messages", {
      raw: `${rawHead(id, "\r\n")}${"z".repeat(999)}\r\n`,
      envelope: { from: "orders@shop.test", to: ["a@dest.test"] },
    });
    assert.equal(res.status, 422, JSON.stringify(res.body));
    assert.equal(res.body.error.field, "raw");
    assert.match(res.body.error.message, /line of 999 octets; RFC 5322 section 2\.1\.1 allows 998/);
    const [n] = await hk.service.db.sql<{ n: number }[]>`select count(*)::int as n from messages where message_id_header = ${id}`;
    assert.equal(n?.n, 0);
  });
});

describe("the SMTP door and DSNs verify at the destination", () => {
  async function smtpData(data: Buffer): Promise<string> {
    const c = await rawSmtp({ port: hk.service.smtp?.relayPort ?? 0 });
    try {
      assert.equal((await c.command("EHLO client.test")).code, 250);
      assert.equal((await c.command("MAIL FROM:<orders@shop.test>")).code, 250);
      assert.equal((await c.command("RCPT TO:<a@dest.test>")).code, 250);
      assert.equal((await c.command("DATA")).code, 354);
      c.write(Buffer.concat([data, Buffer.from(".\r\n")]));
      return (await c.reply()).text;
    } finally {
      c.close();
    }
  }

  test("8-bit SMTP mail with trailing whitespace, blank lines at the end and a leading dot", async () => {
    const id = "smtp-wire@shop.test";
    const data = Buffer.from(`${rawHead(id, "\r\n")}..leading dot, stuffed by the client\r\n全角\u3000\r\ntrailing \t\r\n\r\n\r\n`, "utf8");
    assert.match(await smtpData(data), /^250 /);
    const raw = await received(id);
    await assertSignedOnTheWire(raw);
    const unstuffed = Buffer.from(data.toString("utf8").replace("\r\n..leading", "\r\n.leading"), "utf8");
    assert.deepEqual(raw.subarray(raw.length - unstuffed.length), unstuffed, "the DATA arrives byte for byte below the Received field and our signatures");
  });

  test("a body line over 998 octets is refused with 550 5.6.0 and a sentence", async () => {
    const reply = await smtpData(Buffer.from(`${rawHead("smtp-long@shop.test", "\r\n")}${"z".repeat(1500)}\r\n`));
    assert.match(reply, /^550 5\.6\.0 DATA: the message contains a line of 1500 octets; RFC 5322 section 2\.1\.1 allows 998/);
  });

  test("a DSN with a long, multi-line, UTF-8 destination reply is signed and verifies", async () => {
    const { id } = await post({ from: "orders@shop.test", to: "bounce@dest.test", subject: "will bounce", text: "x\n" });
    const dsn = await eventually(async () => sink.messages.find((m) => m.envelope.from === "" && m.raw.includes(id)), "the DSN to arrive", 20_000);
    assert.deepEqual(dsn.envelope.to, ["orders@shop.test"]);
    await assertSignedOnTheWire(dsn.raw);
    const text = dsn.raw.toString("utf8");
    assert.match(text, /^From: Mail Delivery System <MAILER-DAEMON@mailer\.shop\.test>\r$/m);
    assert.match(text, /宛先のメールボックスは存在しません/, "the destination's words arrive as UTF-8");
    assert.match(text, /Diagnostic-Code: smtp; 550/);
  });
});

describe("accept() itself", () => {
  test("a door that hands over a bare LF is a bug: refused as internal, nothing stored", async () => {
    const raw = Buffer.from(
      "From: MAILER-DAEMON@mailer.shop.test\r\nTo: <orders@shop.test>\r\nSubject: x\r\nMessage-ID: <bare-lf@mailer.shop.test>\r\n\r\nbare\nLF\r\n",
    );
    await assert.rejects(
      accept(
        { db: hk.service.db, config: hk.config },
        { accountId: hk.accountId, channel: "dsn", sourceIp: null, envelopeFrom: "", internal: true, recipients: ["orders@shop.test"], raw },
      ),
      (err: unknown) => err instanceof AppError && err.code === "internal" && /dsn door built a message with a bare LF/.test(err.message),
    );
    const [n] = await hk.service.db.sql<{ n: number }[]>`select count(*)::int as n from messages where message_id_header = 'bare-lf@mailer.shop.test'`;
    assert.equal(n?.n, 0);
  });
});

test("every case was verified by both mailauth and dkimpy", (t) => {
  const expected = composed.length + 1 + 4 + 1 + 1;
  assert.equal(verified, expected);
  t.diagnostic(`${verified} received messages, each with rsa-sha256 and ed25519-sha256 passing in mailauth and in dkimpy`);
});
