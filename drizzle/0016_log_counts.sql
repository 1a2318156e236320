CREATE TABLE "log_counts" (
	"account_id" uuid NOT NULL,
	"bucket" timestamp with time zone NOT NULL,
	"accepted" integer DEFAULT 0 NOT NULL,
	"delivered" integer DEFAULT 0 NOT NULL,
	"bounced" integer DEFAULT 0 NOT NULL,
	"expired" integer DEFAULT 0 NOT NULL,
	CONSTRAINT "log_counts_account_id_bucket_pk" PRIMARY KEY("account_id","bucket")
);
--> statement-breakpoint
CREATE TABLE "log_counts_until" (
	"account_id" uuid PRIMARY KEY NOT NULL,
	"until" timestamp with time zone NOT NULL
);
--> statement-breakpoint
ALTER TABLE "log_counts" ADD CONSTRAINT "log_counts_account_id_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."accounts"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "log_counts_until" ADD CONSTRAINT "log_counts_until_account_id_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."accounts"("id") ON DELETE cascade ON UPDATE no action;