// Destination shaping state (SPEC F10) for /metrics, one series per budget key: the
// states the route reads at scrape time with readLiveStates (src/delivery/shaping-state.ts),
// the contract the admin API and the console show too. Until the shaper writes that
// state there are no samples, only the families' HELP and TYPE.
import { now } from "../clock.ts";
import type { LiveState } from "../delivery/shaping-state.ts";
import type { Family } from "./exposition.ts";

export function shapingFamilies(states: LiveState[], at = now().getTime()): Family[] {
  const gauge = (name: string, help: string, value: (s: LiveState) => number | null): Family => ({
    name,
    help,
    type: "gauge",
    samples: states.flatMap((s) => {
      const v = value(s);
      return v === null ? [] : [{ labels: { budget: s.key }, value: v }];
    }),
  });
  const active = (until: Date | null) => (until && until.getTime() > at ? 1 : 0);
  return [
    gauge("hikyaku_shaping_rate_limit_messages_per_second", "The message rate a destination budget allows now, after backoff (absent: no limit).", (s) =>
      s.effective_messages_per_minute === null ? null : s.effective_messages_per_minute / 60,
    ),
    gauge("hikyaku_shaping_rate_factor_ratio", "1 normally; halved by each slow-down reply from the destination, recovering over time.", (s) => s.rate_factor),
    gauge(
      "hikyaku_shaping_sent_last_minute_messages",
      "Messages sent to the budget in the last 60 s, all worker processes together.",
      (s) => s.sent_last_minute,
    ),
    gauge("hikyaku_shaping_connections", "Connections open to the budget's destinations now, all worker processes together.", (s) => s.connections_in_use),
    gauge("hikyaku_shaping_backoff", "1 while the budget backs off after slow-down replies, else 0.", (s) => active(s.backoff_until)),
    gauge("hikyaku_shaping_suspended", "1 while sending to the budget is suspended, else 0.", (s) => active(s.suspended_until)),
  ];
}
