// Walks every operation in the committed openapi/openapi.json with hostile input: bodies
// (wrong media types, bytes that are not JSON or not UTF-8, truncated and huge bodies,
// deep nesting, NUL and lone surrogates in every string and key, wrong types, over-long
// strings, unknown fields), hostile path and query parameters, and hostile headers
// (authentication, over-long and malformed framing sent as raw bytes). Every answer must
// be a 4xx in the one error shape (only odd but harmless filter values may pass), and no
// stored row may change. Operations added later are walked too: the walk reads the
// document, not a list.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { after, before, test } from "node:test";
import { startTestService, type TestService } from "./helpers/service.ts";

type Schema = Record<string, any>;
interface Operation {
  method: string;
  path: string;
  op: Schema;
}
interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}
interface Case {
  what: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer | string;
  chunked?: boolean;
  /** error.field the answer must name, when the hostile part is one field. */
  field?: string;
  /** The machine codes the answer may carry, when the kind of fault decides it. */
  codes?: string[];
  /** The input is odd but harmless (e.g. an empty filter): a 2xx is allowed, a 5xx never. */
  mayPass?: boolean;
}

const doc = JSON.parse(readFileSync(new URL("../openapi/openapi.json", import.meta.url), "utf8")) as Schema;
const ADMIN_TOKEN = "test-admin-token-0123456789";
const MAX_MESSAGE_BYTES = 8192;
/** Larger than every route's body limit (the message routes' is 1.4 x 8192 + 64 KiB). */
const HUGE = 160 * 1024;
const DEEP = 5000;
const SAMPLE_ID = "01936c2e-8f5a-7b3c-9d1e-2f3a4b5c6d7e";

/** Bodies every field of which is valid, so that one hostile change is the only fault. */
const validBodies: Record<string, unknown> = {
  "POST /v1/messages": { from: "Shop <orders@shop.test>", to: "alice@example.test", subject: "Order 1", text: "Thanks", metadata: { order: "1" } },
  "PATCH /v1/messages/{id}": { send_at: new Date(Date.now() + 3600_000).toISOString() },
  "POST /v1/admin/accounts": { name: "Walked" },
  "PATCH /v1/admin/accounts/{id}": { monthly_quota: 10, time_zone: "UTC" },
  "POST /v1/api-keys": { name: "walked" },
  "POST /v1/domains": { domain: "walked.example" },
  "PATCH /v1/domains/{domain}": { sign_before_verify: true },
  "PUT /v1/source-ips": { ips: ["192.0.2.1"] },
  "POST /v1/smtp-credentials": { username: "walked" },
  "PUT /v1/admin/destination-policies/{domain}": { max_connections: 2, messages_per_minute: 60, tls: "required", mx_suffixes: [".mx.walked.example"] },
};

let hk: TestService;
let sent = 0;

before(async () => {
  hk = await startTestService({ HIKYAKU_MAX_MESSAGE_BYTES: String(MAX_MESSAGE_BYTES) });
});

after(async () => {
  agent.destroy();
  await hk?.stop();
});

function operations(): Operation[] {
  const ops: Operation[] = [];
  for (const [path, item] of Object.entries(doc.paths as Schema)) {
    for (const [method, op] of Object.entries(item as Schema)) {
      if (["get", "put", "post", "patch", "delete"].includes(method)) ops.push({ method: method.toUpperCase(), path, op });
    }
  }
  return ops;
}

const resolve = (s: Schema | undefined): Schema => {
  let schema = s ?? {};
  for (let i = 0; schema.$ref && i < 10; i++) schema = doc.components.schemas[String(schema.$ref).split("/").pop() as string];
  if (schema.allOf) return Object.assign({}, ...schema.allOf.map(resolve), { ...schema, allOf: undefined });
  return schema;
};

/** The JSON types a schema admits (all of them for an empty schema). */
function types(s: Schema, depth = 0): Set<string> {
  const schema = resolve(s);
  const branches = schema.anyOf ?? schema.oneOf;
  if (branches && depth < 8) return new Set(branches.flatMap((b: Schema) => [...types(b, depth + 1)]));
  if (schema.enum) return new Set(schema.enum.map((v: unknown) => (v === null ? "null" : typeof v)));
  const t = schema.type;
  if (t === undefined) return new Set(["string", "number", "boolean", "array", "object", "null"]);
  const list: string[] = Array.isArray(t) ? t : [t];
  return new Set(list.map((x) => (x === "integer" ? "number" : x)).concat(schema.nullable ? ["null"] : []));
}

