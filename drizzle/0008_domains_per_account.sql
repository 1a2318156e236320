ALTER TABLE "domains" DROP CONSTRAINT "domains_domain_unique";--> statement-breakpoint
CREATE UNIQUE INDEX "domains_domain_account_idx" ON "domains" USING btree ("domain","account_id");