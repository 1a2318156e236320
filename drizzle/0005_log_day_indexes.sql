DROP INDEX "delivery_events_account_created_idx";--> statement-breakpoint
DROP INDEX "reception_events_account_created_idx";--> statement-breakpoint
CREATE INDEX "delivery_events_day_tx_idx" ON "delivery_events" USING btree ("account_id",(floor(extract(epoch from ("created_at" - '1970-01-01 00:00:00+00'::timestamptz)) / 86400)::int),"tx","id","created_at");--> statement-breakpoint
CREATE INDEX "reception_events_day_tx_idx" ON "reception_events" USING btree ("account_id",(floor(extract(epoch from ("created_at" - '1970-01-01 00:00:00+00'::timestamptz)) / 86400)::int),"tx","id","created_at");