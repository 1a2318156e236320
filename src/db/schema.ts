// The database schema: the only state the service has. drizzle-kit turns changes here
// into migrations under drizzle/.
import { sql } from "drizzle-orm";
import {
  bigint,
  boolean,
  customType,
  doublePrecision,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  smallint,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from "drizzle-orm/pg-core";

const bytea = customType<{ data: Buffer }>({ dataType: () => "bytea" });
/** A 64-bit transaction id; read it as text (postgres.js has no parser for it). */
const xid8 = customType<{ data: string }>({ dataType: () => "xid8" });
/**
 * The writing transaction's id. Logs page by (tx, id) and show only transactions older
 * than every one still running, so an event can never appear behind a page already read.
 */
const txColumn = () => xid8("tx").notNull().default(sql`pg_current_xact_id()`);
/**
 * The UTC day (days since 1970) of a log event: src/logs/tx-range.ts turns a time range
 * into the range of tx its events carry with one probe of (account_id, day, tx, ...) per
 * day. Written with immutable operators only, so it can key an index; src/logs repeats it.
 */
const logDay = (createdAt: unknown) => sql`(floor(extract(epoch from (${createdAt} - '1970-01-01 00:00:00+00'::timestamptz)) / 86400)::int)`;
const ts = (name: string) => timestamp(name, { withTimezone: true, mode: "date" });

export const accounts = pgTable("accounts", {
  id: uuid("id").primaryKey(),
  name: text("name").notNull(),
  bouncesEnabled: boolean("bounces_enabled").notNull().default(true),
  monthlyQuota: integer("monthly_quota"),
  /** IANA zone in which usage months are counted. */
  timeZone: text("time_zone").notNull().default("UTC"),
  /** Opt-in (F16): hard bounces add the recipient to the suppression list, and sends to it end `suppressed`. */
  suppressionList: boolean("suppression_list").notNull().default(false),
  /** API requests per rate-limit window (F18); null: HIKYAKU_API_RATE_LIMIT. */
  apiRateLimit: integer("api_rate_limit"),
  createdAt: ts("created_at").notNull().defaultNow(),
});

export const apiKeys = pgTable(
  "api_keys",
  {
    id: uuid("id").primaryKey(),
    accountId: uuid("account_id")
      .notNull()
      .references(() => accounts.id, { onDelete: "cascade" }),
    /** The key's public prefix, shown in listings so a user can tell keys apart. */
    prefix: text("prefix").notNull(),
    /** SHA-256 of the whole key: keys are 192 random bits, so a fast hash is enough. */
    hash: text("hash").notNull().unique(),
    name: text("name"),
    createdAt: ts("created_at").notNull().defaultNow(),
    revokedAt: ts("revoked_at"),
    /** When the key last authenticated a request, to a minute (GET /v1/api-keys shows it). */
    lastUsedAt: ts("last_used_at"),
  },
  (t) => [index("api_keys_account_idx").on(t.accountId)],
);

export const messages = pgTable(
  "messages",
  {
    id: uuid("id").primaryKey(),
    accountId: uuid("account_id")
      .notNull()
      .references(() => accounts.id, { onDelete: "cascade" }),
    channel: text("channel").notNull(),
    sourceIp: text("source_ip"),
    envelopeFrom: text("envelope_from").notNull(),
    /** The RFC 5322 Message-ID, without angle brackets. */
    messageIdHeader: text("message_id_header").notNull(),
    priority: smallint("priority").notNull(),
    lifetime: integer("lifetime").notNull(),
    retryInterval: integer("retry_interval").notNull(),
    tags: text("tags").array().notNull().default(sql`'{}'::text[]`),
    metadata: jsonb("metadata"),
    sizeBytes: integer("size_bytes").notNull(),
    createdAt: ts("created_at").notNull(),
    /** When delivery may start: reception, or send_at. The lifetime counts from here. */
    deliverableAt: ts("deliverable_at").notNull(),
    expiresAt: ts("expires_at").notNull(),
    /** Recipients not yet final; the content is deleted when this reaches 0. */
    pending: integer("pending").notNull(),
    /** { start: "22:00", end: "07:00", time_zone: "Asia/Tokyo" }: no attempt starts inside. */
    quietHours: jsonb("quiet_hours"),
    /** Set by DELETE /v1/messages/{id}: an attempt in flight finishes, nothing starts after. */
    cancelledAt: ts("cancelled_at"),
  },
  (t) => [index("messages_account_created_idx").on(t.accountId, t.createdAt)],
);

/** The message bytes, kept only while some recipient is not final. */
export const messageContents = pgTable("message_contents", {
  messageId: uuid("message_id")
    .primaryKey()
    .references(() => messages.id, { onDelete: "cascade" }),
  raw: bytea("raw").notNull(),
});

export const recipients = pgTable(
  "recipients",
  {
    id: bigint("id", { mode: "number" }).primaryKey().generatedAlwaysAsIdentity(),
    messageId: uuid("message_id")
      .notNull()
      .references(() => messages.id, { onDelete: "cascade" }),
    address: text("address").notNull(),
    domain: text("domain").notNull(),
    /** queued | deferred | delivered | bounced | expired | cancelled | suppressed */
    state: text("state").notNull(),
    attempts: integer("attempts").notNull().default(0),
    lastCode: smallint("last_code"),
    lastEnhancedCode: text("last_enhanced_code"),
    lastResponse: text("last_response"),
    updatedAt: ts("updated_at").notNull(),
    /**
     * A waiting recipient is not attempted before this (its own retry, or the end of a
     * park), even when the message comes back sooner for another of its recipients;
     * null: whenever the message runs.
     */
    nextAttemptAt: ts("next_attempt_at"),
  },
  (t) => [index("recipients_message_idx").on(t.messageId)],
);

/**
 * The outbox: one row per message that is waiting for a delivery attempt. The
 * dispatcher turns due rows into graphile-worker jobs in batches, in one transaction.
 */
export const deliveryQueue = pgTable(
  "delivery_queue",
  {
    messageId: uuid("message_id")
      .primaryKey()
      .references(() => messages.id, { onDelete: "cascade" }),
    runAt: ts("run_at").notNull(),
    priority: smallint("priority").notNull(),
  },
  (t) => [index("delivery_queue_due_idx").on(t.priority, t.runAt)],
);

export const deliveryEvents = pgTable(
  "delivery_events",
  {
    id: bigint("id", { mode: "number" }).primaryKey().generatedAlwaysAsIdentity(),
    accountId: uuid("account_id").notNull(),
    createdAt: ts("created_at").notNull(),
    event: text("event").notNull(),
    messageId: uuid("message_id").notNull(),
    recipient: text("recipient").notNull(),
    envelopeSender: text("envelope_sender").notNull(),
    sourceIp: text("source_ip"),
    channel: text("channel").notNull(),
    attempt: integer("attempt").notNull(),
    mxHost: text("mx_host"),
    mxIp: text("mx_ip"),
    tls: boolean("tls"),
    /** STARTTLS was offered, its handshake failed, and the session went on in plain text; null: no session. */
    tlsFallback: boolean("tls_fallback"),
    /** The fallback's cause, or what an MTA-STS testing policy would have refused. */
    tlsDetail: text("tls_detail"),
    code: smallint("code").notNull(),
    enhancedCode: text("enhanced_code"),
    response: text("response").notNull(),
    /** destination: the words came from the remote server; hikyaku: our own code. */
    codeSource: text("code_source").notNull(),
    tags: text("tags").array().notNull().default(sql`'{}'::text[]`),
    tx: txColumn(),
  },
  // Every log filter has an index that yields its rows already in page order (tx, id),
  // so a page never scans past rows it will not show; the day index turns time ranges
  // into tx ranges (created_at last, so a range's edges are found in the index alone)
  // and serves the retention job.
  (t) => [
    index("delivery_events_account_tx_idx").on(t.accountId, t.tx, t.id),
    index("delivery_events_message_idx").on(t.accountId, t.messageId, t.id),
    index("delivery_events_recipient_tx_idx").on(t.accountId, t.recipient, t.tx, t.id),
    index("delivery_events_domain_tx_idx").on(t.accountId, sql`split_part(${t.recipient}, '@', 2)`, t.tx, t.id),
    index("delivery_events_event_tx_idx").on(t.accountId, t.event, t.tx, t.id),
    index("delivery_events_channel_tx_idx").on(t.accountId, t.channel, t.tx, t.id),
    index("delivery_events_sender_tx_idx").on(t.accountId, t.envelopeSender, t.tx, t.id),
    index("delivery_events_source_ip_tx_idx").on(t.accountId, t.sourceIp, t.tx, t.id),
    index("delivery_events_day_tx_idx").on(t.accountId, logDay(t.createdAt), t.tx, t.id, t.createdAt),
  ],
);

/**
 * One row per tag of a delivery event, written by a row trigger on delivery_events that
 * fires only for tagged events (migration 0006), so that a tag filter reads its events
 * already in page order.
 */
export const deliveryEventTags = pgTable(
  "delivery_event_tags",
  {
    accountId: uuid("account_id").notNull(),
    tag: text("tag").notNull(),
    tx: xid8("tx").notNull(),
    eventId: bigint("event_id", { mode: "number" }).notNull(),
    createdAt: ts("created_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.accountId, t.tag, t.tx, t.eventId] }), index("delivery_event_tags_account_created_idx").on(t.accountId, t.createdAt)],
);

export const receptionEvents = pgTable(
  "reception_events",
  {
    id: bigint("id", { mode: "number" }).primaryKey().generatedAlwaysAsIdentity(),
    accountId: uuid("account_id"),
    createdAt: ts("created_at").notNull(),
    channel: text("channel").notNull(),
    sourceIp: text("source_ip"),
    envelopeSender: text("envelope_sender"),
    recipientCount: integer("recipient_count").notNull(),
    accepted: boolean("accepted").notNull(),
    code: smallint("code").notNull(),
    enhancedCode: text("enhanced_code"),
    reason: text("reason").notNull(),
    messageId: uuid("message_id"),
    tx: txColumn(),
  },
  (t) => [
    index("reception_events_account_tx_idx").on(t.accountId, t.tx, t.id),
    index("reception_events_source_ip_tx_idx").on(t.accountId, t.sourceIp, t.tx, t.id),
    index("reception_events_sender_tx_idx").on(t.accountId, t.envelopeSender, t.tx, t.id),
    index("reception_events_accepted_tx_idx").on(t.accountId, t.accepted, t.tx, t.id),
    index("reception_events_channel_tx_idx").on(t.accountId, t.channel, t.tx, t.id),
    index("reception_events_message_idx").on(t.accountId, t.messageId),
    index("reception_events_day_tx_idx").on(t.accountId, logDay(t.createdAt), t.tx, t.id, t.createdAt),
  ],
);

export const idempotencyKeys = pgTable(
  "idempotency_keys",
  {
    accountId: uuid("account_id")
      .notNull()
      .references(() => accounts.id, { onDelete: "cascade" }),
    key: text("key").notNull(),
    requestHash: text("request_hash").notNull(),
    status: smallint("status").notNull(),
    response: jsonb("response").notNull(),
    createdAt: ts("created_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.accountId, t.key] }), index("idempotency_keys_created_idx").on(t.createdAt)],
);

/** Live graphile-worker pools; a pool silent for too long has its jobs unlocked. */
export const workerHeartbeats = pgTable("worker_heartbeats", {
  poolId: text("pool_id").primaryKey(),
  lastSeen: ts("last_seen").notNull(),
});

/** Source IPs allowed to relay on the relay port; the IP names the account. */
export const sourceIps = pgTable(
  "source_ips",
  {
    ip: text("ip").primaryKey(),
    accountId: uuid("account_id")
      .notNull()
      .references(() => accounts.id, { onDelete: "cascade" }),
    createdAt: ts("created_at").notNull().defaultNow(),
  },
  (t) => [index("source_ips_account_idx").on(t.accountId)],
);

/** SMTP AUTH credentials for the submission ports; passwords stored with a slow hash. */
export const smtpCredentials = pgTable(
  "smtp_credentials",
  {
    id: uuid("id").primaryKey(),
    accountId: uuid("account_id")
      .notNull()
      .references(() => accounts.id, { onDelete: "cascade" }),
    /** As the customer chose it; unique and looked up case-insensitively. */
    username: text("username").notNull(),
    passwordHash: text("password_hash").notNull(),
    createdAt: ts("created_at").notNull().defaultNow(),
    revokedAt: ts("revoked_at"),
  },
  (t) => [index("smtp_credentials_account_idx").on(t.accountId), uniqueIndex("smtp_credentials_username_lower_idx").on(sql`lower(${t.username})`)],
);

/** Failed SMTP AUTH attempts, shared by every SMTP process, for the guessing limit. */
export const authFailures = pgTable(
  "auth_failures",
  {
    id: bigint("id", { mode: "number" }).primaryKey().generatedAlwaysAsIdentity(),
    /** "ipuser:1.2.3.4 name", "ip:1.2.3.4" or "user:name" (names in lower case). */
    key: text("key").notNull(),
    at: ts("at").notNull(),
  },
  (t) => [index("auth_failures_key_at_idx").on(t.key, t.at)],
);

export const domains = pgTable(
  "domains",
  {
    id: uuid("id").primaryKey(),
    accountId: uuid("account_id")
      .notNull()
      .references(() => accounts.id, { onDelete: "cascade" }),
    /**
     * ASCII (punycode) form, lower case. Several accounts may register one domain; the
     * first whose DKIM record verifies owns it (src/domains/domain-owner.ts).
     */
    domain: text("domain").notNull(),
    /** Sign before the DKIM record is seen in DNS. */
    signBeforeVerify: boolean("sign_before_verify").notNull().default(false),
    createdAt: ts("created_at").notNull().defaultNow(),
  },
  (t) => [index("domains_account_idx").on(t.accountId), uniqueIndex("domains_domain_account_idx").on(t.domain, t.accountId)],
);

export const dkimKeys = pgTable(
  "dkim_keys",
  {
    id: uuid("id").primaryKey(),
    domainId: uuid("domain_id")
      .notNull()
      .references(() => domains.id, { onDelete: "cascade" }),
    selector: text("selector").notNull(),
    /** rsa-sha256 or ed25519-sha256 */
    algorithm: text("algorithm").notNull(),
    /** AES-256-GCM encrypted PEM: never stored or returned in plain text. */
    privateKey: bytea("private_key").notNull(),
    publicKey: text("public_key").notNull(),
    /** pending (record not yet seen) | active | retired */
    state: text("state").notNull(),
    createdAt: ts("created_at").notNull().defaultNow(),
    verifiedAt: ts("verified_at"),
    retiredAt: ts("retired_at"),
  },
  (t) => [index("dkim_keys_domain_idx").on(t.domainId), uniqueIndex("dkim_keys_domain_selector_idx").on(t.domainId, t.selector, t.algorithm)],
);

/**
 * The usage chart's counts per account and quarter hour (UTC; every zone's offset is a
 * whole number of quarter hours, so any zone's days are sums of them), rolled up from
 * the log tables by src/logs/daily-counts.ts so that a month's chart sums at most
 * 2,976 rows instead of counting every event. Like usage_counters, they outlive the logs.
 */
export const logCounts = pgTable(
  "log_counts",
  {
    accountId: uuid("account_id")
      .notNull()
      .references(() => accounts.id, { onDelete: "cascade" }),
    bucket: timestamp("bucket", { withTimezone: true }).notNull(),
    accepted: integer("accepted").notNull().default(0),
    delivered: integer("delivered").notNull().default(0),
    bounced: integer("bounced").notNull().default(0),
    expired: integer("expired").notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.accountId, t.bucket] })],
);

/** Per account: log events before `until` are in log_counts; from `until` on the chart counts the log itself. */
export const logCountsUntil = pgTable("log_counts_until", {
  accountId: uuid("account_id")
    .primaryKey()
    .references(() => accounts.id, { onDelete: "cascade" }),
  until: timestamp("until", { withTimezone: true }).notNull(),
});

/**
 * Durable usage counters that outlive log retention. Each account-month is spread over
 * a few shards so concurrent transactions do not queue on one row lock.
 */
export const usageCounters = pgTable(
  "usage_counters",
  {
    accountId: uuid("account_id")
      .notNull()
      .references(() => accounts.id, { onDelete: "cascade" }),
    /** YYYY-MM in the account's time zone. */
    month: text("month").notNull(),
    shard: smallint("shard").notNull(),
    messagesAccepted: bigint("messages_accepted", { mode: "number" }).notNull().default(0),
    recipientsAccepted: bigint("recipients_accepted", { mode: "number" }).notNull().default(0),
    delivered: bigint("delivered", { mode: "number" }).notNull().default(0),
    bounced: bigint("bounced", { mode: "number" }).notNull().default(0),
    expired: bigint("expired", { mode: "number" }).notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.accountId, t.month, t.shard] })],
);

