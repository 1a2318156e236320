// Webhooks seen from a real receiver on loopback: Standard Webhooks signatures checked by
// a verifier written here from the specification, retries after 500s, 410 disabling the
// endpoint, replay, secret rotation, order per message, intake refusals, and the
// internal-address refusal at connect time.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { advanceClock, resetClock } from "../src/clock.ts";
import { eventually, type MxWorld, startTestService, startWithMx } from "./helpers/service.ts";
import { type Receiver, startReceiver, verifyStandardWebhook } from "./helpers/webhook-receiver.ts";

let world: MxWorld;
let rx: Receiver;

before(async () => {
  rx = await startReceiver();
  // ok.test: "later@" is refused with 451 at its first attempt, then accepted; "nobody@" bounces.
  world = await startWithMx(
    {
      onRcpt: (rcpt, { attempt }) => {
        if (rcpt.startsWith("later@") && attempt === 1) return { code: 451, message: "4.7.1 try again later" };
        if (rcpt.startsWith("nobody@")) return { code: 550, message: "5.1.1 no such user" };
        return undefined;
      },
    },
    { HIKYAKU_WEBHOOK_RETRY_SECONDS: "0.2" },
  );
});

after(async () => {
  resetClock();
  await world?.stop();
  await rx?.close();
});

async function endpoint(events: string[], url = rx.url): Promise<{ id: string; secret: string }> {
  const r = await world.hk.api("POST", "/v1/webhooks", { url, events });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  assert.match(r.body.secret, /^whsec_[A-Za-z0-9+/=]{40,}$/);
  return r.body;
}

async function send(to: string): Promise<string> {
  const r = await world.hk.api("POST", "/v1/messages", {
    from: "Shop Name <orders@shop.test>",
    to: `Resident Name <${to}>`,
    subject: "Secret subject",
    text: "body",
  });
  assert.equal(r.status, 202, JSON.stringify(r.body));
  return r.body.id;
}

const forMessage = (id: string) => rx.received.filter((r) => r.json?.message_id === id);

test("an event is POSTed with a valid Standard Webhooks signature and the log event's fields, no content", async () => {
  const hook = await endpoint(["delivered", "bounced"]);
  const id = await send("alice@ok.test");
  const [got] = await eventually(async () => (forMessage(id).length > 0 ? forMessage(id) : undefined), "the delivered webhook");
  assert.ok(got);
  assert.ok(verifyStandardWebhook(hook.secret, got.headers, got.body), "the independent verifier accepts the signature");
  assert.equal(verifyStandardWebhook(hook.secret, got.headers, got.body.replace("alice", "mallory")), false, "a changed body fails verification");
  assert.equal(verifyStandardWebhook(`whsec_${Buffer.alloc(32, 1).toString("base64")}`, got.headers, got.body), false, "another secret fails");
  assert.equal(got.json.type, "delivered");
  assert.equal(got.json.account_id, world.hk.accountId);
  assert.equal(got.json.recipient, "alice@ok.test");
  assert.equal(got.json.code, 250);
  // The body is exactly the log event plus type and account_id.
  const log = (await world.hk.api("GET", `/v1/logs?message_id=${id}`)).body.data.find((e: any) => e.event === "delivered");
  const { type, account_id, ...rest } = got.json;
  assert.deepEqual(rest, log);
  assert.doesNotMatch(got.body, /Secret subject|Shop Name|Resident Name/);
  assert.equal(got.headers["webhook-id"], `evt_d${log.id}`);
  await world.hk.api("DELETE", `/v1/webhooks/${hook.id}`);
});

test("500s are retried with backoff until a 2xx; the deliveries list shows each attempt", async () => {
  const hook = await endpoint(["delivered"]);
  let failures = 0;
  rx.answer = (r) => (r.json?.recipient === "retry@ok.test" && failures++ < 2 ? 500 : 200);
  const id = await send("retry@ok.test");
  await eventually(async () => forMessage(id).length >= 3, "three attempts");
  const attempts = await eventually(async () => {
    const d = (await world.hk.api("GET", `/v1/webhooks/${hook.id}/deliveries`)).body.data as any[];
    return d.length >= 3 && d[0].result === "delivered" ? d : undefined;
  }, "the attempts listed");
  assert.deepEqual(
    attempts.map((a) => [a.attempt, a.status, a.result]),
    [
      [3, 200, "delivered"],
      [2, 500, "retrying"],
      [1, 500, "retrying"],
    ],
  );
  assert.ok(attempts.every((a) => Number.isInteger(a.response_ms) && a.response_ms >= 0));
  const ids = new Set(forMessage(id).map((r) => r.headers["webhook-id"]));
  assert.equal(ids.size, 1, "every attempt carries the same webhook-id");
  assert.equal(forMessage(id).length, 3, "no attempt after the success");
  assert.equal((await world.hk.api("GET", `/v1/webhooks/${hook.id}`)).body.failing_since, null);
  rx.answer = () => 200;
  await world.hk.api("DELETE", `/v1/webhooks/${hook.id}`);
});

