// The SDK against a real Hikyaku (embedded PostgreSQL, a loopback MX sink, a loopback DNS
// server): every call goes over HTTP to the running service; failures come from real
// loopback servers that misbehave (faulty-server.ts). No fetch is mocked.
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { eventually, type MxWorld, startWithMx } from "../../test/helpers/service.ts";
import { freePort } from "../../test/helpers/sink.ts";
import { type DeliveryEvent, Hikyaku, type SendMessage } from "../src/index.ts";
import { startReceiver, verifyStandardWebhook } from "../../test/helpers/webhook-receiver.ts";
import { answering, proxy, silent } from "./faulty-server.ts";

let world: MxWorld;
let hk: Hikyaku;

const message = (over: Partial<SendMessage> = {}): SendMessage => ({
  from: "Shop <orders@shop.test>",
  to: "customer@ok.test",
  subject: "Your order",
  text: "Thank you.",
  ...over,
});

const inADay = () => new Date(Date.now() + 86_400_000).toISOString();

before(async () => {
  world = await startWithMx();
  hk = new Hikyaku({ apiKey: world.hk.key, baseUrl: world.hk.url });
});

after(async () => {
  await world?.stop();
});

describe("messages", () => {
  test("send, then read the log until delivered", async () => {
    const sent = await hk.messages.send(message({ subject: "Order 1", tags: ["sdk-send"] }));
    assert.equal(sent.error, null);
    const id = sent.data?.id ?? "";
    assert.equal(sent.data?.state, "queued");
    const delivered = await eventually(async () => {
      for await (const { data, error } of hk.logs.list({ message_id: id })) {
        assert.equal(error, null);
        if (data?.event === "delivered") return data as DeliveryEvent;
      }
      return undefined;
    }, "a delivered event");
    assert.equal(delivered.recipient, "customer@ok.test");
    assert.equal(delivered.code, 250);
    assert.deepEqual(delivered.tags, ["sdk-send"]);
    assert.ok(
      world.sink.messages.some((m) => m.raw.toString().includes("Subject: Order 1")),
      "the sink received the message",
    );
    const got = await hk.messages.get(id);
    assert.equal(got.data?.recipients[0]?.state, "delivered");
  });

  test("a batch with one bad item: the others are accepted, the bad one refused with its index and field", async () => {
    const r = await hk.messages.sendBatch([message({ subject: "B0" }), message({ to: "bob" }), message({ subject: "B2", tags: ["batch"] })]);
    assert.equal(r.error, null);
    const items = r.data?.data ?? [];
    assert.equal(items.length, 3);
    assert.deepEqual(
      items.map((i) => i.index),
      [0, 1, 2],
    );
    const bad = items[1];
    assert.ok(bad && "error" in bad, "item 1 is refused");
    assert.equal(bad.error.field, "to");
    assert.match(bad.error.message, /bob/);
    for (const good of [items[0], items[2]]) {
      assert.ok(good && "id" in good, "items 0 and 2 are accepted");
      const got = await hk.messages.get(good.id);
      assert.equal(got.error, null);
    }
    const refused = await hk.logs.page({ type: "reception", event: "refused" });
    assert.ok(
      refused.data?.data.some((e) => "reason" in e && /bob/.test(e.reason)),
      "the refused item is in the reception log",
    );
  });

  test("schedule, then cancel", async () => {
    const sent = await hk.messages.send(message({ send_at: inADay() }));
    assert.equal(sent.data?.state, "scheduled");
    const id = sent.data?.id ?? "";
    const listed = await hk.messages.list({ state: "scheduled" });
    assert.ok(
      listed.data?.data.some((m) => m.id === id),
      "listed as scheduled",
    );
    const cancelled = await hk.messages.cancel(id);
    assert.deepEqual(cancelled.data, { id, cancelled: 1, in_flight: 0 });
    const got = await hk.messages.get(id);
    assert.equal(got.data?.recipients[0]?.state, "cancelled");
    const again = await hk.messages.cancel(id);
    assert.equal(again.error?.status, 409);
    assert.equal(again.error?.code, "conflict");
    const events = await hk.logs.page({ message_id: id, event: "cancelled" });
    assert.equal(events.data?.data.length, 1);
  });

  test("reschedule", async () => {
    const sent = await hk.messages.send(message({ send_at: inADay() }));
    const id = sent.data?.id ?? "";
    const later = new Date(Date.now() + 2 * 86_400_000);
    later.setUTCMilliseconds(0);
    const moved = await hk.messages.reschedule(id, later.toISOString());
    assert.equal(moved.error, null);
    assert.equal(moved.data?.send_at, later.toISOString());
    assert.equal((await hk.messages.get(id)).data?.send_at, later.toISOString());
    const bad = await hk.messages.reschedule(id, "next tuesday");
    assert.equal(bad.error?.status, 422);
    assert.equal(bad.error?.field, "send_at");
  });

  test("a 422 is the server's error, unchanged, with its field", async () => {
    const body = message({ to: ["ok@ok.test", "not an address"] });
    const r = await hk.messages.send(body);
    assert.equal(r.data, null);
    const direct = await world.hk.api("POST", "/v1/messages", body);
    assert.equal(direct.status, 422);
    assert.equal(r.error?.status, 422);
    assert.equal(r.error?.code, direct.body.error.code);
    assert.equal(r.error?.message, direct.body.error.message);
    assert.equal(r.error?.field, "to[1]");
    assert.match(r.error?.request_id ?? "", /^req_/);
  });

  test("a 401 for a wrong key, as a value", async () => {
    const wrong = new Hikyaku({ apiKey: "hk_00000000_wrong", baseUrl: world.hk.url });
    const r = await wrong.usage.get();
    assert.equal(r.data, null);
    assert.equal(r.error?.status, 401);
    assert.equal(r.error?.code, "unauthorized");
  });
});

