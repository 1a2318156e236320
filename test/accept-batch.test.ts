// accept() commits messages that arrive together in shared statements (group commit, see
// src/accept/store.ts). Many concurrent submissions, of every shape, each must be stored
// exactly as if it had come alone; one that cannot be stored must not take the others
// down with it.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, test } from "node:test";
import { accept, type Submission } from "../src/accept/accept.ts";
import { deferred, startTestService, type TestService } from "./helpers/service.ts";

let hk: TestService;
let other: { accountId: string };

before(async () => {
  // api only: no worker moves anything while the test reads what was stored
  hk = await startTestService({ HIKYAKU_ROLES: "api" });
  other = await hk.newAccount("second");
});

after(async () => {
  await hk?.stop();
});

/** Bodies of different sizes, in lines of at most 76 characters as accept() wants them. */
const body = (i: number) => `body ${"x".repeat(i * 37).replace(/.{76}/g, "$&\r\n")}\r\n`;

function submission(i: number, over: Partial<Submission> = {}): Submission {
  const recipients = Array.from({ length: (i % 3) + 1 }, (_, k) => `r${i}-${k}@${k === 2 ? "other.example" : "example.jp"}`);
  return {
    accountId: i % 4 === 0 ? other.accountId : hk.accountId,
    channel: i % 5 === 0 ? "smtp" : "http",
    sourceIp: i % 5 === 0 ? "192.0.2.7" : null,
    envelopeFrom: `bounces${i}@shop.test`,
    recipients,
    raw: Buffer.from(`From: shop${i}@shop.test\r\nTo: ${recipients.join(", ")}\r\nSubject: n${i}\r\n\r\n${body(i)}`),
    policy: i % 7 === 0 ? { send_at: new Date(Date.now() + 3_600_000).toISOString(), tags: [`t${i}`] } : { priority: i % 2 ? "high" : "bulk" },
    metadata: i % 6 === 0 ? { order: i } : null,
    ...over,
  };
}

test("concurrent submissions share statements, and each is stored exactly as given", async () => {
  const deps = { db: hk.service.db, config: hk.config };
  const subs = Array.from({ length: 60 }, (_, i) => submission(i));
  const sql = hk.service.db.sql;
  // Holds both accounts' rows, so the first statements wait on their foreign keys and the
  // rest queue up behind them the way they do under load; then lets go.
  async function together(batch: Submission[]) {
    const released = deferred();
    const locked = deferred();
    const holder = sql.begin(async (tx) => {
      await tx`select 1 from accounts where id = any(${[hk.accountId, other.accountId]}::uuid[]) for update`;
      locked.resolve();
      await released.promise;
    });
    await locked.promise;
    const pending = Promise.allSettled(batch.map((s) => accept(deps, s)));
    await new Promise((r) => setTimeout(r, 300));
    released.resolve();
    await holder;
    return pending;
  }

  const first = await together(subs.slice(0, 40));
  assert.ok(first.every((r) => r.status === "fulfilled"));
  // They really were committed together: fewer writing transactions than messages.
  const [t] = await sql`select count(distinct tx)::int as n from reception_events`;
  assert.ok((t?.n ?? 40) <= 10, `${t?.n} transactions for 40 messages`);

  // An account that does not exist: its insert fails the batch it lands in, and the
  // others of that batch are stored in smaller batches, split until it is alone.
  const orphan = submission(999, { accountId: randomUUID() });
  const second = await together([...subs.slice(40, 50), orphan, ...subs.slice(50)]);
  const results = [...first, ...second];

  const refused = results.filter((r) => r.status === "rejected");
  assert.equal(refused.length, 1, "only the orphan is refused");
  const accepted = results.filter((r) => r.status === "fulfilled").map((r) => r.value);
  assert.equal(accepted.length, 60);

  for (const [i, a] of accepted.entries()) {
    const s = subs[i] as Submission;
    const [m] = await sql`
      select m.account_id, m.channel, m.source_ip, m.envelope_from, m.message_id_header, m.priority, m.tags, m.metadata,
        m.pending, m.size_bytes, c.raw, (select count(*)::int from delivery_queue q where q.message_id = m.id) as queued
      from messages m join message_contents c on c.message_id = m.id where m.id = ${a.id}`;
    assert.ok(m, `message ${i} stored`);
    assert.equal(m.account_id, s.accountId);
    assert.equal(m.channel, s.channel);
    assert.equal(m.source_ip, s.sourceIp);
    assert.equal(m.envelope_from, s.envelopeFrom);
    assert.equal(m.message_id_header, a.message_id);
    assert.equal(m.priority, s.policy?.send_at ? 0 : s.policy?.priority === "high" ? -10 : 10);
    assert.deepEqual(m.tags, s.policy?.tags ?? []);
    assert.deepEqual(m.metadata, s.metadata);
    assert.equal(m.pending, s.recipients.length);
    assert.equal(m.size_bytes, m.raw.length);
    assert.ok(m.raw.toString().endsWith(body(i)), `message ${i}'s own bytes`);
    assert.match(m.raw.toString(), new RegExp(`Subject: n${i}\\r\\n`));
    assert.equal(m.queued, 1);
    assert.equal(a.state, s.policy?.send_at ? "scheduled" : "queued");
    const rcpts = await sql`select address, domain, state from recipients where message_id = ${a.id} order by id`;
    assert.deepEqual(
      rcpts.map((r) => r.address),
      s.recipients,
      `message ${i}'s recipients, in order`,
    );
    assert.ok(rcpts.every((r) => r.state === a.state && r.address.endsWith(`@${r.domain}`)));
    const events = await sql`select channel, recipient_count, code from reception_events where message_id = ${a.id}`;
    assert.deepEqual([...events], [{ channel: s.channel, recipient_count: s.recipients.length, code: s.channel === "smtp" ? 250 : 202 }]);
  }

  // Usage counts every accepted message and recipient once, per account.
  for (const accountId of [hk.accountId, other.accountId]) {
    const mine = subs.filter((s) => s.accountId === accountId);
    const [u] = await sql`
      select sum(messages_accepted)::int as messages, sum(recipients_accepted)::int as recipients
      from usage_counters where account_id = ${accountId}`;
    assert.deepEqual({ ...u }, { messages: mine.length, recipients: mine.reduce((n, s) => n + s.recipients.length, 0) });
  }
  assert.equal((await sql`select count(*)::int as n from messages`)[0]?.n, 60, "nothing of the orphan was stored");
});
