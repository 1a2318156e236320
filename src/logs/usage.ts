// Monthly usage from the durable counters (usage_counters, written on the accept and
// outcome paths and never touched by log retention): sums the shards of one account's
// month and prices the messages beyond its quota.
import { now } from "../clock.ts";
import type { Db } from "../db/client.ts";

export interface MonthlyUsage {
  month: string;
  time_zone: string;
  messages_accepted: number;
  recipients_accepted: number;
  delivered: number;
  bounced: number;
  expired: number;
  monthly_quota: number | null;
  overage: number;
  overage_price_jpy: number;
  overage_charge_jpy: number;
}

/** `month` is YYYY-MM in the account's time zone; omitted, the current month there. */
export async function monthlyUsage(db: Db, accountId: string, month: string | undefined, pricePerMessage: number): Promise<MonthlyUsage | undefined> {
  const [row] = await db.sql<Omit<MonthlyUsage, "overage" | "overage_price_jpy" | "overage_charge_jpy">[]>`
    with a as (
      select id, time_zone, monthly_quota,
        coalesce(${month ?? null}::text, to_char(${now()}::timestamptz at time zone time_zone, 'YYYY-MM')) as month
      from accounts where id = ${accountId}
    )
    select a.month, a.time_zone, a.monthly_quota,
      coalesce(sum(u.messages_accepted), 0)::int8 as messages_accepted,
      coalesce(sum(u.recipients_accepted), 0)::int8 as recipients_accepted,
      coalesce(sum(u.delivered), 0)::int8 as delivered,
      coalesce(sum(u.bounced), 0)::int8 as bounced,
      coalesce(sum(u.expired), 0)::int8 as expired
    from a left join usage_counters u on u.account_id = a.id and u.month = a.month
    group by a.month, a.time_zone, a.monthly_quota`;
  if (!row) return undefined;
  const overage = row.monthly_quota === null ? 0 : Math.max(0, row.messages_accepted - row.monthly_quota);
  return {
    ...row,
    overage,
    overage_price_jpy: pricePerMessage,
    overage_charge_jpy: charge(overage, pricePerMessage),
  };
}

/** Rounded to whole sen (0.01 JPY), multiplied in integer micro-yen so 3 x 0.15 is 0.45, not 0.44999... */
function charge(messages: number, price: number): number {
  const micro = messages * Math.round(price * 1_000_000);
  return Math.round(micro / 10_000) / 100;
}
