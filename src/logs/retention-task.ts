// The daily graphile-worker job that applies the retention rules (retention.ts). Cron
// runs it once a day across all worker processes (graphile-worker's known_crontabs
// keeps two workers from both scheduling it).
import type { Task } from "graphile-worker";
import type { Config } from "../config.ts";
import type { Db } from "../db/client.ts";
import { log } from "../logger.ts";
import { deleteExpired } from "./retention.ts";

export const RETENTION_TASK = "log_retention";

/**
 * The crontab line: daily at 18:00 UTC (03:00 in Japan, the quietest hour for the mail
 * this service carries), behind any waiting delivery job, never two at once.
 */
export const RETENTION_CRONTAB = `0 18 * * * ${RETENTION_TASK} ?max=3&priority=100&jobKey=${RETENTION_TASK}`;

export function retentionTask(db: Db, config: Config): Task {
  return async () => {
    const started = Date.now();
    const deleted = await deleteExpired(db, { retentionDays: config.HIKYAKU_LOG_RETENTION_DAYS });
    log.info("retention: old log events and finished messages deleted", { ...deleted, ms: Date.now() - started });
  };
}
