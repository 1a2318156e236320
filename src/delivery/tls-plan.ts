// How one attempt uses TLS, from the destination policy's `tls` (F11):
// - opportunistic: STARTTLS when offered, plain text when the handshake fails (logged);
// - required: TLS or a deferral (tls_required); the certificate is not checked, as at
//   Postfix's "encrypt" level: MX certificates rarely name the MX host, and without
//   MTA-STS or DANE nothing says which name they should carry;
// - mta-sts: the domain's MTA-STS policy (RFC 8461 §5). `enforce`: only MX hosts the
//   policy lists, and TLS with a certificate valid for the MX host name, else a deferral
//   (mta_sts_failed), never a downgrade. `testing`: opportunistic, with what enforce
//   would have refused in the log. `none`, no policy, or a first fetch that failed:
//   opportunistic.
import type { ConnectionTls } from "./connection-pool.ts";
import type { TlsMode } from "./destination-policy.ts";
import type { Destination, Target } from "./destination.ts";
import type { MtaSts } from "./mta-sts.ts";
import { mxAllowed, type StsPolicy } from "./mta-sts-policy.ts";
import type { Outcome } from "./outcome.ts";
import { type AttemptInput, service } from "./smtp-attempt.ts";

export type TlsPlan = { ok: true; targets: Target[]; tls: ConnectionTls; audit?: AttemptInput["audit"] } | { ok: false; outcome: Outcome };

export async function planTls(mtaSts: MtaSts | undefined, domain: string, mode: TlsMode, dest: Extract<Destination, { ok: true }>): Promise<TlsPlan> {
  if (mode !== "mta-sts") return { ok: true, targets: dest.targets, tls: mode };
  // A configured route (HIKYAKU_ROUTES) replaces the MX hosts the policy names.
  if (dest.via === "route" || !mtaSts) return { ok: true, targets: dest.targets, tls: "opportunistic" };
  const { policy, note } = await mtaSts.policyFor(domain);
  if (!policy) return { ok: true, targets: dest.targets, tls: "opportunistic", ...(note ? { audit: () => `${note}; sent as opportunistic TLS` } : {}) };
  if (policy.mode === "testing") return { ok: true, targets: dest.targets, tls: "opportunistic", audit: testingAudit(policy) };
  const allowed = dest.targets.filter((t) => mxAllowed(policy, t.host));
  if (allowed.length > 0) return { ok: true, targets: allowed, tls: "verified" };
  const hosts = [...new Set(dest.targets.map((t) => t.host))].join(", ");
  const detail = `no MX host of ${domain} (${hosts}) matches its MTA-STS policy (mx: ${policy.mx.join(", ")})`;
  return { ok: false, outcome: service("mta_sts_failed", null, null, null, detail) };
}

/** What an enforce policy would have refused about a session (RFC 8461 §4.1, §4.2). */
function testingAudit(policy: StsPolicy): NonNullable<AttemptInput["audit"]> {
  return (target, session) => {
    const refusals = [
      mxAllowed(policy, target.host) ? undefined : `${target.host} is not in the policy's mx (${policy.mx.join(", ")})`,
      !session.secure ? "the session was not encrypted" : (session.certificateError ?? undefined),
    ].filter(Boolean);
    return refusals.length > 0 ? `MTA-STS testing policy: enforce would refuse: ${refusals.join("; ")}` : undefined;
  };
}
