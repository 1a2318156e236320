// Log bench: loads a million delivery events (and a fifth as many reception events)
// spread over 30 days, four accounts, carrier and small domains, then times filtered
// pages through the real HTTP API (p50/p99 per filter) and one CSV export of most of
// the table (rows/s and how much the process grew while streaming it).
//
//   node --import tsx test/bench/logs.ts [--events 1000000] [--samples 40] [--no-csv] [--reuse]
// With DATABASE_URL set it uses that database (and empties its log tables first, unless
// --reuse finds the events of an earlier run there).
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { createAccount, createKey } from "../../src/accounts/accounts.ts";
import { loadConfig } from "../../src/config.ts";
import { connect, type Db } from "../../src/db/client.ts";
import { startEmbedded } from "../../src/db/embedded.ts";
import { migrate } from "../../src/db/migrate.ts";
import { startService } from "../../src/service.ts";
import { freePort } from "../helpers/sink.ts";

export interface LogsBenchOptions {
  databaseUrl?: string;
  /** Delivery events to load (default 1,000,000). */
  events?: number;
  /** Timed requests per filter (default 40). */
  samples?: number;
  /** Also time a CSV export of most of the table (default true). */
  csv?: boolean;
  /** Keep the events an earlier run loaded into this database (repeat runs without reloading). */
  reuse?: boolean;
  log?: (line: string) => void;
}

export interface LogsBenchResult {
  delivery_events: number;
  reception_events: number;
  load_seconds: number;
  /** Milliseconds per filtered page of 100 through HTTP, by filter. */
  pages_ms: Record<string, { p50: number; p99: number }>;
  worst_p99_ms: number;
  csv?: { rows: number; seconds: number; rows_per_s: number; rss_growth_mb: number };
}

const DAY = 86_400_000;

