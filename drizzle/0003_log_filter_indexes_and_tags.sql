CREATE TABLE "delivery_event_tags" (
	"account_id" uuid NOT NULL,
	"tag" text NOT NULL,
	"tx" "xid8" NOT NULL,
	"event_id" bigint NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	CONSTRAINT "delivery_event_tags_account_id_tag_tx_event_id_pk" PRIMARY KEY("account_id","tag","tx","event_id")
);
--> statement-breakpoint
DROP INDEX "delivery_events_tags_idx";--> statement-breakpoint
DROP INDEX "delivery_events_created_idx";--> statement-breakpoint
DROP INDEX "reception_events_created_idx";--> statement-breakpoint
DROP INDEX "delivery_events_account_created_idx";--> statement-breakpoint
DROP INDEX "reception_events_account_created_idx";--> statement-breakpoint
CREATE INDEX "delivery_event_tags_account_created_idx" ON "delivery_event_tags" USING btree ("account_id","created_at");--> statement-breakpoint
CREATE INDEX "delivery_events_channel_tx_idx" ON "delivery_events" USING btree ("account_id","channel","tx","id");--> statement-breakpoint
CREATE INDEX "delivery_events_source_ip_tx_idx" ON "delivery_events" USING btree ("account_id","source_ip","tx","id");--> statement-breakpoint
CREATE INDEX "reception_events_sender_tx_idx" ON "reception_events" USING btree ("account_id","envelope_sender","tx","id");--> statement-breakpoint
CREATE INDEX "reception_events_accepted_tx_idx" ON "reception_events" USING btree ("account_id","accepted","tx","id");--> statement-breakpoint
CREATE INDEX "reception_events_channel_tx_idx" ON "reception_events" USING btree ("account_id","channel","tx","id");--> statement-breakpoint
CREATE INDEX "delivery_events_account_created_idx" ON "delivery_events" USING btree ("account_id","created_at","tx","id");--> statement-breakpoint
CREATE INDEX "reception_events_account_created_idx" ON "reception_events" USING btree ("account_id","created_at","tx","id");