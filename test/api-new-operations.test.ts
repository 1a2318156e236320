// GET /v1/messages, POST /v1/messages/batch, GET /v1/api-keys and GET /v1/admin/accounts
// over real HTTP: what they answer, how they page, and how they refuse bad input.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { startDns, type TestDns } from "./helpers/dns-server.ts";
import { eventually, startTestService, type TestService } from "./helpers/service.ts";

let hk: TestService;
let dns: TestDns;
const ADMIN = { authorization: "Bearer test-admin-token-0123456789" };

const msg = (over: Record<string, unknown> = {}) => ({ from: "orders@shop.test", to: "a@nowhere.test", subject: "s", text: "t", ...over });
const inADay = () => new Date(Date.now() + 86_400_000).toISOString();

before(async () => {
  // A DNS server of our own that knows no domain: mail to nowhere.test bounces without a look-up leaving loopback.
  dns = await startDns({});
  hk = await startTestService({ HIKYAKU_DNS_SERVERS: dns.address });
});
after(async () => {
  await hk?.stop();
  await dns?.close();
});

describe("GET /v1/messages", () => {
  const ids: string[] = [];
  before(async () => {
    for (let i = 0; i < 5; i++) {
      const r = await hk.api("POST", "/v1/messages", msg({ send_at: inADay(), tags: i % 2 ? ["odd"] : ["even"] }));
      assert.equal(r.status, 202);
      ids.push(r.body.id);
    }
  });

  test("pages newest first with a cursor, every message once", async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const r = await hk.api("GET", `/v1/messages?limit=2${cursor ? `&cursor=${cursor}` : ""}`);
      assert.equal(r.status, 200);
      assert.ok(r.body.data.length <= 2);
      seen.push(...r.body.data.map((m: any) => m.id));
      cursor = r.body.next_cursor;
      pages++;
    } while (cursor);
    assert.equal(pages, 3);
    assert.deepEqual(seen, [...ids].reverse());
  });

  test("filters by state, tag, channel and time, combined", async () => {
    const get = async (q: string) => (await hk.api("GET", `/v1/messages?${q}`)).body.data.map((m: any) => m.id);
    assert.deepEqual(await get("tag=odd"), [ids[3], ids[1]]);
    assert.equal((await get("state=scheduled")).length, 5);
    assert.equal((await get("state=completed")).length, 0);
    assert.equal((await get("channel=smtp")).length, 0);
    assert.equal((await get("channel=http&tag=even")).length, 3);
    assert.equal((await get(`since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`)).length, 0);
    assert.equal((await get(`until=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`)).length, 5);
    const one = (await hk.api("GET", "/v1/messages?limit=1")).body.data[0];
    assert.equal(one.recipient_count, 1);
    assert.equal(one.state, "scheduled");
    assert.ok(one.send_at);
  });

  test("another account sees none of them", async () => {
    const other = await hk.newAccount();
    const r = await fetch(`${hk.url}/v1/messages`, { headers: { authorization: `Bearer ${other.key}` } });
    assert.deepEqual(await r.json(), { data: [], next_cursor: null });
  });

  test("bad queries are 422 naming the parameter", async () => {
    for (const [q, field] of [
      ["cursor=bm9wZQ", "cursor"],
      ["since=yesterday", "since"],
      ["state=lost", "state"],
      ["limit=0", "limit"],
      ["limit=101", "limit"],
      ["colour=red", "colour"],
    ]) {
      const r = await hk.api("GET", `/v1/messages?${q}`);
      assert.equal(r.status, 422, q);
      assert.equal(r.body.error.field, field, q);
      assert.match(r.body.error.request_id, /^req_/);
    }
  });
});

