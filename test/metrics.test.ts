// GET /metrics as Prometheus sees it: the text is parsed by the Python prometheus_client
// parser (Debian's python3-prometheus-client), an implementation independent of ours,
// after real deliveries to a loopback MX, a refused request and a scheduled message.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, before, describe, test } from "node:test";
import nodemailer from "nodemailer";
import { eventually, type MxWorld, startTestService, startWithMx, type TestService } from "./helpers/service.ts";

const TOKEN = "metrics-token-0123456789";
let world: MxWorld;
let apiOnly: TestService;
let noToken: TestService;

before(async () => {
  world = await startWithMx(
    { onRcpt: (rcpt) => (rcpt.startsWith("gone@") ? { code: 550, message: "5.1.1 user unknown" } : undefined) },
    { HIKYAKU_METRICS_TOKEN: TOKEN },
  );
  apiOnly = await startTestService({ HIKYAKU_ROLES: "api", HIKYAKU_METRICS_TOKEN: TOKEN });
  noToken = await startTestService({ HIKYAKU_ROLES: "api" });
});

after(async () => {
  await world?.stop();
  await apiOnly?.stop();
  await noToken?.stop();
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
    assert.equal(value(deliveries, "hikyaku_deliveries_total", { result: "delivered" }), 1);
    assert.equal(value(deliveries, "hikyaku_deliveries_total", { result: "bounced" }), 1);

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

  test("a message due with no worker to take it shows in the queue and ages", async () => {
    const s = await apiOnly.api("POST", "/v1/messages", { from: "shop@shop.test", to: "bob@ok.test", subject: "s", text: "t", priority: "bulk" });
    assert.equal(s.status, 202);
    await new Promise((r) => setTimeout(r, 1100));
    const families = parse((await scrape(apiOnly.url)).text);
    assert.equal(value(families.get("hikyaku_queue_messages"), "hikyaku_queue_messages", { state: "due", priority: "bulk" }), 1);
    const age = value(families.get("hikyaku_queue_oldest_due_message_age_seconds"), "hikyaku_queue_oldest_due_message_age_seconds") ?? 0;
    assert.ok(age >= 1, `the oldest due message has waited a second: ${age}`);
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
