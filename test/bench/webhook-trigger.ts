// What the webhook outbox triggers add to a delivery event insert: inserts the same
// batches of events with the trigger disabled, enabled with no endpoint (the common
// case: the trigger looks and writes nothing), and with an endpoint that wants them.
//
//   node --import tsx test/bench/webhook-trigger.ts [--events 20000]
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { createAccount } from "../../src/accounts/accounts.ts";
import { connect } from "../../src/db/client.ts";
import { startEmbedded } from "../../src/db/embedded.ts";
import { migrate } from "../../src/db/migrate.ts";
import { freePort } from "../helpers/sink.ts";

const { values: args } = parseArgs({ options: { events: { type: "string", default: "20000" } } });
const N = Number(args.events);
const BATCH = 200;

async function main() {
  const dir = mkdtempSync(path.join(os.tmpdir(), "hikyaku-trigger-"));
  chmodSync(dir, 0o755);
  const embedded = await startEmbedded(dir, await freePort(), "bench");
  const db = connect(embedded.url, { max: 2 });
  try {
    await migrate(db, embedded.url);
    const { account } = await createAccount(db, "bench");
    const insert = async () => {
      const t0 = performance.now();
      for (let i = 0; i < N; i += BATCH) {
        await db.sql`
          insert into delivery_events (account_id, created_at, event, message_id, recipient, envelope_sender, channel, attempt, code, response, code_source)
          select ${account.id}, now(), 'delivered', gen_random_uuid(), 'a@dest.example', 'b@shop.example', 'http', 1, 250, '250 ok', 'destination'
          from generate_series(1, ${BATCH})`;
      }
      return ((performance.now() - t0) * 1000) / N;
    };
    const result: Record<string, number> = {};
    for (let round = 0; round < 2; round++) {
      await db.sql`alter table delivery_events disable trigger webhook_outbox_delivery`;
      result.trigger_off_us = await insert();
      await db.sql`alter table delivery_events enable trigger webhook_outbox_delivery`;
      result.no_endpoint_us = await insert();
      await db.sql`
        insert into webhook_endpoints (id, account_id, url, event_types, secret, created_at, updated_at)
        values (gen_random_uuid(), ${account.id}, 'https://hooks.example/', '{delivered}', '\\x00', now(), now())`;
      result.endpoint_us = await insert();
      await db.sql`delete from webhook_endpoints`;
    }
    console.log(
      JSON.stringify(
        { events: N, batch: BATCH, per_event_microseconds: Object.fromEntries(Object.entries(result).map(([k, v]) => [k, Number(v.toFixed(1))])) },
        null,
        2,
      ),
    );
  } finally {
    await db.close();
    await embedded.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
