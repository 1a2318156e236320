DROP INDEX "delivery_events_account_id_idx";--> statement-breakpoint
DROP INDEX "delivery_events_recipient_idx";--> statement-breakpoint
DROP INDEX "reception_events_account_id_idx";--> statement-breakpoint
ALTER TABLE "delivery_events" ADD COLUMN "tx" "xid8" DEFAULT pg_current_xact_id() NOT NULL;--> statement-breakpoint
ALTER TABLE "reception_events" ADD COLUMN "tx" "xid8" DEFAULT pg_current_xact_id() NOT NULL;--> statement-breakpoint
CREATE INDEX "delivery_events_account_tx_idx" ON "delivery_events" USING btree ("account_id","tx","id");--> statement-breakpoint
CREATE INDEX "delivery_events_recipient_tx_idx" ON "delivery_events" USING btree ("account_id","recipient","tx","id");--> statement-breakpoint
CREATE INDEX "delivery_events_domain_tx_idx" ON "delivery_events" USING btree ("account_id",split_part("recipient", '@', 2),"tx","id");--> statement-breakpoint
CREATE INDEX "delivery_events_event_tx_idx" ON "delivery_events" USING btree ("account_id","event","tx","id");--> statement-breakpoint
CREATE INDEX "delivery_events_sender_tx_idx" ON "delivery_events" USING btree ("account_id","envelope_sender","tx","id");--> statement-breakpoint
CREATE INDEX "delivery_events_account_created_idx" ON "delivery_events" USING btree ("account_id","created_at");--> statement-breakpoint
CREATE INDEX "delivery_events_tags_idx" ON "delivery_events" USING gin ("tags");--> statement-breakpoint
CREATE INDEX "reception_events_account_tx_idx" ON "reception_events" USING btree ("account_id","tx","id");--> statement-breakpoint
CREATE INDEX "reception_events_source_ip_tx_idx" ON "reception_events" USING btree ("account_id","source_ip","tx","id");--> statement-breakpoint
CREATE INDEX "reception_events_message_idx" ON "reception_events" USING btree ("account_id","message_id");--> statement-breakpoint
CREATE INDEX "reception_events_account_created_idx" ON "reception_events" USING btree ("account_id","created_at");