CREATE TABLE "api_rate_windows" (
	"account_id" uuid NOT NULL,
	"window" bigint NOT NULL,
	"used" integer NOT NULL,
	CONSTRAINT "api_rate_windows_account_id_window_pk" PRIMARY KEY("account_id","window")
);
--> statement-breakpoint
CREATE TABLE "suppressions" (
	"account_id" uuid NOT NULL,
	"address" text NOT NULL,
	"reason" text NOT NULL,
	"event_id" bigint,
	"message_id" uuid,
	"detail" text,
	"created_at" timestamp with time zone NOT NULL,
	CONSTRAINT "suppressions_account_id_address_pk" PRIMARY KEY("account_id","address")
);
--> statement-breakpoint
ALTER TABLE "accounts" ADD COLUMN "suppression_list" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "accounts" ADD COLUMN "api_rate_limit" integer;--> statement-breakpoint
ALTER TABLE "api_rate_windows" ADD CONSTRAINT "api_rate_windows_account_id_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."accounts"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "suppressions" ADD CONSTRAINT "suppressions_account_id_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."accounts"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "suppressions_account_created_idx" ON "suppressions" USING btree ("account_id","created_at","address");