describe("logs", () => {
  let id = "";

  before(async () => {
    const to = Array.from({ length: 250 }, (_, i) => `r${String(i).padStart(3, "0")}@ok.test`);
    const sent = await hk.messages.send(message({ to, subject: "Many" }));
    assert.equal(sent.error, null);
    id = sent.data?.id ?? "";
    await eventually(
      async () => {
        const page = await hk.logs.page({ message_id: id, event: "delivered", limit: 1000 });
        return (page.data?.data.length ?? 0) >= 250;
      },
      "250 delivered events",
      60_000,
    );
  });

  test("the iterator pages through 250 events, each once, newest first", async () => {
    const seen: DeliveryEvent[] = [];
    for await (const { data, error } of hk.logs.list({ message_id: id, event: "delivered", limit: 100 })) {
      assert.equal(error, null);
      seen.push(data as DeliveryEvent);
    }
    assert.equal(seen.length, 250);
    assert.equal(new Set(seen.map((e) => e.recipient)).size, 250, "no event twice");
    const ids = seen.map((e) => e.id);
    assert.deepEqual(
      ids,
      [...ids].sort((a, b) => b - a),
      "newest first",
    );
  });

  test("CSV as a stream: a header row and one row per event", async () => {
    const r = await hk.logs.csv({ message_id: id, event: "delivered" });
    assert.equal(r.error, null);
    assert.ok(r.data instanceof ReadableStream);
    const text = await new Response(r.data).text();
    const lines = text.split("\r\n").filter(Boolean);
    assert.match(lines[0] ?? "", /recipient/);
    assert.equal(lines.length, 251);
    assert.ok(lines.slice(1).every((l) => l.includes(id) && l.includes("delivered")));
  });

  test("an invalid query ends the iterator with one error, not a throw", async () => {
    const items = [];
    for await (const item of hk.logs.list({ since: "yesterday" })) items.push(item);
    assert.equal(items.length, 1);
    assert.equal(items[0]?.error?.status, 422);
    assert.equal(items[0]?.error?.field, "since");
  });
});