interface Leaf {
  path: (string | number)[];
  schema: Schema;
}

/** Every field the schema describes, reached through objects, lists, maps and unions. */
function fields(s: Schema, path: (string | number)[] = [], out: Leaf[] = [], depth = 0, self = true): Leaf[] {
  const schema = resolve(s);
  if (depth > 6) return out;
  if (path.length && self) out.push({ path, schema });
  for (const b of schema.anyOf ?? schema.oneOf ?? []) fields(b, path, out, depth + 1, false);
  for (const [k, v] of Object.entries((schema.properties ?? {}) as Schema)) fields(v, [...path, k], out, depth + 1);
  if (schema.items) fields(schema.items, [...path, 0], out, depth + 1);
  if (schema.additionalProperties && typeof schema.additionalProperties === "object") fields(schema.additionalProperties, [...path, "k"], out, depth + 1);
  return out;
}

/** A copy of `body` with `value` at `path`, building (or replacing) what lies on the way. */
function withValue(body: unknown, path: (string | number)[], value: unknown): unknown {
  const root = structuredClone(body ?? {}) as any;
  let at = root;
  for (const [i, key] of path.slice(0, -1).entries()) {
    const next = path[i + 1];
    const want = typeof next === "number" ? "array" : "object";
    const have = Array.isArray(at[key]) ? "array" : at[key] !== null && typeof at[key] === "object" ? "object" : "other";
    if (have !== want) at[key] = want === "array" ? [] : {};
    at = at[key];
  }
  at[path[path.length - 1] as string | number] = value;
  return root;
}

const fieldOf = (path: (string | number)[]) => path.map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? p : `.${p}`)).join("");
/** Stands for JSON nested DEEP levels, spliced in as text: JSON.stringify itself overflows on it. */
const DEEP_VALUE = "\u0001deep\u0001";
const deepJson = `${"[".repeat(DEEP)}1${"]".repeat(DEEP)}`;
const sampleOf: Record<string, unknown> = { string: "x", number: 12345, boolean: true, array: [], object: {}, null: null };

function auth(op: Schema): Record<string, string> {
  const scheme = Object.keys(op.security?.[0] ?? {})[0];
  if (scheme === "admin") return { authorization: `Bearer ${ADMIN_TOKEN}` };
  if (scheme === "bearer") return { authorization: `Bearer ${hk.key}` };
  return {};
}

/** The path with each parameter filled: by an unknown but well-formed value, or `hostile` for one. */
function fill(o: Operation, hostile?: { name: string; raw: string }): string {
  return o.path.replace(/\{([^}]+)\}/g, (_, name: string) => {
    if (hostile?.name === name) return hostile.raw;
    return name === "domain" ? "unknown-walked.example" : SAMPLE_ID;
  });
}

