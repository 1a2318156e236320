// Privacy: once a message is final, nothing Hikyaku keeps (any text, json or bytea
// column of any table, in any schema) and nothing it logged holds the message's
// subject, body, display names or attachment name, through either door.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import nodemailer from "nodemailer";
import { eventually, type MxWorld, startWithMx, type TestService } from "./helpers/service.ts";
import type { Sink } from "./helpers/sink.ts";

let world: MxWorld;
let sink: Sink;
let hk: TestService;
let output = "";
const restore: (() => void)[] = [];

// Distinctive, ASCII (so no MIME encoding can hide them from a byte search) and unlike
// anything else the service stores.
const SECRETS = {
  subject: "Qx9SubjectOfTheNotice",
  text: "Qx9PlainBodyText",
  html: "Qx9HtmlBodyText",
  fromName: "Qx9FromDisplayName",
  toName: "Qx9ToDisplayName",
  ccName: "Qx9CcDisplayName",
  replyToName: "Qx9ReplyToDisplayName",
  attachmentName: "Qx9AttachmentName",
  attachmentBody: "Qx9AttachmentBody",
  smtpSubject: "Qx9SmtpSubjectLine",
  smtpBody: "Qx9SmtpBodyText",
  smtpName: "Qx9SmtpDisplayName",
  smtpAttachment: "Qx9SmtpAttachmentName",
};

function capture(stream: NodeJS.WriteStream) {
  const write = stream.write.bind(stream);
  stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    output += typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8");
    return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof stream.write;
  restore.push(() => {
    stream.write = write as typeof stream.write;
  });
}

before(async () => {
  capture(process.stdout);
  capture(process.stderr);
  world = await startWithMx(
    { onRcpt: (rcpt) => (rcpt.startsWith("unknown@") ? { code: 550, message: "5.1.1 user unknown" } : undefined) },
    { HIKYAKU_LOG_LEVEL: "debug" },
  );
  ({ hk, sink } = world);
  const put = await hk.api("PUT", "/v1/source-ips", { ips: ["127.0.0.1"] });
  assert.equal(put.status, 200, JSON.stringify(put.body));
});

after(async () => {
  for (const r of restore) r();
  await world?.stop();
});

/** Every table and column that can hold text or bytes, in every schema of the database. */
async function searchDatabase(needles: string[]): Promise<string[]> {
  const sql = hk.service.db.sql;
  const columns = await sql<{ schema: string; table: string; column: string; type: string }[]>`
    select c.table_schema as schema, c.table_name as table, c.column_name as column, c.data_type as type
    from information_schema.columns c
    join information_schema.tables t on t.table_schema = c.table_schema and t.table_name = c.table_name
    where t.table_type = 'BASE TABLE' and c.table_schema not in ('pg_catalog', 'information_schema')
      and c.data_type in ('text', 'character varying', 'character', 'bytea', 'json', 'jsonb', 'ARRAY', 'USER-DEFINED', 'xml')`;
  assert.ok(columns.length > 20, "the search covers the service's tables");
  const found: string[] = [];
  for (const c of columns) {
    const target = sql`${sql(c.schema)}.${sql(c.table)}`;
    const col = sql(c.column);
    const [hit] =
      c.type === "bytea"
        ? await sql`select count(*)::int as n from ${target} t, unnest(${needles}::text[]) s where position(convert_to(s, 'UTF8') in t.${col}) > 0`
        : await sql`select count(*)::int as n from ${target} t where t.${col}::text ilike any(${needles.map((s) => `%${s}%`)}::text[])`;
    if ((hit?.n as number) > 0) found.push(`${c.schema}.${c.table}.${c.column}`);
  }
  return found;
}

async function allFinal(): Promise<boolean> {
  const [row] = await hk.service.db.sql`select count(*)::int as n from messages where pending > 0`;
  return row?.n === 0;
}

test("after delivery, nothing in the database or the service's log holds the message's content or names", async () => {
  const http = await hk.api("POST", "/v1/messages", {
    from: { email: "orders@shop.test", name: SECRETS.fromName },
    to: [{ email: "alice@ok.test", name: SECRETS.toName }, "unknown@ok.test"],
    cc: `${SECRETS.ccName} <carol@ok.test>`,
    reply_to: `"${SECRETS.replyToName}" <help@shop.test>`,
    subject: `${SECRETS.subject} 避難指示`,
    text: `${SECRETS.text}\n避難してください。`,
    html: `<p>${SECRETS.html}</p>`,
    attachments: [
      { filename: `${SECRETS.attachmentName}.pdf`, content: Buffer.from(SECRETS.attachmentBody).toString("base64"), content_type: "application/pdf" },
    ],
    metadata: { canary: "Qx9MetadataCanary" },
  });
  assert.equal(http.status, 202, JSON.stringify(http.body));

  const transport = nodemailer.createTransport({ host: "127.0.0.1", port: hk.service.smtp?.relayPort, tls: { rejectUnauthorized: false } });
  await transport.sendMail({
    from: { name: SECRETS.smtpName, address: "alerts@shop.test" },
    to: { name: SECRETS.smtpName, address: "bob@ok.test" },
    subject: SECRETS.smtpSubject,
    text: SECRETS.smtpBody,
    attachments: [{ filename: `${SECRETS.smtpAttachment}.txt`, content: "x" }],
  });
  transport.close();

  await eventually(async () => sink.messages.length >= 2 && (await allFinal()), "every message (and the bounce notice) to be final");
  const delivered = sink.messages.map((m) => m.raw.toString()).join("\n");
  for (const s of [SECRETS.subject, SECRETS.toName, SECRETS.attachmentName, SECRETS.smtpSubject]) assert.ok(delivered.includes(s), `the sink got ${s}`);

  const [contents] = await hk.service.db.sql`select count(*)::int as n from message_contents`;
  assert.equal(contents?.n, 0, "the stored messages are deleted once every recipient is final");

  // The search itself works: it finds what is meant to be stored (customer metadata)
  // and bytes in a bytea column.
  await hk.service.db.sql`create table privacy_canary (b bytea)`;
  await hk.service.db.sql`insert into privacy_canary values (convert_to('..Qx9ByteaCanary..', 'UTF8'))`;
  assert.deepEqual(await searchDatabase(["Qx9MetadataCanary", "Qx9ByteaCanary"]), ["public.messages.metadata", "public.privacy_canary.b"]);
  await hk.service.db.sql`drop table privacy_canary`;

  assert.deepEqual(await searchDatabase(Object.values(SECRETS)), [], "no table holds any of the strings");

  assert.match(output, /hikyaku started/, "the service's log output was captured");
  const logged = Object.values(SECRETS).filter((s) => output.includes(s));
  assert.deepEqual(logged, [], "the service logged none of the strings");
});
