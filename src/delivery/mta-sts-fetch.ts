// Fetches a domain's MTA-STS policy file (RFC 8461 §3.3): HTTPS GET of
// https://mta-sts.<domain>/.well-known/mta-sts.txt, the certificate verified for that
// host name, redirects never followed, only 200 with text/plain, at most 64 KiB within
// the timeout. The host is resolved through the service's resolver and internal
// addresses are refused (unless HIKYAKU_ALLOW_PRIVATE_DESTINATIONS), as for MX hosts.
import https from "node:https";
import { checkedLookup, fromAddressList } from "../net/checked-lookup.ts";
import type { Resolver } from "./dns.ts";
import { type ParsedPolicy, parseStsPolicy } from "./mta-sts-policy.ts";

/** RFC 8461 §3.3 suggests 64 KB as the largest policy a sender accepts. */
export const MAX_POLICY_BYTES = 64 * 1024;

export interface FetchOptions {
  resolver: Resolver;
  allowPrivate: boolean;
  /** CA certificates trusted for the fetch (system roots plus HIKYAKU_OUTBOUND_CA_FILE); undefined: node's roots. */
  ca?: string[];
  /** 443 but in tests (HIKYAKU_MTA_STS_PORT). */
  port: number;
  timeoutMs: number;
}

export type FetchResult = ParsedPolicy;

export async function fetchStsPolicy(domain: string, opts: FetchOptions): Promise<FetchResult> {
  const host = `mta-sts.${domain}`;
  let body: string;
  try {
    body = await get(host, opts);
  } catch (err) {
    return { ok: false, error: `${host}: ${(err as Error).message}` };
  }
  const parsed = parseStsPolicy(body);
  return parsed.ok ? parsed : { ok: false, error: `${host}: ${parsed.error}` };
}

function get(host: string, opts: FetchOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host,
        port: opts.port,
        path: "/.well-known/mta-sts.txt",
        method: "GET",
        servername: host,
        headers: { "user-agent": "Hikyaku-MTA-STS/1", accept: "text/plain" },
        lookup: checkedLookup(
          fromAddressList((h) => opts.resolver.addresses(h)),
          opts.allowPrivate,
        ) as never,
        agent: false,
        rejectUnauthorized: true,
        ...(opts.ca ? { ca: opts.ca } : {}),
        signal: AbortSignal.timeout(opts.timeoutMs),
      },
      (res) => {
        const status = res.statusCode ?? 0;
        const type = (res.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase();
        const refuse = (why: string) => {
          res.destroy();
          reject(new Error(why));
        };
        // §3.3: a redirect is not followed; anything but 200 is no policy.
        if (status >= 300 && status < 400) return refuse(`answered ${status} (a redirect; not followed)`);
        if (status !== 200) return refuse(`answered ${status}`);
        if (type !== "text/plain") return refuse(`content-type ${JSON.stringify(res.headers["content-type"] ?? "")} is not text/plain`);
        if (Number(res.headers["content-length"] ?? 0) > MAX_POLICY_BYTES) return refuse(`policy larger than ${MAX_POLICY_BYTES} bytes`);
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (c: Buffer) => {
          size += c.length;
          if (size > MAX_POLICY_BYTES) return refuse(`policy larger than ${MAX_POLICY_BYTES} bytes`);
          chunks.push(c);
        });
        res.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
        res.on("error", (err) => reject(err));
      },
    );
    req.on("error", (err) => reject(err.name === "AbortError" || err.name === "TimeoutError" ? new Error(`no answer within ${opts.timeoutMs} ms`) : err));
    req.end();
  });
}
