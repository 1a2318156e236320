// Real loopback HTTP servers that misbehave in the ways the SDK must survive: a proxy to a
// running Hikyaku that cuts or refuses chosen requests, and servers that never answer or
// answer with something that is not Hikyaku's JSON. No fetch is replaced anywhere.
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface Faulty {
  url: string;
  /** Requests that reached this server, in order: "METHOD /path". */
  seen: string[];
  close(): Promise<void>;
}

/** What to do with the n-th request (0-based): forward it, forward it and drop the answer, or answer itself. */
export type Plan = (n: number) => "forward" | "forward-then-cut" | { status: number; body: string; headers?: Record<string, string> };

async function listen(handler: http.RequestListener, seen: string[]): Promise<Faulty> {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export function proxy(target: string, plan: Plan): Promise<Faulty> {
  const seen: string[] = [];
  return listen(async (req, res) => {
    const n = seen.length;
    seen.push(`${req.method} ${req.url}`);
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const step = plan(n);
    if (typeof step === "object") {
      res.writeHead(step.status, { "content-type": "application/json", ...step.headers });
      res.end(step.body);
      return;
    }
    const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => k !== "host" && k !== "connection")) as Record<string, string>;
    const answer = await fetch(target + (req.url ?? "/"), { method: req.method, headers, body: chunks.length ? Buffer.concat(chunks) : undefined });
    const body = Buffer.from(await answer.arrayBuffer());
    // The server did the work; the client never hears of it.
    if (step === "forward-then-cut") return req.socket.destroy();
    res.writeHead(answer.status, { "content-type": answer.headers.get("content-type") ?? "application/json" });
    res.end(body);
  }, seen);
}

/** Accepts the request and never answers. */
export function silent(): Promise<Faulty> {
  const seen: string[] = [];
  return listen((req) => {
    seen.push(`${req.method} ${req.url}`);
  }, seen);
}

/** Answers every request with this status and body (e.g. a load balancer's HTML 502 page). */
export function answering(status: number, body: string, contentType: string): Promise<Faulty> {
  const seen: string[] = [];
  return listen((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    res.writeHead(status, { "content-type": contentType });
    res.end(body);
  }, seen);
}