function bodyCases(o: Operation): Case[] {
  const content = o.op.requestBody?.content?.["application/json"];
  const key = `${o.method} ${o.path}`;
  const path = fill(o);
  const headers = { ...auth(o.op), "content-type": "application/json" };
  const base = validBodies[key] ?? {};
  const json = JSON.stringify(base);
  // Every body under /v1 is JSON; elsewhere (health checks) a body the route does not take is ignored.
  const mayPass = !content && !o.path.startsWith("/v1/");
  const cases: Case[] = [];
  const add = (what: string, body: unknown, field?: string, extra: Partial<Case> = {}) =>
    cases.push({
      what,
      method: o.method,
      path,
      headers,
      body: typeof body === "string" || Buffer.isBuffer(body) ? body : JSON.stringify(body).replace(JSON.stringify(DEEP_VALUE), deepJson),
      field,
      mayPass,
      ...extra,
      // No GET takes a body: whatever the body holds, that is the fault named.
      ...(o.method === "GET" ? { field: undefined, codes: ["malformed_request", "request_too_large"] } : {}),
    });

  // A body no route could take, whether or not the operation takes one.
  for (const type of ["text/plain", "multipart/form-data; boundary=x", "application/json-patch+json"]) {
    add(`Content-Type ${type}`, json, "Content-Type", { headers: { ...headers, "content-type": type }, codes: ["unsupported_media_type"] });
  }
  add("no Content-Type", json, "Content-Type", { headers: auth(o.op), codes: ["unsupported_media_type"] });
  for (const text of ["hello", json.slice(0, Math.max(1, json.length - 3)), `${json}garbage`, "{'a': 1}"])
    add(`not JSON: ${JSON.stringify(text).slice(0, 30)}`, text);
  add("bytes that are not UTF-8", Buffer.concat([Buffer.from('{"name":"'), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('"}')]));
  const tooLarge = ["request_too_large", "message_too_large"];
  add("a huge body", `{"x":"${"a".repeat(HUGE)}"}`, undefined, { codes: tooLarge });
  // Refused while the client still sends it: the 413, or Node's parser meeting the rest of
  // the body on a connection that is closing (400), is what reaches the client first.
  add("a huge chunked body", `{"x":"${"a".repeat(HUGE)}"}`, undefined, { chunked: true, codes: [...tooLarge, "malformed_request"] });
  add(`an array ${DEEP} deep`, deepJson, undefined, { codes: ["validation_error"] });
  add(`an object ${DEEP} deep`, `${'{"a":'.repeat(DEEP)}1${"}".repeat(DEEP)}`, "a", { codes: ["validation_error"] });
  add("NUL in a key", { "a\u0000b": 1 });
  add("a lone surrogate in a value", { a: "\ud800" });
  if (!content) return cases;

  add("an empty body", "");
  for (const top of [[], "text", 42, null, true]) add(`the body is ${JSON.stringify(top)}`, top);
  const schema = resolve(content.schema);
  const seen = new Set<string>();
  for (const { path: p, schema: s } of fields(schema)) {
    const id = `${fieldOf(p)}|${[...types(s)].sort()}`;
    if (seen.has(id)) continue;
    seen.add(id);
    const allowed = types(s);
    const f = fieldOf(p);
    if (allowed.has("string")) {
      add(`${f}: NUL`, withValue(base, p, "a\u0000b"), f);
      add(`${f}: a lone high surrogate`, withValue(base, p, "a\ud800b"), f);
      const max = resolve(s).maxLength;
      if (typeof max === "number") add(`${f}: ${max + 1} characters`, withValue(base, p, "a".repeat(max + 1)));
    }
    for (const wrong of ["number", "boolean", "array", "object", "null"].filter((t) => !allowed.has(t)).slice(0, 2)) {
      add(`${f}: a ${wrong}`, withValue(base, p, sampleOf[wrong]));
    }
    if (p.length === 1) add(`${f}: ${DEEP} levels deep`, withValue(base, p, DEEP_VALUE), f);
    const r = resolve(s);
    if (r.type === "object" && r.additionalProperties && typeof r.additionalProperties === "object") {
      add(`${f}: NUL in a key`, withValue(base, p, { "k\u0000": "v" }), f);
      add(`${f}: a lone surrogate in a key`, withValue(base, p, { "k\udfff": "v" }), f);
    }
    if (r.additionalProperties === false) add(`${f}: an unknown field`, withValue(base, [...p, "unexpected_field"], 1));
  }
  if (schema.additionalProperties === false) add("an unknown field", { ...(base as object), unexpected_field: 1 });
  return cases;
}

function parameterCases(o: Operation): Case[] {
  const cases: Case[] = [];
  const headers = auth(o.op);
  const body = validBodies[`${o.method} ${o.path}`];
  const withBody = body === undefined ? {} : { body: JSON.stringify(body), headers: { ...headers, "content-type": "application/json" } };
  for (const p of (o.op.parameters ?? []) as Schema[]) {
    const schema = resolve(p.schema);
    const long = "a".repeat(Math.max(5000, (schema.maxLength ?? 0) + 1));
    if (p.in === "path") {
      for (const raw of ["a%00b", long, "%zz", "%ED%A0%80", "..", "%2F", "'%20or%201=1--"]) {
        cases.push({ what: `path ${p.name}=${raw.slice(0, 20)}`, method: o.method, path: fill(o, { name: p.name, raw }), headers, ...withBody });
      }
    } else if (p.in === "query") {
      const q = (v: string) => `${fill(o)}?${v}`;
      // A filter or cursor may match nothing; a number or an enum must be one.
      const strict = schema.enum !== undefined || schema.type === "integer" || schema.type === "number";
      const values = ["a%00b", long, "%ED%A0%80", "'%20or%201=1--", "", "-1", "1.5"];
      for (const v of values) {
        const nul = v.includes("%00");
        const mayPass = !nul && !strict && !(v === long && schema.maxLength !== undefined);
        cases.push({
          what: `query ${p.name}=${v.slice(0, 20)}`,
          method: o.method,
          path: q(`${p.name}=${v}`),
          headers,
          ...withBody,
          mayPass,
          ...(nul ? { field: p.name } : {}),
        });
      }
      cases.push({ what: `query ${p.name} twice`, method: o.method, path: q(`${p.name}=a&${p.name}=b`), headers, ...withBody });
      cases.push({ what: "query %00 as a name", method: o.method, path: q("%00=1"), headers, ...withBody });
    } else if (p.in === "header") {
      for (const v of [long, ""])
        cases.push({
          what: `header ${p.name}=${v.slice(0, 10)}`,
          method: o.method,
          path: fill(o),
          ...withBody,
          headers: { ...(withBody.headers ?? headers), [p.name]: v },
        });
    }
  }
  return cases;
}

