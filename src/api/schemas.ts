// Shapes shared by several routes: the error body and addresses (error responses and
// list pages are described in openapi-parts.ts).
import { z } from "@hono/zod-openapi";
import { errorTable } from "../errors.ts";

export const ErrorSchema = z
  .object({
    error: z.object({
      code: z.enum(Object.keys(errorTable) as [string, ...string[]]).openapi({ description: "Machine-readable error code.", example: "validation_error" }),
      message: z
        .string()
        .openapi({ description: "A sentence for humans that names the field and what to do.", example: 'to: "bob" is not a valid email address.' }),
      field: z.string().optional().openapi({ description: "The request field the error is about.", example: "to" }),
      request_id: z.string().openapi({ description: "Quote this when asking for support.", example: "req_01HZX" }),
    }),
  })
  .openapi("Error");

export const MailboxSchema = z
  .union([
    z.string().max(1000).openapi({ example: "Shop <orders@shop.example>" }),
    z.strictObject({
      email: z.string().max(320).openapi({ example: "orders@shop.example" }),
      name: z.string().max(200).optional().openapi({ example: "Shop" }),
    }),
  ])
  .openapi("Mailbox", { description: 'One address: "a@example.com", "Name <a@example.com>" or { email, name }.' });

/** The caller's own data kept with a message: bounded, so it cannot outgrow the message. */
export const MAX_METADATA_BYTES = 16 * 1024;

// The request guard has already bounded its depth, so JSON.stringify here cannot overflow.
export const MetadataSchema = z
  .record(z.string().max(100), z.unknown())
  .refine((m) => Buffer.byteLength(JSON.stringify(m)) <= MAX_METADATA_BYTES, {
    message: `is larger than ${MAX_METADATA_BYTES} bytes as JSON; keep ids and short values here, not content.`,
  })
  .openapi({ description: `Your own data, returned with the message: keys up to 100 characters, at most ${MAX_METADATA_BYTES} bytes as JSON.` });
