// MTA-STS (RFC 8461), the pure part: the `_mta-sts` TXT record (§3.1), the policy file
// (§3.2), and which MX hosts a policy allows (§4.1). No I/O here.

export type StsMode = "enforce" | "testing" | "none";

export interface StsPolicy {
  mode: StsMode;
  /** MX patterns: host names, or `*.suffix` matching exactly one more leftmost label. */
  mx: string[];
  /** Seconds the policy may be cached, at most MAX_AGE_LIMIT. */
  maxAge: number;
}

/** RFC 8461 §3.2: max_age is at most 31557600 seconds (about a year). */
export const MAX_AGE_LIMIT = 31_557_600;

/**
 * The policy id of a domain's `_mta-sts` TXT answer, or undefined when the domain has
 * no usable record: records not starting `v=STSv1;` are ignored, and anything but
 * exactly one valid record means no policy (§3.1). A record's strings are joined
 * without spaces.
 */
export function parseStsRecord(records: string[][]): string | undefined {
  const sts = records.map((strings) => strings.join("")).filter((r) => /^v=STSv1;/.test(r));
  if (sts.length !== 1) return undefined;
  let id: string | undefined;
  // sts-text-record = sts-version 1*(*WSP field-delim *WSP sts-field) [field-delim]
  const fields = (sts[0] as string).split(";").map((f) => f.trim());
  if (fields.at(-1) === "") fields.pop();
  for (const field of fields.slice(1)) {
    const m = /^([A-Za-z0-9_.-]+)=([\x21-\x3a\x3c\x3e-\x7e]+)$/.exec(field);
    if (!m) return undefined;
    if (m[1] === "id" && id === undefined) {
      if (!/^[A-Za-z0-9]{1,32}$/.test(m[2] as string)) return undefined;
      id = m[2];
    }
  }
  return id;
}

export type ParsedPolicy = { ok: true; policy: StsPolicy } | { ok: false; error: string };

/**
 * The policy file (§3.2): `key: value` lines ended by LF or CRLF; `version: STSv1`,
 * `mode`, `max_age` and, unless the mode is `none`, at least one `mx`. Unknown keys
 * are ignored; of a repeated key other than mx the first counts. A max_age above the
 * RFC's limit is cut to the limit.
 */
export function parseStsPolicy(text: string): ParsedPolicy {
  const fields = new Map<string, string>();
  const mx: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    if (line.trim() === "") continue;
    const m = /^([A-Za-z0-9_.-]+):[ \t]*(.*?)[ \t]*$/.exec(line);
    if (!m) return { ok: false, error: `not a "key: value" line: ${JSON.stringify(line.slice(0, 80))}` };
    const [, key = "", value = ""] = m;
    if (key === "mx") mx.push(value.toLowerCase().replace(/\.$/, ""));
    else if (!fields.has(key)) fields.set(key, value);
  }
  if (fields.get("version") !== "STSv1") return { ok: false, error: "version is not STSv1" };
  const mode = fields.get("mode");
  if (mode !== "enforce" && mode !== "testing" && mode !== "none")
    return { ok: false, error: `mode ${JSON.stringify(mode ?? "")} is not enforce, testing or none` };
  const age = fields.get("max_age") ?? "";
  if (!/^\d{1,10}$/.test(age)) return { ok: false, error: `max_age ${JSON.stringify(age)} is not a number of seconds` };
  const bad = mx.find((p) => !isMxPattern(p));
  if (bad !== undefined) return { ok: false, error: `mx ${JSON.stringify(bad)} is not a host name or *.domain pattern` };
  if (mode !== "none" && mx.length === 0) return { ok: false, error: "no mx patterns" };
  return { ok: true, policy: { mode, mx, maxAge: Math.min(Number(age), MAX_AGE_LIMIT) } };
}

const LABEL = "[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?";
const HOST = new RegExp(`^(?:\\*\\.)?${LABEL}(?:\\.${LABEL})+$`);

function isMxPattern(p: string): boolean {
  return p.length <= 253 && HOST.test(p);
}

/** Whether `host` (an MX host name) matches one of the policy's patterns (§4.1). */
export function mxAllowed(policy: StsPolicy, host: string): boolean {
  const h = host.toLowerCase().replace(/\.$/, "");
  return policy.mx.some((p) => {
    if (!p.startsWith("*.")) return p === h;
    // A wildcard covers exactly one leftmost label: *.example.com ∋ mx.example.com, ∌ a.b.example.com.
    const dot = h.indexOf(".");
    return dot > 0 && h.slice(dot + 1) === p.slice(2);
  });
}
