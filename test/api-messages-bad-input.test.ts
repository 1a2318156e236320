// POST /v1/messages refuses every bad input of issue 2 with a clear 4xx: the error code,
// a field naming what is wrong, a sentence that names it too, and nothing stored or
// logged as accepted. All refused requests are made with one account, which therefore
// must end the file with no messages at all; the few accepted ones use another account.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { eventually, startTestService, type TestService } from "./helpers/service.ts";
import { type Sink, startSink } from "./helpers/sink.ts";

const MAX_BYTES = 8192;
let hk: TestService;
let sink: Sink;
let other: { accountId: string; key: string };

before(async () => {
  sink = await startSink({ host: "127.0.0.2" });
  hk = await startTestService({ HIKYAKU_MAX_MESSAGE_BYTES: String(MAX_BYTES), HIKYAKU_ROUTES: `*=127.0.0.2:${sink.port}` });
  other = await hk.newAccount("accepted-ones");
});

after(async () => {
  await hk?.stop();
  await sink?.close();
});

const ok = { from: "Shop <orders@shop.test>", to: "alice@example.test", subject: "Order 1", text: "Thanks" };

async function stored(accountId: string) {
  const [row] = await hk.service.db.sql`
    select
      (select count(*) from messages where account_id = ${accountId}) as messages,
      (select count(*) from recipients r join messages m on m.id = r.message_id where m.account_id = ${accountId}) as recipients,
      (select count(*) from delivery_queue q join messages m on m.id = q.message_id where m.account_id = ${accountId}) as queue,
      (select count(*) from reception_events where account_id = ${accountId} and accepted) as accepted_events,
      (select count(*) from idempotency_keys where account_id = ${accountId}) as idempotency_keys,
      (select coalesce(sum(messages_accepted), 0)::int from usage_counters where account_id = ${accountId}) as usage`;
  return { ...row };
}

/** A request body sent in pieces with Transfer-Encoding: chunked, so it has no Content-Length. */
function chunked(text: string): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= bytes.length) return controller.close();
      controller.enqueue(bytes.subarray(at, at + 4096));
      at += 4096;
    },
  });
}

const NOTHING = { messages: 0, recipients: 0, queue: 0, accepted_events: 0, idempotency_keys: 0, usage: 0 };

interface Refusal {
  status: number;
  code: string;
  /** error.field; null = the error is about the whole request and has no field; undefined = not checked. */
  field: string | null | undefined;
  /** Text the sentence must contain; defaults to the field. */
  says?: string | RegExp;
}

/** Sends a request that must be refused, checks the error body, and that nothing was stored. */
async function refused(body: unknown, want: Refusal, headers: Record<string, string> = {}) {
  const before = await stored(hk.accountId);
  const res = await hk.api("POST", "/v1/messages", body, { "idempotency-key": `k-${Math.random()}`, ...headers });
  const detail = JSON.stringify(res.body);
  assert.equal(res.status, want.status, detail);
  assert.equal(res.body?.error?.code, want.code, detail);
  assert.match(res.body.error.request_id, /^req_/, detail);
  assert.deepEqual(Object.keys(res.body).sort(), ["error"], detail);
  if (want.field === null) assert.equal(res.body.error.field, undefined, detail);
  else if (want.field !== undefined) assert.equal(res.body.error.field, want.field, detail);
  const says = want.says ?? want.field;
  if (typeof says === "string") assert.ok(res.body.error.message.includes(says), `the sentence names ${says}: ${detail}`);
  else if (says) assert.match(res.body.error.message, says, detail);
  assert.deepEqual(await stored(hk.accountId), before, `nothing stored for ${detail}`);
  return res.body.error as { code: string; message: string; field?: string };
}

const invalid = (field: string, says?: string | RegExp): Refusal => ({ status: 422, code: "validation_error", field, ...(says ? { says } : {}) });
const badAddress = (field: string): Refusal => ({ status: 422, code: "invalid_address", field });

