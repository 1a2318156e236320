// The one typed, documented configuration schema. Nothing else in the service reads
// process.env: every setting, its default and its meaning live here.
import { readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { z } from "zod";

const bool = z.enum(["true", "false", "1", "0", "yes", "no"]).transform((v) => v === "true" || v === "1" || v === "yes");
const port = z.coerce.number().int().min(0).max(65535);
const seconds = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/** A `host:port` pair, as used by HIKYAKU_ROUTES and HIKYAKU_DNS_SERVERS. */
export interface HostPort {
  host: string;
  port: number;
}

function parseHostPort(text: string, defaultPort: number): HostPort | undefined {
  const m = /^\[([0-9a-fA-F:.]+)\](?::(\d+))?$|^([^:\s]+)(?::(\d+))?$/.exec(text.trim());
  if (!m) return undefined;
  const host = m[1] ?? m[3];
  const p = Number(m[2] ?? m[4] ?? defaultPort);
  if (!host || !Number.isInteger(p) || p < 1 || p > 65535) return undefined;
  return { host, port: p };
}

const routes = z.string().transform((text, ctx) => {
  const map = new Map<string, HostPort>();
  for (const part of text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)) {
    const eq = part.indexOf("=");
    const domain = part.slice(0, eq).trim().toLowerCase();
    const target = eq > 0 ? parseHostPort(part.slice(eq + 1), 25) : undefined;
    if (!domain || !target) {
      ctx.addIssue({ code: "custom", message: `entry "${part}" is not domain=host:port` });
      return z.NEVER;
    }
    map.set(domain, target);
  }
  return map;
});

