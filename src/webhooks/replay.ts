// POST /v1/webhooks/{id}/replay: queues again every logged event of a time range that
// the endpoint subscribes to, in log order, read from the log itself (the record of
// truth). Replayed events keep their webhook-id, so receivers can tell repeats.
import { now } from "../clock.ts";
import type { Db } from "../db/client.ts";
import { AppError } from "../errors.ts";
import { isUuid } from "../util/ids.ts";

export const MAX_REPLAY = 100_000;

export async function replayEvents(db: Db, accountId: string, endpointId: string, since: Date, until: Date): Promise<number> {
  const notFound = new AppError("not_found", `No webhook endpoint ${endpointId} in this account.`, { field: "id" });
  if (!isUuid(endpointId)) throw notFound;
  if (until <= since) throw new AppError("validation_error", "until must be later than since.", { field: "until" });
  return db.sql.begin(async (tx) => {
    const [endpoint] = await tx<{ enabled: boolean; types: string[] }[]>`
      select enabled, event_types as types from webhook_endpoints where id = ${endpointId} and account_id = ${accountId} for share`;
    if (!endpoint) throw notFound;
    if (!endpoint.enabled) throw new AppError("conflict", 'The endpoint is disabled; PATCH it with "enabled": true, then replay.', { field: "id" });
    const at = now();
    const rows = await tx`
      insert into webhook_outbox (endpoint_id, source, event_id, message_id, created_at, run_at)
      select ${endpointId}, source, id, message_id, ${at}, ${at} from (
        select 'delivery' as source, id, message_id from delivery_events
        where account_id = ${accountId} and created_at >= ${since} and created_at < ${until} and event = any(${endpoint.types}::text[])
        union all
        select 'reception', id, message_id from reception_events
        where account_id = ${accountId} and created_at >= ${since} and created_at < ${until} and not accepted
          and 'reception.refused' = any(${endpoint.types}::text[])
        order by 1, 2 limit ${MAX_REPLAY + 1}
      ) e
      returning 1`;
    if (rows.length > MAX_REPLAY) {
      throw new AppError("validation_error", `The range holds more than ${MAX_REPLAY} events; replay it in shorter ranges.`, { field: "since" });
    }
    return rows.length;
  });
}