describe("the request itself", () => {
  test("malformed JSON is 400 invalid_json", async () => {
    await refused('{"from": "orders@shop.test", "to": ', { status: 400, code: "invalid_json", field: null, says: /not valid JSON/ });
  });

  test("a body that is not a JSON object is refused", async () => {
    for (const body of ["[]", '"hello"', "null", "42"]) {
      const res = await hk.api("POST", "/v1/messages", body);
      assert.ok(res.status === 400 || res.status === 422, `${body}: ${JSON.stringify(res.body)}`);
      assert.ok(["invalid_json", "validation_error"].includes(res.body.error.code));
    }
    assert.deepEqual(await stored(hk.accountId), NOTHING);
  });

  test("a wrong or missing Content-Type is 415 and says which header to send", async () => {
    const json = JSON.stringify(ok);
    for (const type of [
      "text/plain",
      "application/x-www-form-urlencoded",
      "multipart/form-data; boundary=x",
      "application/json-patch+json",
      "application/jsonx",
    ]) {
      await refused(json, { status: 415, code: "unsupported_media_type", field: "Content-Type" }, { "content-type": type });
    }
    const res = await fetch(`${hk.url}/v1/messages`, { method: "POST", headers: { authorization: `Bearer ${hk.key}` }, body: new Blob([json]) });
    const body = (await res.json()) as { error: { code: string; field: string } };
    assert.equal(res.status, 415);
    assert.equal(body.error.code, "unsupported_media_type");
    assert.equal(body.error.field, "Content-Type");
  });

  test("a body that is not UTF-8 is 400, not read with replacement characters", async () => {
    const bytes = Buffer.concat([
      Buffer.from(JSON.stringify({ ...ok, subject: "" }).replace('"subject":""', '"subject":"')),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('"}'),
    ]);
    const before = await stored(hk.accountId);
    const res = await fetch(`${hk.url}/v1/messages`, {
      method: "POST",
      headers: { authorization: `Bearer ${hk.key}`, "content-type": "application/json" },
      body: bytes,
    });
    const body = (await res.json()) as { error: { code: string; message: string } };
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.equal(body.error.code, "invalid_json");
    assert.match(body.error.message, /UTF-8/);
    assert.deepEqual(await stored(hk.accountId), before);
  });

  test("NUL and lone surrogates anywhere in the body are 422, naming the field", async () => {
    const says = /NUL character or an unpaired UTF-16 surrogate/;
    await refused({ ...ok, text: "a\u0000b" }, invalid("text", says));
    await refused({ ...ok, html: "<p>\ud800</p>" }, invalid("html", says));
    await refused({ ...ok, to: [{ email: "a@example.test", name: "A\udc00" }] }, invalid("to[0].name", says));
    await refused({ ...ok, metadata: { ref: "x\u0000" } }, invalid("metadata.ref", says));
    await refused({ ...ok, metadata: { "k\u0000": 1 } }, invalid("metadata", says));
    await refused({ ...ok, metadata: { a: [{ b: "\udbff" }] } }, invalid("metadata.a[0].b", says));
    await refused({ ...ok, quiet_hours: { start: "22:00", end: "07:00", time_zone: "Asia/Tokyo\u0000" } }, invalid("quiet_hours.time_zone", says));
    await refused({ ...ok, tags: ["ok", "t\ud83d"] }, invalid("tags[1]", says));
  });

  test("metadata nested 5,000 deep is 422, not a stack overflow; 31 levels are fine", async () => {
    const deep = `${'{"a":'.repeat(5000)}1${"}".repeat(5000)}`;
    await refused(`{"from":"orders@shop.test","to":"alice@example.test","text":"hi","metadata":${deep}}`, invalid("metadata", /more than 32 levels deep/));
    await refused(`{"from":"orders@shop.test","to":${"[".repeat(5000)}${"]".repeat(5000)}}`, invalid("to", /more than 32 levels deep/));
    const fine = `${'{"a":'.repeat(30)}1${"}".repeat(30)}`;
    const res = await fetch(`${hk.url}/v1/messages`, {
      method: "POST",
      headers: { authorization: `Bearer ${other.key}`, "content-type": "application/json" },
      body: `{"from":"orders@shop.test","to":"deep@example.test","text":"hi","metadata":{"m":${fine}}}`,
    });
    assert.equal(res.status, 202, await res.text());
  });

  test("metadata over 16 KiB is 422 naming metadata", async () => {
    await refused({ ...ok, metadata: { blob: "m".repeat(17 * 1024) } }, invalid("metadata", /16384 bytes/));
    await refused({ ...ok, metadata: { ["k".repeat(101)]: 1 } }, invalid(`metadata.${"k".repeat(101)}`, "metadata"));
  });

  test("unknown fields are refused, naming the field, so typos never pass", async () => {
    await refused({ ...ok, subjct: "typo" }, invalid("subjct"));
    await refused({ ...ok, send_after: "2030-01-01T00:00:00Z" }, invalid("send_after"));
    await refused({ ...ok, attachments: [{ filename: "a.txt", content: "aGk=", mime: "text/plain" }] }, invalid("attachments[0].mime"));
    await refused({ ...ok, quiet_hours: { start: "22:00", end: "07:00", time_zone: "Asia/Tokyo", tz: "x" } }, invalid("quiet_hours.tz"));
    await refused({ raw: "From: a@shop.test\r\n\r\nhi", envelope: { from: "a@shop.test", to: ["b@example.test"], cc: [] } }, invalid("envelope.cc"));
  });

  test("an unknown key inside an address object names the key", async () => {
    await refused({ ...ok, from: { email: "orders@shop.test", nmae: "Shop" } }, invalid("from.nmae"));
    await refused({ ...ok, to: [{ email: "a@example.test" }, { emial: "b@example.test" }] }, invalid("to[1].emial"));
  });

  test("wrong JSON types name the field", async () => {
    await refused({ ...ok, subject: 42 }, invalid("subject"));
    await refused({ ...ok, headers: { "X-Order": 1234 } }, invalid("headers.X-Order"));
    await refused({ ...ok, lifetime: "1800" }, invalid("lifetime"));
  });

  test("a body over the HTTP limit is 413 before it is read", async () => {
    const text = "x".repeat(Math.ceil(MAX_BYTES * 1.4) + 70 * 1024);
    await refused({ ...ok, text }, { status: 413, code: "message_too_large", field: null, says: String(MAX_BYTES) });
  });

  test("a chunked body (no Content-Length) over the HTTP limit is 413 too", async () => {
    const before = await stored(hk.accountId);
    // Not even JSON: the limit must stop it while it streams in, before anything parses it.
    const json = `{"text": "${"x".repeat(Math.ceil(MAX_BYTES * 1.4) + 70 * 1024)}`;
    const res = await fetch(`${hk.url}/v1/messages`, {
      method: "POST",
      headers: { authorization: `Bearer ${hk.key}`, "content-type": "application/json" },
      body: chunked(json),
      duplex: "half",
    } as RequestInit);
    const body = (await res.json()) as { error: { code: string; message: string } };
    assert.equal(res.status, 413, JSON.stringify(body));
    assert.equal(body.error.code, "message_too_large");
    assert.match(body.error.message, new RegExp(String(MAX_BYTES)));
    assert.deepEqual(await stored(hk.accountId), before);
  });

  test("a composed message over HIKYAKU_MAX_MESSAGE_BYTES is 413", async () => {
    await refused({ ...ok, text: "y".repeat(MAX_BYTES + 100) }, { status: 413, code: "message_too_large", field: undefined, says: String(MAX_BYTES) });
    const raw = `From: a@shop.test\r\nTo: b@example.test\r\n\r\n${`${"z".repeat(76)}\r\n`.repeat(Math.ceil(MAX_BYTES / 78))}`;
    await refused(
      { raw, envelope: { from: "a@shop.test", to: ["b@example.test"] } },
      { status: 413, code: "message_too_large", field: "raw", says: String(MAX_BYTES) },
    );
  });
});