export async function benchLogs(opts: LogsBenchOptions = {}): Promise<LogsBenchResult> {
  const say = opts.log ?? ((line: string) => console.error(line));
  const events = opts.events ?? 1_000_000;
  const samples = opts.samples ?? 40;
  let dir: string | undefined;
  let stopEmbedded: (() => Promise<void>) | undefined;
  let url = opts.databaseUrl;
  if (!url) {
    dir = mkdtempSync(path.join(os.tmpdir(), "hikyaku-logs-bench-"));
    chmodSync(dir, 0o755);
    const embedded = await startEmbedded(dir, await freePort(), "logs_bench");
    url = embedded.url;
    stopEmbedded = embedded.stop;
  }
  const db = connect(url, { max: 4 });
  try {
    await migrate(db, url);
    const accounts = (opts.reuse ? await reuse(db, events) : undefined) ?? (await load(db, events, say));
    const service = await startService(loadConfig({ DATABASE_URL: url, HIKYAKU_ROLES: "api", HIKYAKU_HTTP_PORT: "0", HIKYAKU_LOG_LEVEL: "warn" }));
    try {
      const base = service.httpUrl ?? "";
      const get = (key: string, query: string) => fetch(`${base}/v1/logs${query}`, { headers: { authorization: `Bearer ${key}` } });
      const pages = await timePages(get, accounts.keys, accounts.start, samples, say);
      const worst = Math.max(...Object.values(pages).map((p) => p.p99));
      const csv = opts.csv === false ? undefined : await timeCsv(base, accounts.keys[0] ?? "", say);
      return { delivery_events: events, reception_events: Math.floor(events / 5), load_seconds: accounts.seconds, pages_ms: pages, worst_p99_ms: worst, csv };
    } finally {
      await service.stop();
    }
  } finally {
    await db.close();
    await stopEmbedded?.();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}

/** The accounts and events of an earlier run, with fresh keys; undefined when there are none. */
export async function reuse(db: Db, n: number): Promise<{ keys: string[]; start: number; seconds: number } | undefined> {
  const accounts = await db.sql<{ id: string }[]>`
    select distinct on (name) id from accounts where name like 'bench-%' order by name, created_at desc`;
  const [count] = await db.sql<{ n: number; start: Date }[]>`select count(*)::int as n, min(created_at) as start from delivery_events`;
  if (accounts.length !== 4 || count?.n !== n) return undefined;
  const byName = await db.sql<{ id: string }[]>`
    select id from accounts where id = any(${accounts.map((a) => a.id)}::uuid[])
    order by array_position(array['bench-main', 'bench-second', 'bench-third', 'bench-fourth'], name)`;
  const keys = [];
  for (const a of byName) keys.push((await createKey(db, a.id, "bench")).key);
  return { keys, start: count.start.getTime(), seconds: 0 };
}

/** Generates the events inside PostgreSQL, a hundred per transaction, into bare tables, then indexes them. */
export async function load(db: Db, n: number, say: (l: string) => void): Promise<{ keys: string[]; start: number; seconds: number }> {
  const sql = db.sql;
  await sql`truncate delivery_events, reception_events`;
  const keys: string[] = [];
  const ids: string[] = [];
  for (const name of ["main", "second", "third", "fourth"]) {
    const { account, key } = await createAccount(db, `bench-${name}`);
    keys.push(key.key);
    ids.push(account.id);
  }
  const start = Date.now() - 30 * DAY;
  const t0 = performance.now();
  // Bulk loads are far faster into bare tables: set the secondary indexes aside and build
  // them again, from their own definitions, once the rows are in.
  const indexes = await sql<{ name: string; def: string }[]>`
    select indexname as name, indexdef as def from pg_indexes
    where tablename in ('delivery_events', 'reception_events') and indexname not like '%_pkey'`;
  for (const i of indexes) await sql`drop index ${sql(i.name)}`;
  try {
    await insertRows(db, ids, start, n, say);
  } finally {
    say("building indexes");
    for (const i of indexes) await sql.unsafe(i.def.replace(/^CREATE INDEX /, "CREATE INDEX IF NOT EXISTS "));
  }
  await sql`vacuum analyze delivery_events`;
  await sql`vacuum analyze reception_events`;
  const seconds = Math.round((performance.now() - t0) / 100) / 10;
  say(`loaded ${n} delivery and ${Math.floor(n / 5)} reception events in ${seconds} s`);
  return { keys, start, seconds };
}

async function insertRows(db: Db, ids: string[], start: number, n: number, say: (l: string) => void): Promise<void> {
  const sql = db.sql;
  // As in life: small transactions whose events share one time, three writers at once.
  const chunk = 100;
  let next = 1;
  const writer = async () => {
    for (let from = next; from <= n; from = next) {
      next += chunk;
      await deliveryChunk(from, Math.min(n, from + chunk - 1));
      if (from % 100_000 === 1) say(`loaded ${from - 1} delivery events`);
    }
  };
  const deliveryChunk = async (from: number, to: number) => {
    await sql`
      insert into delivery_events (account_id, created_at, event, message_id, recipient, envelope_sender, source_ip, channel,
        attempt, mx_host, mx_ip, tls, code, enhanced_code, response, code_source, tags)
      select (${ids}::uuid[])[(case when g % 11 = 0 then 2 + g / 11 % 3 else 1 end)::int],
        to_timestamp((${start} + (${from}::float8 / ${n}) * ${30 * DAY}) / 1000),
        e.event, md5('m' || (g / 2))::uuid,
        'user' || (g * 31 % 200000) || '@' || case
          when g * 13 % 100 < 20 then 'docomo.ne.jp' when g * 13 % 100 < 35 then 'ezweb.ne.jp'
          when g * 13 % 100 < 45 then 'softbank.ne.jp' when g * 13 % 100 < 55 then 'gmail.com'
          else 'd' || (g % 997) || '.example.jp' end,
        'bounces' || (g % 20) || '@shop.example.jp',
        case when g % 10 < 3 then '192.0.2.' || (g / 10 % 5 + 1) else '198.51.100.' || (g / 10 % 50 + 1) end,
        case when g % 10 < 3 then 'smtp' else 'http' end,
        1, 'mx.example.jp', '203.0.113.25', true, e.code, e.enhanced, e.response, e.source,
        case when g % 1000 = 1 then '{evacuation}'::text[] when g % 10 = 0 then '{otp}'::text[]
          when g % 3 = 0 then '{order}'::text[] else '{}'::text[] end
      from generate_series(${from}::int8, ${to}::int8) g,
      lateral (select case
          when g * 7919 % 1000 < 880 then 'delivered' when g * 7919 % 1000 < 940 then 'deferred'
          when g * 7919 % 1000 < 980 then 'bounced' when g * 7919 % 1000 < 995 then 'expired' else 'cancelled' end as event) k,
      lateral (select k.event,
          case k.event when 'delivered' then 250 when 'deferred' then 451 when 'bounced' then 550 else 554 end as code,
          case k.event when 'delivered' then '2.0.0' when 'deferred' then '4.7.1' when 'bounced' then '5.1.1'
            when 'expired' then '5.4.7' else '5.0.0' end as enhanced,
          case k.event when 'delivered' then '250 2.0.0 OK queued as 4F2A' when 'deferred' then '451 4.7.1 greylisted, try later'
            when 'bounced' then '550 5.1.1 <user> user unknown'
            when 'expired' then '554 5.4.7 the message''s lifetime passed before it could be delivered (hikyaku: expired)'
            else '554 5.0.0 cancelled by the sender before delivery (hikyaku: cancelled)' end as response,
          case when k.event in ('expired', 'cancelled') then 'hikyaku' else 'destination' end as source) e`;
  };
  await Promise.all([writer(), writer(), writer()]);
  const receptions = Math.floor(n / 5);
  for (let from = 1; from <= receptions; from += 5 * chunk) {
    const to = Math.min(receptions, from + 5 * chunk - 1);
    await sql`
      insert into reception_events (account_id, created_at, channel, source_ip, envelope_sender, recipient_count, accepted,
        code, enhanced_code, reason, message_id)
      select (${ids}::uuid[])[(case when g % 11 = 0 then 2 + g / 11 % 3 else 1 end)::int],
        to_timestamp((${start} + (${from}::float8 / ${receptions}) * ${30 * DAY}) / 1000),
        case when g % 10 < 3 then 'smtp' else 'http' end,
        case when g % 10 < 3 then '192.0.2.' || (g / 10 % 5 + 1) else '198.51.100.' || (g / 10 % 50 + 1) end,
        'bounces' || (g % 20) || '@shop.example.jp', 1 + g % 3, g % 50 <> 7,
        case when g % 50 <> 7 then 250 else 550 end, case when g % 50 <> 7 then '2.0.0' else '5.7.1' end,
        case when g % 50 <> 7 then 'accepted' else 'sender refused' end,
        case when g % 50 <> 7 then md5('m' || g)::uuid end
      from generate_series(${from}::int, ${to}::int) g`;
  }
}

type Get = (key: string, query: string) => Promise<Response>;

async function timePages(get: Get, keys: string[], start: number, samples: number, say: (l: string) => void) {
  const main = keys[0] ?? "";
  const pick = <T>(xs: T[]) => xs[Math.floor(Math.random() * xs.length)] as T;
  const int = (n: number) => Math.floor(Math.random() * n);
  const day = () => new Date(start + int(29) * DAY);
  const iso = (d: Date) => encodeURIComponent(d.toISOString());
  const msg = async () => {
    // A message id that exists: read one from a random day.
    const r = (await (await get(main, `?limit=1&until=${iso(new Date(day().getTime() + DAY))}`)).json()) as { data: { message_id: string }[] };
    return r.data[0]?.message_id ?? "";
  };
  const scenarios: Record<string, () => Promise<string> | string> = {
    newest: () => "",
    "limit=1000": () => "?limit=1000",
    "event=bounced": () => "?event=bounced",
    "event=bounced,expired": () => "?event=bounced,expired",
    "event=cancelled (0.5%)": () => "?event=cancelled",
    "recipient exact": () => `?recipient=user${int(200000)}@${pick(["docomo.ne.jp", "ezweb.ne.jp", "gmail.com"])}`,
    "recipient=@small-domain": () => `?recipient=@d${int(997)}.example.jp`,
    "recipient=@docomo.ne.jp": () => "?recipient=@docomo.ne.jp",
    envelope_sender: () => `?envelope_sender=bounces${int(20)}@shop.example.jp`,
    "source_ip (smtp)": () => `?source_ip=192.0.2.${1 + int(5)}`,
    "source_ip (http, 1.4%)": () => `?source_ip=198.51.100.${1 + int(50)}`,
    "channel=smtp": () => "?channel=smtp",
    message_id: async () => `?message_id=${await msg()}`,
    "tag=otp": () => "?tag=otp",
    "tag=evacuation (0.1%)": () => "?tag=evacuation",
    "tag never used": () => "?tag=no-such-tag",
    "source_ip never used": () => "?source_ip=203.0.113.99",
    "bounced+tag=otp": () => "?event=bounced&tag=otp",
    "since/until one day": () => {
      const d = day();
      return `?since=${iso(d)}&until=${iso(new Date(d.getTime() + DAY))}`;
    },
    "since/until 15 days ago": () => `?since=${iso(new Date(start + 14 * DAY))}&until=${iso(new Date(start + 15 * DAY))}`,
    "until 10 days ago": () => `?until=${iso(new Date(start + 20 * DAY))}`,
    "since/until one hour": () => {
      const d = new Date(day().getTime() + int(24) * 3_600_000);
      return `?since=${iso(d)}&until=${iso(new Date(d.getTime() + 3_600_000))}`;
    },
    "bounced+@docomo+last 7 days": () => `?event=bounced&recipient=@docomo.ne.jp&since=${iso(new Date(start + 23 * DAY))}`,
    "expired+channel=smtp+until": () => `?event=expired&channel=smtp&until=${iso(day())}`,
    "page 2 (cursor)": async () => {
      const r = (await (await get(main, "?event=bounced")).json()) as { next_cursor: string };
      return `?event=bounced&cursor=${r.next_cursor}`;
    },
    "type=reception": () => "?type=reception",
    "reception event=refused": () => "?type=reception&event=refused",
    "reception source_ip": () => `?type=reception&source_ip=192.0.2.${1 + int(5)}`,
  };
  const result: Record<string, { p50: number; p99: number }> = {};
  for (const [name, query] of Object.entries(scenarios)) {
    const times: number[] = [];
    for (let i = 0; i < samples + 3; i++) {
      const q = await query();
      const t0 = performance.now();
      const res = await get(main, q);
      const body = (await res.json()) as { data?: unknown[] };
      const ms = performance.now() - t0;
      if (res.status !== 200 || !body.data) throw new Error(`${name}: ${res.status} ${JSON.stringify(body).slice(0, 200)}`);
      if (i >= 3) times.push(ms); // the first three warm the caches
    }
    times.sort((a, b) => a - b);
    const at = (p: number) => Math.round((times[Math.min(times.length - 1, Math.floor(p * times.length))] ?? 0) * 10) / 10;
    result[name] = { p50: at(0.5), p99: at(0.99) };
    say(`${name.padEnd(30)} p50 ${String(result[name].p50).padStart(6)} ms   p99 ${String(result[name].p99).padStart(6)} ms`);
  }
  const other = keys[1] ?? "";
  const t0 = performance.now();
  await (await get(other, "")).json();
  say(`another account's newest page: ${Math.round(performance.now() - t0)} ms`);
  return result;
}

async function timeCsv(base: string, key: string, say: (l: string) => void) {
  const before = process.memoryUsage().rss;
  let peak = before;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 50);
  const t0 = performance.now();
  const res = await fetch(`${base}/v1/logs.csv?event=delivered`, { headers: { authorization: `Bearer ${key}` } });
  let rows = -1; // the header
  if (!res.body) throw new Error(`CSV export: ${res.status}`);
  for await (const chunk of res.body) {
    for (const byte of chunk as Uint8Array) if (byte === 10) rows++;
  }
  clearInterval(timer);
  const seconds = Math.round((performance.now() - t0) / 100) / 10;
  const csv = { rows, seconds, rows_per_s: Math.round(rows / seconds), rss_growth_mb: Math.round((peak - before) / 1_048_576) };
  say(`CSV export of ${rows} rows in ${seconds} s; the process grew by ${csv.rss_growth_mb} MB while streaming it`);
  return csv;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: { events: { type: "string" }, samples: { type: "string" }, "no-csv": { type: "boolean" }, reuse: { type: "boolean" } },
  });
  benchLogs({
    databaseUrl: process.env.DATABASE_URL,
    events: values.events ? Number(values.events) : undefined,
    samples: values.samples ? Number(values.samples) : undefined,
    csv: !values["no-csv"],
    reuse: values.reuse,
  }).then(
    (r) => {
      console.log(JSON.stringify(r, null, 2));
      process.exit(0);
    },
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
