// One page of the log for the JSON API: newest first, with the cursor that continues it.
import type { Db } from "../db/client.ts";
import { decodeCursor, encodeCursor } from "./cursor.ts";
import type { LogFilter } from "./filter.ts";
import { type ApiEvent, formatEvent } from "./format-event.ts";
import { selectPage } from "./select-events.ts";

export { DELIVERY_EVENTS, RECEPTION_EVENTS } from "./filter.ts";

export interface LogPage {
  data: ApiEvent[];
  nextCursor: string | null;
}

export interface PageRequest {
  limit: number;
  cursor?: string;
}

export async function queryLogs(db: Db, f: LogFilter, page: PageRequest): Promise<LogPage> {
  const after = page.cursor ? decodeCursor(page.cursor) : undefined;
  const rows = await selectPage(db, f, { after, limit: page.limit + 1 });
  const shown = rows.slice(0, page.limit);
  const last = shown[shown.length - 1];
  return {
    data: shown.map((r) => formatEvent(f.type, r)),
    nextCursor: rows.length > page.limit && last ? encodeCursor({ tx: String(last.tx), id: Number(last.id) }) : null,
  };
}
