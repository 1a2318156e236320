// Where mail for a domain goes: a configured route (HIKYAKU_ROUTES, trusted), or the
// domain's MX hosts (RFC 5321 §5.1: implicit MX, RFC 7505 null MX), each resolved to
// addresses that are not internal unless the operator allows it.
import type { HostPort } from "../config.ts";
import { DnsError, type Resolver } from "./dns.ts";
import { isInternalAddress } from "../net/internal-address.ts";
import type { ServiceCode } from "./service-codes.ts";

export interface Target {
  /** The MX host name (or the route's host), for logs and TLS SNI. */
  host: string;
  ip: string;
  port: number;
}

/** `via`: the domain's own MX hosts, or a configured route (whose host the domain's MTA-STS policy does not name). */
export type Destination = { ok: true; targets: Target[]; via: "mx" | "route" } | { ok: false; service: ServiceCode; detail: string };

export interface DestinationOptions {
  routes?: Map<string, HostPort>;
  resolver: Resolver;
  allowPrivate: boolean;
  /** Port for MX hosts: 25 in production; tests may point elsewhere through routes only. */
  mxPort?: number;
}

export async function findDestination(domain: string, opts: DestinationOptions): Promise<Destination> {
  const route = opts.routes?.get(domain) ?? opts.routes?.get("*");
  if (route) return routeTargets(route, opts.resolver);
  let hosts: string[];
  try {
    const mx = await opts.resolver.mx(domain);
    if (mx.length === 1 && (mx[0]?.exchange === "" || mx[0]?.exchange === ".")) {
      return { ok: false, service: "null_mx", detail: domain };
    }
    hosts = mx.map((m) => m.exchange.replace(/\.$/, "").toLowerCase()).filter(Boolean);
  } catch (err) {
    if (!(err instanceof DnsError)) throw err;
    if (err.kind === "nxdomain") return { ok: false, service: "no_such_domain", detail: domain };
    if (err.kind === "temporary") return { ok: false, service: "dns_failure", detail: err.message };
    hosts = [domain]; // no MX records: the domain itself is the implicit MX
  }
  return mxTargets(hosts, opts);
}

async function routeTargets(route: HostPort, resolver: Resolver): Promise<Destination> {
  if (/^[\d.]+$|:/.test(route.host)) return { ok: true, via: "route", targets: [{ host: route.host, ip: route.host, port: route.port }] };
  try {
    const ips = await resolver.addresses(route.host);
    return { ok: true, via: "route", targets: ips.map((ip) => ({ host: route.host, ip, port: route.port })) };
  } catch (err) {
    if (!(err instanceof DnsError)) throw err;
    return { ok: false, service: "dns_failure", detail: `route ${route.host}: ${err.message}` };
  }
}

async function mxTargets(hosts: string[], opts: DestinationOptions): Promise<Destination> {
  const targets: Target[] = [];
  let temporary: string | undefined;
  let internal = 0;
  for (const host of hosts) {
    try {
      for (const ip of await opts.resolver.addresses(host)) {
        if (!opts.allowPrivate && isInternalAddress(ip)) {
          internal++;
          continue;
        }
        targets.push({ host, ip, port: opts.mxPort ?? 25 });
      }
    } catch (err) {
      if (!(err instanceof DnsError)) throw err;
      if (err.kind === "temporary") temporary = err.message;
    }
  }
  if (targets.length > 0) return { ok: true, via: "mx", targets };
  if (temporary) return { ok: false, service: "dns_failure", detail: temporary };
  if (internal > 0) return { ok: false, service: "internal_destination", detail: hosts.join(", ") };
  return { ok: false, service: "no_route", detail: hosts.join(", ") };
}