// --- Suppression list and API rate limits (F16, F18) ---

/**
 * Addresses an account no longer sends to. Hard bounces (5.1.x) of opted-in accounts are
 * added by a row trigger on delivery_events (migration 0007); the API adds and removes.
 */
export const suppressions = pgTable(
  "suppressions",
  {
    accountId: uuid("account_id")
      .notNull()
      .references(() => accounts.id, { onDelete: "cascade" }),
    /** Lower case, so that one entry covers every spelling of the address. */
    address: text("address").notNull(),
    /** hard_bounce | complaint | manual */
    reason: text("reason").notNull(),
    /** The delivery event that caused it (a bounce), and its message; null when added through the API. */
    eventId: bigint("event_id", { mode: "number" }),
    messageId: uuid("message_id"),
    /** The destination's words for a bounce, or the caller's note. */
    detail: text("detail"),
    createdAt: ts("created_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.accountId, t.address] }), index("suppressions_account_created_idx").on(t.accountId, t.createdAt, t.address)],
);

/**
 * Requests counted per account and fixed window, shared by every API process. Each
 * process takes a share of the window's budget at a time, so most requests cost no query.
 */
export const apiRateWindows = pgTable(
  "api_rate_windows",
  {
    accountId: uuid("account_id")
      .notNull()
      .references(() => accounts.id, { onDelete: "cascade" }),
    /** The window's number: its start in seconds since 1970 divided by its length. */
    window: bigint("window", { mode: "number" }).notNull(),
    used: integer("used").notNull(),
  },
  (t) => [primaryKey({ columns: [t.accountId, t.window] })],
);

/**
 * Signed-in sessions of the /admin console. The cookie holds a random token; only its
 * SHA-256 is kept, with the form token (CSRF) bound to it. An account session ends with
 * its API key: revoking the key signs the session out.
 */
export const consoleSessions = pgTable(
  "console_sessions",
  {
    /** SHA-256 (hex) of the cookie's token. */
    id: text("id").primaryKey(),
    /** null: the operator (signed in with HIKYAKU_ADMIN_TOKEN). */
    accountId: uuid("account_id").references(() => accounts.id, { onDelete: "cascade" }),
    apiKeyId: uuid("api_key_id").references(() => apiKeys.id, { onDelete: "cascade" }),
    csrf: text("csrf").notNull(),
    createdAt: ts("created_at").notNull().defaultNow(),
    expiresAt: ts("expires_at").notNull(),
  },
  (t) => [index("console_sessions_expires_idx").on(t.expiresAt)],
);

// ---- Webhooks (F15) and DSN intents ----

/** An account's webhook endpoint (Standard Webhooks). Secrets are encrypted like DKIM keys. */
export const webhookEndpoints = pgTable(
  "webhook_endpoints",
  {
    id: uuid("id").primaryKey(),
    accountId: uuid("account_id")
      .notNull()
      .references(() => accounts.id, { onDelete: "cascade" }),
    url: text("url").notNull(),
    /** delivered, deferred, bounced, expired, cancelled, suppressed, reception.refused */
    eventTypes: text("event_types").array().notNull(),
    enabled: boolean("enabled").notNull().default(true),
    /** Why the service disabled it (410, or failing for 3 days); null when a user did or it is on. */
    disabledReason: text("disabled_reason"),
    secret: bytea("secret").notNull(),
    /** After a rotation the old secret signs beside the new one until previous_secret_until. */
    previousSecret: bytea("previous_secret"),
    previousSecretUntil: ts("previous_secret_until"),
    /** First failure since the last success: 3 days of failures disable the endpoint. */
    failingSince: ts("failing_since"),
    createdAt: ts("created_at").notNull(),
    updatedAt: ts("updated_at").notNull(),
  },
  (t) => [index("webhook_endpoints_account_idx").on(t.accountId)],
);

/**
 * The webhook outbox: one row per (endpoint, log event) still to be delivered, written by
 * row triggers on the log tables in the transaction that writes the event (migration
 * 0008), so a crash can neither lose one nor invent one. Delivered rows are deleted.
 */
export const webhookOutbox = pgTable(
  "webhook_outbox",
  {
    id: bigint("id", { mode: "number" }).primaryKey().generatedAlwaysAsIdentity(),
    endpointId: uuid("endpoint_id")
      .notNull()
      .references(() => webhookEndpoints.id, { onDelete: "cascade" }),
    /** delivery | reception: which log table event_id points into. */
    source: text("source").notNull(),
    eventId: bigint("event_id", { mode: "number" }).notNull(),
    /** Events of one message are delivered in order; null for intake refusals. */
    messageId: uuid("message_id"),
    createdAt: ts("created_at").notNull(),
    runAt: ts("run_at").notNull(),
    attempts: integer("attempts").notNull().default(0),
  },
  (t) => [
    index("webhook_outbox_endpoint_idx").on(t.endpointId, t.id),
    index("webhook_outbox_message_idx").on(t.endpointId, t.messageId, t.id),
    index("webhook_outbox_run_at_idx").on(t.runAt, t.endpointId),
  ],
);

/** Every webhook attempt, for GET /v1/webhooks/{id}/deliveries. */
export const webhookDeliveries = pgTable(
  "webhook_deliveries",
  {
    id: bigint("id", { mode: "number" }).primaryKey().generatedAlwaysAsIdentity(),
    endpointId: uuid("endpoint_id")
      .notNull()
      .references(() => webhookEndpoints.id, { onDelete: "cascade" }),
    /** The webhook-id header: the same on every attempt of one event. */
    webhookId: text("webhook_id").notNull(),
    eventType: text("event_type").notNull(),
    attempt: integer("attempt").notNull(),
    /** The HTTP status, or null when no answer came (error says why). */
    status: smallint("status"),
    /** delivered | retrying | failed (gave up after 24 h) | disabled */
    result: text("result").notNull(),
    error: text("error"),
    durationMs: integer("duration_ms").notNull(),
    at: ts("at").notNull(),
  },
  (t) => [index("webhook_deliveries_endpoint_idx").on(t.endpointId, t.id), index("webhook_deliveries_at_idx").on(t.at)],
);

/**
 * A DSN still to be sent, written by recordOutcomes in the statement that records the
 * failure; a job turns it into exactly one DSN through accept() (idempotent by its id).
 */
export const dsnIntents = pgTable("dsn_intents", {
  id: bigint("id", { mode: "number" }).primaryKey().generatedAlwaysAsIdentity(),
  accountId: uuid("account_id").notNull(),
  messageId: uuid("message_id").notNull(),
  envelopeFrom: text("envelope_from").notNull(),
  messageCreatedAt: ts("message_created_at").notNull(),
  /** The failed message's header block, for the DSN's text/rfc822-headers part. */
  headers: bytea("headers"),
  /** [{ address, status, diagnostic, remote_mta }] */
  failures: jsonb("failures").notNull(),
  createdAt: ts("created_at").notNull(),
});

/**
 * The operator's destination policies (F10): per recipient domain or `*`, the settings
 * given through PUT /v1/admin/destination-policies/{domain}. A field left out keeps the
 * built-in value (src/delivery/destination-policy.ts).
 */
export const destinationPolicies = pgTable("destination_policies", {
  domain: text("domain").primaryKey(),
  /** PolicySettings fields, and mx_suffixes, as given. */
  settings: jsonb("settings").notNull(),
  updatedAt: ts("updated_at").notNull(),
});

/**
 * The shared state of each destination budget (F10; src/delivery/shaper.ts): the rate
 * schedule every worker process draws from, the backoff after slow-down replies, the
 * suspension of a destination that refuses connections, and where parked messages
 * queue up. A row exists once a budget was limited, backed off or failed.
 */
export const destinationState = pgTable("destination_state", {
  key: text("key").primaryKey(),
  /** The policy's messages_per_minute as of the last grant (for the live state); null: no limit. */
  limitPerMinute: integer("limit_per_minute"),
  /** For a budget without a limit that was backed off: the rate observed then, per minute, which rate_factor applies to. */
  backoffBase: integer("backoff_base"),
  /** GCRA: when the next transaction's slot begins. */
  tat: ts("tat"),
  /** The share of the rate in force: 1, halved by each slow-down reply, doubling back every recovery period from recover_from. */
  rateFactor: doublePrecision("rate_factor").notNull().default(1),
  /** From then on the factor doubles every recover_seconds, back to 1. */
  recoverFrom: ts("recover_from"),
  recoverSeconds: doublePrecision("recover_seconds"),
  backoffUntil: ts("backoff_until"),
  suspendedUntil: ts("suspended_until"),
  /** Attempts in a row in which no server of the destination accepted a connection. */
  connectFailures: integer("connect_failures").notNull().default(0),
  /** Suspensions since the destination last accepted a connection (each one twice as long). */
  suspensions: integer("suspensions").notNull().default(0),
  /** When a process last found every connection slot taken: holders hand one back. */
  connectionsWantedAt: ts("connections_wanted_at"),
  connectionsWantedBy: text("connections_wanted_by"),
  /** Where the next parked message of each priority is scheduled (staggered at the budget's rate). */
  tailHigh: ts("tail_high"),
  tailNormal: ts("tail_normal"),
  tailBulk: ts("tail_bulk"),
  /** Slots reserved by parked high-priority messages (tat already counts them): a high-priority message takes one and goes at once. */
  highCredits: integer("high_credits").notNull().default(0),
  /**
   * The times of those reserved slots, earliest first (high_credits is their count): a
   * credit lapses once its slot is well past, so a parked high-priority message that was
   * cancelled or expired leaves no credit for a later one to go past the rate with.
   */
  highCreditSlots: timestamp("high_credit_slots", { withTimezone: true, mode: "date" }).array().notNull().default(sql`'{}'::timestamptz[]`),
  updatedAt: ts("updated_at").notNull(),
});

/** Open connections to each destination budget, one leased slot each (max_connections across processes). */
export const destinationConnections = pgTable(
  "destination_connections",
  {
    key: text("key").notNull(),
    slot: integer("slot").notNull(),
    /** The worker process holding it (src/delivery/connection-slots.ts). */
    holder: text("holder").notNull(),
    /** Renewed while held; a crashed process's slots come free after this. */
    expiresAt: ts("expires_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.key, t.slot] }), index("destination_connections_holder_idx").on(t.holder)],
);

/** Transactions sent to each budget per second, all processes (each flushes its counts once a second); kept two minutes. */
export const destinationSent = pgTable(
  "destination_sent",
  {
    key: text("key").notNull(),
    second: ts("second").notNull(),
    n: integer("n").notNull(),
  },
  (t) => [primaryKey({ columns: [t.key, t.second] }), index("destination_sent_second_idx").on(t.second)],
);

/**
 * MTA-STS policies (RFC 8461) fetched from https://mta-sts.<domain>/, cached for their
 * max_age and shared by every worker process: a cached `enforce` policy stays in force
 * until it expires even when its TXT record disappears or the fetch is blocked, which is
 * what keeps an attacker from downgrading the domain (§3.3, §10.2). src/delivery/mta-sts.ts.
 */
export const mtaStsPolicies = pgTable("mta_sts_policies", {
  domain: text("domain").primaryKey(),
  /** The id of the `_mta-sts` TXT record the policy was fetched for; a new id means fetch again. */
  policyId: text("policy_id").notNull(),
  mode: text("mode").notNull(),
  mx: text("mx").array().notNull(),
  maxAge: integer("max_age").notNull(),
  fetchedAt: ts("fetched_at").notNull(),
  expiresAt: ts("expires_at").notNull(),
});
