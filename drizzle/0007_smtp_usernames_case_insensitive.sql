ALTER TABLE "smtp_credentials" DROP CONSTRAINT "smtp_credentials_username_unique";--> statement-breakpoint
-- Usernames become case-insensitive. Where two differ only in case, the oldest keeps its
-- name; each later one is renamed to name~<first 8 hex digits of its id>, and its
-- password still works under that name (GET /v1/smtp-credentials shows it).
UPDATE "smtp_credentials" AS c SET "username" = c."username" || '~' || left(c."id"::text, 8)
WHERE EXISTS (
  SELECT 1 FROM "smtp_credentials" AS o
  WHERE lower(o."username") = lower(c."username") AND (o."created_at", o."id") < (c."created_at", c."id")
);--> statement-breakpoint
CREATE UNIQUE INDEX "smtp_credentials_username_lower_idx" ON "smtp_credentials" USING btree (lower("username"));