describe("addresses", () => {
  test("from and to are required", async () => {
    await refused({ to: "alice@example.test", text: "hi" }, invalid("from"));
    await refused({ from: "orders@shop.test", text: "hi" }, invalid("to"));
    await refused({ from: "orders@shop.test", to: [], cc: [], bcc: [], text: "hi" }, invalid("to"));
  });

  const badStrings: [string, string][] = [
    ["no @", "alice.example.test"],
    ["a space in the local part", "ali ce@example.test"],
    ["a space before the address", "alice bob@example.test"],
    ["two addresses separated by a space", "alice@example.test bob@example.test"],
    ["a phrase without angle brackets", "Alice alice@example.test"],
    ["over 254 characters", `${"a".repeat(64)}@${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(63)}.test`],
    ["a Bcc smuggled after the address", "a@x.test Bcc: b@y.test"],
    ["an address literal", "u@[127.0.0.1]"],
    ["an IPv6 address literal", "u@[IPv6:::1]"],
    ["a comma list", "a@x.test, b@y.test"],
    ["a semicolon list", "a@x.test; b@y.test"],
    ["a group", "undisclosed-recipients: a@x.test;"],
    ["a numeric domain", "u@127.0.0.1"],
    ["a domain without a dot", "u@localhost"],
    ["two @", "a@b@example.test"],
    ["an empty string", ""],
    ["an unclosed angle bracket", "Alice <alice@example.test"],
  ];

  for (const [what, address] of badStrings) {
    test(`to refuses ${what}`, async () => {
      await refused({ ...ok, to: address }, badAddress("to"));
    });
  }

  test("every address field names itself, with its index in a list", async () => {
    await refused({ ...ok, from: "a@x.test Bcc: b@y.test" }, badAddress("from"));
    await refused({ ...ok, to: ["alice@example.test", "u@[127.0.0.1]"] }, badAddress("to[1]"));
    await refused({ ...ok, cc: "a@x.test, b@y.test" }, badAddress("cc"));
    await refused({ ...ok, bcc: ["ok@example.test", "no-at"] }, badAddress("bcc[1]"));
    await refused({ ...ok, reply_to: "a b@example.test" }, badAddress("reply_to"));
    await refused({ ...ok, return_path: "bounces@[127.0.0.1]" }, badAddress("return_path"));
    await refused({ ...ok, return_path: "Bounces <bounces@shop.test>" }, badAddress("return_path"));
  });

  test("object form checks the email and names from.email / to[0].email", async () => {
    await refused({ ...ok, from: { email: "a@x.test Bcc: b@y.test" } }, badAddress("from.email"));
    await refused({ ...ok, to: [{ email: "u@[127.0.0.1]", name: "U" }] }, badAddress("to[0].email"));
    await refused({ ...ok, to: { email: "a@x.test, b@y.test" } }, badAddress("to.email"));
  });

  test("CR, LF and control characters in display names are refused (string and object form)", async () => {
    await refused({ ...ok, from: "Na\r\nme <orders@shop.test>" }, badAddress("from"));
    await refused({ ...ok, from: "Na\nBcc: x@evil.test\n <orders@shop.test>" }, badAddress("from"));
    await refused({ ...ok, to: ["Bob\u0001 <bob@example.test>"] }, badAddress("to[0]"));
    // NUL is refused before the address parser sees it, as it is in every field.
    await refused({ ...ok, to: ["Bob\u0000 <bob@example.test>"] }, invalid("to[0]"));
    await refused({ ...ok, from: { email: "orders@shop.test", name: "Na\r\nme" } }, badAddress("from.name"));
    await refused({ ...ok, cc: [{ email: "c@example.test", name: "C\rBcc: x@evil.test" }] }, badAddress("cc[0].name"));
    await refused({ ...ok, reply_to: { email: "r@shop.test", name: "R\u007f" } }, badAddress("reply_to.name"));
  });

  test("more than 1,000 recipients is 422 too_many_recipients", async () => {
    const many = (n: number, d: string) => Array.from({ length: n }, (_, i) => `r${i}@${d}.test`);
    const tooMany: Refusal = { status: 422, code: "too_many_recipients", field: "to", says: "1000" };
    await refused({ ...ok, to: many(1001, "a") }, tooMany);
    await refused({ ...ok, to: many(400, "a"), cc: many(400, "b"), bcc: many(201, "c") }, tooMany);
    await refused({ raw: "From: a@shop.test\r\n\r\nhi", envelope: { from: "a@shop.test", to: many(1001, "a") } }, { ...tooMany, field: "envelope.to" });
  });
});