test("events of one message arrive in order, even when the first one needs retries", async () => {
  const hook = await endpoint(["deferred", "delivered"]);
  let failed = false;
  rx.answer = (r) => {
    if (r.json?.type === "deferred" && !failed) {
      failed = true;
      return 500;
    }
    return 200;
  };
  const id = await send("later@ok.test");
  await eventually(async () => forMessage(id).some((r) => r.json.type === "delivered"), "the delivered webhook", 30_000);
  const types = forMessage(id).map((r) => r.json.type);
  assert.deepEqual(types, ["deferred", "deferred", "delivered"], "the failed deferred event is retried before delivered is sent");
  rx.answer = () => 200;
  await world.hk.api("DELETE", `/v1/webhooks/${hook.id}`);
});

test("replay sends a time range again, with the original webhook-ids", async () => {
  const hook = await endpoint(["delivered", "bounced"]);
  const since = new Date().toISOString();
  const a = await send("replay1@ok.test");
  const b = await send("nobody@ok.test");
  await eventually(async () => forMessage(a).length === 1 && forMessage(b).length === 1, "the first sends");
  const first = [...forMessage(a), ...forMessage(b)].map((r) => r.headers["webhook-id"]);
  assert.equal(forMessage(b)[0]?.json.type, "bounced");
  const r = await world.hk.api("POST", `/v1/webhooks/${hook.id}/replay?since=${encodeURIComponent(since)}`);
  assert.equal(r.status, 202, JSON.stringify(r.body));
  assert.ok(r.body.queued >= 2);
  await eventually(async () => forMessage(a).length === 2 && forMessage(b).length === 2, "the replayed events");
  assert.deepEqual(
    [forMessage(a)[1], forMessage(b)[1]].map((x) => x?.headers["webhook-id"]),
    first,
  );
  const bad = await world.hk.api("POST", `/v1/webhooks/${hook.id}/replay?since=yesterday`);
  assert.equal(bad.status, 422);
  assert.equal(bad.body.error.field, "since");
  await world.hk.api("DELETE", `/v1/webhooks/${hook.id}`);
});

test("after a rotation both secrets sign for the overlap", async () => {
  const hook = await endpoint(["delivered"]);
  const rot = await world.hk.api("POST", `/v1/webhooks/${hook.id}/rotate-secret`);
  assert.equal(rot.status, 200);
  assert.notEqual(rot.body.secret, hook.secret);
  const overlap = Date.parse(rot.body.previous_secret_expires_at) - Date.now();
  assert.ok(overlap > 23 * 3600_000 && overlap <= 24 * 3600_000);
  const id = await send("rotate@ok.test");
  const [got] = await eventually(async () => (forMessage(id).length > 0 ? forMessage(id) : undefined), "the webhook");
  assert.ok(got);
  assert.equal(String(got.headers["webhook-signature"]).split(" ").length, 2);
  assert.ok(verifyStandardWebhook(hook.secret, got.headers, got.body), "the old secret still verifies");
  assert.ok(verifyStandardWebhook(rot.body.secret, got.headers, got.body), "the new secret verifies");
  await world.hk.api("DELETE", `/v1/webhooks/${hook.id}`);
});

test("a refused intake attempt is a reception.refused event", async () => {
  const hook = await endpoint(["reception.refused"]);
  const r = await world.hk.api("POST", "/v1/messages", { from: "orders@shop.test", to: "not-an-address", subject: "x", text: "y" });
  assert.equal(r.status, 422);
  const got = await eventually(async () => rx.received.find((x) => x.json?.type === "reception.refused"), "the refusal webhook");
  assert.equal(got.json.accepted, false);
  assert.equal(got.json.code, 422);
  assert.equal(got.json.account_id, world.hk.accountId);
  assert.ok(verifyStandardWebhook(hook.secret, got.headers, got.body));
  await world.hk.api("DELETE", `/v1/webhooks/${hook.id}`);
});

