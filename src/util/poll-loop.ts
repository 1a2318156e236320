// A background loop shared by the outbox dispatchers: run one step, go straight on while
// it says there is more, sleep when idle, back off after a failure, and stop on demand.
import { log } from "../logger.ts";
import { within } from "./within.ts";

export interface PollLoop {
  stop(): Promise<void>;
}

/**
 * How long stop() waits for a step still in flight. A step is one statement or a few, so
 * normally it ends at once; one that hangs (a query waiting on a database that has just
 * been restarted, seen in test/embedded-crash.test.ts) must not spend the whole shutdown
 * budget. Whatever it does commits or fails as a whole, so leaving it is safe.
 */
export const STOP_WAIT_MS = 2000;

/** `step` resolves true when it left work behind (run again at once), false when idle. */
export function startPollLoop(name: string, step: () => Promise<boolean>, idleMs: number): PollLoop {
  let running = true;
  let wake: (() => void) | undefined;
  const loop = (async () => {
    while (running) {
      let more = false;
      let pause = idleMs;
      try {
        more = await step();
      } catch (err) {
        log.error(`${name} failed; retrying in a second`, { err: err as Error });
        pause = 1000;
      }
      if (!more && running) {
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, pause);
        });
      }
    }
  })();
  return {
    async stop() {
      running = false;
      wake?.();
      if (!(await within(loop, STOP_WAIT_MS))) log.warn(`${name}: a step was still running at shutdown; not waiting for it`, { waited_ms: STOP_WAIT_MS });
    },
  };
}
