// Every range of the IANA IPv4 and IPv6 special-purpose registries, judged at its first
// and last address and at one address just outside it. The expected verdicts are
// written here by hand from the registries; node's own BlockList checks that each first,
// last and outside address really is inside (or outside) the range it is meant for.
import assert from "node:assert/strict";
import net from "node:net";
import { describe, test } from "node:test";
import { isInternalAddress } from "../src/net/internal-address.ts";

// [range, first internal?, last internal?, an address just outside, its verdict]
type Row = [string, boolean, boolean, string, boolean];
const T = true;
const F = false;

const IPV4: Row[] = [
  ["0.0.0.0/8", T, T, "1.0.0.0", F],
  ["10.0.0.0/8", T, T, "11.0.0.0", F],
  ["100.64.0.0/10", T, T, "100.128.0.0", F],
  ["127.0.0.0/8", T, T, "128.0.0.0", F],
  ["169.254.0.0/16", T, T, "169.255.0.0", F],
  ["172.16.0.0/12", T, T, "172.32.0.0", F],
  ["192.0.0.0/24", T, T, "192.0.1.0", F],
  ["192.0.0.0/29", T, T, "192.0.0.8", T],
  ["192.0.0.8/32", T, T, "192.0.0.9", F],
  ["192.0.0.9/32", F, F, "192.0.0.8", T],
  ["192.0.0.10/32", F, F, "192.0.0.11", T],
  ["192.0.0.170/31", T, T, "192.0.0.172", T],
  ["192.0.2.0/24", T, T, "192.0.3.0", F],
  ["192.31.196.0/24", F, F, "192.31.197.0", F],
  ["192.52.193.0/24", F, F, "192.52.194.0", F],
  ["192.88.99.0/24", T, T, "192.88.100.0", F],
  ["192.168.0.0/16", T, T, "192.169.0.0", F],
  ["192.175.48.0/24", F, F, "192.175.49.0", F],
  ["198.18.0.0/15", T, T, "198.20.0.0", F],
  ["198.51.100.0/24", T, T, "198.51.101.0", F],
  ["203.0.113.0/24", T, T, "203.0.114.0", F],
  ["224.0.0.0/4", T, T, "223.255.255.255", F],
  ["240.0.0.0/4", T, T, "239.255.255.255", T],
  ["255.255.255.255/32", T, T, "255.255.255.254", T],
];

const IPV6: Row[] = [
  ["::/128", T, T, "::1", T],
  ["::1/128", T, T, "::2", T],
  // IPv4-compatible, IPv4-mapped, NAT64 and 6to4 carry 0.0.0.0 first and 255.255.255.255 last.
  ["::/96", T, T, "::1:0:0", T],
  ["::ffff:0:0/96", T, T, "::1:0:0:0", T],
  ["64:ff9b::/96", T, T, "64:ff9b::1:0:0", T],
  ["64:ff9b:1::/48", T, T, "64:ff9b:2::", T],
  ["100::/64", T, T, "100:0:0:2::", T],
  ["100:0:0:1::/64", T, T, "100:0:0:2::", T],
  ["2001::/23", T, T, "2001:200::", F],
  ["2001::/32", T, T, "2001:1::", T],
  ["2001:1::1/128", F, F, "2001:1::", T],
  ["2001:1::2/128", F, F, "2001:1::1", F],
  ["2001:1::3/128", F, F, "2001:1::4", T],
  ["2001:2::/48", T, T, "2001:2:1::", T],
  ["2001:3::/32", F, F, "2001:4::", T],
  ["2001:4:112::/48", F, F, "2001:4:113::", T],
  ["2001:10::/28", T, T, "2001:20::", F],
  ["2001:20::/28", F, F, "2001:1f:ffff:ffff:ffff:ffff:ffff:ffff", T],
  ["2001:30::/28", F, F, "2001:40::", T],
  ["2001:db8::/32", T, T, "2001:db9::", F],
  ["2002::/16", T, T, "2003::", F],
  ["2620:4f:8000::/48", F, F, "2620:4f:8001::", F],
  ["3fff::/20", T, T, "3fff:1000::", F],
  ["5f00::/16", T, T, "5f01::", T],
  ["fc00::/7", T, T, "fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", T],
  ["fe80::/10", T, T, "fec0::", T],
  ["fec0::/10", T, T, "ff00::", T],
  ["ff00::/8", T, T, "feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", T],
  // Global unicast, the only IPv6 space IANA allocates for it.
  ["2000::/3", F, F, "4000::", T],
];

