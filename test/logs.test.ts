// GET /v1/logs: every filter, validation, service codes, freshness and tenant isolation,
// read back through the real HTTP API.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { serviceCodes } from "../src/delivery/service-codes.ts";
import { eventually, startTestService, type TestService } from "./helpers/service.ts";
import { insertDelivery, insertReception } from "./logs-fixtures.ts";

let hk: TestService;
let other: { accountId: string; key: string };
const msgA = randomUUID();
const t0 = new Date("2026-11-01T00:00:00Z");
const at = (minutes: number) => new Date(t0.getTime() + minutes * 60_000);

before(async () => {
  hk = await startTestService();
  other = await hk.newAccount("other");
  const sql = hk.service.db.sql;
  const a = hk.accountId;
  await insertDelivery(sql, { accountId: a, at: at(1), messageId: msgA, recipient: "Taro@docomo.ne.jp", event: "delivered", tags: ["otp"] });
  await insertDelivery(sql, {
    accountId: a,
    at: at(2),
    messageId: msgA,
    recipient: "hanako@ezweb.ne.jp",
    event: "bounced",
    code: 550,
    enhancedCode: "5.1.1",
    response: "550 5.1.1 user unknown",
  });
  await insertDelivery(sql, {
    accountId: a,
    at: at(3),
    recipient: "jiro@docomo.ne.jp",
    event: "expired",
    code: 554,
    enhancedCode: "5.4.7",
    response: "554 5.4.7 the message's lifetime passed before it could be delivered (hikyaku: expired)",
    codeSource: "hikyaku",
    channel: "smtp",
    sourceIp: "192.0.2.10",
    envelopeSender: "alerts@city.test",
    tags: ["evacuation", "otp"],
  });
  await insertDelivery(sql, {
    accountId: a,
    at: at(4),
    recipient: "saburo@example.jp",
    event: "deferred",
    code: 451,
    response: "451 4.7.1 greylisted",
    channel: "smtp",
    sourceIp: "192.0.2.11",
  });
  await insertDelivery(sql, {
    accountId: a,
    at: at(5),
    recipient: "shiro@example.jp",
    event: "cancelled",
    code: 554,
    codeSource: "hikyaku",
    response: "554 5.0.0 cancelled by the sender before delivery (hikyaku: cancelled)",
  });
  await insertDelivery(sql, { accountId: other.accountId, at: at(2), recipient: "Taro@docomo.ne.jp", event: "bounced", tags: ["otp"] });
  await insertReception(sql, { accountId: a, at: at(1), messageId: msgA, channel: "http", sourceIp: "198.51.100.7" });
  await insertReception(sql, {
    accountId: a,
    at: at(2),
    accepted: false,
    channel: "smtp",
    sourceIp: "192.0.2.99",
    envelopeSender: "x@spam.test",
    reason: "relay denied",
  });
  await insertReception(sql, { accountId: other.accountId, at: at(2), accepted: false, sourceIp: "192.0.2.99" });
});

after(async () => {
  await hk?.stop();
});

async function logs(query: string, key = hk.key) {
  const r = await hk.api("GET", `/v1/logs${query}`, undefined, { authorization: `Bearer ${key}` });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body as { data: any[]; next_cursor: string | null };
}
const recipients = async (query: string) => (await logs(query)).data.map((e) => e.recipient);

