// GET /metrics as Prometheus sees it: the text is parsed by the Python prometheus_client
// parser (Debian's python3-prometheus-client), an implementation independent of ours,
// after real deliveries to a loopback MX, a refused request, a scheduled message, and
// webhooks to a real receiver on loopback that answers 200, 500 and 410 or is not there.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, before, describe, test } from "node:test";
import nodemailer from "nodemailer";
import { encodeFamilies } from "../src/metrics/exposition.ts";
import { instrumentFamilies } from "../src/metrics/instruments.ts";
import { shapingFamilies } from "../src/metrics/shaping-metrics.ts";
import { listening, spawnWorker, stopHikyaku } from "./helpers/hikyaku-process.ts";
import { eventually, type MxWorld, startTestService, startWithMx, type TestService } from "./helpers/service.ts";
import { freePort } from "./helpers/sink.ts";
import { type Receiver, startReceiver } from "./helpers/webhook-receiver.ts";

const TOKEN = "metrics-token-0123456789";
let world: MxWorld;
let apiOnly: TestService;
let noToken: TestService;
let rx: Receiver;

before(async () => {
  rx = await startReceiver();
  world = await startWithMx(
    { onRcpt: (rcpt) => (rcpt.startsWith("gone@") ? { code: 550, message: "5.1.1 user unknown" } : undefined) },
    // A failed webhook waits an hour for its retry, so the backlog holds still while it is read.
    { HIKYAKU_METRICS_TOKEN: TOKEN, HIKYAKU_WEBHOOK_RETRY_SECONDS: "3600" },
  );
  apiOnly = await startTestService({ HIKYAKU_ROLES: "api", HIKYAKU_METRICS_TOKEN: TOKEN });
  noToken = await startTestService({ HIKYAKU_ROLES: "api" });
});

after(async () => {
  await world?.stop();
  await apiOnly?.stop();
  await noToken?.stop();
  await rx?.close();
});

interface ParsedSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
interface ParsedFamily {
  name: string;
  type: string;
  documentation: string;
  samples: ParsedSample[];
}

/** The independent parser: prometheus_client.parser.text_string_to_metric_families. */
function parse(text: string): Map<string, ParsedFamily> {
  const script = [
    "import json, sys",
    "from prometheus_client.parser import text_string_to_metric_families",
    "out = [{'name': f.name, 'type': f.type, 'documentation': f.documentation,",
    "        'samples': [{'name': s.name, 'labels': s.labels, 'value': s.value} for s in f.samples]}",
    "       for f in text_string_to_metric_families(sys.stdin.read())]",
    "print(json.dumps(out))",
  ].join("\n");
  // Debian's own interpreter, which has the Debian package (a pyenv python may not).
  const r = spawnSync("/usr/bin/python3", ["-c", script], { input: text, encoding: "utf8", timeout: 30_000 });
  assert.equal(r.status, 0, `the Prometheus parser refused the text: ${r.stderr}`);
  return new Map((JSON.parse(r.stdout) as ParsedFamily[]).map((f) => [f.name, f]));
}

async function scrape(base: string, token = TOKEN): Promise<{ status: number; type: string | null; text: string }> {
  const res = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, type: res.headers.get("content-type"), text: await res.text() };
}

const value = (f: ParsedFamily | undefined, name: string, labels: Record<string, string> = {}) =>
  f?.samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;

