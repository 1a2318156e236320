// Turns whatever went wrong into the SMTP reply the client gets: an AppError keeps its
// code from the error table; anything else is our trouble, so the client hears a
// temporary 451 4.3.0 and retries — never a 5xx that would bounce good mail.
import { isDatabaseDown } from "../db/driver-faults.ts";
import { AppError } from "../errors.ts";
import { log } from "../logger.ts";

export function asAppError(err: unknown, stage: string): AppError {
  if (err instanceof AppError) return err;
  if (isDatabaseDown(err)) {
    log.warn("smtp intake: database unavailable", { stage, err: err as Error });
    return new AppError("unavailable", "The service cannot reach its database right now; nothing was stored. Try again shortly.", { cause: err });
  }
  log.error("smtp intake: unexpected error", { stage, err: err as Error });
  return new AppError("internal", "Hikyaku could not handle this right now; nothing was stored. Try again shortly.", { cause: err });
}

/** The error smtp-server writes: `responseCode`, then the enhanced code and sentence. */
export function smtpReply(err: AppError): Error & { responseCode: number } {
  return Object.assign(new Error(err.smtpText), { responseCode: err.responseCode });
}