const dnsServers = z.string().transform((text, ctx) => {
  const list: string[] = [];
  for (const part of text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)) {
    const hp = parseHostPort(part, 53);
    if (!hp) {
      ctx.addIssue({ code: "custom", message: `"${part}" is not ip[:port]` });
      return z.NEVER;
    }
    list.push(hp.host.includes(":") ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`);
  }
  return list;
});

const roles = z.string().transform((text, ctx) => {
  const list = text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  if (list.length === 0) {
    ctx.addIssue({ code: "custom", message: "name at least one role (api, smtp, worker)" });
    return z.NEVER;
  }
  for (const r of list) {
    if (r !== "api" && r !== "smtp" && r !== "worker") {
      ctx.addIssue({ code: "custom", message: `unknown role "${r}" (use api, smtp, worker)` });
      return z.NEVER;
    }
  }
  return new Set(list as Role[]);
});
export type Role = "api" | "smtp" | "worker";

export const configSchema = z.object({
  DATABASE_URL: z.string().url().optional(),
  HIKYAKU_DATA_DIR: z.string().default("./.hikyaku"),
  HIKYAKU_EMBEDDED_PG_PORT: port.default(54329),
  /**
   * As root, the embedded PostgreSQL runs as the `postgres` account. When that account cannot
   * enter the data dir (e.g. a clone under /root), the cluster lives here instead, in a folder
   * named after the data dir, beside a copy of the server binaries if those are out of reach too.
   */
  HIKYAKU_EMBEDDED_PG_SYSTEM_DIR: z.string().default("/var/lib/hikyaku"),
  /** Seconds a shutdown (SIGTERM, SIGINT) may take; past them the process exits non-zero, jobs still locked. */
  HIKYAKU_SHUTDOWN_SECONDS: z.coerce.number().min(1).max(600).default(10),
  HIKYAKU_HOST: z.string().default("127.0.0.1"),
  HIKYAKU_HTTP_PORT: port.default(3000),
  HIKYAKU_SMTP_RELAY_PORT: port.default(2525),
  HIKYAKU_SMTP_SUBMISSION_PORT: port.default(2587),
  HIKYAKU_SMTPS_PORT: port.default(2465),
  HIKYAKU_TLS_CERT: z.string().optional(),
  HIKYAKU_TLS_KEY: z.string().optional(),
  HIKYAKU_HOSTNAME: z.string().default(os.hostname()),
  HIKYAKU_ADMIN_TOKEN: z.string().min(16).optional(),
  HIKYAKU_ROUTES: routes.optional(),
  HIKYAKU_DNS_SERVERS: dnsServers.optional(),
  HIKYAKU_ROLES: roles.default(new Set<Role>(["api", "smtp", "worker"])),
  /**
   * `hikyaku start` with the worker role beside others runs it in this many child
   * processes instead of in its own: one event loop no longer carries intake and delivery
   * together. 0: everything in one process. The children stop with the parent, are
   * started again when one dies, and their counters are in the parent's /metrics. Each
   * worker process may hold up to about 60 PostgreSQL connections (the embedded server
   * allows 200 in all, so at most two beside the parent there). `auto` (the default): one
   * child where the process may use two or more cores (usableCores), none on one.
   */
  HIKYAKU_WORKER_PROCESSES: z
    .union([z.literal("auto"), z.coerce.number().int().min(0).max(8)], { message: 'a whole number from 0 to 8, or "auto"' })
    .default("auto")
    .transform((n) => (n === "auto" ? (usableCores() >= 2 ? 1 : 0) : n)),
  /**
   * Encrypts DKIM private keys at rest (AES-256-GCM). At least 32 characters, e.g.
   * `openssl rand -base64 32`. Unset: a random secret is generated once into the data
   * directory (mode 0600); processes that share a database must share the secret.
   */
  HIKYAKU_SECRET_KEY: z.string().min(32).optional(),
  /** The SPF include customers put in their domain's SPF record; unset: `_spf.<HIKYAKU_HOSTNAME>`. */
  HIKYAKU_SPF_INCLUDE: z
    .string()
    .regex(/^(?=.{1,253}$)[A-Za-z0-9_-]{1,63}(\.[A-Za-z0-9_-]{1,63})+$/, "must be a domain name such as _spf.hikyaku.example")
    .optional(),
  HIKYAKU_LOG_RETENTION_DAYS: z.coerce.number().int().min(1).max(3650).default(31),
  /** Charge in JPY per message accepted beyond an account's monthly quota (GET /v1/usage). */
  HIKYAKU_OVERAGE_PRICE_JPY: z.coerce.number().min(0).max(1_000_000).default(0.15),
  HIKYAKU_ALLOW_PRIVATE_DESTINATIONS: bool.default(false),
  /** Port of destination MX servers; only tests change it (their MX servers are not on 25). */
  HIKYAKU_MX_PORT: port.default(25),
  /**
   * PEM file of CA certificates trusted for outbound TLS besides the system's roots: MX
   * certificates under an MTA-STS `enforce` policy and the MTA-STS policy fetch itself.
   * (HIKYAKU_TLS_CERT/KEY are the intake's own pair; this is what we trust of others.)
   */
  HIKYAKU_OUTBOUND_CA_FILE: z.string().optional(),
  /** Port of the MTA-STS policy servers (https://mta-sts.<domain>/); only tests change it. */
  HIKYAKU_MTA_STS_PORT: port.default(443),
  /** Largest accepted message, in bytes (HTTP body and SMTP SIZE). */
  HIKYAKU_MAX_MESSAGE_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(10 * 1024 * 1024),
  /** Default retry interval for temporary failures, in seconds. */
  HIKYAKU_RETRY_INTERVAL: seconds(1, 3600).default(60),
  /** Default message lifetime (queue TTL), in seconds. */
  HIKYAKU_LIFETIME: seconds(10, 72 * 3600).default(1800),
  /** Delivery jobs one worker process runs at once. */
  HIKYAKU_WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(512).default(32),
  /** Messages one delivery job carries (the dispatcher batches due messages into jobs). */
  HIKYAKU_JOB_BATCH: z.coerce.number().int().min(1).max(200).default(8),
  /**
   * Delivery jobs the dispatcher keeps waiting in graphile-worker's queue. The rest of
   * the backlog stays in the outbox, in priority order, so a high-priority message never
   * queues behind thousands of already-dispatched bulk jobs.
   */
  HIKYAKU_DISPATCH_AHEAD: z.coerce.number().int().min(1).max(100_000).default(256),
  /** How often a worker proves it is alive; a silent worker's jobs are unlocked after 6 beats. */
  HIKYAKU_HEARTBEAT_SECONDS: z.coerce.number().min(0.2).max(60).default(10),
  /** Timeout for one SMTP connection stage (connect, greeting, each reply), in seconds. */
  HIKYAKU_SMTP_TIMEOUT: z.coerce.number().min(1).max(600).default(60),
  /** Destination shaping: how long a destination's budget pauses after a slow-down reply (421, "too many", "try later"), in seconds. */
  HIKYAKU_SHAPING_BACKOFF_SECONDS: z.coerce.number().min(0.1).max(3600).default(60),
  /** Destination shaping: after the pause, a halved rate doubles back every this many seconds until it is whole. */
  HIKYAKU_SHAPING_RECOVER_SECONDS: z.coerce.number().min(0.1).max(86_400).default(300),
  /** Destination shaping: the first suspension of a destination that refused every connection 3 times in a row; each next one doubles. */
  HIKYAKU_SHAPING_SUSPEND_SECONDS: z.coerce.number().min(0.1).max(3600).default(30),
  /** Destination shaping: the longest suspension, in seconds. */
  HIKYAKU_SHAPING_SUSPEND_MAX_SECONDS: z.coerce.number().min(0.1).max(86_400).default(600),
  /** SMTP intake: a session that is still open after this many seconds is closed (slow clients). */
  HIKYAKU_SMTP_SESSION_SECONDS: seconds(1, 86_400).default(600),
  /** SMTP intake: seconds a client may stay silent while it owes the next command or data. */
  HIKYAKU_SMTP_IDLE_SECONDS: seconds(5, 3600).default(60),
  /** SMTP intake: open connections one client IP may hold across the three ports. */
  HIKYAKU_SMTP_MAX_CONNECTIONS_PER_IP: z.coerce.number().int().min(1).max(10_000).default(20),
  /** SMTP intake: open connections one port accepts in total. */
  HIKYAKU_SMTP_MAX_CONNECTIONS: z.coerce.number().int().min(1).max(100_000).default(1000),
  /**
   * API requests one account may make per window (F18), across every API process; an
   * account's own limit (PATCH /v1/admin/accounts/{id} api_rate_limit) replaces it.
   */
  HIKYAKU_API_RATE_LIMIT: z.coerce.number().int().min(1).max(100_000_000).default(6000),
  /** Length of the API rate-limit window, in seconds; windows start at multiples of it since 1970. */
  HIKYAKU_API_RATE_WINDOW_SECONDS: seconds(1, 86_400).default(60),
  /** Bearer token for GET /metrics (Prometheus); unset: /metrics answers 404. 16+ characters. */
  HIKYAKU_METRICS_TOKEN: z.string().min(16).optional(),
  /**
   * A process without the api role (HIKYAKU_ROLES=worker, smtp) serves GET /metrics on
   * this port (on HIKYAKU_HOST), with the same token, so that its own counters (deliveries,
   * attempts, webhooks, intake) can be scraped. Unset: such a process serves no metrics.
   */
  HIKYAKU_METRICS_PORT: port.optional(),
  /** Webhooks: the first retry after a failed attempt, in seconds; each next one waits twice as long (at most 2 h), for 24 h. */
  HIKYAKU_WEBHOOK_RETRY_SECONDS: z.coerce.number().min(0.1).max(3600).default(5),
  /** Webhooks: how long one attempt may take (connect, send, answer), in seconds. */
  HIKYAKU_WEBHOOK_TIMEOUT: z.coerce.number().min(1).max(120).default(15),
  /** Minimum log level for the service's own JSON log lines. */
  HIKYAKU_LOG_LEVEL: z.enum(["debug", "info", "warn", "error", "silent"]).default("info"),
});

export type Config = z.infer<typeof configSchema> & { dataDir: string };

/**
 * The cores this process may use: its CPU affinity, and on Linux its cgroup's CPU quota
 * (a container limited to one CPU on a larger host), which Node 20's
 * os.availableParallelism() does not read.
 */
export function usableCores(cgroupRoot = "/sys/fs/cgroup"): number {
  const cores = os.availableParallelism();
  const read = (file: string) => {
    try {
      return readFileSync(path.join(cgroupRoot, file), "utf8").trim();
    } catch {
      return undefined;
    }
  };
  // cgroup v2: "<quota> <period>", or "max <period>" without one; v1: two files, quota -1 without one.
  const v2 = read("cpu.max")?.split(/\s+/);
  const [quota, period] = (v2 ?? [read("cpu/cpu.cfs_quota_us"), read("cpu/cpu.cfs_period_us")]).map(Number);
  return quota !== undefined && period !== undefined && quota > 0 && period > 0 ? Math.min(cores, quota / period) : cores;
}

/** Parses an environment into a Config, or throws one sentence per bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const input: Record<string, string> = {};
  for (const key of Object.keys(configSchema.shape)) {
    const v = env[key];
    if (v !== undefined && v !== "") input[key] = v;
  }
  const result = configSchema.safeParse(input);
  if (!result.success) {
    const lines = result.error.issues.map((i) => {
      const name = String(i.path[0]);
      // A secret's value would end up in terminals and log collectors: name it, never echo it.
      const got = SECRETS.has(name) ? "its value is not shown" : `got ${JSON.stringify(input[name])}`;
      return `${name}: ${i.message} (${got})`;
    });
    throw new ConfigError(`Invalid configuration:\n  ${lines.join("\n  ")}`);
  }
  return { ...result.data, dataDir: path.resolve(result.data.HIKYAKU_DATA_DIR) };
}

const SECRETS = new Set(["DATABASE_URL", "HIKYAKU_ADMIN_TOKEN", "HIKYAKU_SECRET_KEY", "HIKYAKU_METRICS_TOKEN"]);

export class ConfigError extends Error {}
