// MTA-STS policy servers for tests: one real HTTPS server on loopback answering for
// every https://mta-sts.<domain>/ a test sets up, each host with its own certificate
// (chosen by SNI) and its own answer, counting the fetches it serves.
import https from "node:https";
import type { AddressInfo } from "node:net";
import tls from "node:tls";

export interface PolicyAnswer {
  status?: number /* default 200 */;
  headers?: Record<string, string> /* default content-type: text/plain */;
  body?: string;
}

export interface PolicyServer {
  host: string;
  port: number;
  /** Host (mta-sts.<domain>) → its answer; change it at any time. */
  answers: Map<string, PolicyAnswer>;
  /** Host → GET requests served. */
  fetches: Map<string, number>;
  close(): Promise<void>;
}

export async function startPolicyServer(opts: {
  host?: string;
  /** The certificate for each policy host (by SNI). */
  certFor: (servername: string) => Promise<{ key: string; cert: string }>;
}): Promise<PolicyServer> {
  const answers = new Map<string, PolicyAnswer>();
  const fetches = new Map<string, number>();
  const contexts = new Map<string, Promise<tls.SecureContext>>();
  const server = https.createServer(
    {
      SNICallback: (name, cb) => {
        let ctx = contexts.get(name);
        if (!ctx) {
          ctx = opts.certFor(name).then((pair) => tls.createSecureContext(pair));
          contexts.set(name, ctx);
        }
        ctx.then(
          (c) => cb(null, c),
          (err: Error) => cb(err, undefined),
        );
      },
    },
    (req, res) => {
      const host = (req.headers.host ?? "").replace(/:\d+$/, "").toLowerCase();
      if (req.url !== "/.well-known/mta-sts.txt") {
        res.writeHead(404).end();
        return;
      }
      fetches.set(host, (fetches.get(host) ?? 0) + 1);
      const a = answers.get(host);
      if (!a) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(a.status ?? 200, a.headers ?? { "content-type": "text/plain" });
      res.end(a.body ?? "");
    },
  );
  const host = opts.host ?? "127.0.0.1";
  await new Promise<void>((resolve) => server.listen(0, host, () => resolve()));
  return {
    host,
    port: (server.address() as AddressInfo).port,
    answers,
    fetches,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A policy file (RFC 8461 §3.2). */
export function policyText(mode: "enforce" | "testing" | "none", mx: string[], maxAge = 86_400): string {
  return ["version: STSv1", `mode: ${mode}`, ...mx.map((m) => `mx: ${m}`), `max_age: ${maxAge}`, ""].join("\r\n");
}
