// Transactions on a reused connection, against a strict SMTP server on loopback that
// answers as RFC 5321 says a server must: a MAIL FROM while a transaction is open is
// "503 nested MAIL command". A completed transaction (the final dot's 250) ends by
// itself, so the next MAIL FROM may follow at once (§4.1.4); a refused one (no recipient
// taken, DATA answered 554) stays open until RSET, so without it the next message on the
// connection would fail. Hikyaku ends a refused transaction with RSET and skips it after
// a completed one: one round trip less per message.
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, test } from "node:test";
import { setOverride } from "../src/delivery/policy-store.ts";
import { startDns, type TestDns } from "./helpers/dns-server.ts";
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
  const s = net.createServer((socket) => {
    const seen: string[] = [];
    sessions.push(seen);
    let mail = false;
    let rcpts = 0;
    let inData = false;
    let data = "";
    let buffered = "";
    socket.write("220 strict.test ESMTP\r\n");
    socket.on("data", (chunk) => {
      buffered += chunk.toString("latin1");
      for (let nl = buffered.indexOf("\r\n"); nl >= 0; nl = buffered.indexOf("\r\n")) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 2);
        if (inData) {
          if (line !== ".") {
            data += `${line}\r\n`;
            continue;
          }
          inData = false;
          mail = false;
          rcpts = 0;
          seen.push("<data>");
          delivered.push(data);
          socket.write("250 2.0.0 queued\r\n");
          continue;
        }
        const verb = line.split(/[ :]/, 1)[0]?.toUpperCase() ?? "";
        seen.push(verb);
        if (verb === "EHLO") socket.write("250-strict.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n");
        else if (verb === "MAIL") {
          if (mail) socket.write("503 5.5.1 nested MAIL command\r\n");
          else {
            mail = true;
            socket.write("250 2.1.0 ok\r\n");
          }
        } else if (verb === "RCPT") {
          if (!mail) socket.write("503 5.5.1 need MAIL first\r\n");
          else if (/<no@/i.test(line)) socket.write("550 5.1.1 no such user here\r\n");
          else {
            rcpts++;
            socket.write("250 2.1.5 ok\r\n");
          }
        } else if (verb === "DATA") {
          if (!mail || rcpts === 0) socket.write("554 5.5.1 no valid recipients\r\n");
          else {
            inData = true;
            data = "";
            socket.write("354 go ahead\r\n");
          }
        } else if (verb === "RSET") {
          mail = false;
          rcpts = 0;
          socket.write("250 2.0.0 ok\r\n");
        } else if (verb === "QUIT") socket.end("221 2.0.0 bye\r\n");
        else if (verb === "NOOP") socket.write("250 2.0.0 ok\r\n");
        else socket.write("502 5.5.2 not implemented\r\n");
      }
    });
    socket.on("error", () => {});
  });
  return new Promise((resolve) => s.listen(port, host, () => resolve(s)));
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