function authCases(o: Operation): Case[] {
  const scheme = Object.keys(o.op.security?.[0] ?? {})[0];
  if (!scheme) return [];
  const wrong = scheme === "admin" ? `Bearer ${hk.key}` : `Bearer ${ADMIN_TOKEN}`;
  const path = fill(o);
  return [undefined, "Bearer nope", "Basic dXNlcjpwYXNz", `Bearer ${"k".repeat(5000)}`, "Bearer hk_\u00ff\u00fe", wrong].map((a) => ({
    what: `authorization ${a === undefined ? "missing" : a.slice(0, 20)}`,
    method: o.method,
    path,
    headers: a === undefined ? ({} as Record<string, string>) : { authorization: a },
    codes: ["unauthorized"],
  }));
}

/** Requests Node's own parser refuses: sent as bytes, since no HTTP client will write them. */
function rawRequests(o: Operation, all: boolean): { what: string; bytes: Buffer; codes: string[] }[] {
  const target = fill(o);
  const head = `${o.method} ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n${Object.entries(auth(o.op))
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join("")}`;
  const raw = (what: string, text: string) => ({
    what,
    bytes: Buffer.from(text, "latin1"),
    codes: [what.includes("16 KiB") ? "headers_too_large" : "malformed_request"],
  });
  const most = [
    raw("header fields over 16 KiB", `${head}X-Big: ${"b".repeat(20 * 1024)}\r\n\r\n`),
    raw("Content-Length: abc", `${head}Content-Type: application/json\r\nContent-Length: abc\r\n\r\n{}`),
    raw("Content-Length: -1", `${head}Content-Type: application/json\r\nContent-Length: -1\r\n\r\n{}`),
    raw("two different Content-Lengths", `${head}Content-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}`),
    raw("Content-Length with chunked", `${head}Content-Type: application/json\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n`),
    raw("bad chunk framing", `${head}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`),
    raw("NUL in a header value", `${head}X-Nul: a\u0000b\r\n\r\n`),
    raw("a bare LF in a header", `${head}X-Lf: a\nb\r\n\r\n`),
    raw("no Host header", `${o.method} ${target} HTTP/1.1\r\n\r\n`),
    raw("a malformed request line", `${o.method} ${target} HTTP/1.1 extra\r\nHost: x\r\n\r\n`),
  ];
  // Node's parser refuses these before any routing: the whole set once per kind of
  // authentication is enough, a few per operation show each route is behind it.
  return all ? most : most.filter((r) => ["header fields over 16 KiB", "Content-Length: abc", "no Host header"].includes(r.what));
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

/** Sends one case; a kept-alive connection the server had just closed is retried once on a new one (Node's documented pattern). */
async function send(c: Case): Promise<Answer> {
  sent++;
  try {
    return await sendOnce(c, agent);
  } catch (err) {
    // Only a keep-alive socket the server had already closed is retried: nothing reached
    // the server on it. A request that timed out may have been carried out (a POST that
    // created something), so it is never sent twice.
    if (!(err as { reused?: boolean }).reused || (err as { timedOut?: boolean }).timedOut) throw err;
    return await sendOnce(c, false);
  }
}

function sendOnce(c: Case, via: http.Agent | false): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const u = new URL(hk.url);
    let answered = false;
    const body = c.body === undefined ? undefined : Buffer.isBuffer(c.body) ? c.body : Buffer.from(c.body, "utf8");
    const headers: Record<string, string | number> = { ...c.headers };
    if (body && !c.chunked) headers["content-length"] = body.length;
    const req = http.request({ host: u.hostname, port: u.port, method: c.method, path: c.path, headers, agent: via, timeout: 60_000 }, (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on("data", (d: Buffer) => chunks.push(d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString("utf8") }));
    });
    // The server may answer a huge body and close before reading it all: the answer counts.
    req.on("error", (err) => (answered ? undefined : reject(Object.assign(err, { reused: req.reusedSocket }))));
    req.on("timeout", () => req.destroy(Object.assign(new Error(`no answer in 60 s to ${c.what}`), { timedOut: true })));
    if (body && c.chunked) for (let at = 0; at < body.length; at += 16 * 1024) req.write(body.subarray(at, at + 16 * 1024));
    req.end(body && !c.chunked ? body : undefined);
  });
}