describe("content", () => {
  test("CR, LF and control characters in the subject are refused", async () => {
    for (const subject of ["Hi\r\nBcc: x@evil.test", "Hi\nthere", "Hi\rthere", "nul\u0000", "bell\u0007", "del\u007f"]) {
      await refused({ ...ok, subject }, invalid("subject"));
    }
  });

  test("bad header names are refused", async () => {
    for (const name of ["X-Bad\r\nBcc", "X Bad", "X-Bad:", "", "X-Ünicode"]) {
      await refused({ ...ok, headers: { [name]: "v" } }, invalid(`headers.${name}`, "headers."));
    }
  });

  test("CR, LF and control characters in header values are refused", async () => {
    for (const value of ["v\r\nBcc: x@evil.test", "v\nX-Other: 1", "v\r", "v\u0000"]) {
      await refused({ ...ok, headers: { "X-Order": value } }, invalid("headers.X-Order"));
    }
  });

  test("headers that may not be set are refused, naming the header", async () => {
    for (const name of [
      "Bcc",
      "bcc",
      "Content-Transfer-Encoding",
      "From",
      "To",
      "Message-ID",
      "Date",
      "Content-Type",
      "Return-Path",
      "DKIM-Signature",
      "X-Hikyaku-Send-At",
      "X-Hikyaku-Priority",
      "x-hikyaku-anything",
    ]) {
      await refused({ ...ok, headers: { [name]: "x@example.test" } }, invalid(`headers.${name}`));
    }
  });

  test("invalid base64 in attachments names the attachment", async () => {
    for (const content of ["not base64!", "aGk", "a===", "####"]) {
      await refused(
        {
          ...ok,
          attachments: [
            { filename: "a.txt", content: "aGk=" },
            { filename: "b.txt", content },
          ],
        },
        invalid("attachments[1].content"),
      );
    }
  });

  test("bad attachment names and types are refused", async () => {
    await refused({ ...ok, attachments: [{ filename: "a\r\n.txt", content: "aGk=" }] }, invalid("attachments[0].filename"));
    await refused(
      { ...ok, attachments: [{ filename: "a.txt", content: "aGk=", content_type: "text/plain\r\nBcc: x@evil.test" }] },
      invalid("attachments[0].content_type"),
    );
    await refused({ ...ok, attachments: [{ filename: "a.txt", content: "aGk=", content_type: "not a type" }] }, invalid("attachments[0].content_type"));
  });
});

