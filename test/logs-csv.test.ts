// CSV export of the log: RFC 4180 quoting of what destinations say, the same query as
// the JSON API, streamed, and scoped to the account.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { csvField } from "../src/logs/csv.ts";
import { startTestService, type TestService } from "./helpers/service.ts";
import { insertDelivery } from "./logs-fixtures.ts";

let hk: TestService;
let other: { accountId: string; key: string };

const nasty = '550-5.1.1 "mailbox, full"\r\n550 5.1.1 see https://help.example/?a=1,b="2"\nbye';

before(async () => {
  hk = await startTestService();
  other = await hk.newAccount("other");
  const sql = hk.service.db.sql;
  await insertDelivery(sql, { accountId: hk.accountId, recipient: "ok@example.jp", event: "delivered" });
  await insertDelivery(sql, { accountId: hk.accountId, recipient: "full@example.jp", event: "bounced", code: 550, response: nasty, tags: ["a", "b"] });
  await insertDelivery(sql, {
    accountId: hk.accountId,
    recipient: "late@example.jp",
    event: "expired",
    code: 554,
    codeSource: "hikyaku",
    response: "554 5.4.7 the message's lifetime passed before it could be delivered (hikyaku: expired)",
  });
  await insertDelivery(sql, { accountId: other.accountId, recipient: "theirs@example.jp", event: "bounced" });
});

after(async () => {
  await hk?.stop();
});

/** A strict RFC 4180 reader: CRLF between records, quotes doubled inside quoted fields. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let i = 0;
  while (i < text.length) {
    let field = "";
    if (text[i] === '"') {
      i++;
      for (;;) {
        const q = text.indexOf('"', i);
        assert.ok(q >= 0, "unterminated quoted field");
        field += text.slice(i, q);
        i = q + 1;
        if (text[i] !== '"') break;
        field += '"';
        i++;
      }
    } else {
      const end = text.slice(i).search(/,|\r\n/);
      field = end < 0 ? text.slice(i) : text.slice(i, i + end);
      assert.doesNotMatch(field, /["\r\n]/, "unquoted fields hold no quote or line break");
      i += field.length;
    }
    row.push(field);
    if (text[i] === ",") i++;
    else {
      assert.equal(text.slice(i, i + 2), "\r\n", "records end in CRLF");
      i += 2;
      rows.push(row);
      row = [];
    }
  }
  return rows;
}

async function csv(path: string, key = hk.key, accept?: string) {
  const res = await fetch(`${hk.url}${path}`, { headers: { authorization: `Bearer ${key}`, ...(accept ? { accept } : {}) } });
  return { status: res.status, type: res.headers.get("content-type") ?? "", text: await res.text() };
}

describe("CSV export", () => {
  test("quotes commas, quotes and line breaks inside destination replies (RFC 4180)", async () => {
    const r = await csv("/v1/logs.csv?event=bounced");
    assert.equal(r.status, 200);
    assert.match(r.type, /^text\/csv/);
    const [header, row, ...rest] = parseCsv(r.text);
    assert.deepEqual(rest, []);
    assert.ok(header && row);
    const get = (name: string) => row[header.indexOf(name)];
    assert.equal(get("response"), nasty);
    assert.equal(get("recipient"), "full@example.jp");
    assert.equal(get("tags"), "a,b");
    assert.equal(get("code"), "550");
  });

  test("Accept: text/csv on /v1/logs gives the same file, with the same columns as the JSON", async () => {
    const a = await csv("/v1/logs?event=bounced,expired", hk.key, "text/csv");
    const b = await csv("/v1/logs.csv?event=bounced,expired");
    assert.match(a.type, /^text\/csv/);
    assert.equal(a.text, b.text);
    const [header, ...rows] = parseCsv(a.text);
    const json = await hk.api("GET", "/v1/logs?event=bounced,expired");
    assert.deepEqual(header, Object.keys(json.body.data[0]));
    assert.deepEqual(
      rows.map((r) => r[header?.indexOf("recipient") ?? -1]),
      json.body.data.map((e: { recipient: string }) => e.recipient),
    );
    const expired = rows.find((r) => r[header?.indexOf("event") ?? -1] === "expired");
    assert.equal(expired?.[header?.indexOf("service_code") ?? -1], "expired");
    assert.equal(expired?.[header?.indexOf("code_source") ?? -1], "hikyaku");
  });

  test("bad filters are refused as JSON errors before any CSV is sent", async () => {
    const r = await csv("/v1/logs.csv?event=opened");
    assert.equal(r.status, 422);
    assert.equal(JSON.parse(r.text).error.field, "event");
  });

  test("another account's export holds only its own events", async () => {
    const [header, ...rows] = parseCsv((await csv("/v1/logs.csv", other.key)).text);
    assert.deepEqual(
      rows.map((r) => r[header?.indexOf("recipient") ?? -1]),
      ["theirs@example.jp"],
    );
    const none = parseCsv((await csv("/v1/logs.csv?recipient=full@example.jp", other.key)).text);
    assert.equal(none.length, 1, "just the header row");
  });

  test("a large export streams in many chunks, every row once, newest first", async () => {
    const n = 20_000;
    await hk.service.db.sql`
      insert into delivery_events (account_id, created_at, event, message_id, recipient, envelope_sender, channel,
        attempt, code, response, code_source)
      select ${hk.accountId}, now(), 'bounced', gen_random_uuid(), 'bulk' || g || '@example.jp', 'b@shop.test', 'http',
        1, 550, '550 5.1.1 unknown, "really"', 'destination'
      from generate_series(1, ${n}) g`;
    const res = await fetch(`${hk.url}/v1/logs.csv?recipient=@example.jp&event=bounced&envelope_sender=b@shop.test`, {
      headers: { authorization: `Bearer ${hk.key}` },
    });
    assert.ok(res.body);
    let chunks = 0;
    let lines = 0;
    let first = "";
    const decoder = new TextDecoder();
    for await (const chunk of res.body) {
      chunks++;
      const text = decoder.decode(chunk, { stream: true });
      if (!first) first = text.slice(0, 400);
      lines += text.split("\r\n").length - 1;
    }
    assert.ok(chunks > 5, `streamed in ${chunks} chunks`);
    assert.equal(lines, 1 + n, "the header and every bulk row");
    assert.match(first.split("\r\n")[1] ?? "", /bulk20000@example\.jp/);
  });
});

describe("csvField", () => {
  test("quotes only when needed and doubles quotes", () => {
    assert.equal(csvField("plain"), "plain");
    assert.equal(csvField("a,b"), '"a,b"');
    assert.equal(csvField('say "hi"'), '"say ""hi"""');
    assert.equal(csvField("line\nbreak"), '"line\nbreak"');
    assert.equal(csvField("cr\rlf"), '"cr\rlf"');
    assert.equal(csvField(null), "");
    assert.equal(csvField(true), "true");
    assert.equal(csvField(["x", "y"]), '"x,y"');
  });
});