test("bad subscriptions are refused with a sentence naming the field; another account's endpoint is 404", async () => {
  for (const [body, field] of [
    [{ url: "ftp://x.example/", events: ["delivered"] }, "url"],
    [{ url: "not a url", events: ["delivered"] }, "url"],
    [{ url: "https://user:pw@x.example/", events: ["delivered"] }, "url"],
    [{ url: "https://x.example/", events: ["opened"] }, "events[0]"],
    [{ url: "https://x.example/", events: [] }, "events"],
    [{ url: "https://x.example/" }, "events"],
  ] as const) {
    const r = await world.hk.api("POST", "/v1/webhooks", body);
    assert.equal(r.status, 422, JSON.stringify(body));
    assert.equal(r.body.error.field, field, JSON.stringify(r.body));
  }
  const mine = await endpoint(["delivered"], "https://hooks.example/x");
  const other = await world.hk.newAccount();
  const res = await fetch(`${world.hk.url}/v1/webhooks/${mine.id}`, { headers: { authorization: `Bearer ${other.key}` } });
  assert.equal(res.status, 404);
  assert.equal((await world.hk.api("GET", "/v1/webhooks/not-a-uuid")).status, 404);
  await world.hk.api("DELETE", `/v1/webhooks/${mine.id}`);
});

test("410 Gone disables the endpoint, and GET says why", async () => {
  const hook = await endpoint(["delivered"]);
  rx.answer = () => 410;
  const id = await send("gone@ok.test");
  const got = await eventually(async () => {
    const e = (await world.hk.api("GET", `/v1/webhooks/${hook.id}`)).body;
    return e.enabled === false ? e : undefined;
  }, "the endpoint disabled");
  assert.match(got.disabled_reason, /410 Gone/);
  rx.answer = () => 200;
  const later = await send("after-gone@ok.test");
  await eventually(async () => (await world.hk.api("GET", `/v1/logs?message_id=${later}`)).body.data.length > 0, "the next delivery");
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(forMessage(later).length, 0, "nothing is sent to a disabled endpoint");
  assert.equal(forMessage(id).length, 1);
  const on = await world.hk.api("PATCH", `/v1/webhooks/${hook.id}`, { enabled: true });
  assert.equal(on.body.enabled, true);
  assert.equal(on.body.disabled_reason, null);
  await world.hk.api("DELETE", `/v1/webhooks/${hook.id}`);
});

test("webhook URLs that reach internal addresses are refused, at creation and at connect time", async () => {
  const strict = await startTestService({ HIKYAKU_ALLOW_PRIVATE_DESTINATIONS: "false", HIKYAKU_WEBHOOK_RETRY_SECONDS: "0.2" });
  try {
    const literal = await strict.api("POST", "/v1/webhooks", { url: rx.url, events: ["reception.refused"] });
    assert.equal(literal.status, 422);
    assert.match(literal.body.error.message, /internal address/);
    // A name is accepted when saved, and checked when connecting: localhost is loopback.
    const named = await strict.api("POST", "/v1/webhooks", { url: `http://localhost:${rx.port}/hooks`, events: ["reception.refused"] });
    assert.equal(named.status, 201);
    const before = rx.received.length;
    await strict.api("POST", "/v1/messages", { from: "orders@shop.test", to: "bad address", subject: "x", text: "y" });
    const attempt = await eventually(async () => (await strict.api("GET", `/v1/webhooks/${named.body.id}/deliveries`)).body.data[0], "the refused attempt");
    assert.equal(attempt.status, null);
    assert.match(attempt.error, /internal addresses/);
    assert.equal(rx.received.length, before, "the receiver was never contacted");
  } finally {
    await strict.stop();
  }
});

// Moves the service's clock: last in this file.
test("three days of failures disable the endpoint with the reason", async () => {
  const hook = await endpoint(["delivered"]);
  rx.answer = () => 503;
  const id = await send("down@ok.test");
  await eventually(async () => forMessage(id).length >= 1, "the first failed attempt");
  // The attempt's outcome is committed just after the receiver answered.
  const e1 = await eventually(async () => {
    const e = (await world.hk.api("GET", `/v1/webhooks/${hook.id}`)).body;
    return e.failing_since ? e : undefined;
  }, "the failure streak to start");
  assert.equal(e1.enabled, true);
  advanceClock(3 * 24 * 3600_000 + 60_000);
  const got = await eventually(async () => {
    const e = (await world.hk.api("GET", `/v1/webhooks/${hook.id}`)).body;
    return e.enabled === false ? e : undefined;
  }, "the endpoint disabled");
  assert.match(got.disabled_reason, /failed for 3 days.*HTTP 503/);
  rx.answer = () => 200;
});