describe("log filters", () => {
  test("all delivery events, newest first, with every documented field", async () => {
    const page = await logs("");
    assert.deepEqual(
      page.data.map((e) => e.event),
      ["cancelled", "deferred", "expired", "bounced", "delivered"],
    );
    assert.equal(page.next_cursor, null);
    const bounced = page.data[3];
    assert.equal(bounced.time, at(2).toISOString());
    assert.equal(bounced.message_id, msgA);
    assert.equal(bounced.response, "550 5.1.1 user unknown");
    assert.equal(bounced.code_source, "destination");
    assert.equal(bounced.service_code, null);
    for (const k of ["attempt", "mx_host", "mx_ip", "tls", "code", "enhanced_code", "envelope_sender", "source_ip", "channel", "tags"])
      assert.ok(k in bounced, k);
  });

  test("Hikyaku's own codes are marked and named", async () => {
    const [expired] = (await logs("?event=expired")).data;
    assert.equal(expired.code_source, "hikyaku");
    assert.equal(expired.service_code, "expired");
    assert.equal(expired.code, serviceCodes.expired.code);
  });

  test("event: one, or a comma list", async () => {
    assert.deepEqual(await recipients("?event=bounced"), ["hanako@ezweb.ne.jp"]);
    assert.deepEqual(await recipients("?event=bounced,expired"), ["jiro@docomo.ne.jp", "hanako@ezweb.ne.jp"]);
    assert.deepEqual(await recipients("?event=bounced,expired,cancelled&limit=2"), ["shiro@example.jp", "jiro@docomo.ne.jp"]);
  });

  test("since and until bound the time range (since inclusive, until exclusive)", async () => {
    assert.deepEqual(await recipients(`?since=${at(2).toISOString()}&until=${at(4).toISOString()}`), ["jiro@docomo.ne.jp", "hanako@ezweb.ne.jp"]);
    assert.deepEqual(await recipients(`?since=2026-11-01T00:04:00%2B00:00`), ["shiro@example.jp", "saburo@example.jp"]);
  });

  test("recipient: exact (domain case-insensitive), or a whole @domain", async () => {
    assert.deepEqual(await recipients("?recipient=Taro@DOCOMO.ne.jp"), ["Taro@docomo.ne.jp"]);
    assert.deepEqual(await recipients("?recipient=taro@docomo.ne.jp"), [], "the local part is exact");
    assert.deepEqual(await recipients("?recipient=@docomo.ne.jp"), ["jiro@docomo.ne.jp", "Taro@docomo.ne.jp"]);
    assert.deepEqual(await recipients("?recipient=@ne.jp"), [], "a domain is matched whole, not as a suffix");
  });

  test("envelope_sender, source_ip, channel, message_id, tag", async () => {
    assert.deepEqual(await recipients("?envelope_sender=alerts@city.test"), ["jiro@docomo.ne.jp"]);
    assert.deepEqual(await recipients("?source_ip=192.0.2.11"), ["saburo@example.jp"]);
    assert.deepEqual(await recipients("?channel=smtp"), ["saburo@example.jp", "jiro@docomo.ne.jp"]);
    assert.deepEqual(await recipients(`?message_id=${msgA}`), ["hanako@ezweb.ne.jp", "Taro@docomo.ne.jp"]);
    assert.deepEqual(await recipients("?tag=otp"), ["jiro@docomo.ne.jp", "Taro@docomo.ne.jp"]);
    assert.deepEqual(await recipients("?tag=evacuation&event=expired&channel=smtp&recipient=@docomo.ne.jp"), ["jiro@docomo.ne.jp"]);
  });

  test("type=reception: intake attempts, filterable by event, source_ip, channel, message_id", async () => {
    const all = await logs("?type=reception");
    assert.deepEqual(
      all.data.map((e) => e.event),
      ["refused", "accepted"],
    );
    const [refused] = (await logs("?type=reception&event=refused")).data;
    assert.equal(refused.accepted, false);
    assert.equal(refused.reason, "relay denied");
    assert.equal(refused.source_ip, "192.0.2.99");
    assert.equal((await logs("?type=reception&source_ip=198.51.100.7")).data.length, 1);
    assert.equal((await logs("?type=reception&channel=smtp")).data[0].event, "refused");
    assert.equal((await logs(`?type=reception&message_id=${msgA}`)).data[0].event, "accepted");
  });

  test("limit up to 1000 pages through with next_cursor", async () => {
    const first = await logs("?limit=2");
    assert.equal(first.data.length, 2);
    assert.ok(first.next_cursor);
    const second = await logs(`?limit=1000&cursor=${first.next_cursor}`);
    assert.deepEqual(
      second.data.map((e) => e.event),
      ["expired", "bounced", "delivered"],
    );
    assert.equal(second.next_cursor, null);
  });

  test("bad input is refused with the field named", async () => {
    const cases: [string, string][] = [
      ["?event=opened", "event"],
      ["?type=reception&event=delivered", "event"],
      ["?type=reception&recipient=a@b.test", "recipient"],
      ["?type=reception&tag=x", "tag"],
      ["?since=yesterday", "since"],
      ["?until=2026-13-01T00:00:00", "until"],
      ["?recipient=nobody", "recipient"],
      ["?recipient=@not_a_domain", "recipient"],
      ["?source_ip=300.1.1.1", "source_ip"],
      ["?message_id=123", "message_id"],
      ["?limit=1001", "limit"],
      ["?limit=0", "limit"],
      ["?cursor=bm9wZQ", "cursor"],
      ["?channel=fax", "channel"],
      ["?colour=red", "colour"],
    ];
    for (const [query, field] of cases) {
      const r = await hk.api("GET", `/v1/logs${query}`);
      assert.equal(r.status, 422, query);
      assert.equal(r.body.error.field, field, query);
    }
  });

  test("an event is readable through the API within a second of its commit", async () => {
    const id = await insertDelivery(hk.service.db.sql, { accountId: hk.accountId, recipient: "fresh@example.jp" });
    const started = Date.now();
    await eventually(async () => (await logs("?recipient=fresh@example.jp")).data[0]?.id === id, "the new event", 1000);
    assert.ok(Date.now() - started < 1000);
  });
});

describe("log tenant isolation", () => {
  test("another account sees only its own events, whatever the filter", async () => {
    const mine = await logs("", other.key);
    assert.deepEqual(
      mine.data.map((e) => e.recipient),
      ["Taro@docomo.ne.jp"],
    );
    assert.deepEqual((await logs(`?message_id=${msgA}`, other.key)).data, []);
    assert.deepEqual((await logs("?tag=evacuation", other.key)).data, []);
    assert.equal((await logs("?type=reception", other.key)).data.length, 1);
  });

  test("a cursor from one account reads nothing of another", async () => {
    const first = await logs("?limit=1");
    const theirs = await logs(`?cursor=${first.next_cursor}`, other.key);
    assert.ok(theirs.data.every((e) => e.recipient === "Taro@docomo.ne.jp" && e.event === "bounced"));
  });

  test("no key, no log", async () => {
    const r = await hk.api("GET", "/v1/logs", undefined, { authorization: "Bearer nope" });
    assert.equal(r.status, 401);
  });
});

describe("service code table", () => {
  test("the OpenAPI description of the log lists every service code", async () => {
    const doc = (await (await fetch(`${hk.url}/openapi.json`)).json()) as any;
    const description: string = doc.paths["/v1/logs"].get.description;
    for (const [name, c] of Object.entries(serviceCodes)) {
      assert.match(description, new RegExp(`\\| \`${name}\` \\| ${c.code} \\| ${c.enhanced.replace(/\./g, "\\.")} \\|`));
      assert.equal(c.code >= 500 ? "5" : "4", c.enhanced[0], `${name}: the code and enhanced code share a class`);
    }
  });
});
