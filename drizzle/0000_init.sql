CREATE TABLE "accounts" (
	"id" uuid PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"bounces_enabled" boolean DEFAULT true NOT NULL,
	"monthly_quota" integer,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "api_keys" (
	"id" uuid PRIMARY KEY NOT NULL,
	"account_id" uuid NOT NULL,
	"prefix" text NOT NULL,
	"hash" text NOT NULL,
	"name" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"revoked_at" timestamp with time zone,
	CONSTRAINT "api_keys_hash_unique" UNIQUE("hash")
);
--> statement-breakpoint
CREATE TABLE "delivery_events" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "delivery_events_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"account_id" uuid NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"event" text NOT NULL,
	"message_id" uuid NOT NULL,
	"recipient" text NOT NULL,
	"envelope_sender" text NOT NULL,
	"source_ip" text,
	"channel" text NOT NULL,
	"attempt" integer NOT NULL,
	"mx_host" text,
	"mx_ip" text,
	"tls" boolean,
	"code" smallint NOT NULL,
	"enhanced_code" text,
	"response" text NOT NULL,
	"code_source" text NOT NULL,
	"tags" text[] DEFAULT '{}'::text[] NOT NULL
);
--> statement-breakpoint
CREATE TABLE "delivery_queue" (
	"message_id" uuid PRIMARY KEY NOT NULL,
	"run_at" timestamp with time zone NOT NULL,
	"priority" smallint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "idempotency_keys" (
	"account_id" uuid NOT NULL,
	"key" text NOT NULL,
	"request_hash" text NOT NULL,
	"status" smallint NOT NULL,
	"response" jsonb NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	CONSTRAINT "idempotency_keys_account_id_key_pk" PRIMARY KEY("account_id","key")
);
--> statement-breakpoint
CREATE TABLE "message_contents" (
	"message_id" uuid PRIMARY KEY NOT NULL,
	"raw" "bytea" NOT NULL
);
--> statement-breakpoint
CREATE TABLE "messages" (
	"id" uuid PRIMARY KEY NOT NULL,
	"account_id" uuid NOT NULL,
	"channel" text NOT NULL,
	"source_ip" text,
	"envelope_from" text NOT NULL,
	"message_id_header" text NOT NULL,
	"priority" smallint NOT NULL,
	"lifetime" integer NOT NULL,
	"retry_interval" integer NOT NULL,
	"tags" text[] DEFAULT '{}'::text[] NOT NULL,
	"metadata" jsonb,
	"size_bytes" integer NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"deliverable_at" timestamp with time zone NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"pending" integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE "reception_events" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "reception_events_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"account_id" uuid,
	"created_at" timestamp with time zone NOT NULL,
	"channel" text NOT NULL,
	"source_ip" text,
	"envelope_sender" text,
	"recipient_count" integer NOT NULL,
	"accepted" boolean NOT NULL,
	"code" smallint NOT NULL,
	"enhanced_code" text,
	"reason" text NOT NULL,
	"message_id" uuid
);
--> statement-breakpoint
CREATE TABLE "recipients" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "recipients_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"message_id" uuid NOT NULL,
	"address" text NOT NULL,
	"domain" text NOT NULL,
	"state" text NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"last_code" smallint,
	"last_enhanced_code" text,
	"last_response" text,
	"updated_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "worker_heartbeats" (
	"pool_id" text PRIMARY KEY NOT NULL,
	"last_seen" timestamp with time zone NOT NULL
);
--> statement-breakpoint
ALTER TABLE "api_keys" ADD CONSTRAINT "api_keys_account_id_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."accounts"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "delivery_queue" ADD CONSTRAINT "delivery_queue_message_id_messages_id_fk" FOREIGN KEY ("message_id") REFERENCES "public"."messages"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "idempotency_keys" ADD CONSTRAINT "idempotency_keys_account_id_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."accounts"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "message_contents" ADD CONSTRAINT "message_contents_message_id_messages_id_fk" FOREIGN KEY ("message_id") REFERENCES "public"."messages"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "messages" ADD CONSTRAINT "messages_account_id_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."accounts"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "recipients" ADD CONSTRAINT "recipients_message_id_messages_id_fk" FOREIGN KEY ("message_id") REFERENCES "public"."messages"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "api_keys_account_idx" ON "api_keys" USING btree ("account_id");--> statement-breakpoint
CREATE INDEX "delivery_events_account_id_idx" ON "delivery_events" USING btree ("account_id","id");--> statement-breakpoint
CREATE INDEX "delivery_events_message_idx" ON "delivery_events" USING btree ("account_id","message_id","id");--> statement-breakpoint
CREATE INDEX "delivery_events_recipient_idx" ON "delivery_events" USING btree ("account_id","recipient","id");--> statement-breakpoint
CREATE INDEX "delivery_events_created_idx" ON "delivery_events" USING btree ("created_at");--> statement-breakpoint
CREATE INDEX "delivery_queue_due_idx" ON "delivery_queue" USING btree ("priority","run_at");--> statement-breakpoint
CREATE INDEX "idempotency_keys_created_idx" ON "idempotency_keys" USING btree ("created_at");--> statement-breakpoint
CREATE INDEX "messages_account_created_idx" ON "messages" USING btree ("account_id","created_at");--> statement-breakpoint
CREATE INDEX "reception_events_account_id_idx" ON "reception_events" USING btree ("account_id","id");--> statement-breakpoint
CREATE INDEX "reception_events_created_idx" ON "reception_events" USING btree ("created_at");--> statement-breakpoint
CREATE INDEX "recipients_message_idx" ON "recipients" USING btree ("message_id");