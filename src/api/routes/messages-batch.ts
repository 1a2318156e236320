// POST /v1/messages/batch: up to 100 messages in one request. Each item goes through the
// same accept() as POST /v1/messages (and shares its group commit) and gets its own
// result: the accepted message, or the error it would have had alone, with its index.
import { createRoute, z } from "@hono/zod-openapi";
import { hashRequest } from "../../accept/accept.ts";
import { claimBatchKey, itemKey } from "../../accept/batch-key.ts";
import { AppError, errorBody } from "../../errors.ts";
import { log } from "../../logger.ts";
import { describeHttpSend, recordReception } from "../../logs/reception.ts";
import { router, validationFailure } from "../context.ts";
import { bearerAuth, errorResponses } from "../openapi-parts.ts";
import { ErrorSchema } from "../schemas.ts";
import { ACCEPTED_EXAMPLE, AcceptedSchema, acceptJson, clientIp, IdempotencyKeyHeader, SEND_EXAMPLE, SendMessageBody } from "./messages-post.ts";

export const MAX_BATCH = 100;

const BatchBody = z
  .strictObject({
    // Items are checked one by one in the handler, so that one bad item refuses only itself;
    // the document still shows each item as a SendMessage.
    messages: z
      .array(z.unknown())
      .min(1)
      .max(MAX_BATCH)
      .openapi({
        type: "array",
        minItems: 1,
        maxItems: MAX_BATCH,
        items: { $ref: "#/components/schemas/SendMessage" },
        description: `1-${MAX_BATCH} messages, each as POST /v1/messages takes it.`,
      }),
  })
  .openapi("SendMessageBatch");

const Index = z.number().int().openapi({ description: "The item's position in `messages`, from 0.", example: 0 });
const BatchAccepted = AcceptedSchema.extend({ index: Index }).openapi("BatchAccepted");
const BatchRefused = z.object({ index: Index, error: ErrorSchema.shape.error }).openapi("BatchRefused");

const route = createRoute({
  method: "post",
  path: "/v1/messages/batch",
  operationId: "sendMessageBatch",
  tags: ["Messages"],
  summary: "Send up to 100 messages",
  description: `Each message is accepted (or refused) on its own, exactly as POST /v1/messages would, and the answer lists one result per item in order: the accepted message, or the error it would have had alone (\`error.field\` is relative to the item). One bad item never refuses the others. An \`Idempotency-Key\` covers the whole batch: a retry with the same key and body answers with the same messages and stores nothing twice, even when the first attempt was cut off half-way. The whole body may be no larger than one message of the size limit.`,
  security: bearerAuth,
  request: {
    headers: z.object({ "idempotency-key": IdempotencyKeyHeader }),
    body: {
      required: true,
      content: {
        "application/json": {
          schema: BatchBody,
          example: { messages: [SEND_EXAMPLE, { ...SEND_EXAMPLE, to: "bob" }] },
        },
      },
    },
  },
  responses: {
    200: {
      description: "One result per item, in order.",
      content: {
        "application/json": {
          schema: z.object({ data: z.array(z.union([BatchAccepted, BatchRefused])) }).openapi("BatchResult"),
          example: {
            data: [
              { index: 0, ...ACCEPTED_EXAMPLE },
              {
                index: 1,
                error: {
                  code: "invalid_address",
                  message: 'to: "bob" is not a valid email address.',
                  field: "to",
                  request_id: "req_0193a1b2c3d4e5f6a7b8c9d0e1f2a3b4",
                },
              },
            ],
          },
        },
      },
    },
    ...errorResponses(400, 401, 409, 413, 422),
  },
});

export const messagesBatch = router().openapi(route, async (c) => {
  const { messages } = c.req.valid("json");
  const key = c.req.valid("header")["idempotency-key"];
  const deps = c.get("deps");
  const accountId = c.get("account").id;
  const sourceIp = clientIp(c.env);
  const requestId = c.get("requestId");
  if (key) await claimBatchKey(deps.db, accountId, key, hashRequest(messages));
  // All at once: accept() calls made together share one group-commit statement.
  const data = await Promise.all(
    messages.map(async (item, index) => {
      try {
        const parsed = SendMessageBody.safeParse(item);
        if (!parsed.success) throw validationFailure(parsed.error.issues);
        const accepted = await acceptJson(deps, { accountId, sourceIp, body: parsed.data, idempotencyKey: key ? itemKey(key, index) : undefined });
        return { index, ...accepted };
      } catch (err) {
        const refusal = asItemError(err, requestId);
        await recordReception(deps.db, {
          accountId,
          channel: "http",
          sourceIp,
          ...describeHttpSend(item),
          code: refusal.status,
          enhancedCode: null,
          reason: refusal.message,
        });
        return { index, ...errorBody(refusal, requestId) };
      }
    }),
  );
  return c.json({ data }, 200);
});

/** accept() stores an item whole or not at all, so an unexpected failure means this item alone was not stored. */
function asItemError(err: unknown, requestId: string): AppError {
  if (err instanceof AppError) return err;
  log.warn("batch item not stored", { request_id: requestId, err: err as Error });
  return new AppError("unavailable", "This message was not stored (the service could not write it); nothing was stored for it. Retry it.", { cause: err });
}