describe("POST /v1/messages/batch", () => {
  test("each item has its own result; a bad item refuses only itself and is in the reception log", async () => {
    const r = await hk.api("POST", "/v1/messages/batch", {
      messages: [msg(), msg({ to: "bob" }), "not an object", msg({ colour: "red" }), msg({ from: "me@gmail.com" })],
    });
    assert.equal(r.status, 200);
    const [ok, bad, notObject, unknown, freeMail] = r.body.data;
    assert.equal(ok.index, 0);
    assert.match(ok.id, /^[0-9a-f-]{36}$/);
    assert.deepEqual([bad.index, bad.error.field], [1, "to"]);
    assert.equal(notObject.error.code, "validation_error");
    assert.deepEqual([unknown.error.code, unknown.error.field], ["validation_error", "colour"]);
    assert.equal(freeMail.error.code, "sender_refused");
    for (const item of [bad, notObject, unknown, freeMail]) assert.match(item.error.request_id, /^req_/);
    assert.equal((await hk.api("GET", `/v1/messages/${ok.id}`)).status, 200);
    const refused = await hk.api("GET", "/v1/logs?type=reception&event=refused&limit=100");
    assert.ok(
      refused.body.data.some((e: any) => /gmail/.test(e.reason)),
      "refused items are intake attempts too",
    );
  });

  test("the batch itself is refused when it is not 1-100 messages, not JSON, or too large", async () => {
    // Only the HTTP door's messages: bounce notices (channel dsn) for earlier tests may arrive meanwhile.
    const stored = async () => (await hk.api("GET", "/v1/messages?channel=http&limit=100")).body.data.length;
    const before = await stored();
    const many = await hk.api("POST", "/v1/messages/batch", { messages: Array.from({ length: 101 }, () => msg()) });
    assert.deepEqual([many.status, many.body.error.field], [422, "messages"]);
    const none = await hk.api("POST", "/v1/messages/batch", { messages: [] });
    assert.deepEqual([none.status, none.body.error.field], [422, "messages"]);
    const bare = await hk.api("POST", "/v1/messages/batch", [msg()]);
    assert.equal(bare.status, 422);
    const broken = await hk.api("POST", "/v1/messages/batch", "{not json");
    assert.deepEqual([broken.status, broken.body.error.code], [400, "invalid_json"]);
    const big = "x".repeat(hk.config.HIKYAKU_MAX_MESSAGE_BYTES);
    const huge = await hk.api("POST", "/v1/messages/batch", { messages: [msg({ text: big }), msg({ text: big })] });
    assert.deepEqual([huge.status, huge.body.error.code], [413, "message_too_large"]);
    assert.equal(await stored(), before, "nothing stored");
  });

  test("an Idempotency-Key covers the batch: the same batch answers the same ids, another batch 409", async () => {
    const batch = { messages: [msg({ subject: "k1" }), msg({ subject: "k2" })] };
    const key = { "idempotency-key": "batch-key-1" };
    const first = await hk.api("POST", "/v1/messages/batch", batch, key);
    const again = await hk.api("POST", "/v1/messages/batch", batch, key);
    assert.deepEqual(
      again.body.data.map((i: any) => i.id),
      first.body.data.map((i: any) => i.id),
    );
    const listed = (await hk.api("GET", "/v1/messages?limit=100")).body.data.filter((m: any) => first.body.data.some((i: any) => i.id === m.id));
    assert.equal(listed.length, 2, "stored once");
    const other = await hk.api("POST", "/v1/messages/batch", { messages: [msg({ subject: "k3" })] }, key);
    assert.deepEqual([other.status, other.body.error.code, other.body.error.field], [409, "idempotency_conflict", "Idempotency-Key"]);
    const single = await hk.api("POST", "/v1/messages", msg(), key);
    assert.equal(single.status, 409, "a batch's key is not a single send's");
  });
});

describe("GET /v1/api-keys", () => {
  test("lists prefixes, names and last use, never a secret; revoked keys leave the list", async () => {
    const created = await hk.api("POST", "/v1/api-keys", { name: "second" });
    const second = created.body;
    await fetch(`${hk.url}/v1/usage`, { headers: { authorization: `Bearer ${second.key}` } });
    // last_used_at is written beside the request, never in its way: wait for it.
    const r = await eventually(async () => {
      const got = await hk.api("GET", "/v1/api-keys");
      return got.body.data?.find((k: any) => k.id === second.id)?.last_used_at ? got : undefined;
    }, "the second key's last use recorded");
    assert.equal(r.status, 200);
    const text = JSON.stringify(r.body);
    assert.ok(!text.includes(second.key) && !text.includes(hk.key), "no secret");
    assert.doesNotMatch(text, /hash/);
    const row = r.body.data.find((k: any) => k.id === second.id);
    assert.deepEqual([row.prefix, row.name], [second.prefix, "second"]);
    assert.ok(row.last_used_at, "used once");
    const page = await hk.api("GET", "/v1/api-keys?limit=1");
    assert.equal(page.body.data.length, 1);
    const next = await hk.api("GET", `/v1/api-keys?limit=1&cursor=${page.body.next_cursor}`);
    assert.equal(next.body.data[0].id, second.id);
    assert.equal((await hk.api("DELETE", `/v1/api-keys/${second.id}`)).status, 204);
    assert.ok(!(await hk.api("GET", "/v1/api-keys")).body.data.some((k: any) => k.id === second.id));
    assert.equal((await hk.api("GET", "/v1/api-keys?cursor=zzz")).body.error.field, "cursor");
  });
});

describe("GET /v1/admin/accounts", () => {
  test("operators list accounts newest first; an API key is refused", async () => {
    const created = await (
      await fetch(`${hk.url}/v1/admin/accounts`, { method: "POST", headers: { ...ADMIN, "content-type": "application/json" }, body: '{"name":"Newest"}' })
    ).json();
    const r = await fetch(`${hk.url}/v1/admin/accounts?limit=1`, { headers: ADMIN });
    const body = (await r.json()) as any;
    assert.equal(r.status, 200);
    assert.deepEqual([body.data[0].id, body.data[0].name, body.data[0].active_api_keys], [created.account.id, "Newest", 1]);
    assert.ok(body.next_cursor);
    const next = (await (await fetch(`${hk.url}/v1/admin/accounts?limit=100&cursor=${body.next_cursor}`, { headers: ADMIN })).json()) as any;
    assert.ok(next.data.length >= 2 && !next.data.some((a: any) => a.id === created.account.id));
    const withKey = await hk.api("GET", "/v1/admin/accounts");
    assert.deepEqual([withKey.status, withKey.body.error.code], [401, "unauthorized"]);
  });
});
