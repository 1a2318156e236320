// sdk/examples/send.ts, run as a user runs it (a separate node process, configured only by
// its environment), against a real Hikyaku that delivers to a loopback MX sink.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { type MxWorld, startWithMx } from "../../test/helpers/service.ts";

let world: MxWorld;
before(async () => {
  world = await startWithMx();
});
after(async () => {
  await world?.stop();
});

function run(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const script = fileURLToPath(new URL("../examples/send.ts", import.meta.url));
  const child = spawn(process.execPath, ["--import", "tsx", script, ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  const timer = setTimeout(() => child.kill("SIGKILL"), 90_000);
  return new Promise((resolve) =>
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    }),
  );
}

test("examples/send.ts sends, follows the log and exits 0 once delivered", async () => {
  const r = await run(["reader@ok.test"], { HIKYAKU_API_KEY: world.hk.key, HIKYAKU_URL: world.hk.url, HIKYAKU_FROM: "Shop <orders@shop.test>" });
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /^accepted [0-9a-f-]{36} \(queued\)$/m);
  assert.match(r.stdout, / delivered reader@ok\.test: 250 /);
  assert.ok(
    world.sink.messages.some((m) => m.envelope.to.includes("reader@ok.test")),
    "the sink received it",
  );
});

test("examples/send.ts reports a refusal with its field and exits 2", async () => {
  const r = await run(["not-an-address"], { HIKYAKU_API_KEY: world.hk.key, HIKYAKU_URL: world.hk.url, HIKYAKU_FROM: "orders@shop.test" });
  assert.equal(r.code, 2, r.stderr + r.stdout);
  assert.match(r.stderr, /refused \(422 \w+, field to\)/);
});
