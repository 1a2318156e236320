// Metrics read from PostgreSQL at scrape time, so they describe the whole service (every
// process sharing the database), not the process that answers: the delivery queue by
// state and priority, how long the oldest due message has waited, and connections.
import { now } from "../clock.ts";
import type { Db } from "../db/client.ts";
import type { Family } from "./exposition.ts";

const PRIORITIES = [
  [-10, "high"],
  [0, "normal"],
  [10, "bulk"],
] as const;
const STATES = ["scheduled", "due", "dispatched", "running"] as const;

export async function queueFamilies(db: Db): Promise<Family[]> {
  const at = now();
  const [depth, oldest, connections] = await Promise.all([queueDepth(db, at), oldestDue(db, at), postgresConnections(db)]);
  return [
    {
      name: "hikyaku_queue_messages",
      help: "Messages waiting for a delivery attempt, by state (scheduled: send_at or a retry ahead; due: in the outbox; dispatched: in a job no worker runs yet; running: being attempted) and priority.",
      type: "gauge",
      samples: depth,
    },
    {
      name: "hikyaku_queue_oldest_due_message_age_seconds",
      help: "How long the oldest message that is due, and not being attempted, has been deliverable (0 when none waits).",
      type: "gauge",
      samples: [{ value: oldest }],
    },
    {
      name: "hikyaku_postgres_connections",
      help: "Connections to the service's database, by application_name and state (every process sharing the database).",
      type: "gauge",
      samples: connections,
    },
    {
      name: "hikyaku_postgres_pool_max_connections",
      help: "Size limit of this process's main PostgreSQL pool.",
      type: "gauge",
      samples: [{ value: Number(db.sql.options.max) }],
    },
  ];
}

/** Every (state, priority) pair appears, zeros too, so a series never vanishes when its queue empties. */
async function queueDepth(db: Db, at: Date) {
  const rows = await db.sql<{ state: string; priority: number; n: number }[]>`
    select case when run_at > ${at} then 'scheduled' else 'due' end as state, priority, count(*)::int as n
    from delivery_queue group by 1, 2
    union all
    select case when locked_at is null then 'dispatched' else 'running' end, priority,
      coalesce(sum(json_array_length(payload -> 'm')), 0)::int
    from graphile_worker._private_jobs
    where task_id = (select id from graphile_worker._private_tasks where identifier = 'deliver')
    group by 1, 2`;
  const samples = [];
  for (const state of STATES) {
    for (const [p, priority] of PRIORITIES) {
      const value = rows.filter((r) => r.state === state && r.priority === p).reduce((sum, r) => sum + r.n, 0);
      samples.push({ labels: { state, priority }, value });
    }
  }
  return samples;
}

async function oldestDue(db: Db, at: Date): Promise<number> {
  const [row] = await db.sql<{ since: Date | null }[]>`
    select min(m.deliverable_at) as since
    from (
      select message_id from delivery_queue where run_at <= ${at}
      union all
      select jsonb_array_elements_text(payload::jsonb -> 'm')::uuid from graphile_worker._private_jobs
      where locked_at is null and task_id = (select id from graphile_worker._private_tasks where identifier = 'deliver')
    ) w join messages m on m.id = w.message_id`;
  return row?.since ? Math.max(0, (at.getTime() - row.since.getTime()) / 1000) : 0;
}

async function postgresConnections(db: Db) {
  const rows = await db.sql<{ application: string; state: string; n: number }[]>`
    select coalesce(application_name, '') as application, coalesce(state, 'unknown') as state, count(*)::int as n
    from pg_stat_activity where datname = current_database() and backend_type = 'client backend'
    group by 1, 2 order by 1, 2`;
  return rows.map((r) => ({ labels: { application: r.application, state: r.state }, value: r.n }));
}