describe("idempotency and retries", () => {
  test("a send cut off after the server committed it is retried with its key and answers the same message", async () => {
    const p = await proxy(world.hk.url, (n) => (n === 0 ? "forward-then-cut" : "forward"));
    try {
      const client = new Hikyaku({ apiKey: world.hk.key, baseUrl: p.url });
      const before = world.sink.messages.length;
      const r = await client.messages.send(message({ subject: "Once only" }), { idempotencyKey: "sdk-retry-1" });
      assert.equal(r.error, null, JSON.stringify(r.error));
      assert.equal(p.seen.length, 2, "the first answer was lost, so the SDK sent it again");
      const direct = await world.hk.api("POST", "/v1/messages", message({ subject: "Once only" }), { "idempotency-key": "sdk-retry-1" });
      assert.equal(direct.body.id, r.data?.id, "the same message");
      await world.sink.waitFor(before + 1);
      await new Promise((res) => setTimeout(res, 500));
      assert.equal(world.sink.messages.filter((m) => m.raw.toString().includes("Subject: Once only")).length, 1, "delivered once");
    } finally {
      await p.close();
    }
  });

  test("a batch retried with its key answers the same ids", async () => {
    const batch = [message({ subject: "K0" }), message({ to: "nobody" }), message({ subject: "K2" })];
    const first = await hk.messages.sendBatch(batch, { idempotencyKey: "sdk-batch-1" });
    const second = await hk.messages.sendBatch(batch, { idempotencyKey: "sdk-batch-1" });
    const outcome = (r: typeof first) => r.data?.data.map((i) => ("error" in i ? i.error.code : i.id));
    assert.equal(outcome(first)?.length, 3);
    assert.deepEqual(outcome(second), outcome(first), "the same ids, and the same refusal");
    const changed = await hk.messages.sendBatch([message({ subject: "other" })], { idempotencyKey: "sdk-batch-1" });
    assert.equal(changed.error?.status, 409);
    assert.equal(changed.error?.code, "idempotency_conflict");
  });

  test("a send without a key is not repeated when its answer is lost", async () => {
    const p = await proxy(world.hk.url, () => "forward-then-cut");
    try {
      const r = await new Hikyaku({ apiKey: world.hk.key, baseUrl: p.url }).messages.send(message({ subject: "No key" }));
      assert.equal(r.error?.code, "network_error");
      assert.equal(r.error?.status, 0);
      assert.equal(p.seen.length, 1);
    } finally {
      await p.close();
    }
  });

  test("503 and 429 are retried for reads, after Retry-After; a send without a key gets the 503 as it is", async () => {
    const unavailable = JSON.stringify({ error: { code: "unavailable", message: "The database is down.", request_id: "req_x" } });
    const p = await proxy(world.hk.url, (n) =>
      n === 0
        ? { status: 503, body: unavailable, headers: { "retry-after": "0" } }
        : n === 1
          ? {
              status: 429,
              body: JSON.stringify({ error: { code: "rate_limited", message: "Slow down.", request_id: "req_y" } }),
              headers: { "retry-after": "0" },
            }
          : n === 2
            ? "forward"
            : { status: 503, body: unavailable },
    );
    try {
      const client = new Hikyaku({ apiKey: world.hk.key, baseUrl: p.url });
      const usage = await client.usage.get();
      assert.equal(usage.error, null);
      assert.equal(typeof usage.data?.messages_accepted, "number");
      assert.equal(p.seen.length, 3);
      const sent = await client.messages.send(message());
      assert.deepEqual(sent.error, { code: "unavailable", message: "The database is down.", request_id: "req_x", status: 503 });
      assert.equal(p.seen.length, 4, "not retried");
    } finally {
      await p.close();
    }
  });

  test("no answer becomes a timeout, tried 1 + maxRetries times", async () => {
    const s = await silent();
    try {
      const r = await new Hikyaku({ apiKey: "k", baseUrl: s.url, timeoutMs: 300, maxRetries: 1 }).messages.get("x");
      assert.equal(r.error?.code, "timeout");
      assert.equal(s.seen.length, 2);
    } finally {
      await s.close();
    }
  });

  test("a reply that is not Hikyaku's JSON is bad_response; a closed port is network_error", async () => {
    const html = await answering(502, "<html><body>Bad Gateway</body></html>", "text/html");
    const notJson = await answering(200, "hello", "text/plain");
    try {
      const a = await new Hikyaku({ apiKey: "k", baseUrl: html.url, maxRetries: 0 }).messages.get("x");
      assert.deepEqual([a.error?.code, a.error?.status], ["bad_response", 502]);
      const b = await new Hikyaku({ apiKey: "k", baseUrl: notJson.url }).usage.get();
      assert.deepEqual([b.error?.code, b.error?.status], ["bad_response", 200]);
    } finally {
      await html.close();
      await notJson.close();
    }
    const closed = await new Hikyaku({ apiKey: "k", baseUrl: `http://127.0.0.1:${await freePort()}`, maxRetries: 0 }).usage.get();
    assert.deepEqual([closed.error?.code, closed.error?.status], ["network_error", 0]);
  });

  test("the User-Agent names the SDK and the application", async () => {
    let agent = "";
    const server = http.createServer((req, res) => {
      agent = req.headers["user-agent"] ?? "";
      res.writeHead(200, { "content-type": "application/json" });
      res.end("{}");
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const { port } = server.address() as AddressInfo;
      await new Hikyaku({ apiKey: "k", baseUrl: `http://127.0.0.1:${port}`, userAgent: "city-alerts/2.0" }).usage.get();
      assert.match(agent, /^hikyaku-sdk\/\d+\.\d+\.\d+ city-alerts\/2\.0$/);
    } finally {
      server.close();
    }
  });
});

describe("every namespace reaches its operation", () => {
  test("domains, usage, api keys, SMTP credentials, source IPs, admin", async () => {
    const created = await hk.domains.create("sdk.test");
    assert.equal(created.error, null, JSON.stringify(created.error));
    assert.equal(created.data?.domain, "sdk.test");
    assert.equal((await hk.domains.get("sdk.test")).data?.domain, "sdk.test");
    assert.ok((await hk.domains.list()).data?.data.some((d) => d.domain === "sdk.test"));
    const verified = await hk.domains.verify("sdk.test");
    assert.ok(verified.data?.checks.some((c) => c.purpose === "dkim"));
    const rotated = await hk.domains.rotate("sdk.test");
    assert.ok((rotated.data?.dkim_keys.length ?? 0) > (created.data?.dkim_keys.length ?? 0));
    assert.deepEqual(await hk.domains.delete("sdk.test"), { data: null, error: null });
    assert.equal((await hk.domains.get("sdk.test")).error?.status, 404);

    const usage = await hk.usage.get({ month: "2026-01" });
    assert.equal(usage.data?.month, "2026-01");

    const key = await hk.apiKeys.create({ name: "rotation" });
    assert.match(key.data?.key ?? "", /^hk_/);
    const keys = await hk.apiKeys.list();
    const listed = keys.data?.data.find((k) => k.id === key.data?.id);
    assert.equal(listed?.name, "rotation");
    assert.ok(!JSON.stringify(keys.data).includes(key.data?.key ?? "-"), "the secret is never listed");
    assert.deepEqual(await hk.apiKeys.revoke(key.data?.id ?? ""), { data: null, error: null });

    const cred = await hk.smtpCredentials.create({ username: "sdk-user" });
    assert.ok(cred.data?.password);
    assert.ok((await hk.smtpCredentials.list()).data?.data.some((c) => c.username === "sdk-user"));
    assert.deepEqual(await hk.smtpCredentials.revoke(cred.data?.id ?? ""), { data: null, error: null });

    assert.deepEqual((await hk.sourceIps.replace(["192.0.2.44"])).data, { ips: ["192.0.2.44"] });
    assert.deepEqual((await hk.sourceIps.get()).data, { ips: ["192.0.2.44"] });

    const admin = new Hikyaku({ apiKey: world.hk.config.HIKYAKU_ADMIN_TOKEN ?? "", baseUrl: world.hk.url });
    const account = await admin.admin.accounts.create("SDK City");
    assert.equal(account.data?.account.name, "SDK City");
    const accounts = await admin.admin.accounts.list();
    assert.equal(accounts.data?.data[0]?.id, account.data?.account.id, "newest first");
    const updated = await admin.admin.accounts.update(account.data?.account.id ?? "", { monthly_quota: 5 });
    assert.equal(updated.data?.monthly_quota, 5);
    assert.equal((await hk.admin.accounts.list()).error?.status, 401, "an API key is not the operator token");
    const policies = await admin.admin.destinationPolicies.list();
    assert.ok(
      policies.data?.data.some((p) => p.domain === "docomo.ne.jp"),
      "the built-in carriers are listed",
    );
    const set = await admin.admin.destinationPolicies.set("school.test", { messages_per_minute: 30 });
    assert.equal(set.error, null, JSON.stringify(set.error));
    const got = await admin.admin.destinationPolicies.get("school.test");
    assert.equal(got.data?.policy.settings.messages_per_minute, 30);
    const bad = await admin.admin.destinationPolicies.set("school.test", { max_connections: 0 });
    assert.equal(bad.error?.status, 422);
    assert.equal(bad.error?.field, "max_connections");
    assert.equal((await admin.admin.destinationPolicies.delete("school.test")).error, null);
    assert.equal((await admin.admin.destinationPolicies.delete("school.test")).error?.status, 404);
  });
});

describe("webhooks and suppressions", () => {
  test("a webhook made through the SDK receives a signed delivered event; rotate, list attempts, disable, delete", async () => {
    const rx = await startReceiver();
    try {
      const made = await hk.webhooks.create({ url: rx.url, events: ["delivered"] });
      assert.equal(made.error, null, JSON.stringify(made.error));
      const id = made.data?.id ?? "";
      const secret = made.data?.secret ?? "";
      assert.match(secret, /^whsec_/);
      const sent = await hk.messages.send(message({ subject: "Hooked" }));
      const hit = await eventually(async () => rx.received.find((r) => r.json?.message_id === sent.data?.id), "the webhook for the sent message");
      assert.equal(hit.json.type, "delivered");
      assert.ok(verifyStandardWebhook(secret, hit.headers, hit.body), "signed with the secret the SDK was given");
      assert.equal((await hk.webhooks.get(id)).data?.url, rx.url);
      assert.ok((await hk.webhooks.list()).data?.data.some((w) => w.id === id));
      const attempts = await eventually(async () => {
        const page = await hk.webhooks.deliveries(id);
        return (page.data?.data.length ?? 0) > 0 ? page.data : undefined;
      }, "a recorded attempt");
      assert.equal(attempts?.data[0]?.status, 200);
      const rotated = await hk.webhooks.rotateSecret(id);
      assert.match(rotated.data?.secret ?? "", /^whsec_/);
      assert.notEqual(rotated.data?.secret, secret);
      assert.equal((await hk.webhooks.update(id, { enabled: false })).data?.enabled, false);
      assert.deepEqual(await hk.webhooks.delete(id), { data: null, error: null });
      assert.equal((await hk.webhooks.get(id)).error?.status, 404);
    } finally {
      await rx.close();
    }
  });

  test("a suppression added through the SDK ends a later send as suppressed; removed, it is delivered", async () => {
    const admin = new Hikyaku({ apiKey: world.hk.config.HIKYAKU_ADMIN_TOKEN ?? "", baseUrl: world.hk.url });
    assert.equal((await admin.admin.accounts.update(world.hk.accountId, { suppression_list: true })).error, null);
    const added = await hk.suppressions.add({ address: "Blocked@ok.test" });
    assert.equal(added.error, null, JSON.stringify(added.error));
    assert.equal(added.data?.address, "blocked@ok.test");
    const all: string[] = [];
    for await (const { data, error } of hk.suppressions.list()) {
      assert.equal(error, null);
      if (data) all.push(data.address);
    }
    assert.ok(all.includes("blocked@ok.test"), `listed: ${all.join(", ")}`);
    const sent = await hk.messages.send(message({ to: "blocked@ok.test" }));
    assert.equal(sent.data?.recipients?.[0]?.state, "suppressed");
    assert.equal((await hk.suppressions.remove("blocked@ok.test")).error, null);
    assert.equal((await hk.suppressions.remove("blocked@ok.test")).error?.status, 404);
    const again = await hk.messages.send(message({ to: "blocked@ok.test", subject: "After removal" }));
    assert.equal(again.data?.recipients?.[0]?.state, "queued");
  });
});
