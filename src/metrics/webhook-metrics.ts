// Webhook metrics read from PostgreSQL at scrape time (the whole service, like the
// delivery queue's): the outbox backlog, how long its oldest due event has waited, and
// the endpoints by health. Attempts and their failures are counted where they happen
// (src/metrics/instruments.ts).
import { now } from "../clock.ts";
import type { Db } from "../db/client.ts";
import type { Family } from "./exposition.ts";

const ENDPOINT_STATES = ["healthy", "failing", "disabled"] as const;

export async function webhookFamilies(db: Db): Promise<Family[]> {
  const at = now();
  const [[backlog], endpoints] = await Promise.all([
    db.sql<{ due: number; backoff: number; since: Date | null }[]>`
      select count(*) filter (where run_at <= ${at})::int as due, count(*) filter (where run_at > ${at})::int as backoff,
        min(run_at) filter (where run_at <= ${at}) as since
      from webhook_outbox`,
    db.sql<{ state: string; n: number }[]>`
      select case when not enabled then 'disabled' when failing_since is not null then 'failing' else 'healthy' end as state,
        count(*)::int as n
      from webhook_endpoints group by 1`,
  ]);
  return [
    {
      name: "hikyaku_webhook_outbox_events",
      help: "Webhook events not yet delivered, by state (due: to be sent now; backoff: waiting for a retry, or behind an earlier event of the same message that is).",
      type: "gauge",
      samples: [
        { labels: { state: "due" }, value: backlog?.due ?? 0 },
        { labels: { state: "backoff" }, value: backlog?.backoff ?? 0 },
      ],
    },
    {
      name: "hikyaku_webhook_outbox_oldest_due_event_age_seconds",
      help: "How long the oldest due webhook event has been due (0 when none is).",
      type: "gauge",
      samples: [{ value: backlog?.since ? Math.max(0, (at.getTime() - backlog.since.getTime()) / 1000) : 0 }],
    },
    {
      name: "hikyaku_webhook_endpoints",
      help: "Webhook endpoints, by state (healthy; failing: enabled, its last attempts failed; disabled: by 410, 3 days of failures, or its account).",
      type: "gauge",
      samples: ENDPOINT_STATES.map((state) => ({ labels: { state }, value: endpoints.find((e) => e.state === state)?.n ?? 0 })),
    },
  ];
}
