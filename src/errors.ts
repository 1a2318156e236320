// The one error table: a domain error code decides the HTTP status, the SMTP reply and
// its enhanced status code, everywhere. HTTP bodies always have the same shape.

export const errorTable = {
  invalid_json: { http: 400, smtp: 501, enhanced: "5.5.2" },
  validation_error: { http: 422, smtp: 550, enhanced: "5.6.0" },
  invalid_address: { http: 422, smtp: 553, enhanced: "5.1.3" },
  sender_refused: { http: 422, smtp: 553, enhanced: "5.7.1" },
  too_many_recipients: { http: 422, smtp: 452, enhanced: "4.5.3" },
  message_too_large: { http: 413, smtp: 552, enhanced: "5.3.4" },
  // HTTP-only refusals of the request itself (its framing, headers, body type or size);
  // the SMTP columns are there for completeness, no SMTP path raises them.
  malformed_request: { http: 400, smtp: 500, enhanced: "5.5.2" },
  request_timeout: { http: 408, smtp: 421, enhanced: "4.4.2" },
  request_too_large: { http: 413, smtp: 552, enhanced: "5.3.4" },
  unsupported_media_type: { http: 415, smtp: 554, enhanced: "5.6.0" },
  headers_too_large: { http: 431, smtp: 500, enhanced: "5.5.2" },
  unauthorized: { http: 401, smtp: 535, enhanced: "5.7.8" },
  forbidden: { http: 403, smtp: 554, enhanced: "5.7.1" },
  not_found: { http: 404, smtp: 550, enhanced: "5.1.1" },
  conflict: { http: 409, smtp: 550, enhanced: "5.0.0" },
  idempotency_conflict: { http: 409, smtp: 550, enhanced: "5.0.0" },
  rate_limited: { http: 429, smtp: 454, enhanced: "4.7.0" },
  too_many_connections: { http: 429, smtp: 421, enhanced: "4.7.0" },
  unavailable: { http: 503, smtp: 451, enhanced: "4.3.0" },
  internal: { http: 500, smtp: 451, enhanced: "4.3.0" },
} as const satisfies Record<string, { http: number; smtp: number; enhanced: string }>;

export type ErrorCode = keyof typeof errorTable;

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly field: string | undefined;
  /** smtp-server reads these two when an AppError reaches it. */
  readonly responseCode: number;

  constructor(code: ErrorCode, message: string, opts: { field?: string; cause?: unknown } = {}) {
    super(message, { cause: opts.cause });
    this.code = code;
    this.field = opts.field;
    this.responseCode = errorTable[code].smtp;
  }

  get status(): number {
    return errorTable[this.code].http;
  }

  /** The SMTP reply text after the code: the enhanced status code, then the sentence. */
  get smtpText(): string {
    return `${errorTable[this.code].enhanced} ${this.message}`;
  }
}

export interface ErrorBody {
  error: { code: ErrorCode; message: string; field?: string; request_id: string };
}

export function errorBody(err: AppError, requestId: string): ErrorBody {
  return {
    error: {
      code: err.code,
      message: err.message,
      ...(err.field ? { field: err.field } : {}),
      request_id: requestId,
    },
  };
}