function sendRaw(bytes: Buffer): Promise<Answer> {
  sent++;
  return new Promise((resolve, reject) => {
    const u = new URL(hk.url);
    const socket = net.connect(Number(u.port), u.hostname);
    const chunks: Buffer[] = [];
    socket.setTimeout(30_000, () => socket.destroy(new Error("no answer in 30 s")));
    socket.on("data", (d) => chunks.push(d));
    socket.on("error", (err) => (chunks.length ? undefined : reject(err)));
    socket.on("close", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      const [head = "", ...rest] = text.split("\r\n\r\n");
      const headers = Object.fromEntries(
        head
          .split("\r\n")
          .slice(1)
          .map((l) => [l.slice(0, l.indexOf(":")).toLowerCase(), l.slice(l.indexOf(":") + 1).trim()]),
      );
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0), headers, text: rest.join("\r\n\r\n") });
    });
    socket.end(bytes);
  });
}

/** Every table whose rows are what a user stored; refused intake attempts are logged on purpose. */
async function fingerprint(): Promise<Record<string, string>> {
  const tables = ["accounts", "api_keys", "messages", "message_contents", "recipients", "delivery_queue", "delivery_events", "idempotency_keys"];
  tables.push("source_ips", "smtp_credentials", "domains", "dkim_keys", "usage_counters", "destination_policies");
  const out: Record<string, string> = {};
  // Using a key stamps its last_used_at: that is bookkeeping, not something the request stored.
  const rowText: Record<string, string> = { api_keys: "(t.id, t.account_id, t.prefix, t.hash, t.name, t.created_at, t.revoked_at)::text" };
  for (const t of tables) {
    const text = rowText[t] ?? "t::text";
    const [row] = await hk.service.db.sql.unsafe(
      `select count(*)::text || ':' || coalesce(md5(string_agg(${text}, '|' order by ${text})), '') as f from ${t} t`,
    );
    out[t] = row?.f as string;
  }
  const [accepted] = await hk.service.db.sql`select count(*)::int as n from reception_events where accepted`;
  out.accepted_receptions = String(accepted?.n);
  return out;
}

/** The answer is a 4xx in the one error shape, naming `field` when given. */
function checkRefusal(o: Operation, c: { what: string; field?: string; codes?: string[]; mayPass?: boolean }, a: Answer): string | undefined {
  const where = `${o.method} ${o.path} with ${c.what}: ${a.status} ${a.text.slice(0, 300)}`;
  if (c.mayPass && a.status >= 200 && a.status < 300) return undefined;
  const items = batchItemErrors(o, a);
  if (items) return checkItemErrors(where, c, items);
  if (a.status < 400 || a.status >= 500) return where;
  let body: any;
  try {
    body = JSON.parse(a.text);
  } catch {
    return `${where} (not JSON)`;
  }
  const e = body?.error;
  if (Object.keys(body ?? {}).join() !== "error" || typeof e?.code !== "string" || typeof e.message !== "string" || !/^req_/.test(e.request_id))
    return `${where} (not the error shape)`;
  if (!String(a.headers["content-type"]).startsWith("application/json")) return `${where} (Content-Type ${a.headers["content-type"]})`;
  if (e.code === "internal" || e.code === "unavailable") return where;
  if (c.field !== undefined && e.field !== c.field) return `${where} (field ${e.field}, expected ${c.field})`;
  if (c.codes && !c.codes.includes(e.code)) return `${where} (code ${e.code}, expected ${c.codes.join(" or ")})`;
  return undefined;
}

/**
 * A batch answers 200 with one result per item, so that one bad item does not refuse the
 * others: a hostile item is refused when its own result is an error in the error shape.
 */
function batchItemErrors(o: Operation, a: Answer): { index: number; error: any }[] | undefined {
  if (!(o.method === "POST" && o.path === "/v1/messages/batch" && a.status === 200)) return undefined;
  try {
    const data = JSON.parse(a.text)?.data;
    return Array.isArray(data) && data.length > 0 ? data : undefined;
  } catch {
    return undefined;
  }
}

