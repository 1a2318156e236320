// A background loop shared by the outbox dispatchers: run one step, go straight on while
// it says there is more, sleep when idle, back off after a failure, and stop on demand.
import { log } from "../logger.ts";

export interface PollLoop {
  stop(): Promise<void>;
}

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
      await loop;
    },
  };
}
