// The api role's HTTP server: hono's Node adapter on a node:http server, with the
// refusals made before hono runs answered in the API's error body (client-error.ts).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { getRequestListener } from "@hono/node-server";
import { log } from "../logger.ts";
import { answerClientErrors, MALFORMED, type Refusal, refusal } from "./client-error.ts";

export interface ServeOptions {
  fetch: (request: Request, env: { incoming: IncomingMessage; outgoing: ServerResponse }) => Response | Promise<Response>;
  port: number;
  hostname: string;
}

/** Like @hono/node-server's serve(), but no answer leaves without the error body. */
export function serveApi(options: ServeOptions, onListening: (info: AddressInfo) => void): Server {
  const listener = getRequestListener(options.fetch as never, { hostname: options.hostname, errorHandler: adapterRefusal });
  // Node's own Host check answers a bare 400; this one answers in the error body.
  const server = createServer({ requireHostHeader: false }, (req, res) => {
    if (req.headers.host === undefined && req.httpVersion === "1.1")
      return send(res, refusal("malformed_request", `${MALFORMED} An HTTP/1.1 request needs a Host header.`));
    void listener(req, res);
  });
  answerClientErrors(server);
  server.listen(options.port, options.hostname, () => onListening(server.address() as AddressInfo));
  return server;
}

/** The adapter could not build a Request (bad Host, backslash in the path), or fetch threw. */
function adapterRefusal(err: unknown): Response {
  let r: Refusal;
  if ((err as Error)?.name === "RequestError") r = refusal("malformed_request", `${MALFORMED} ${(err as Error).message}.`);
  else {
    log.error("unhandled error outside the app", { err: err as Error });
    r = refusal("internal", "Something went wrong inside Hikyaku; nothing was stored. Retry, and quote the request_id if it persists.");
  }
  return new Response(r.json, { status: r.status, headers: { "content-type": "application/json", "x-request-id": r.requestId } });
}

function send(res: ServerResponse, r: Refusal): void {
  res.writeHead(r.status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(r.json),
    "x-request-id": r.requestId,
    connection: "close",
  });
  res.end(r.json);
}
