// Transactions on a reused connection, against a strict SMTP server on loopback that
// answers as RFC 5321 says a server must: a MAIL FROM while a transaction is open is
// "503 nested MAIL command". A completed transaction (the final dot's 250) ends by
// itself, so the next MAIL FROM may follow at once (§4.1.4); a refused one (no recipient
// taken, DATA answered 554) stays open until RSET, so without it the next message on the
// connection would fail. Hikyaku ends a refused transaction with RSET and skips it after
// a completed one: one round trip less per message.
import assert from "node:assert/strict";
import type net from "node:net";
import { after, before, test } from "node:test";
import { setOverride } from "../src/delivery/policy-store.ts";
import { startDns, type TestDns } from "./helpers/dns-server.ts";
import { startScriptedSmtp } from "./helpers/scripted-smtp.ts";
import { firstLogEvent, sendPlain, startTestService, type TestService } from "./helpers/service.ts";
import { freePort } from "./helpers/sink.ts";

let hk: TestService;
let dns: TestDns;
let server: net.Server;
/** The commands of each connection, in order (verbs only; the message body as "<data>"). */
const sessions: string[][] = [];
const delivered: string[] = [];

/** Just enough of a strict server: one transaction at a time, recipients at no@ refused. */
function startStrictServer(host: string, port: number): Promise<net.Server> {
  return startScriptedSmtp(host, port, "220 strict.test ESMTP", () => {
    const seen: string[] = [];
    sessions.push(seen);
    let mail = false;
    let rcpts = 0;
    return {
      command(line) {
        const verb = line.split(/[ :]/, 1)[0]?.toUpperCase() ?? "";
        seen.push(verb);
        if (verb === "EHLO") return "250-strict.test\r\n250-PIPELINING\r\n250 8BITMIME";
        if (verb === "MAIL") {
          if (mail) return "503 5.5.1 nested MAIL command";
          mail = true;
          return "250 2.1.0 ok";
        }
        if (verb === "RCPT") {
          if (!mail) return "503 5.5.1 need MAIL first";
          if (/<no@/i.test(line)) return "550 5.1.1 no such user here";
          rcpts++;
          return "250 2.1.5 ok";
        }
        if (verb === "DATA") return !mail || rcpts === 0 ? "554 5.5.1 no valid recipients" : "354 go ahead";
        if (verb === "RSET") {
          mail = false;
          rcpts = 0;
          return "250 2.0.0 ok";
        }
        if (verb === "QUIT") return "221 2.0.0 bye";
        if (verb === "NOOP") return "250 2.0.0 ok";
        return "502 5.5.2 not implemented";
      },
      message(data) {
        mail = false;
        rcpts = 0;
        seen.push("<data>");
        delivered.push(data);
        return "250 2.0.0 queued";
      },
    };
  });
}

before(async () => {
  const port = await freePort("127.0.0.2");
  server = await startStrictServer("127.0.0.2", port);
  dns = await startDns({
    "strict.test": { MX: [{ exchange: "mx.strict.test", priority: 10 }] },
    "mx.strict.test": { A: ["127.0.0.2"] },
  });
  hk = await startTestService(
    { HIKYAKU_DNS_SERVERS: dns.address, HIKYAKU_MX_PORT: String(port) },
    // One connection, kept open between the messages, so all three share it.
    { seed: (db) => setOverride(db, "strict.test", { max_connections: 1, messages_per_connection: 100, idle_close_seconds: 60, tls: "opportunistic" }) },
  );
});

after(async () => {
  await hk?.stop();
  await new Promise((r) => server?.close(r));
  await dns?.close();
});

test("on one connection: a completed transaction is followed by the next MAIL FROM at once, a refused one by RSET first", async () => {
  const outcomes: string[] = [];
  // One after another, each to its end, so they take the connection in this order.
  for (const to of ["first@strict.test", "no@strict.test", "third@strict.test", "fourth@strict.test"]) {
    const m = await sendPlain(hk, to, `to ${to}`);
    const ev = await firstLogEvent(hk, m.id);
    outcomes.push(`${to} ${ev.event} ${ev.code}`);
  }
  assert.deepEqual(outcomes, [
    "first@strict.test delivered 250",
    "no@strict.test bounced 550",
    "third@strict.test delivered 250",
    "fourth@strict.test delivered 250",
  ]);
  assert.equal(sessions.length, 1, `every message on one connection: ${JSON.stringify(sessions)}`);
  const verbs = (sessions[0] ?? []).filter((v) => v !== "NOOP");
  assert.deepEqual(
    verbs,
    ["EHLO", "MAIL", "RCPT", "DATA", "<data>", "MAIL", "RCPT", "DATA", "RSET", "MAIL", "RCPT", "DATA", "<data>", "MAIL", "RCPT", "DATA", "<data>"],
    "no RSET after a completed transaction, one after the refused one",
  );
  assert.equal(delivered.length, 3);
});
