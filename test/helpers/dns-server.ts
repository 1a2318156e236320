// Authoritative DNS server on loopback (UDP+TCP, same port) so tests exercise real MX/A/TXT resolution.
import dgram from "node:dgram";
import net from "node:net";

export type DnsRecords = Record<
  string /* lower-case name without trailing dot */,
  {
    MX?: { exchange: string; priority: number }[]; // exchange "." means RFC 7505 null MX
    A?: string[];
    AAAA?: string[];
    TXT?: string[][]; // each record is a list of character-strings
    CNAME?: string;
  }
>;

export interface TestDns {
  address: string /* "127.0.0.1:PORT" */;
  port: number;
  records: DnsRecords /* mutable live: tests may change or replace it after start */;
  close(): Promise<void>;
  queries: { name: string; type: string }[];
}

const CODES: Record<string, number> = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  ANY: 255,
};
const TYPES: Record<number, string> = Object.fromEntries(Object.entries(CODES).map(([k, v]) => [v, k]));
const TTL = 60;
// Without EDNS in our replies, RFC 1035 caps UDP answers at 512 bytes; bigger ones set TC so the client retries over TCP.
const UDP_MAX = 512;

const norm = (name: string) => name.toLowerCase().replace(/\.$/, "");

function encodeName(name: string): Buffer {
  const n = norm(name);
  if (!n) return Buffer.from([0]);
  const parts = n.split(".").map((label) => {
    const b = Buffer.from(label, "utf8");
    if (b.length === 0 || b.length > 63) throw new Error(`dns-server: bad label in ${JSON.stringify(name)}`);
    return Buffer.concat([Buffer.from([b.length]), b]);
  });
  return Buffer.concat([...parts, Buffer.from([0])]);
}

function encodeIPv6(addr: string): Buffer {
  if (!net.isIPv6(addr)) throw new Error(`dns-server: bad AAAA ${addr}`);
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two hex groups so one parser handles both forms.
  const s = addr.replace(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/, (_, a, b, c, d) => [(+a << 8) | +b, (+c << 8) | +d].map((n) => n.toString(16)).join(":"));
  const [head = "", tail] = s.split("::");
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill("0"), ...t];
  const out = Buffer.alloc(16);
  for (const [i, g] of groups.entries()) out.writeUInt16BE(parseInt(g, 16), i * 2);
  return out;
}

function rdata(type: string, value: unknown): Buffer {
  switch (type) {
    case "A": {
      if (!net.isIPv4(value as string)) throw new Error(`dns-server: bad A ${String(value)}`);
      return Buffer.from((value as string).split(".").map(Number));
    }
    case "AAAA":
      return encodeIPv6(value as string);
    case "CNAME":
      return encodeName(value as string);
    case "MX": {
      const mx = value as { exchange: string; priority: number };
      const pref = Buffer.alloc(2);
      pref.writeUInt16BE(mx.priority);
      return Buffer.concat([pref, encodeName(mx.exchange)]);
    }
    case "TXT": {
      const strings = (value as string[]).length ? (value as string[]) : [""];
      return Buffer.concat(
        strings.map((s) => {
          const b = Buffer.from(s, "utf8");
          if (b.length > 255) throw new Error("dns-server: TXT character-string over 255 bytes; split it in the test");
          return Buffer.concat([Buffer.from([b.length]), b]);
        }),
      );
    }
  }
  throw new Error(`dns-server: unsupported type ${type}`);
}

function rr(owner: Buffer, type: string, data: Buffer): Buffer {
  const fixed = Buffer.alloc(10);
  fixed.writeUInt16BE(CODES[type] ?? 0, 0);
  fixed.writeUInt16BE(1, 2); // class IN
  fixed.writeUInt32BE(TTL, 4);
  fixed.writeUInt16BE(data.length, 8);
  return Buffer.concat([owner, fixed, data]);
}

