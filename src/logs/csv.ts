// The log as CSV (RFC 4180): a header row, then one line per event, streamed from a
// database cursor a batch at a time, so a million-row export never sits in memory.
import type { Row } from "postgres";
import type { Db } from "../db/client.ts";
import type { LogFilter } from "./filter.ts";
import { DELIVERY_FIELDS, formatEvent, RECEPTION_FIELDS } from "./format-event.ts";
import { selectAll } from "./select-events.ts";

const BATCH = 1000;

/** One field: quoted when it holds a comma, a quote or a line break; quotes doubled. */
export function csvField(v: unknown): string {
  if (v === null || v === undefined) return "";
  const s = Array.isArray(v) ? v.join(",") : v instanceof Date ? v.toISOString() : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function csvRow(values: readonly unknown[]): string {
  return `${values.map(csvField).join(",")}\r\n`;
}

/**
 * Starts the export. The first batch is read before this returns, so a failing query
 * is still an error answer rather than a truncated file.
 */
export async function logCsv(db: Db, f: LogFilter, limit?: number): Promise<ReadableStream<Uint8Array>> {
  const fields = f.type === "delivery" ? DELIVERY_FIELDS : RECEPTION_FIELDS;
  const { query } = await selectAll(db, f, limit);
  const rows = query.cursor(BATCH)[Symbol.asyncIterator]();
  let next: IteratorResult<Row[]> | undefined = await rows.next();
  const encoder = new TextEncoder();
  const line = (r: Row) => {
    const e = formatEvent(f.type, r);
    return csvRow(fields.map((k) => e[k]));
  };
  return new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(encoder.encode(csvRow(fields)));
    },
    async pull(controller) {
      const batch = next ?? (await rows.next());
      next = undefined;
      if (batch.done) return controller.close();
      controller.enqueue(encoder.encode(batch.value.map(line).join("")));
    },
    async cancel() {
      await rows.return?.();
    },
  });
}
