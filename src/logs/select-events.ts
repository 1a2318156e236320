// The one SQL query behind the log API, the CSV export and the bench: one account's
// events, filtered, newest first in (tx, id) order.
//
// Why tx and not the id or the time: identity ids and clock times are taken before a
// transaction commits, so a slow transaction can commit an event that sorts between
// events a reader has already paged past, and that reader would never see it. Here an
// event is shown only once every transaction that began before its own has finished
// (tx below the snapshot's xmin); anything that becomes visible later therefore sorts
// above everything shown so far. The delay this adds is the length of the longest
// write transaction running at that moment: milliseconds. (postgres.js hands xid8
// values over as decimal text.)
import type { PendingQuery, Row } from "postgres";
import type { Sql } from "../db/client.ts";
import type { LogPosition } from "./cursor.ts";
import type { LogFilter } from "./filter.ts";

export interface SelectOptions {
  /** Continue strictly after this position. */
  after?: LogPosition;
  /** Omit to read every matching event (the CSV export). */
  limit?: number;
}

export function selectEvents(sql: Sql, f: LogFilter, o: SelectOptions = {}): PendingQuery<Row[]> {
  const limit = o.limit === undefined ? sql`` : sql`limit ${o.limit}`;
  const branch = (event?: string) => sql`
    select ${f.type === "delivery" ? deliveryColumns(sql) : receptionColumns(sql)}
    from ${sql(f.type === "delivery" ? "delivery_events" : "reception_events")}
    where ${conditions(sql, f, event, o.after)}
    order by tx desc, id desc ${limit}`;
  const events = f.type === "delivery" && f.events?.length ? [...new Set(f.events)] : [];
  if (events.length <= 1) return branch(events[0]);
  // One index range per event, merged: `event = any(...)` could not come out of the
  // (account_id, event, tx, id) index already in page order.
  const union = events.slice(1).reduce((all, e) => sql`${all} union all (${branch(e)})`, sql`(${branch(events[0])})`);
  return sql`select * from (${union}) e order by tx desc, id desc ${limit}`;
}

const deliveryColumns = (sql: Sql) => sql`
  id, tx, created_at, event, message_id, recipient, envelope_sender, source_ip, channel, attempt,
  mx_host, mx_ip, tls, code, enhanced_code, response, code_source, tags`;

const receptionColumns = (sql: Sql) => sql`
  id, tx, created_at, accepted, channel, source_ip, envelope_sender, recipient_count, code,
  enhanced_code, reason, message_id`;

function conditions(sql: Sql, f: LogFilter, event: string | undefined, after: LogPosition | undefined) {
  const and = (on: unknown, frag: () => PendingQuery<Row[]>) => (on === undefined ? sql`` : frag());
  return sql`
    account_id = ${f.accountId}
    and tx < (select pg_snapshot_xmin(pg_current_snapshot()))
    ${and(after, () => sql`and (tx, id) < (${after?.tx ?? "0"}::xid8, ${after?.id ?? 0}::bigint)`)}
    ${and(f.since, () => sql`and created_at >= ${f.since ?? null}`)}
    ${and(f.until, () => sql`and created_at < ${f.until ?? null}`)}
    ${and(event, () => sql`and event = ${event ?? ""}`)}
    ${f.type === "reception" ? acceptedCondition(sql, f.events) : sql``}
    ${and(f.recipient, () => sql`and recipient = ${f.recipient ?? ""}`)}
    ${and(f.recipientDomain, () => sql`and split_part(recipient, '@', 2) = ${f.recipientDomain ?? ""}`)}
    ${and(f.envelopeSender, () => sql`and envelope_sender = ${f.envelopeSender ?? ""}`)}
    ${and(f.sourceIp, () => sql`and source_ip = ${f.sourceIp ?? ""}`)}
    ${and(f.channel, () => sql`and channel = ${f.channel ?? ""}`)}
    ${and(f.messageId, () => sql`and message_id = ${f.messageId ?? ""}`)}
    ${and(f.tag, () => sql`and tags @> array[${f.tag ?? ""}]::text[]`)}`;
}

function acceptedCondition(sql: Sql, events: string[] | undefined) {
  const accepted = events?.includes("accepted") ?? false;
  const refused = events?.includes("refused") ?? false;
  if (accepted === refused) return sql``;
  return sql`and accepted = ${accepted}`;
}
