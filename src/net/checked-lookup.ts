// A `lookup` for node's http/https/net that refuses internal addresses at connect time:
// the name is resolved, every address checked against the internal ranges, and only a
// checked address is handed to the socket, so a name re-pointed at 127.0.0.1 after it
// was checked still cannot reach inside. Webhook POSTs and MTA-STS policy fetches use it.
import type dns from "node:dns";
import net from "node:net";
import { isInternalAddress } from "./internal-address.ts";

export interface Address {
  address: string;
  family: number;
}

/** Where the addresses come from: the system resolver, or the service's own (HIKYAKU_DNS_SERVERS). */
export type AddressSource = (host: string) => Promise<Address[]>;

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => void;
export type LookupFunction = (hostname: string, options: dns.LookupOptions, callback: LookupCallback) => void;

export function internalRefusal(host: string): Error & { code: string } {
  return Object.assign(new Error(`${host} resolves only to internal addresses (loopback, private, link-local); refused`), { code: "EINTERNAL" });
}

/** True when a literal address (never looked up) may not be connected to. */
export function refusedLiteral(host: string, allowPrivate: boolean): boolean {
  const literal = host.replace(/^\[|\]$/g, "");
  return net.isIP(literal) !== 0 && !allowPrivate && isInternalAddress(literal);
}

export function checkedLookup(source: AddressSource, allowPrivate: boolean): LookupFunction {
  return (hostname, options, callback) => {
    source(hostname).then(
      (addresses) => {
        const wanted = options.family === 4 || options.family === 6 ? addresses.filter((a) => a.family === options.family) : addresses;
        const usable = allowPrivate ? wanted : wanted.filter((a) => !isInternalAddress(a.address));
        const first = usable[0];
        if (!first) return callback(internalRefusal(hostname), []);
        if (options.all) return callback(null, usable);
        callback(null, first.address, first.family);
      },
      (err: NodeJS.ErrnoException) => callback(err, []),
    );
  };
}

/** Addresses from a resolver that answers plain address strings (src/delivery/dns.ts). */
export function fromAddressList(resolve: (host: string) => Promise<string[]>): AddressSource {
  return async (host) => (await resolve(host)).map((address) => ({ address, family: net.isIPv6(address) ? 6 : 4 }));
}