/** First and last address of a prefix, by plain integer arithmetic. */
function bounds(prefix: string, family: 4 | 6): [string, string] {
  const [ip = "", len = ""] = prefix.split("/");
  const width = family === 4 ? 32n : 128n;
  const value = toInt(ip, family);
  const host = (1n << (width - BigInt(len))) - 1n;
  return [toText(value & ~host, family), toText(value | host, family)];
}

function toInt(ip: string, family: 4 | 6): bigint {
  if (family === 4) return ip.split(".").reduce((n, p) => (n << 8n) | BigInt(p), 0n);
  const [head = "", tail = ""] = ip.split("::");
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const groups = ip.includes("::") ? [...h, ...Array(8 - h.length - t.length).fill("0"), ...t] : h;
  return groups.reduce((n, g) => (n << 16n) | BigInt(`0x${g}`), 0n);
}

function toText(n: bigint, family: 4 | 6): string {
  if (family === 4) return [24n, 16n, 8n, 0n].map((s) => String((n >> s) & 255n)).join(".");
  return [112n, 96n, 80n, 64n, 48n, 32n, 16n, 0n].map((s) => ((n >> s) & 0xffffn).toString(16)).join(":");
}

function checkRows(rows: Row[], family: 4 | 6) {
  const type = family === 4 ? "ipv4" : "ipv6";
  for (const [prefix, firstInternal, lastInternal, outside, outsideInternal] of rows) {
    test(prefix, () => {
      const [first, last] = bounds(prefix, family);
      const [addr = "", len = ""] = prefix.split("/");
      const list = new net.BlockList();
      list.addSubnet(addr, Number(len), type);
      assert.ok(list.check(first, type) && list.check(last, type), `${first} and ${last} lie in ${prefix}`);
      assert.ok(!list.check(outside, type), `${outside} lies outside ${prefix}`);
      assert.equal(isInternalAddress(first), firstInternal, `first address ${first}`);
      assert.equal(isInternalAddress(last), lastInternal, `last address ${last}`);
      assert.equal(isInternalAddress(outside), outsideInternal, `just outside: ${outside}`);
    });
  }
}

describe("IANA IPv4 special-purpose ranges", () => checkRows(IPV4, 4));
describe("IANA IPv6 special-purpose ranges", () => checkRows(IPV6, 6));

describe("IPv6 addresses that carry an IPv4 address are judged by it", () => {
  const cases: [string, boolean][] = [
    ["::ffff:127.0.0.1", T],
    ["::ffff:7f00:1", T],
    ["::FFFF:10.1.2.3", T],
    ["::ffff:8.8.8.8", F],
    ["::10.0.0.1", T],
    ["::a00:1", T],
    ["::8.8.8.8", F],
    ["64:ff9b::10.0.0.1", T],
    ["64:ff9b::a00:1", T],
    ["64:ff9b::c0a8:101", T],
    ["64:ff9b::127.0.0.2", T],
    ["64:ff9b::8.8.8.8", F],
    // The local-use NAT64 prefix is not globally reachable, whatever it carries (RFC 8215).
    ["64:ff9b:1::8.8.8.8", T],
    ["64:ff9b:1::a00:1", T],
    // 6to4: the IPv4 address is in bits 16-47.
    ["2002:a00:1::1", T],
    ["2002:7f00:1::", T],
    ["2002:c0a8:101:0:0:0:0:1", T],
    ["2002:808:808::1", F],
    // SIIT's IPv4-translated form (::ffff:0:a.b.c.d) is outside every assigned range.
    ["::ffff:0:8.8.8.8", T],
  ];
  for (const [ip, internal] of cases) test(ip, () => assert.equal(isInternalAddress(ip), internal));
});

describe("other spellings", () => {
  const cases: [string, boolean][] = [
    ["8.8.8.8", F],
    ["2606:4700:4700::1111", F],
    ["FE80::1", T],
    ["fe80::1%eth0", T],
    ["fec0::1", T],
    ["", T],
    ["not-an-ip", T],
    ["1.2.3", T],
    ["01.2.3.4", T],
    ["256.1.1.1", T],
    ["1::2::3", T],
    ["1:2:3:4:5:6:7:8:9", T],
  ];
  for (const [ip, internal] of cases) test(JSON.stringify(ip), () => assert.equal(isInternalAddress(ip), internal));
});