/** Builds the reply to one query message, or null if it is too malformed to answer. */
function answer(query: Buffer, records: DnsRecords, log: TestDns["queries"], maxLen: number): Buffer | null {
  if (query.length < 12 || query.readUInt16BE(4) !== 1) return null;
  let off = 12;
  const labels: string[] = [];
  while (off < query.length && query[off] !== 0) {
    const len = query.readUInt8(off);
    if (len > 63) return null; // queries never use compression pointers
    labels.push(query.subarray(off + 1, off + 1 + len).toString("utf8"));
    off += 1 + len;
  }
  if (off + 5 > query.length) return null;
  const qEnd = off + 5;
  const qtype = query.readUInt16BE(off + 1);
  const type = TYPES[qtype] ?? `TYPE${qtype}`;
  const name = norm(labels.join("."));
  log.push({ name, type });

  const answers: Buffer[] = [];
  let rcode = 0;
  let entry = records[name];
  if (!entry) rcode = 3;
  // Owner of the first answer points at the question (0xC00C) so it echoes the client's exact spelling.
  let owner: Buffer = Buffer.from([0xc0, 0x0c]);
  const seen = new Set<string>([name]);
  while (entry) {
    if (entry.CNAME && type !== "CNAME") {
      answers.push(rr(owner, "CNAME", rdata("CNAME", entry.CNAME)));
      const target = norm(entry.CNAME);
      if (seen.has(target)) break; // CNAME loop in the fixture
      seen.add(target);
      owner = encodeName(target);
      entry = records[target];
      continue;
    }
    const own: Record<string, unknown[] | undefined> = { ...entry, CNAME: entry.CNAME ? [entry.CNAME] : [] };
    const list = own[type] ?? [];
    for (const v of list) answers.push(rr(owner, type, rdata(type, v)));
    break;
  }

  const header = Buffer.alloc(12);
  query.copy(header, 0, 0, 2); // id
  header[2] = 0x80 | (query.readUInt8(2) & 0x79) | 0x04; // QR, AA; opcode and RD echoed
  header[3] = rcode;
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(answers.length, 6);
  const question = query.subarray(12, qEnd);
  const full = Buffer.concat([header, question, ...answers]);
  if (full.length <= maxLen) return full;
  header[2] = header.readUInt8(2) | 0x02; // TC
  header.writeUInt16BE(0, 6);
  return Buffer.concat([header, question]);
}

async function bindBoth(host: string): Promise<{ udp: dgram.Socket; tcp: net.Server; port: number }> {
  let lastErr: unknown;
  // UDP gets an ephemeral port first; TCP may find it taken, so retry with a fresh one.
  for (let i = 0; i < 20; i++) {
    const udp = dgram.createSocket(net.isIPv6(host) ? "udp6" : "udp4");
    await new Promise<void>((res, rej) => {
      udp.once("error", rej);
      udp.bind(0, host, () => {
        udp.off("error", rej);
        res();
      });
    });
    const port = udp.address().port;
    const tcp = net.createServer();
    try {
      await new Promise<void>((res, rej) => {
        tcp.once("error", rej);
        tcp.listen(port, host, () => {
          tcp.off("error", rej);
          res();
        });
      });
      return { udp, tcp, port };
    } catch (err) {
      lastErr = err;
      await new Promise<void>((res) => udp.close(() => res()));
    }
  }
  throw new Error(`dns-server: could not bind UDP+TCP on ${host}: ${String(lastErr)}`);
}

export async function startDns(records: DnsRecords = {}, opts: { host?: string } = {}): Promise<TestDns> {
  const host = opts.host ?? "127.0.0.1";
  const { udp, tcp, port } = await bindBoth(host);
  const sockets = new Set<net.Socket>();
  let closing: Promise<void> | undefined;
  const dns: TestDns = {
    address: net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`,
    port,
    records,
    queries: [],
    close() {
      closing ??= (async () => {
        for (const s of sockets) s.destroy();
        await Promise.all([new Promise<void>((res) => udp.close(() => res())), new Promise<void>((res) => tcp.close(() => res()))]);
      })();
      return closing;
    },
  };
  const reply = (msg: Buffer, maxLen: number): Buffer | null => {
    try {
      return answer(msg, dns.records, dns.queries, maxLen);
    } catch (err) {
      // A bad fixture is a test bug: make it loud instead of a silent client timeout.
      console.error(err);
      // Echoing the query keeps its question, so the client matches the SERVFAIL to what it asked.
      const fail = Buffer.from(msg);
      if (fail.length < 4) return null;
      fail[2] = 0x80 | (msg.readUInt8(2) & 0x79);
      fail[3] = 2; // SERVFAIL
      return fail;
    }
  };
  udp.on("message", (msg, rinfo) => {
    const out = reply(msg, UDP_MAX);
    if (out) udp.send(out, rinfo.port, rinfo.address);
  });
  tcp.on("connection", (sock) => {
    sockets.add(sock);
    sock.on("close", () => sockets.delete(sock));
    sock.on("error", () => sock.destroy());
    let buf = Buffer.alloc(0);
    sock.on("data", (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
        buf = buf.subarray(2 + msg.length);
        const out = reply(msg, 0xffff);
        if (!out) return sock.destroy();
        const len = Buffer.alloc(2);
        len.writeUInt16BE(out.length);
        sock.write(Buffer.concat([len, out]));
      }
    });
  });
  return dns;
}
