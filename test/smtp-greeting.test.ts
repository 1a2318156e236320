// The greeting adapter (src/smtp/intake-server.ts): smtp-server's fixed 100 ms wait before
// every greeting is replaced by the server's own choice per client. These tests pin the
// library internals the adapter copies (they fail when smtp-server changes them), and show
// over real sockets who waits: a registered relay client is greeted at once, an unknown
// one must stay silent first and is cut off when it talks before the greeting.
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, test } from "node:test";
import { SMTPConnection } from "smtp-server/lib/smtp-connection.js";
import { startTestService, type TestService } from "./helpers/service.ts";
import { rawSmtp } from "./helpers/smtp-client.ts";

const squash = (f: unknown) => String(f).replace(/\s+/g, " ").trim();

describe("smtp-server internals the greeting adapter relies on", () => {
  test("SMTPConnection#init is still the one the adapter replaces (maxClients check, then a fixed 100 ms wait)", () => {
    // If this fails, smtp-server changed init(): read its new version, carry what it does
    // into IntakeConnection#init, and update this text.
    assert.equal(
      squash(SMTPConnection.prototype.init),
      squash(`init() {
        // Setup event handlers for the socket
        this._setListeners(() => {
            // Check that connection limit is not exceeded
            if (this._server.options.maxClients && this._server.connections.size > this._server.options.maxClients) {
                return this.send(421, this.name + ' Too many connected clients, try again in a moment', false);
            }
            // Keep a small delay for detecting early talkers
            let readyTimer = setTimeout(() => this.connectionReady(), 100);
            // Unref timer so connection init delay doesn't prevent process exit
            readyTimer.unref();
        });
    }`),
    );
  });

  test("connectionReady and _setListeners exist, and a command before the greeting is still refused with 421", () => {
    assert.equal(typeof SMTPConnection.prototype.connectionReady, "function");
    assert.equal(typeof SMTPConnection.prototype._setListeners, "function");
    const onCommand = squash(SMTPConnection.prototype._onCommand);
    assert.match(
      onCommand,
      /if \(!this\._ready\) \{ \/\/ block spammers that send payloads before server greeting return this\.send\(421, this\.name \+ ' You talk too soon', commandName\);/,
    );
    assert.match(squash(SMTPConnection.prototype.connectionReady), /this\._ready = true;.*this\._sendGreeting\(\);/);
  });
});

let hk: TestService;

before(async () => {
  hk = await startTestService({ HIKYAKU_ROLES: "api,smtp" });
  assert.equal((await hk.api("PUT", "/v1/source-ips", { ips: ["127.0.0.1"] })).status, 200);
});

after(async () => {
  await hk?.stop();
});

/** Connects and writes EHLO at once, without waiting for the greeting; returns what the server said until it closed or answered the EHLO. */
function talkFirst(port: number, localAddress: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    const socket = net.connect({ host: "127.0.0.1", port, localAddress });
    socket.write("EHLO early.test\r\n");
    socket.on("data", (d: Buffer) => {
      text += d.toString("latin1");
      if (/^250 /m.test(text)) {
        socket.end("QUIT\r\n");
        resolve(text);
      }
    });
    socket.on("close", () => resolve(text));
    socket.on("error", reject);
    socket.setTimeout(10_000, () => {
      socket.destroy();
      reject(new Error(`no answer; so far: ${text}`));
    });
  });
}

describe("who waits for the greeting", () => {
  test("a registered relay IP is greeted at once: an EHLO sent before the greeting is served, not refused", async () => {
    const port = hk.service.smtp?.relayPort ?? 0;
    // One ordinary session first: the IP's account is then known without a query.
    const first = await rawSmtp({ port });
    assert.equal((await first.command("EHLO app.test")).code, 250);
    first.close();
    const text = await talkFirst(port, "127.0.0.1");
    assert.match(text, /^220 hikyaku\.test ESMTP Hikyaku\r\n250-hikyaku\.test/);
  });

  test("an unknown IP on the relay port must wait: talking before the greeting ends the session with 421", async () => {
    const text = await talkFirst(hk.service.smtp?.relayPort ?? 0, "127.0.0.9");
    assert.match(text, /^421 4\.5\.0 Commands came before the greeting: wait for the 220 line, then send EHLO\.\r\n$/);
  });

  test("an unknown IP that waits for the greeting is served, and refused only at MAIL FROM", async () => {
    const s = await rawSmtp({ port: hk.service.smtp?.relayPort ?? 0, localAddress: "127.0.0.9" });
    assert.equal(s.greeting.code, 220);
    assert.equal((await s.command("EHLO patient.test")).code, 250);
    const mail = await s.command("MAIL FROM:<app@shop.test>");
    assert.match(mail.text, /^554 5\.7\.1 Relay access denied: 127\.0\.0\.9 may not send/);
    s.close();
  });

  test("the submission port greets at once: TLS and a login guard it, not a wait", async () => {
    const text = await talkFirst(hk.service.smtp?.submissionPort ?? 0, "127.0.0.9");
    assert.match(text, /^220 hikyaku\.test ESMTP Hikyaku\r\n250-hikyaku\.test/);
  });
});
