// The built-in destination policies (F10): what Hikyaku does for the big mailbox
// providers before the operator says otherwise. Each `basis` says where its numbers come
// from; where nothing is published it says the numbers are a starting guess, and why.
// README "Destination policies" shows the same table.
import type { DestinationPolicy, PolicySettings } from "./destination-policy.ts";

export const DEFAULT_SETTINGS: PolicySettings = {
  max_connections: 16,
  messages_per_minute: null,
  recipients_per_transaction: 100,
  messages_per_connection: 1000,
  idle_close_seconds: 15,
  tls: "opportunistic",
};

/**
 * The Japanese carriers publish what they refuse (unknown addresses in bulk, many
 * sessions at once, long sessions, bursts on the hour), never a number to stay under:
 * KDDI writes that it cannot give a threshold. So these are one starting guess shared by
 * all of them: few connections, about one message a second per connection (the Postfix
 * `slow` transport Japanese operators set up for them, rate_delay 1s), short sessions.
 * Ten recipients times ten messages keeps a session under docomo's 100 recipients even
 * if "100 per SMTP session" is read literally (the 101st gets 554 and the session is cut).
 */
const CARRIER: PolicySettings = {
  max_connections: 3,
  messages_per_minute: 180,
  recipients_per_transaction: 10,
  messages_per_connection: 10,
  idle_close_seconds: 5,
  tls: "opportunistic",
};

const CARRIER_GUESS =
  "A starting guess: no published numbers. 3 connections x about 1 message/s each, as the Postfix `slow` transports Japanese operators use for the carriers (rate_delay 1s); short sessions, as the carriers ask.";

export const BUILT_IN_POLICIES: DestinationPolicy[] = [
  {
    domain: "docomo.ne.jp",
    aliases: [],
    // MX mfsmax.docomo.ne.jp, as best known; the suffix only groups docomo's own hosts.
    mx_suffixes: [".docomo.ne.jp"],
    basis: `docomo's notice to bulk senders (nttdocomo.co.jp, imode_mail/notice/mass_send) asks for a moderate number of SMTP sessions and at most 100 recipients per SMTP session (the 101st is answered 554 and the session is cut). ${CARRIER_GUESS} MX host (mfsmax.docomo.ne.jp) as best known.`,
    ...CARRIER,
  },
  {
    domain: "au.com",
    // KDDI names them one service: "auメール (@au.com/@ezweb.ne.jp)".
    aliases: ["ezweb.ne.jp"],
    mx_suffixes: [".ezweb.ne.jp", ".au.com"],
    basis: `KDDI's notes for sending to auメール (au.com/mobile/service/attention) forbid occupying many SMTP sessions at once or for long, and say no threshold can be given. @au.com and @ezweb.ne.jp are one service and share one budget. ${CARRIER_GUESS} MX host (lsean.ezweb.ne.jp) as best known, a guess for au.com.`,
    ...CARRIER,
  },
  {
    domain: "softbank.ne.jp",
    aliases: [],
    mx_suffixes: [".softbank.ne.jp"],
    basis: `SoftBank's notes (softbank.jp/mobile/support/antispam) ask bulk senders to clean their lists and send slowly ("時間をかけて"), with no numbers. ${CARRIER_GUESS} MX host names under softbank.ne.jp: a guess.`,
    ...CARRIER,
  },
  {
    domain: "i.softbank.jp",
    aliases: [],
    mx_suffixes: [".i.softbank.jp"],
    basis: `SoftBank's iPhone mail (Eメール(i)); the same notes as softbank.ne.jp, a separate service. ${CARRIER_GUESS} MX host names under i.softbank.jp: a guess.`,
    ...CARRIER,
  },
  {
    domain: "ymobile.ne.jp",
    aliases: [],
    mx_suffixes: [".ymobile.ne.jp"],
    basis: `Y!mobile (SoftBank's brand); nothing published of its own. ${CARRIER_GUESS} MX host names under ymobile.ne.jp: a guess.`,
    ...CARRIER,
  },
  {
    domain: "rakuten.jp",
    aliases: [],
    mx_suffixes: [],
    basis: `Rakuten Mobile; nothing published for senders that we know of. ${CARRIER_GUESS} MX hosts unknown, so no MX group: only mail to rakuten.jp itself uses this policy.`,
    ...CARRIER,
  },
  {
    domain: "yahoo.co.jp",
    aliases: [],
    mx_suffixes: [".mail.yahoo.co.jp"],
    basis:
      "KumoMTA's community shaping.toml (assets/community/shaping.toml, yahoo.co.jp): connection_limit 2, max_message_rate 10/s, max_deliveries_per_connection 20. Recipients, idle time and TLS: the `*` values. MX hosts (mxN.mail.yahoo.co.jp) as best known.",
    ...DEFAULT_SETTINGS,
    max_connections: 2,
    messages_per_minute: 600,
    messages_per_connection: 20,
  },
  {
    domain: "gmail.com",
    aliases: ["googlemail.com"],
    // Google Workspace domains (aspmx.l.google.com, smtp.google.com) share this budget.
    mx_suffixes: [".google.com", ".googlemail.com"],
    basis:
      "KumoMTA's policy-extras/shaping.toml (provider google: MX suffixes .google.com and .googlemail.com, provider_connection_limit 5, max_deliveries_per_connection 50, enable_tls Required). TLS required: Google's sender guidelines (support.google.com/mail/answer/81126) require TLS. No rate: Google publishes none and answers 421 4.7.28 when it wants less, which backs off.",
    ...DEFAULT_SETTINGS,
    max_connections: 5,
    messages_per_connection: 50,
    tls: "required",
  },
  {
    domain: "outlook.com",
    aliases: ["hotmail.com"],
    // Consumer mailboxes (outlook.jp, hotmail.co.jp, live.jp, live.com, msn.com) are MX'd here too.
    // Microsoft 365 tenants (*.mail.protection.outlook.com) are a different fleet and are not grouped in.
    mx_suffixes: [".olc.protection.outlook.com"],
    basis:
      "KumoMTA's policy-extras/shaping.toml (provider outlook: MX suffix .olc.protection.outlook.com, provider_connection_limit 5, max_deliveries_per_connection 50). Microsoft publishes no rate. Microsoft 365 tenants' MX (.mail.protection.outlook.com) are left out of the group: one budget for every business tenant would throttle them all.",
    ...DEFAULT_SETTINGS,
    max_connections: 5,
    messages_per_connection: 50,
  },
  {
    domain: "icloud.com",
    // Apple: @icloud.com, @me.com and @mac.com are one account.
    aliases: ["me.com", "mac.com"],
    mx_suffixes: [".icloud.com"],
    basis:
      "KumoMTA's policy-extras/shaping.toml (provider apple: MX suffix .icloud.com, provider_connection_limit 10, max_deliveries_per_connection 5). Apple publishes no rate.",
    ...DEFAULT_SETTINGS,
    max_connections: 10,
    messages_per_connection: 5,
  },
  {
    domain: "*",
    aliases: [],
    mx_suffixes: [],
    basis:
      "Every other domain, one budget per MX group. 16 connections: Hikyaku's limit per destination before policies (now counted across all processes). 100 recipients: the least a server must accept (RFC 5321 4.5.3.1.8). No rate: receivers that want less say so (421/4xx), which backs off. 1000 messages per connection and 15 s idle: a starting guess (KumoMTA's default is 100 and 60 s; Postfix reuses a connection for 300 s and keeps it idle 2 s).",
    ...DEFAULT_SETTINGS,
  },
];
