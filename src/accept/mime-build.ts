// Writes out a MimeNode tree that nodemailer's MailComposer compiled, without streams.
//
// MimeNode.build() runs every message through a PassThrough, a pipeline, a LastNewline
// transform and a setImmediate per part: about 0.45 ms of CPU for a 1 KB message, a
// quarter of everything the API spends on a send. Every node this service composes holds
// its content as a string or a Buffer, so the same bytes can be written in one pass: the
// node's own buildHeaders(), the content through nodemailer's own base64 / quoted-printable
// encoders (their transform and flush steps are synchronous), the parts between the same
// boundaries, and the final line break LastNewline would add. Anything else (a stream, a
// path or URL, raw content, extra transforms, newline conversion) is left to build().
// test/compose-bytes.test.ts holds the result byte for byte against build().
import type { Transform } from "node:stream";
import { Encoder as Base64Encoder } from "nodemailer/lib/base64";
import type MimeNode from "nodemailer/lib/mime-node";
import { Encoder as QpEncoder } from "nodemailer/lib/qp";

/** The parts of MimeNode that nodemailer's types keep internal. */
interface Node {
  content?: unknown;
  contentType?: string;
  multipart?: string | false;
  boundary?: string | false;
  childNodes: Node[];
  newline?: string;
  _raw?: unknown;
  _transforms: unknown[];
  _processFuncs: unknown[];
  getTransferEncoding(): string | false;
  buildHeaders(): string;
}

/** The message's bytes, or undefined when only build() can write this tree. */
export function buildInline(root: MimeNode): Buffer | undefined {
  const node = root as unknown as Node;
  if (!writable(node)) return undefined;
  const out: Buffer[] = [];
  write(node, out);
  // LastNewline looks at the last byte written, whichever chunk carried it.
  const last = [...out].reverse().find((chunk) => chunk.length > 0);
  const lastByte = last?.[last.length - 1];
  if (lastByte === 0x0d) out.push(Buffer.from("\n"));
  else if (lastByte !== 0x0a) out.push(Buffer.from("\r\n"));
  return Buffer.concat(out);
}

function writable(node: Node): boolean {
  if (node._raw !== undefined && node._raw !== null && node._raw !== false) return false;
  if (node._transforms.length || node._processFuncs.length || node.newline) return false;
  if (node.content && typeof node.content !== "string" && !Buffer.isBuffer(node.content)) return false;
  return node.childNodes.every(writable);
}

function write(node: Node, out: Buffer[]): void {
  // The same order as MimeNode.stream(): transfer encoding, headers, content, children.
  const transferEncoding = node.getTransferEncoding();
  out.push(Buffer.from(`${node.buildHeaders()}\r\n\r\n`));
  const content = node.content as string | Buffer | undefined;
  if (content) {
    const bytes = typeof content === "string" ? Buffer.from(content) : content;
    if (transferEncoding === "base64") out.push(...encode(new Base64Encoder({}), bytes));
    else if (transferEncoding === "quoted-printable") {
      out.push(...encode(new QpEncoder({ binary: !/^text\//i.test(node.contentType ?? "") } as never), bytes));
    } else out.push(bytes);
  }
  if (!node.multipart) return;
  node.childNodes.forEach((child, i) => {
    out.push(Buffer.from(`${i > 0 ? "\r\n" : ""}--${node.boundary}\r\n`));
    write(child, out);
  });
  out.push(Buffer.from(`\r\n--${node.boundary}--\r\n`));
}

/** Runs one of nodemailer's encoders over the whole input: its transform, then its flush. */
function encode(encoder: Transform, input: Buffer): Buffer[] {
  const chunks: Buffer[] = [];
  const collect = (chunk: unknown, encoding?: BufferEncoding) => {
    if (chunk !== null && chunk !== undefined) chunks.push(typeof chunk === "string" ? Buffer.from(chunk, encoding ?? "utf8") : (chunk as Buffer));
    return true;
  };
  const fail = (err?: Error | null) => {
    if (err) throw err;
  };
  const e = encoder as Transform & { push: typeof collect };
  e.push = collect;
  e._transform(input, "buffer" as BufferEncoding, fail);
  e._flush?.(fail);
  return chunks;
}
