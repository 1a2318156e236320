// Which IP addresses a DNS-resolved destination may not point at. The table is the IANA
// IPv4 and IPv6 Special-Purpose Address Registries (RFC 6890), each range with its RFC:
// a range IANA does not mark "globally reachable" is internal. The longest matching
// prefix decides, so a reachable anycast inside an internal block stays reachable.
// Addresses that only carry an IPv4 address (mapped, compatible, NAT64, 6to4) are judged
// by the IPv4 address they carry: ::ffff:10.0.0.1 reaches 10.0.0.1.

/** reachable: IANA's "Globally Reachable"; "embedded": judge the IPv4 address inside. */
type Verdict = boolean | "embedded";
interface Range {
  prefix: string;
  rfc: string;
  reachable: Verdict;
}

// IANA IPv4 Special-Purpose Address Registry, plus multicast (RFC 5771, its own registry).
const IPV4: readonly Range[] = [
  { prefix: "0.0.0.0/0", rfc: "RFC 791 (everything not listed below)", reachable: true },
  { prefix: "0.0.0.0/8", rfc: 'RFC 791 §3.2, "this network"', reachable: false },
  { prefix: "10.0.0.0/8", rfc: "RFC 1918, private use", reachable: false },
  { prefix: "100.64.0.0/10", rfc: "RFC 6598, shared address space (CGNAT)", reachable: false },
  { prefix: "127.0.0.0/8", rfc: "RFC 1122 §3.2.1.3, loopback", reachable: false },
  { prefix: "169.254.0.0/16", rfc: "RFC 3927, link local", reachable: false },
  { prefix: "172.16.0.0/12", rfc: "RFC 1918, private use", reachable: false },
  { prefix: "192.0.0.0/24", rfc: "RFC 6890 §2.1, IETF protocol assignments", reachable: false },
  { prefix: "192.0.0.0/29", rfc: "RFC 7335, IPv4 service continuity prefix (DS-Lite)", reachable: false },
  { prefix: "192.0.0.8/32", rfc: "RFC 7600, IPv4 dummy address", reachable: false },
  { prefix: "192.0.0.9/32", rfc: "RFC 7723, Port Control Protocol anycast", reachable: true },
  { prefix: "192.0.0.10/32", rfc: "RFC 8155, TURN anycast", reachable: true },
  { prefix: "192.0.0.170/31", rfc: "RFC 8880 / RFC 7050, NAT64/DNS64 discovery", reachable: false },
  { prefix: "192.0.2.0/24", rfc: "RFC 5737, documentation (TEST-NET-1)", reachable: false },
  { prefix: "192.31.196.0/24", rfc: "RFC 7535, AS112-v4", reachable: true },
  { prefix: "192.52.193.0/24", rfc: "RFC 7450, AMT", reachable: true },
  { prefix: "192.88.99.0/24", rfc: "RFC 7526, deprecated 6to4 relay anycast", reachable: false },
  { prefix: "192.168.0.0/16", rfc: "RFC 1918, private use", reachable: false },
  { prefix: "192.175.48.0/24", rfc: "RFC 7534, direct delegation AS112 service", reachable: true },
  { prefix: "198.18.0.0/15", rfc: "RFC 2544, benchmarking", reachable: false },
  { prefix: "198.51.100.0/24", rfc: "RFC 5737, documentation (TEST-NET-2)", reachable: false },
  { prefix: "203.0.113.0/24", rfc: "RFC 5737, documentation (TEST-NET-3)", reachable: false },
  { prefix: "224.0.0.0/4", rfc: "RFC 5771, multicast", reachable: false },
  { prefix: "240.0.0.0/4", rfc: "RFC 1112 §4, reserved", reachable: false },
  { prefix: "255.255.255.255/32", rfc: "RFC 919 / RFC 8190, limited broadcast", reachable: false },
];

