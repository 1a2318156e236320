// The HTTP door's load: N POST /v1/messages of about 1 KB each, `concurrency` at a time,
// over kept-alive node:http connections (the lightest client, so the load generator
// leaves the cores to the service); each request's latency is kept for p50/p99.
import http from "node:http";

export interface HttpLoadResult {
  accepted: number;
  failed: number;
  firstFailure?: string;
  /** Milliseconds per request, in completion order. */
  latencies: number[];
}

const body = JSON.stringify({
  from: "Bench <bench@shop.example>",
  to: "someone@dest.example",
  subject: "Benchmark message",
  text: "x".repeat(700),
});

export async function postMessages(url: string, key: string, n: number, concurrency: number): Promise<HttpLoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const latencies: number[] = [];
  let next = 0;
  let accepted = 0;
  let failed = 0;
  let firstFailure: string | undefined;
  try {
    await Promise.all(
      Array.from({ length: Math.min(n, concurrency) }, async () => {
        while (next < n) {
          next++;
          const t0 = performance.now();
          const r = await post(agent, url, key).catch((err: Error) => ({ status: 0, text: err.message }));
          latencies.push(performance.now() - t0);
          if (r.status === 202) accepted++;
          else {
            failed++;
            firstFailure ??= `${r.status} ${r.text.slice(0, 300)}`;
          }
        }
      }),
    );
  } finally {
    agent.destroy();
  }
  return { accepted, failed, latencies, ...(firstFailure ? { firstFailure } : {}) };
}

function post(agent: http.Agent, url: string, key: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: "POST", agent, headers: { authorization: `Bearer ${key}`, "content-type": "application/json", "content-length": Buffer.byteLength(body) } },
      (res) => {
        const status = res.statusCode ?? 0;
        let text = "";
        // The body of a 202 is not needed; a refusal's is kept to say why.
        if (status === 202) res.resume();
        else res.on("data", (c: Buffer) => (text += c.toString()));
        res.on("end", () => resolve({ status, text }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}
