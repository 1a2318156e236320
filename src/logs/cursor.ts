// The opaque position of a log page: the (tx, id) of the last event it showed. Pages
// continue strictly after it in the one order the log has.
import { AppError } from "../errors.ts";

export interface LogPosition {
  /** The writing transaction's id (xid8), as decimal text. */
  tx: string;
  id: number;
}

export function encodeCursor(p: LogPosition): string {
  return Buffer.from(`v2:${p.tx}:${p.id}`).toString("base64url");
}

export function decodeCursor(cursor: string): LogPosition {
  const m = /^v2:(\d{1,19}):(\d{1,18})$/.exec(Buffer.from(cursor, "base64url").toString());
  if (!m?.[1] || !m[2]) {
    throw new AppError("validation_error", "cursor is not one this API gave out; pass next_cursor unchanged.", { field: "cursor" });
  }
  return { tx: m[1], id: Number(m[2]) };
}
