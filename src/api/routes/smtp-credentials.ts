// /v1/smtp-credentials: usernames and passwords for SMTP AUTH on the submission ports.
// The password is generated and shown once; only a slow hash of it is kept.
import { createRoute, z } from "@hono/zod-openapi";
import { AppError } from "../../errors.ts";
import { createSmtpCredential, listSmtpCredentials, revokeSmtpCredential } from "../../smtp/credentials.ts";
import { isUuid } from "../../util/ids.ts";
import { router } from "../context.ts";
import { bearerAuth, errorResponses, page } from "../openapi-parts.ts";

const Credential = z
  .object({
    id: z.string().openapi({ example: "01936c2e-8f5a-7b3c-9d1e-2f3a4b5c6d7e" }),
    username: z.string().openapi({ description: "The SMTP AUTH username.", example: "hk-3f9a1c2b7d4e" }),
    created_at: z.string().openapi({ example: "2026-11-27T09:00:00.000Z" }),
  })
  .openapi("SmtpCredential");

const CreatedCredential = Credential.extend({
  password: z.string().openapi({ description: "The password; shown only this once. Log in with AUTH PLAIN or LOGIN over TLS.", example: "q4Xk…" }),
}).openapi("CreatedSmtpCredential");

const CreateBody = z.strictObject({
  username: z
    .string()
    .max(64)
    .optional()
    .openapi({ description: "Your choice of username (3-64 of letters, digits, . _ @ + -); generated when left out.", example: "city-alerts" }),
});

function parseBody(text: string): z.infer<typeof CreateBody> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new AppError("invalid_json", "The request body is not valid JSON.", { cause: err });
  }
  const parsed = CreateBody.safeParse(json);
  if (parsed.success) return parsed.data;
  throw new AppError("validation_error", `The body may only hold an optional username string (${parsed.error.issues[0]?.message ?? "invalid"}).`, {
    field: "username",
  });
}

const create = createRoute({
  method: "post",
  path: "/v1/smtp-credentials",
  operationId: "createSmtpCredential",
  tags: ["SMTP"],
  summary: "Create SMTP credentials",
  description: "Creates a username and a generated password for SMTP AUTH on the submission (STARTTLS) and SMTPS (implicit TLS) ports.",
  security: bearerAuth,
  request: {
    body: {
      required: false,
      content: {
        "application/json": {
          schema: CreateBody,
          example: { username: "city-alerts" },
        },
      },
    },
  },
  responses: {
    201: {
      description: "The credentials, password shown once.",
      content: {
        "application/json": {
          schema: CreatedCredential,
          example: { ...{ id: "01936c2e-8f5a-7b3c-9d1e-2f3a4b5c6d7e", username: "city-alerts", created_at: "2026-11-27T09:00:00.000Z" }, password: "q4Xk…" },
        },
      },
    },
    ...errorResponses(401, 409, 422),
  },
});

const list = createRoute({
  method: "get",
  path: "/v1/smtp-credentials",
  operationId: "listSmtpCredentials",
  tags: ["SMTP"],
  summary: "List SMTP credentials",
  description: "Every active credential in one page (`next_cursor` is always null); passwords are never shown again.",
  security: bearerAuth,
  responses: {
    200: {
      description: "Active credentials, oldest first (passwords are never shown again).",
      content: {
        "application/json": {
          schema: page(Credential, "SmtpCredentialList"),
          example: {
            data: [{ id: "01936c2e-8f5a-7b3c-9d1e-2f3a4b5c6d7e", username: "city-alerts", created_at: "2026-11-27T09:00:00.000Z" }],
            next_cursor: null,
          },
        },
      },
    },
    ...errorResponses(401),
  },
});

const revoke = createRoute({
  method: "delete",
  path: "/v1/smtp-credentials/{id}",
  operationId: "revokeSmtpCredential",
  tags: ["SMTP"],
  summary: "Revoke SMTP credentials",
  description: "The username stops working for new logins at once.",
  security: bearerAuth,
  request: { params: z.object({ id: z.string().openapi({ param: { name: "id", in: "path" }, example: "01936c2e-8f5a-7b3c-9d1e-2f3a4b5c6d7e" }) }) },
  responses: { 204: { description: "Revoked." }, ...errorResponses(401, 404) },
});

export const smtpCredentials = router()
  .openapi(create, async (c) => {
    // The body is optional, so it is read here rather than by the validator (which needs one).
    const text = await c.req.text();
    const username = text.trim() === "" ? undefined : parseBody(text).username;
    const created = await createSmtpCredential(c.get("deps").db, c.get("account").id, username);
    return c.json(created, 201);
  })
  .openapi(list, async (c) => c.json({ data: await listSmtpCredentials(c.get("deps").db, c.get("account").id), next_cursor: null }, 200))
  .openapi(revoke, async (c) => {
    const { id } = c.req.valid("param");
    const ok = isUuid(id) && (await revokeSmtpCredential(c.get("deps").db, c.get("account").id, id));
    if (!ok) throw new AppError("not_found", `No active SMTP credentials ${id} in this account.`, { field: "id" });
    return c.body(null, 204);
  });
