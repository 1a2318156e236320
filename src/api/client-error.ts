// Requests refused before hono runs (Node's parser: malformed framing, headers too large,
// too slow; a missing Host; a URL hono's adapter cannot build) would get a bare status
// line. These answers carry the API's one error body instead, so no client ever meets a
// second error shape.
import type { EventEmitter } from "node:events";
import type { Duplex } from "node:stream";
import { AppError, type ErrorCode, errorBody, errorTable } from "../errors.ts";
import { uuidv7 } from "../util/ids.ts";

/** Node's parser error codes, as Node itself maps them to a status (lib/_http_server.js). */
const parserRefusals: Record<string, { code: ErrorCode; message: string }> = {
  HPE_HEADER_OVERFLOW: {
    code: "headers_too_large",
    message: "The request's header fields are larger than the server accepts (16 KiB in all); send fewer or shorter headers.",
  },
  HPE_CHUNK_EXTENSIONS_OVERFLOW: {
    code: "request_too_large",
    message: "The request's chunk extensions are larger than the server accepts; send the body without them.",
  },
  ERR_HTTP_REQUEST_TIMEOUT: { code: "request_timeout", message: "The request did not arrive in time; send it again, all at once." },
};

export const MALFORMED = "The request is not well-formed HTTP/1.1 (its request line, a header or the body framing); nothing was stored.";

export interface Refusal {
  status: number;
  requestId: string;
  json: string;
}

/** The one error body for a refusal made outside hono, with its own request id. */
export function refusal(code: ErrorCode, message: string): Refusal {
  const requestId = `req_${uuidv7().replace(/-/g, "")}`;
  return { status: errorTable[code].http, requestId, json: JSON.stringify(errorBody(new AppError(code, message), requestId)) };
}

/** Answers what Node's parser refuses; hooked into the server where it is created. */
export function answerClientErrors(server: EventEmitter): void {
  server.on("clientError", (err: NodeJS.ErrnoException, socket: Duplex) => {
    // A reset peer cannot read an answer; a response already begun must not be interleaved.
    if (err.code === "ECONNRESET" || !socket.writable || responseStarted(socket)) return void socket.destroy();
    const { code, message } = parserRefusals[err.code ?? ""] ?? { code: "malformed_request", message: MALFORMED };
    const r = refusal(code, message);
    const head = `HTTP/1.1 ${r.status} ${reasons[r.status] ?? "Bad Request"}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(r.json)}\r\n`;
    // Closed once written, as Node does: the parser cannot find where the next request starts.
    socket.end(`${head}X-Request-Id: ${r.requestId}\r\nConnection: close\r\n\r\n${r.json}`, () => socket.destroy());
  });
}

const reasons: Record<number, string> = { 400: "Bad Request", 408: "Request Timeout", 413: "Payload Too Large", 431: "Request Header Fields Too Large" };

/** Node keeps the socket's in-flight response on a private field; it decides the same way. */
function responseStarted(socket: Duplex): boolean {
  return (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent === true;
}