describe("raw", () => {
  const envelope = { from: "a@shop.test", to: ["b@example.test"] };
  const raw = "From: a@shop.test\r\nTo: b@example.test\r\nSubject: hi\r\n\r\nhello\r\n";

  test("raw without envelope is refused", async () => {
    await refused({ raw }, invalid("envelope"));
  });

  test("envelope without raw is refused", async () => {
    await refused({ ...ok, envelope }, invalid("envelope"));
  });

  test("raw combined with structured fields is refused, naming the field", async () => {
    for (const k of ["from", "to", "cc", "bcc", "subject", "text", "html", "headers", "attachments", "return_path", "reply_to"] as const) {
      const value =
        k === "headers"
          ? { "X-A": "1" }
          : k === "attachments"
            ? [{ filename: "a", content: "aGk=" }]
            : k === "bcc" || k === "cc" || k === "to" || k === "from" || k === "reply_to" || k === "return_path"
              ? "x@example.test"
              : "hi";
      await refused({ raw, envelope, [k]: value }, invalid(k));
    }
  });

  test("bad envelope addresses name envelope.from and envelope.to[i]", async () => {
    await refused({ raw, envelope: { from: "a@x.test Bcc: b@y.test", to: ["b@example.test"] } }, badAddress("envelope.from"));
    await refused({ raw, envelope: { from: "a@shop.test", to: ["b@example.test", "u@[127.0.0.1]"] } }, badAddress("envelope.to[1]"));
    await refused({ raw, envelope: { from: "a@shop.test", to: ["b@example.test, c@example.test"] } }, badAddress("envelope.to[0]"));
    await refused({ raw, envelope: { from: "a@shop.test", to: [] } }, invalid("envelope.to"));
  });

  test("a raw message without a From header is refused", async () => {
    await refused({ raw: "To: b@example.test\r\nSubject: hi\r\n\r\nhello\r\n", envelope }, invalid("raw", "From"));
  });

  test("a NUL byte in raw is refused", async () => {
    await refused({ raw: "From: a@shop.test\r\nSubject: hi\r\n\r\nhel\u0000lo\r\n", envelope }, invalid("raw", "NUL"));
  });

  test("a header line without a field name is refused", async () => {
    await refused({ raw: "From: a@shop.test\r\nno colon here\r\n\r\nhello\r\n", envelope }, invalid("raw", "header line"));
  });

  test("unknown or invalid X-Hikyaku-* headers in raw are refused, naming the header", async () => {
    await refused({ raw: `X-Hikyaku-Sendat: 2030-01-01T00:00:00Z\r\n${raw}`, envelope }, invalid("X-Hikyaku-Sendat"));
    await refused({ raw: `X-Hikyaku-Lifetime: soon\r\n${raw}`, envelope }, invalid("X-Hikyaku-Lifetime"));
    await refused({ raw: `X-Hikyaku-Priority: urgent\r\n${raw}`, envelope }, invalid("X-Hikyaku-Priority"));
    await refused({ raw: `X-Hikyaku-Send-At: yesterday\r\n${raw}`, envelope }, invalid("X-Hikyaku-Send-At"));
    await refused({ raw: `X-Hikyaku-Quiet-Hours: 22:00-07:00 Mars/Olympus\r\n${raw}`, envelope }, invalid("X-Hikyaku-Quiet-Hours"));
  });
});

