// What Node's HTTP parser refuses, before hono runs, is answered in the one error body:
// read back by Node's own HTTP client (an independent parser of the hand-written reply),
// and by raw sockets where no client would send such bytes.
import assert from "node:assert/strict";
import http from "node:http";
import net from "node:net";
import { after, before, test } from "node:test";
import { answerClientErrors } from "../src/api/client-error.ts";
import { startTestService, type TestService } from "./helpers/service.ts";

let hk: TestService;

before(async () => {
  hk = await startTestService({ HIKYAKU_ROLES: "api" });
});

after(async () => {
  await hk?.stop();
});

/** One request with Node's client on a fresh connection: status, headers and parsed body. */
function request(url: string, path: string, headers: Record<string, string>): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: any }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}${path}`, { headers, agent: false, timeout: 30_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (d: Buffer) => chunks.push(d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(Buffer.concat(chunks).toString("utf8")) }));
    });
    req.on("error", reject);
    req.on("timeout", () => req.destroy(new Error("no answer in 30 s")));
    req.end();
  });
}

/** Writes bytes, then collects everything the server sends until it closes the connection. */
function raw(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    socket.setTimeout(30_000, () => socket.destroy(new Error("the server did not close the connection in 30 s")));
    socket.on("data", (d) => chunks.push(d));
    socket.on("error", reject);
    socket.on("close", () => resolve(Buffer.concat(chunks).toString("latin1")));
    socket.write(bytes);
  });
}

/** The body of a raw reply, checked against its own Content-Length. */
function bodyOf(reply: string): { status: number; requestIdHeader: string | undefined; body: any } {
  const at = reply.indexOf("\r\n\r\n");
  const head = reply.slice(0, at);
  const body = reply.slice(at + 4);
  const length = /\r\ncontent-length: (\d+)/i.exec(head)?.[1];
  assert.equal(Number(length), Buffer.byteLength(body, "latin1"), `Content-Length matches the body: ${reply}`);
  assert.match(head, /\r\ncontent-type: application\/json/i);
  return { status: Number(head.slice(9, 12)), requestIdHeader: /\r\nx-request-id: (\S+)/i.exec(head)?.[1], body: JSON.parse(body) };
}

test("header fields over 16 KiB are 431 headers_too_large in the error body, read by Node's own client", async () => {
  const res = await request(hk.url, "/v1/logs", { authorization: `Bearer ${hk.key}`, "x-big": "b".repeat(20 * 1024) });
  assert.equal(res.status, 431);
  assert.equal(res.body.error.code, "headers_too_large");
  assert.match(res.body.error.message, /16 KiB/);
  assert.match(res.body.error.request_id, /^req_/);
  assert.equal(res.headers["x-request-id"], res.body.error.request_id);
});

test("malformed framing is 400 malformed_request, and the server goes on serving", async () => {
  const port = Number(new URL(hk.url).port);
  for (const bytes of [
    "POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}",
    "POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
    "GET /v1/logs HTTP/1.1\r\nHost: x\r\nX-Nul: a\u0000b\r\n\r\n",
    "GET /v1/logs HTTP/1.1\r\n\r\n",
    "GET /v1\\logs HTTP/1.1\r\nHost: x\r\n\r\n",
  ]) {
    const reply = bodyOf(await raw(port, bytes));
    assert.equal(reply.status, 400, JSON.stringify(reply));
    assert.equal(reply.body.error.code, "malformed_request", JSON.stringify(reply));
    assert.equal(reply.requestIdHeader, reply.body.error.request_id);
  }
  const health = await request(hk.url, "/healthz", {});
  assert.equal(health.status, 200);
});

test("a malformed request after a good one on the same connection is answered too", async () => {
  const socket = net.connect(Number(new URL(hk.url).port), "127.0.0.1");
  let received = "";
  const closed = new Promise<void>((resolve, reject) => {
    socket.setTimeout(30_000, () => socket.destroy(new Error("the server did not close the connection in 30 s")));
    socket.on("data", (d: Buffer) => {
      received += d.toString("latin1");
      // The first answer is complete: only now send the malformed second request.
      if (received.endsWith('"ok"}') && !received.includes("HTTP/1.1 400")) socket.write("GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n");
    });
    socket.on("error", reject);
    socket.on("close", () => resolve());
  });
  socket.write("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  await closed;
  const second = received.indexOf("HTTP/1.1 400");
  assert.ok(received.startsWith("HTTP/1.1 200") && second > 0, received);
  assert.equal(bodyOf(received.slice(second)).body.error.code, "malformed_request");
});

test("a request that does not arrive in time is 408 request_timeout in the error body", async () => {
  // A bare server with short limits: the service keeps Node's defaults (minutes).
  const server = http.createServer({ requestTimeout: 300, headersTimeout: 300, connectionsCheckingInterval: 50 }, (_req, res) => res.end("never"));
  answerClientErrors(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  try {
    const reply = bodyOf(await raw((server.address() as net.AddressInfo).port, "GET / HTTP/1.1\r\nHost: x\r\n"));
    assert.equal(reply.status, 408);
    assert.equal(reply.body.error.code, "request_timeout");
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});
