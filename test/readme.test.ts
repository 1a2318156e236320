// The README's service-code table is the one in src/delivery/service-codes.ts, and its
// examples run as written.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { serviceCodeTableMarkdown } from "../src/delivery/service-codes.ts";
import { startDns, type TestDns } from "./helpers/dns-server.ts";
import { eventually, startTestService, type TestService } from "./helpers/service.ts";
import { type Sink, startSink } from "./helpers/sink.ts";

test("README lists exactly the service codes the code uses", () => {
  const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
  const table = /<!-- service-codes:start -->\n([\s\S]*?)\n<!-- service-codes:end -->/.exec(readme)?.[1];
  assert.equal(table?.trim(), serviceCodeTableMarkdown().trim(), "update the README table from serviceCodeTableMarkdown()");
});

// The README's curl walkthrough, run with bash exactly as written: only the key and the
// server's address are put in for the placeholders. And examples/php/logs.php, run with
// php-cli against the same live server. Mail for example.com goes to a loopback sink.
describe("README walkthrough and the PHP example, against a live Hikyaku", () => {
  let sink: Sink;
  let dns: TestDns;
  let hk: TestService;
  let dir: string;

  before(async () => {
    sink = await startSink({ host: "127.0.0.2", onRcpt: (rcpt) => (rcpt.startsWith("gone") ? { code: 550, message: "5.1.1 user unknown" } : undefined) });
    dns = await startDns({
      "example.com": { MX: [{ exchange: "mx.example.com", priority: 10 }] },
      "mx.example.com": { A: ["127.0.0.2"] },
      // Where the bounce notices for the PHP example's failures go.
      "shop.example": { MX: [{ exchange: "mx.example.com", priority: 10 }] },
    });
    hk = await startTestService({ HIKYAKU_DNS_SERVERS: dns.address, HIKYAKU_MX_PORT: String(sink.port) });
    dir = mkdtempSync(path.join(os.tmpdir(), "hikyaku-readme-"));
  });

  after(async () => {
    await hk?.stop();
    await sink?.close();
    await dns?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("the curl walkthrough runs as written: send, wait, read, CSV, schedule, move, cancel", async () => {
    const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
    const block = /<!-- walkthrough:start -->\n```sh\n([\s\S]*?)```\n<!-- walkthrough:end -->/.exec(readme)?.[1];
    assert.ok(block, "the README marks its walkthrough");
    const script = block.replace(/^KEY=hk_\S+/m, `KEY=${hk.key}`).replace(/^HIKYAKU=http:\/\/127\.0\.0\.1:3000$/m, `HIKYAKU=${hk.url}`);
    assert.equal(script.split("\n").filter((l, i) => l !== block.split("\n")[i]).length, 2, "only the key and the address were replaced");
    const r = await run("bash", ["-euo", "pipefail", "-c", script], dir);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /"state":"queued"/);
    assert.match(r.stdout, /"state":"completed"/);
    assert.match(r.stdout, /"event":"delivered","message_id":"[0-9a-f-]{36}","recipient":"customer@example.com"/);
    assert.match(r.stdout, /id,time,event,message_id,recipient,/, "the CSV header");
    assert.match(r.stdout, /"send_at":"\d{4}-\d\d-\d\dT/, "rescheduled");
    assert.match(r.stdout, /"cancelled":1,"in_flight":0/);
    assert.ok(sink.messages.some((m) => m.envelope.to.includes("customer@example.com") && m.raw.includes("Subject: Your order 1234")));
  });

  test("examples/php/logs.php lists the failures from the JSON pages and from the CSV", async () => {
    const to = [...Array.from({ length: 120 }, (_, i) => `gone${i}@example.com`), "fine@example.com"];
    const sent = await hk.api("POST", "/v1/messages", { from: "list@shop.example", to, subject: "News", text: "Hello." });
    assert.equal(sent.status, 202, JSON.stringify(sent.body));
    await eventually(
      async () => {
        const m = await hk.api("GET", `/v1/messages/${sent.body.id}`);
        return m.body.state === "completed";
      },
      "every recipient final",
      60_000,
    );
    const php = await run("php", [fileURLToPath(new URL("../examples/php/logs.php", import.meta.url))], dir, { HIKYAKU_URL: hk.url, HIKYAKU_API_KEY: hk.key });
    assert.equal(php.code, 0, php.stderr + php.stdout);
    assert.match(php.stdout, /^json: 120 failures$/m, "two JSON pages of 100 and 20");
    assert.match(php.stdout, /^csv: 120 addresses to remove$/m);
    assert.match(php.stdout, /bounced gone7@example\.com 550 550 5\.1\.1 user unknown \(destination\)/);
    assert.doesNotMatch(php.stdout, /fine@example\.com/);
    const refused = await run("php", [fileURLToPath(new URL("../examples/php/logs.php", import.meta.url)), "not a time"], dir, {
      HIKYAKU_URL: hk.url,
      HIKYAKU_API_KEY: hk.key,
    });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /Hikyaku answered 422: validation_error \(since\)/);
  });
});

function run(cmd: string, args: string[], cwd: string, env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
  return new Promise((resolve) =>
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    }),
  );
}