describe("delivery policy", () => {
  const days = (n: number) => new Date(Date.now() + n * 86_400_000).toISOString();

  test("send_at in the past, too far ahead or not RFC 3339 is refused", async () => {
    for (const send_at of [days(-1), "2020-01-01T00:00:00Z", days(31), "tomorrow", "2026-12-01 09:00", "2026-12-01", "2026-13-01T09:00:00Z", "1735689600"]) {
      await refused({ ...ok, send_at }, invalid("send_at"));
    }
  });

  test("lifetime and retry_interval out of range are refused", async () => {
    for (const lifetime of [0, 59, 72 * 3600 + 1, -5, 1.5]) await refused({ ...ok, lifetime }, invalid("lifetime"));
    for (const retry_interval of [0, 9, 3601, 2.5]) await refused({ ...ok, retry_interval }, invalid("retry_interval"));
  });

  test("an invalid priority is refused", async () => {
    for (const priority of ["urgent", "HIGH", "", 1]) await refused({ ...ok, priority }, invalid("priority"));
  });

  test("invalid quiet hours and tags are refused", async () => {
    await refused({ ...ok, quiet_hours: { start: "25:00", end: "07:00", time_zone: "Asia/Tokyo" } }, invalid("quiet_hours"));
    await refused({ ...ok, quiet_hours: { start: "22:00", end: "07:00", time_zone: "Asia/Nowhere" } }, invalid("quiet_hours"));
    await refused({ ...ok, tags: ["has space"] }, invalid("tags"));
    await refused({ ...ok, tags: Array.from({ length: 11 }, (_, i) => `t${i}`) }, invalid("tags"));
  });
});

