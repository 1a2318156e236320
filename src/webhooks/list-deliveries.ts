// GET /v1/webhooks/{id}/deliveries: the endpoint's attempts, newest first: which event,
// the answer's status, how long it took, and what happens next.
import type { Db } from "../db/client.ts";
import { AppError } from "../errors.ts";
import { isUuid } from "../util/ids.ts";

export interface DeliveryAttempt {
  id: number;
  webhook_id: string;
  type: string;
  attempt: number;
  status: number | null;
  result: "delivered" | "retrying" | "failed";
  error: string | null;
  response_ms: number;
  time: string;
}

export async function listDeliveries(
  db: Db,
  accountId: string,
  endpointId: string,
  opts: { limit: number; cursor?: string },
): Promise<{ data: DeliveryAttempt[]; next_cursor: string | null }> {
  const notFound = new AppError("not_found", `No webhook endpoint ${endpointId} in this account.`, { field: "id" });
  if (!isUuid(endpointId)) throw notFound;
  const [owned] = await db.sql`select 1 from webhook_endpoints where id = ${endpointId} and account_id = ${accountId}`;
  if (!owned) throw notFound;
  if (opts.cursor !== undefined && !/^\d{1,18}$/.test(opts.cursor))
    throw new AppError("validation_error", "cursor: give the next_cursor of the previous page.", { field: "cursor" });
  const before = opts.cursor === undefined ? null : Number(opts.cursor);
  const rows = await db.sql<(Omit<DeliveryAttempt, "time"> & { at: Date })[]>`
    select id, webhook_id, event_type as type, attempt, status, result, error, duration_ms as response_ms, at
    from webhook_deliveries
    where endpoint_id = ${endpointId} and (${before}::bigint is null or id < ${before}::bigint)
    order by id desc limit ${opts.limit + 1}`;
  const page = rows.slice(0, opts.limit).map(({ at, ...r }) => ({ ...r, time: at.toISOString() }));
  return { data: page, next_cursor: rows.length > opts.limit ? String(page[page.length - 1]?.id) : null };
}
