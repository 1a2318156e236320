CREATE TABLE "destination_connections" (
	"key" text NOT NULL,
	"slot" integer NOT NULL,
	"holder" text NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	CONSTRAINT "destination_connections_key_slot_pk" PRIMARY KEY("key","slot")
);
--> statement-breakpoint
CREATE TABLE "destination_sent" (
	"key" text NOT NULL,
	"second" timestamp with time zone NOT NULL,
	"n" integer NOT NULL,
	CONSTRAINT "destination_sent_key_second_pk" PRIMARY KEY("key","second")
);
--> statement-breakpoint
CREATE TABLE "destination_state" (
	"key" text PRIMARY KEY NOT NULL,
	"limit_per_minute" integer,
	"backoff_base" integer,
	"tat" timestamp with time zone,
	"rate_factor" double precision DEFAULT 1 NOT NULL,
	"recover_from" timestamp with time zone,
	"recover_seconds" double precision,
	"backoff_until" timestamp with time zone,
	"suspended_until" timestamp with time zone,
	"connect_failures" integer DEFAULT 0 NOT NULL,
	"suspensions" integer DEFAULT 0 NOT NULL,
	"connections_wanted_at" timestamp with time zone,
	"connections_wanted_by" text,
	"tail_high" timestamp with time zone,
	"tail_normal" timestamp with time zone,
	"tail_bulk" timestamp with time zone,
	"high_credits" integer DEFAULT 0 NOT NULL,
	"updated_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE INDEX "destination_connections_holder_idx" ON "destination_connections" USING btree ("holder");--> statement-breakpoint
CREATE INDEX "destination_sent_second_idx" ON "destination_sent" USING btree ("second");