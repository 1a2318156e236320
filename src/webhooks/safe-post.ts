// One webhook POST. The host name is resolved, every address checked against the
// internal ranges (as MX destinations are), and the connection made to a checked
// address, all at connect time, so a name re-pointed at 127.0.0.1 after the endpoint
// was saved still cannot reach inside. Redirects are answers, never followed.
import dns from "node:dns";
import http from "node:http";
import https from "node:https";
import net from "node:net";
import { isInternalAddress } from "../delivery/internal-address.ts";

export interface PostResult {
  /** The HTTP status, or null when there was no answer. */
  status: number | null;
  error: string | null;
  /** Why there was no answer: no answer in time, only internal addresses, or any other network failure. */
  noAnswer: "timeout" | "internal_address" | "connection" | null;
  durationMs: number;
}

/** A failed attempt's class for the failure counter (src/metrics/instruments.ts); null for a 2xx. */
export function failureClass(r: PostResult): string | null {
  if (r.status === null) return r.noAnswer ?? "connection";
  if (r.status >= 200 && r.status < 300) return null;
  if (r.status >= 500 && r.status < 600) return "http_5xx";
  if (r.status >= 400 && r.status < 500) return "http_4xx";
  return "http_other";
}

const TIMEOUT = Symbol("timeout");

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => void;

function checkedLookup(allowPrivate: boolean) {
  return (hostname: string, options: dns.LookupOptions, callback: LookupCallback) => {
    dns.lookup(hostname, { all: true, family: options.family ?? 0 }, (err, addresses) => {
      if (err) return callback(err, []);
      const usable = allowPrivate ? addresses : addresses.filter((a) => !isInternalAddress(a.address));
      const first = usable[0];
      if (!first) return callback(internal(hostname), []);
      if (options.all) return callback(null, usable);
      callback(null, first.address, first.family);
    });
  };
}

const internal = (host: string) =>
  Object.assign(new Error(`${host} resolves only to internal addresses (loopback, private, link-local); refused`), { code: "EINTERNAL" });

const agents = new Map<string, http.Agent>();
/** Keep-alive agents, one per scheme and private-address setting: a burst of events reuses connections. */
function agentFor(protocol: string, allowPrivate: boolean): http.Agent {
  const name = `${protocol}${allowPrivate}`;
  let agent = agents.get(name);
  if (!agent) {
    const opts = { keepAlive: true, maxSockets: 16, lookup: checkedLookup(allowPrivate) as never };
    agent = protocol === "https:" ? new https.Agent(opts) : new http.Agent(opts);
    agents.set(name, agent);
  }
  return agent;
}

export function safePost(
  target: string,
  headers: Record<string, string>,
  body: string,
  opts: { allowPrivate: boolean; timeoutMs: number },
): Promise<PostResult> {
  const started = performance.now();
  const done = (status: number | null, error: string | null, noAnswer: PostResult["noAnswer"] = null): PostResult => ({
    status,
    error,
    noAnswer,
    durationMs: Math.round(performance.now() - started),
  });
  const failed = (err: Error & { code?: string; [TIMEOUT]?: true }) =>
    done(null, err.message, err[TIMEOUT] ? "timeout" : err.code === "EINTERNAL" ? "internal_address" : "connection");
  const url = new URL(target);
  const literal = url.hostname.replace(/^\[|\]$/g, "");
  // A literal address never reaches the lookup, so it is checked here.
  if (net.isIP(literal) && !opts.allowPrivate && isInternalAddress(literal)) return Promise.resolve(failed(internal(literal)));
  const client = url.protocol === "https:" ? https : http;
  return new Promise((resolve) => {
    const req = client.request(
      url,
      {
        method: "POST",
        agent: agentFor(url.protocol, opts.allowPrivate),
        headers: { ...headers, "content-type": "application/json", "content-length": String(Buffer.byteLength(body)), "user-agent": "Hikyaku-Webhooks/1" },
        timeout: opts.timeoutMs,
      },
      (res) => {
        // Only the status matters; the body is read (and dropped) so the connection is reused.
        res.resume();
        res.on("end", () => resolve(done(res.statusCode ?? null, null)));
        res.on("error", (err) => resolve(done(res.statusCode ?? null, err.message)));
      },
    );
    req.on("timeout", () => req.destroy(Object.assign(new Error(`no answer within ${opts.timeoutMs} ms`), { [TIMEOUT]: true as const })));
    req.on("error", (err) => resolve(failed(err)));
    req.end(body);
  });
}