describe("/metrics", () => {
  test("after real traffic: intake, outcomes, attempt latency, queue, connections and process metrics parse", async () => {
    const hk = world.hk;
    // No DSN for the bounce: its own outcome would race the counts asserted below.
    await hk.service.db.sql`update accounts set bounces_enabled = false where id = ${hk.accountId}`;
    const send = (body: Record<string, unknown>) => hk.api("POST", "/v1/messages", { from: "shop@shop.test", subject: "s", text: "t", ...body });
    const sent = [await send({ to: "alice@ok.test" }), await send({ to: "gone@ok.test" })];
    for (const s of sent) assert.equal(s.status, 202, JSON.stringify(s.body));
    const later = await send({ to: "later@ok.test", priority: "high", send_at: new Date(Date.now() + 3_600_000).toISOString() });
    assert.equal(later.status, 202);
    assert.equal((await send({ to: "not an address" })).status, 422);
    // The relay door refuses a source IP no account registered.
    const relay = nodemailer.createTransport({ host: "127.0.0.1", port: hk.service.smtp?.relayPort, tls: { rejectUnauthorized: false } });
    await assert.rejects(relay.sendMail({ envelope: { from: "shop@shop.test", to: ["x@ok.test"] }, raw: "From: shop@shop.test\r\n\r\nhi\r\n" }), /554/);
    relay.close();
    for (const s of sent) {
      await eventually(async () => (await hk.api("GET", `/v1/logs?message_id=${s.body.id}`)).body.data?.length > 0, "the outcome");
    }

    const r = await scrape(hk.url);
    assert.equal(r.status, 200);
    assert.match(r.type ?? "", /^text\/plain; version=0\.0\.4/);
    const families = parse(r.text);
    for (const [name, f] of families) {
      assert.match(name, /^(hikyaku|process|nodejs)_[a-z0-9_]+$/, "names per the naming conventions");
      assert.notEqual(f.type, "unknown", `${name} has a TYPE`);
      assert.ok(f.documentation.length > 0, `${name} has a HELP`);
      if (f.type === "counter")
        assert.ok(
          f.samples.every((s) => s.name.endsWith("_total")),
          `counter ${name} ends in _total`,
        );
    }

    const intake = families.get("hikyaku_intake_messages");
    assert.equal(intake?.type, "counter");
    assert.equal(value(intake, "hikyaku_intake_messages_total", { door: "http", result: "accepted" }), 3);
    assert.equal(value(intake, "hikyaku_intake_messages_total", { door: "http", result: "refused" }), 1);
    assert.ok((value(intake, "hikyaku_intake_messages_total", { door: "smtp", result: "refused" }) ?? 0) >= 1);
    assert.equal(value(intake, "hikyaku_intake_messages_total", { door: "smtp", result: "accepted" }), 0, "known series start at 0");

    const deliveries = families.get("hikyaku_deliveries");
    // ok.test has no policy of its own: its outcomes count under the `*` policy.
    assert.equal(value(deliveries, "hikyaku_deliveries_total", { result: "delivered", policy: "*" }), 1);
    assert.equal(value(deliveries, "hikyaku_deliveries_total", { result: "bounced", policy: "*" }), 1);

    const latency = families.get("hikyaku_delivery_attempt_duration_seconds");
    assert.equal(latency?.type, "histogram");
    const count = value(latency, "hikyaku_delivery_attempt_duration_seconds_count") ?? 0;
    assert.ok(count >= 2, `one attempt per message at least: ${count}`);
    const buckets = (latency?.samples ?? []).filter((s) => s.name.endsWith("_bucket"));
    assert.equal(buckets.at(-1)?.labels.le, "+Inf");
    assert.equal(buckets.at(-1)?.value, count);
    for (let i = 1; i < buckets.length; i++) assert.ok((buckets[i]?.value ?? 0) >= (buckets[i - 1]?.value ?? 0), "cumulative buckets");
    assert.ok((value(latency, "hikyaku_delivery_attempt_duration_seconds_sum") ?? 0) > 0);

    const queue = families.get("hikyaku_queue_messages");
    assert.equal(value(queue, "hikyaku_queue_messages", { state: "scheduled", priority: "high" }), 1, "the send_at message waits, high priority");
    assert.equal(queue?.samples.length, 12, "every state and priority, zeros too");
    assert.equal(value(families.get("hikyaku_database_up"), "hikyaku_database_up"), 1);

    const connections = families.get("hikyaku_postgres_connections");
    assert.ok(
      (connections?.samples ?? []).some((s) => s.labels.application === "hikyaku" && s.value > 0),
      "the service's own connections",
    );
    assert.ok((value(families.get("hikyaku_postgres_pool_max_connections"), "hikyaku_postgres_pool_max_connections") ?? 0) > 0);

    assert.ok((value(families.get("process_cpu_seconds"), "process_cpu_seconds_total") ?? 0) > 0);
    assert.ok((value(families.get("process_resident_memory_bytes"), "process_resident_memory_bytes") ?? 0) > 1e6);
    assert.ok((value(families.get("process_start_time_seconds"), "process_start_time_seconds") ?? 0) > 1.7e9);
  });

  test("a message and a webhook event due with no worker to take them show in the backlogs and age", async () => {
    const before = parse((await scrape(apiOnly.url)).text);
    assert.equal(value(before.get("hikyaku_webhook_outbox_events"), "hikyaku_webhook_outbox_events", { state: "due" }), 0);
    assert.equal(value(before.get("hikyaku_webhook_outbox_oldest_due_event_age_seconds"), "hikyaku_webhook_outbox_oldest_due_event_age_seconds"), 0);
    const hook = await apiOnly.api("POST", "/v1/webhooks", { url: rx.url, events: ["reception.refused"] });
    assert.equal(hook.status, 201, JSON.stringify(hook.body));
    const s = await apiOnly.api("POST", "/v1/messages", { from: "shop@shop.test", to: "bob@ok.test", subject: "s", text: "t", priority: "bulk" });
    assert.equal(s.status, 202);
    // A refused request is a reception.refused event: its webhook waits in the outbox.
    assert.equal((await apiOnly.api("POST", "/v1/messages", { from: "shop@shop.test", to: "no address", subject: "s", text: "t" })).status, 422);
    await new Promise((r) => setTimeout(r, 1100));
    const families = parse((await scrape(apiOnly.url)).text);
    assert.equal(value(families.get("hikyaku_queue_messages"), "hikyaku_queue_messages", { state: "due", priority: "bulk" }), 1);
    const age = value(families.get("hikyaku_queue_oldest_due_message_age_seconds"), "hikyaku_queue_oldest_due_message_age_seconds") ?? 0;
    assert.ok(age >= 1, `the oldest due message has waited a second: ${age}`);
    const backlog = families.get("hikyaku_webhook_outbox_events");
    assert.equal(backlog?.type, "gauge");
    assert.equal(value(backlog, "hikyaku_webhook_outbox_events", { state: "due" }), 1);
    assert.equal(value(backlog, "hikyaku_webhook_outbox_events", { state: "backoff" }), 0);
    const hookAge = value(families.get("hikyaku_webhook_outbox_oldest_due_event_age_seconds"), "hikyaku_webhook_outbox_oldest_due_event_age_seconds") ?? 0;
    assert.ok(hookAge >= 1, `the oldest due webhook event has waited a second: ${hookAge}`);
    assert.equal(value(families.get("hikyaku_webhook_endpoints"), "hikyaku_webhook_endpoints", { state: "healthy" }), 1);
  });

  test("webhooks to a real receiver: deliveries, failures by reason, the backoff backlog, endpoints disabled by 410", async () => {
    const hk = world.hk;
    const metrics = async () => parse((await scrape(hk.url)).text);
    const counter = (f: Map<string, ParsedFamily>, family: string, labels: Record<string, string> = {}) => value(f.get(family), `${family}_total`, labels);
    const gauge = (f: Map<string, ParsedFamily>, family: string, labels: Record<string, string> = {}) => value(f.get(family), family, labels);
    const start = await metrics();
    for (const family of [
      "hikyaku_webhook_deliveries",
      "hikyaku_webhook_failed_attempts",
      "hikyaku_webhook_endpoints_disabled",
      "hikyaku_webhook_abandoned_events",
    ])
      assert.equal(start.get(family)?.type, "counter", family);
    assert.equal(counter(start, "hikyaku_webhook_failed_attempts", { reason: "http_5xx" }), 0, "known reasons start at 0");
    assert.equal(counter(start, "hikyaku_webhook_endpoints_disabled", { reason: "gone" }), 0);
    // The shaping families are there for the shaper's state (src/delivery/shaping-state.ts).
    for (const family of ["hikyaku_shaping_rate_limit_messages_per_second", "hikyaku_shaping_connections", "hikyaku_shaping_suspended"])
      assert.equal(start.get(family)?.type, "gauge", family);

    const endpoint = async (url: string) => {
      const r = await hk.api("POST", "/v1/webhooks", { url, events: ["delivered"] });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      return r.body.id as string;
    };
    const send = async (to: string) => {
      const r = await hk.api("POST", "/v1/messages", { from: "shop@shop.test", to, subject: "s", text: "t" });
      assert.equal(r.status, 202, JSON.stringify(r.body));
      return r.body.id as string;
    };
    /** Waits until the endpoint's n-th attempt is committed (the counters move after the commit). */
    const attempts = (id: string, n: number) =>
      eventually(async () => {
        const d = (await hk.api("GET", `/v1/webhooks/${id}/deliveries`)).body.data as { result: string }[];
        return d.length >= n ? d : undefined;
      }, `attempt ${n} of ${id}`);

    rx.answer = () => 200;
    const ok = await endpoint(rx.url);
    await send("hook1@ok.test");
    await attempts(ok, 1);
    rx.answer = () => 500;
    await send("hook2@ok.test");
    assert.equal((await attempts(ok, 2))[0]?.result, "retrying");
    const failing = await metrics();
    assert.equal(counter(failing, "hikyaku_webhook_deliveries"), 1);
    assert.equal(counter(failing, "hikyaku_webhook_failed_attempts", { reason: "http_5xx" }), 1);
    assert.equal(gauge(failing, "hikyaku_webhook_outbox_events", { state: "backoff" }), 1, "the failed event waits for its retry");
    assert.equal(gauge(failing, "hikyaku_webhook_outbox_events", { state: "due" }), 0);
    assert.equal(gauge(failing, "hikyaku_webhook_endpoints", { state: "failing" }), 1);
    assert.equal((await hk.api("DELETE", `/v1/webhooks/${ok}`)).status, 204);

    rx.answer = () => 410;
    const gone = await endpoint(rx.url);
    await send("hook3@ok.test");
    await attempts(gone, 1);
    const disabled = await metrics();
    assert.equal(counter(disabled, "hikyaku_webhook_failed_attempts", { reason: "http_4xx" }), 1);
    assert.equal(counter(disabled, "hikyaku_webhook_endpoints_disabled", { reason: "gone" }), 1);
    assert.equal(gauge(disabled, "hikyaku_webhook_endpoints", { state: "disabled" }), 1);
    assert.equal(gauge(disabled, "hikyaku_webhook_outbox_events", { state: "backoff" }), 0, "the deleted endpoint's backlog went with it");
    assert.equal((await hk.api("DELETE", `/v1/webhooks/${gone}`)).status, 204);

    // Nobody listens on a closed receiver's port: a connection failure.
    const closed = await startReceiver();
    await closed.close();
    const nowhere = await endpoint(closed.url);
    await send("hook4@ok.test");
    await attempts(nowhere, 1);
    const refused = await metrics();
    assert.equal(counter(refused, "hikyaku_webhook_failed_attempts", { reason: "connection" }), 1);
    assert.equal(counter(refused, "hikyaku_webhook_failed_attempts", { reason: "http_5xx" }), 1, "other reasons unchanged");
    assert.equal(counter(refused, "hikyaku_webhook_deliveries"), 1);
    assert.equal(gauge(refused, "hikyaku_webhook_outbox_events", { state: "backoff" }), 1);
    assert.equal((await hk.api("DELETE", `/v1/webhooks/${nowhere}`)).status, 204);
  });

  test("the shaping state of each budget, as the shaper reports it, parses: no limit leaves its rate out", () => {
    const at = Date.parse("2026-12-01T12:00:00Z");
    const live = (key: string, perMinute: number | null, suspended: Date | null) => ({
      key,
      effective_messages_per_minute: perMinute,
      sent_last_minute: 42,
      rate_factor: 0.5,
      backoff_until: new Date(at + 60_000),
      suspended_until: suspended,
      connections_in_use: 3,
    });
    const families = parse(encodeFamilies(shapingFamilies([live("gmail.com", 600, null), live('*:odd"name', null, new Date(at + 1))], at)));
    const rate = families.get("hikyaku_shaping_rate_limit_messages_per_second");
    assert.deepEqual(
      rate?.samples.map((s) => [s.labels.budget, s.value]),
      [["gmail.com", 10]],
    );
    assert.equal(value(families.get("hikyaku_shaping_suspended"), "hikyaku_shaping_suspended", { budget: '*:odd"name' }), 1);
    assert.equal(value(families.get("hikyaku_shaping_suspended"), "hikyaku_shaping_suspended", { budget: "gmail.com" }), 0);
    assert.equal(value(families.get("hikyaku_shaping_backoff"), "hikyaku_shaping_backoff", { budget: "gmail.com" }), 1);
    assert.equal(value(families.get("hikyaku_shaping_rate_factor_ratio"), "hikyaku_shaping_rate_factor_ratio", { budget: "gmail.com" }), 0.5);
    assert.equal(value(families.get("hikyaku_shaping_connections"), "hikyaku_shaping_connections", { budget: "gmail.com" }), 3);
  });

  test("a process's own instruments are counters and histograms only: the parent sums its worker children's", () => {
    // mergeFamilies leaves gauges out (a level is not a sum), so one added here would vanish from /metrics.
    const gauges = instrumentFamilies().filter((f) => f.type !== "counter" && f.type !== "histogram");
    assert.deepEqual(
      gauges.map((f) => f.name),
      [],
    );
  });

  test("404 without the token, with a wrong one, with an API key, and when HIKYAKU_METRICS_TOKEN is unset", async () => {
    for (const [base, token] of [
      [apiOnly.url, "metrics-token-0123456780"],
      [apiOnly.url, apiOnly.key],
      [apiOnly.url, ""],
      [noToken.url, TOKEN],
    ] as const) {
      const r = await scrape(base, token);
      assert.equal(r.status, 404, `${base} ${token}`);
      assert.equal(JSON.parse(r.text).error.code, "not_found");
      assert.doesNotMatch(r.text, /hikyaku_/);
    }
  });
});