describe("looking messages up", () => {
  test("an unknown id, another account's id and a non-uuid id all answer the same 404", async () => {
    const sent = await fetch(`${hk.url}/v1/messages`, {
      method: "POST",
      headers: { authorization: `Bearer ${other.key}`, "content-type": "application/json" },
      body: JSON.stringify({ ...ok, to: "someone@example.test" }),
    });
    assert.equal(sent.status, 202);
    const theirs = ((await sent.json()) as { id: string }).id;
    const unknown = "01936c2e-8f5a-7b3c-9d1e-2f3a4b5c6d7e";
    const shapes = [];
    for (const id of [unknown, theirs, "not-a-uuid", "1'; drop table messages; --"]) {
      const res = await hk.api("GET", `/v1/messages/${encodeURIComponent(id)}`);
      assert.equal(res.status, 404, JSON.stringify(res.body));
      assert.equal(res.body.error.code, "not_found");
      assert.equal(res.body.error.field, "id");
      assert.ok(res.body.error.message.includes(id), res.body.error.message);
      shapes.push({ ...res.body.error, request_id: undefined, message: res.body.error.message.replace(id, "ID") });
    }
    for (const s of shapes) assert.deepEqual(s, shapes[0], "every 404 looks the same");
  });
});

describe("what is accepted", () => {
  test("raw with lone LF line endings is accepted, normalised, and delivered with CRLF", async () => {
    const body = {
      raw: "From: a@shop.test\nTo: b@example.test\nSubject: lf\n\nline one\nline two\n",
      envelope: { from: "a@shop.test", to: ["b@example.test"] },
    };
    const res = await fetch(`${hk.url}/v1/messages`, {
      method: "POST",
      headers: { authorization: `Bearer ${other.key}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    assert.equal(res.status, 202);
    const { message_id } = (await res.json()) as { message_id: string };
    const received = await eventually(async () => sink.messages.find((m) => m.raw.includes(message_id)), "the sink to receive the message");
    const text = received.raw.toString("latin1");
    assert.doesNotMatch(text, /[^\r]\n/, "no bare LF");
    assert.doesNotMatch(text, /\r(?!\n)/, "no bare CR");
    assert.match(text, /\r\nSubject: lf\r\n/);
    assert.match(text, /\r\n\r\nline one\r\nline two\r\n$/);
    assert.deepEqual(received.envelope, { from: "a@shop.test", to: ["b@example.test"] });
  });

  test("a chunked body (no Content-Length) within the limit is accepted", async () => {
    const res = await fetch(`${hk.url}/v1/messages`, {
      method: "POST",
      headers: { authorization: `Bearer ${other.key}`, "content-type": "application/json" },
      body: chunked(JSON.stringify({ ...ok, to: "chunked@example.test" })),
      duplex: "half",
    } as RequestInit);
    assert.equal(res.status, 202, await res.text());
  });

  test("a display name with a quoted comma, and a Japanese display name, are one address each", async () => {
    const res = await fetch(`${hk.url}/v1/messages`, {
      method: "POST",
      headers: { authorization: `Bearer ${other.key}`, "content-type": "application/json" },
      body: JSON.stringify({ ...ok, from: '"Shop, Inc." <orders@shop.test>', to: ["山田 太郎 <taro@example.test>", "<hanako@example.test>"] }),
    });
    const body = (await res.json()) as { recipients: { email: string }[] };
    assert.equal(res.status, 202, JSON.stringify(body));
    assert.deepEqual(
      body.recipients.map((r) => r.email),
      ["taro@example.test", "hanako@example.test"],
    );
  });

  test("the refusing account stored nothing in the whole file", async () => {
    assert.deepEqual(await stored(hk.accountId), NOTHING);
  });
});
