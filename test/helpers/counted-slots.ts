// The real connection slots (destination_connections in the test's database), counting
// how often a slot is asked for; slowNext() makes the next ask wait that much longer
// before its query, as a database that hangs would.
import { ConnectionSlots } from "../../src/delivery/connection-slots.ts";

export class CountedSlots extends ConnectionSlots {
  asked = 0;
  private slow = 0;

  slowNext(ms: number): void {
    this.slow = ms;
  }

  override async acquire(key: string, max: number): Promise<number | undefined> {
    this.asked++;
    const slow = this.slow;
    this.slow = 0;
    if (slow) await new Promise((r) => setTimeout(r, slow));
    return super.acquire(key, max);
  }
}
