// The live state of each destination budget, as the admin API and the console show it
// (GET /v1/admin/destination-policies). Written by src/delivery/shaper.ts.
import type { Db } from "../db/client.ts";

export interface LiveState {
  /** The budget key (ResolvedPolicy.key). */
  key: string;
  /** The limit in force now, after backoff; null: no limit. */
  effective_messages_per_minute: number | null;
  /** Messages sent to this budget in the last 60 s, all processes together. */
  sent_last_minute: number;
  /** 1 normally; halved by each slow-down reply, recovering over time. */
  rate_factor: number;
  backoff_until: Date | null;
  suspended_until: Date | null;
  /** Connections open now, all processes together. */
  connections_in_use: number;
}

/** Every budget that has state. A stub until the shaper writes it. */
export async function readLiveStates(_db: Db): Promise<LiveState[]> {
  return [];
}