// IANA IPv6 Special-Purpose Address Registry, plus the IPv6 Address Space registry's
// rule that only 2000::/3 is global unicast (RFC 4291), and deprecated site-local.
const IPV6: readonly Range[] = [
  { prefix: "::/0", rfc: "RFC 4291, outside global unicast (IANA IPv6 address space)", reachable: false },
  { prefix: "2000::/3", rfc: "RFC 4291 §2.4, global unicast", reachable: true },
  { prefix: "::/128", rfc: "RFC 4291, unspecified address", reachable: false },
  { prefix: "::1/128", rfc: "RFC 4291, loopback", reachable: false },
  { prefix: "::/96", rfc: "RFC 4291 §2.5.5.1, IPv4-compatible (deprecated)", reachable: "embedded" },
  { prefix: "::ffff:0:0/96", rfc: "RFC 4291 §2.5.5.2, IPv4-mapped", reachable: "embedded" },
  { prefix: "64:ff9b::/96", rfc: "RFC 6052, IPv4/IPv6 translation (NAT64)", reachable: "embedded" },
  { prefix: "64:ff9b:1::/48", rfc: "RFC 8215, local-use IPv4/IPv6 translation", reachable: false },
  { prefix: "100::/64", rfc: "RFC 6666, discard-only", reachable: false },
  { prefix: "100:0:0:1::/64", rfc: "RFC 9780, dummy IPv6 prefix", reachable: false },
  { prefix: "2001::/23", rfc: "RFC 2928, IETF protocol assignments", reachable: false },
  { prefix: "2001::/32", rfc: "RFC 4380 / RFC 8190, Teredo", reachable: false },
  { prefix: "2001:1::1/128", rfc: "RFC 7723, Port Control Protocol anycast", reachable: true },
  { prefix: "2001:1::2/128", rfc: "RFC 8155, TURN anycast", reachable: true },
  { prefix: "2001:1::3/128", rfc: "RFC 9665, DNS-SD service registration anycast", reachable: true },
  { prefix: "2001:2::/48", rfc: "RFC 5180, benchmarking", reachable: false },
  { prefix: "2001:3::/32", rfc: "RFC 7450, AMT", reachable: true },
  { prefix: "2001:4:112::/48", rfc: "RFC 7535, AS112-v6", reachable: true },
  { prefix: "2001:10::/28", rfc: "RFC 4843, ORCHID (deprecated)", reachable: false },
  { prefix: "2001:20::/28", rfc: "RFC 7343, ORCHIDv2", reachable: true },
  { prefix: "2001:30::/28", rfc: "RFC 9374, drone remote ID entity tags", reachable: true },
  { prefix: "2001:db8::/32", rfc: "RFC 3849, documentation", reachable: false },
  { prefix: "2002::/16", rfc: "RFC 3056, 6to4", reachable: "embedded" },
  { prefix: "2620:4f:8000::/48", rfc: "RFC 7534, direct delegation AS112 service", reachable: true },
  { prefix: "3fff::/20", rfc: "RFC 9637, documentation", reachable: false },
  { prefix: "5f00::/16", rfc: "RFC 9602, segment routing SIDs", reachable: false },
  { prefix: "fc00::/7", rfc: "RFC 4193, unique local", reachable: false },
  { prefix: "fe80::/10", rfc: "RFC 4291, link-local unicast", reachable: false },
  { prefix: "fec0::/10", rfc: "RFC 3879, site-local (deprecated)", reachable: false },
  { prefix: "ff00::/8", rfc: "RFC 4291 §2.7, multicast", reachable: false },
];

interface Compiled {
  network: bigint;
  bits: number;
  range: Range;
}

function compile(ranges: readonly Range[], parse: (ip: string) => bigint | undefined, width: number): Compiled[] {
  const compiled = ranges.map((range) => {
    const [ip = "", len = ""] = range.prefix.split("/");
    const network = parse(ip);
    const bits = Number(len);
    if (network === undefined || !(bits >= 0 && bits <= width)) throw new Error(`bad range ${range.prefix}`);
    return { network, bits, range };
  });
  // Longest prefix first: the first match is the most specific.
  return compiled.sort((a, b) => b.bits - a.bits);
}

function parseIpv4(ip: string): bigint | undefined {
  const parts = ip.split(".");
  if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9]\d{0,2})$/.test(p) && Number(p) <= 255)) return undefined;
  return parts.reduce((n, p) => (n << 8n) | BigInt(p), 0n);
}

function parseIpv6(ip: string): bigint | undefined {
  let text = ip.toLowerCase();
  const dotted = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const v4 = parseIpv4(dotted[2] ?? "");
    if (v4 === undefined) return undefined;
    text = `${dotted[1]}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const groups = (s: string | undefined) => (s ? s.split(":") : []);
  const head = groups(halves[0]);
  const tail = groups(halves[1]);
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const all = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill("0"), ...tail];
  if (!all.every((g) => /^[0-9a-f]{1,4}$/.test(g))) return undefined;
  return all.reduce((n, g) => (n << 16n) | BigInt(`0x${g}`), 0n);
}

const V4 = compile(IPV4, parseIpv4, 32);
const V6 = compile(IPV6, parseIpv6, 128);

function match(table: Compiled[], value: bigint, width: number): Range {
  for (const c of table) {
    const shift = BigInt(width - c.bits);
    if (value >> shift === c.network >> shift) return c.range;
  }
  throw new Error("the catch-all range is missing");
}

/** The IPv4 address an IPv6 address carries, by the layout of the range it is in. */
function embeddedIpv4(value: bigint, range: Range): bigint {
  // 6to4 (RFC 3056 §2): 2002:AABB:CCDD::/48 carries AA.BB.CC.DD in bits 16-47.
  if (range.prefix === "2002::/16") return (value >> 80n) & 0xffffffffn;
  // Mapped, compatible and the NAT64 well-known prefix (RFC 6052 §2.2, /96) end in it.
  return value & 0xffffffffn;
}

/** The registry entry that decides `ip`, or undefined when `ip` is not an IP address. */
export function addressRange(ip: string): { range: string; rfc: string; internal: boolean } | undefined {
  const v4 = parseIpv4(ip);
  if (v4 !== undefined) {
    const r = match(V4, v4, 32);
    return { range: r.prefix, rfc: r.rfc, internal: r.reachable !== true };
  }
  // A zone index (fe80::1%eth0) names an interface of this machine: internal.
  if (ip.includes("%")) return { range: "scoped", rfc: "RFC 4007, scoped address", internal: true };
  const v6 = parseIpv6(ip);
  if (v6 === undefined) return undefined;
  const r = match(V6, v6, 128);
  if (r.reachable !== "embedded") return { range: r.prefix, rfc: r.rfc, internal: !r.reachable };
  const inner = match(V4, embeddedIpv4(v6, r), 32);
  return { range: `${r.prefix} carrying ${inner.prefix}`, rfc: `${r.rfc}; ${inner.rfc}`, internal: inner.reachable !== true };
}

/** True when `ip` is not a globally reachable unicast address (or not an IP address at all). */
export function isInternalAddress(ip: string): boolean {
  return addressRange(ip)?.internal ?? true;
}
