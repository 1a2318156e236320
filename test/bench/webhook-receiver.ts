// `npm run bench -- --webhook`: a receiver on loopback subscribed to every `delivered`
// event; each phase adds the time from the delivery event to its webhook's arrival.
import http from "node:http";

export interface WebhookReceiver {
  /** Distinct webhook ids received so far. */
  count(): number;
  /** Waits (at most two minutes) until `n` distinct webhooks have arrived; false if they did not. */
  waitFor(n: number): Promise<boolean>;
  /** Arrivals and latency (ms) of the webhooks received since `from` (a count() taken earlier). */
  since(from: number): { received: number; p50?: number; p99?: number };
  close(): void;
}

export async function startWebhookReceiver(base: string, key: string): Promise<WebhookReceiver> {
  const latencies: number[] = [];
  const ids = new Set<string>();
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => {
      body += c;
    });
    req.on("end", () => {
      const at = Date.now();
      const id = String(req.headers["webhook-id"]);
      if (!ids.has(id)) {
        ids.add(id);
        latencies.push(at - Date.parse(JSON.parse(body).time));
      }
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  const r = await fetch(`${base}/v1/webhooks`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ url: `http://127.0.0.1:${port}/hooks`, events: ["delivered"] }),
  });
  if (r.status !== 201) {
    server.close();
    throw new Error(`could not create the webhook endpoint: ${r.status} ${await r.text()}`);
  }
  return {
    count: () => ids.size,
    async waitFor(n) {
      const deadline = performance.now() + 120_000;
      while (ids.size < n) {
        if (performance.now() > deadline) return false;
        await new Promise((res) => setTimeout(res, 100));
      }
      return true;
    },
    since(from) {
      const sorted = latencies.slice(from).sort((a, b) => a - b);
      const pct = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
      return { received: sorted.length, ...(sorted.length ? { p50: pct(50), p99: pct(99) } : {}) };
    },
    close() {
      server.closeAllConnections();
      server.close();
    },
  };
}