describe("/metrics of a process without the API", () => {
  test("a worker-only process serves its own counters on HIKYAKU_METRICS_PORT, to the token only", async () => {
    const port = await freePort();
    const worker = spawnWorker(apiOnly.config.DATABASE_URL ?? "", {
      HIKYAKU_METRICS_PORT: String(port),
      HIKYAKU_METRICS_TOKEN: TOKEN,
      HIKYAKU_DNS_SERVERS: world.dns.address,
      HIKYAKU_MX_PORT: String(world.sink.port),
      HIKYAKU_HOSTNAME: "worker.hikyaku.test",
    });
    try {
      await eventually(
        async () => (await listening(port)) || (worker.err().includes("hikyaku exited") ? assert.fail(worker.err()) : false),
        "the metrics port",
        90_000,
      );
      const base = `http://127.0.0.1:${port}`;
      // The message goes in through the API process and out through the worker process.
      const sent = await apiOnly.api("POST", "/v1/messages", { from: "shop@shop.test", to: "alice@ok.test", subject: "split roles", text: "t" });
      assert.equal(sent.status, 202, JSON.stringify(sent.body));
      // Whatever waited in this database (an earlier test's message) goes out too: the
      // worker's counter must equal the delivered events its database logged.
      const families = await eventually(async () => {
        const log = await apiOnly.api("GET", "/v1/logs?event=delivered");
        const delivered = (log.body.data as { message_id: string }[]) ?? [];
        if (!delivered.some((e) => e.message_id === sent.body.id)) return undefined;
        const parsed = parse((await scrape(base)).text);
        return value(parsed.get("hikyaku_deliveries"), "hikyaku_deliveries_total", { result: "delivered" }) === delivered.length ? parsed : undefined;
      }, "the worker process counting the deliveries it made");
      assert.equal(value(families.get("hikyaku_database_up"), "hikyaku_database_up"), 1);
      assert.ok(families.has("process_resident_memory_bytes"), `process metrics are there: ${[...families.keys()].join(", ")}`);
      assert.equal((await scrape(base, "wrong-token-0123456789")).status, 404);
      assert.equal((await fetch(`${base}/metrics`)).status, 404);
      const other = await fetch(`${base}/v1/messages`);
      assert.equal(other.status, 404, "only /metrics is served");
    } finally {
      await stopHikyaku(worker);
    }
  });
});
