// Destinations whose DNS answers only point inside (loopback, private, and loopback
// dressed as IPv4-mapped, IPv4-compatible, NAT64 or 6to4 IPv6) are bounced without a
// connection: the sink on 127.0.0.2 that every one of them leads to sees nobody.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { startDns, type TestDns } from "./helpers/dns-server.ts";
import { eventually, startTestService, type TestService } from "./helpers/service.ts";
import { type Sink, startSink } from "./helpers/sink.ts";

const DISGUISES: Record<string, { A?: string[]; AAAA?: string[] }> = {
  "loopback.test": { A: ["127.0.0.2"] },
  "private.test": { A: ["10.1.2.3", "192.168.1.1"] },
  "mapped.test": { AAAA: ["::ffff:127.0.0.2"] },
  "compatible.test": { AAAA: ["::127.0.0.2"] },
  "nat64.test": { AAAA: ["64:ff9b::7f00:2"] },
  "nat64-local.test": { AAAA: ["64:ff9b:1::7f00:2"] },
  "sixtofour.test": { AAAA: ["2002:7f00:2::1"] },
  "sitelocal.test": { AAAA: ["fec0::1"] },
};

let dns: TestDns;
let sink: Sink;
let hk: TestService;

before(async () => {
  sink = await startSink({ host: "127.0.0.2" });
  const records: Record<string, object> = {};
  for (const [domain, addresses] of Object.entries(DISGUISES)) {
    records[domain] = { MX: [{ exchange: `mx.${domain}`, priority: 10 }] };
    records[`mx.${domain}`] = addresses;
  }
  dns = await startDns(records);
  hk = await startTestService({ HIKYAKU_DNS_SERVERS: dns.address, HIKYAKU_MX_PORT: String(sink.port), HIKYAKU_ALLOW_PRIVATE_DESTINATIONS: "false" });
});

after(async () => {
  await hk?.stop();
  await sink?.close();
  await dns?.close();
});

describe("internal destinations", () => {
  test("every disguise of an internal address is bounced as internal_destination, with no connection", async () => {
    const domains = Object.keys(DISGUISES);
    const res = await hk.api("POST", "/v1/messages", {
      from: "alerts@city.test",
      to: domains.map((d) => `resident@${d}`),
      subject: "Drill",
      text: "This is a drill.",
    });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const events = await eventually(async () => {
      const r = await hk.api("GET", `/v1/logs?message_id=${res.body.id}`);
      return r.body.data.length >= domains.length ? (r.body.data as any[]) : undefined;
    }, "one final event per recipient");
    for (const d of domains) {
      const ev = events.find((e) => e.recipient === `resident@${d}`);
      assert.equal(ev?.event, "bounced", `${d}: ${JSON.stringify(ev)}`);
      assert.equal(ev?.service_code, "internal_destination", d);
      assert.equal(ev?.code, 554);
    }
    assert.equal(sink.connections, 0, "nothing connected to the loopback sink");
  });
});