function checkItemErrors(where: string, c: { field?: string; codes?: string[] }, items: { index: number; error: any }[]): string | undefined {
  for (const item of items) {
    const e = item.error;
    if (typeof e?.code !== "string" || typeof e.message !== "string" || !/^req_/.test(e.request_id))
      return `${where} (item ${item.index} not refused in the error shape)`;
    if (e.code === "internal" || e.code === "unavailable") return where;
    // Inside an item the field is named from the item itself: messages[0].from is "from".
    const field = c.field?.replace(/^messages\[\d+\]\.?/, "");
    const top = (f: string) => f.split(/[.[]/)[0];
    if (field && e.field !== undefined && top(e.field) !== top(field)) return `${where} (field ${e.field}, expected ${field})`;
  }
  return undefined;
}

test("every operation in openapi.json refuses hostile input with a 4xx in the error shape, storing nothing", async (t) => {
  const ops = operations();
  assert.ok(ops.length >= 20, `the document lists ${ops.length} operations`);
  const failures: string[] = [];
  const start = await fingerprint();
  const perOp: string[] = [];
  const schemes = new Set<string>();
  for (const o of ops) {
    const before = sent;
    const cases = [...bodyCases(o), ...parameterCases(o), ...authCases(o)];
    // Four at a time: enough to finish quickly, few enough for a loaded two-core machine.
    for (let i = 0; i < cases.length; i += 4) {
      const batch = cases.slice(i, i + 4);
      const answers = await Promise.all(batch.map((c) => send(c).catch((err: Error) => ({ status: 0, headers: {}, text: `no answer: ${err.message}` }))));
      batch.forEach((c, j) => {
        const problem = checkRefusal(o, c, answers[j] as Answer);
        if (problem) failures.push(problem);
      });
    }
    const scheme = Object.keys(o.op.security?.[0] ?? {})[0] ?? "none";
    for (const r of rawRequests(o, !schemes.has(scheme))) {
      const a = await sendRaw(r.bytes).catch((err: Error) => ({ status: 0, headers: {}, text: `no answer: ${err.message}` }));
      const problem = checkRefusal(o, r, a);
      if (problem) failures.push(problem);
    }
    schemes.add(scheme);
    perOp.push(`${o.method} ${o.path}: ${sent - before}`);
  }
  const end = await fingerprint();
  t.diagnostic(`${sent} hostile requests over ${ops.length} operations (${perOp.join(", ")})`);
  assert.deepEqual(failures, [], `${failures.length} of ${sent} hostile requests were not refused properly:\n${failures.join("\n")}`);
  assert.deepEqual(end, start, "no stored row changed");
});

test("the valid bodies the walk starts from are accepted, so each hostile change is what was refused", async () => {
  // Nothing the walk refused may be carried out afterwards either (a handler still running
  // after its 4xx went out would store it late, past the walk's own fingerprint).
  await new Promise((r) => setTimeout(r, 1000));
  const [late] = await hk.service.db.sql<{ creds: number; domains: number }[]>`
    select (select count(*)::int from smtp_credentials where lower(username) = 'walked') as creds,
      (select count(*)::int from domains where domain = 'walked.example') as domains`;
  assert.deepEqual(late, { creds: 0, domains: 0 }, "a hostile request of the walk stored its resource after all");
  const other = await hk.newAccount("walk-control");
  for (const o of operations()) {
    const body = validBodies[`${o.method} ${o.path}`];
    if (body === undefined) continue;
    const scheme = Object.keys(o.op.security?.[0] ?? {})[0];
    const headers = { "content-type": "application/json", authorization: `Bearer ${scheme === "admin" ? ADMIN_TOKEN : other.key}` };
    // A connection of its own, never retried: a socket the walk's hostile bodies left
    // half-read can be reset after the server carried a request out, and a retried create
    // then meets its own 409.
    const a = await sendOnce({ what: "its valid body", method: o.method, path: fill(o), headers, body: JSON.stringify(body) }, false);
    // 404: the body passed validation and the (made-up) resource in the path was looked up.
    const passed = (a.status >= 200 && a.status < 300) || (a.status === 404 && JSON.parse(a.text).error.code === "not_found");
    assert.ok(passed, `${o.method} ${o.path} refused its valid body: ${a.status} ${a.text.slice(0, 300)}`);
  }
});
