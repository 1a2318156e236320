// Sends one message with the SDK and follows its log until every recipient is final.
//   HIKYAKU_API_KEY=hk_… HIKYAKU_URL=http://127.0.0.1:3000 node --import tsx sdk/examples/send.ts you@example.com
// Exits 0 when the message was delivered, 1 when it bounced or expired, 2 on an API error.
import { Hikyaku } from "../src/index.ts";

const [to = "customer@example.com"] = process.argv.slice(2);
const hk = new Hikyaku({
  apiKey: process.env.HIKYAKU_API_KEY ?? "",
  baseUrl: process.env.HIKYAKU_URL ?? "http://127.0.0.1:3000",
  userAgent: "send-example/1.0",
});

const sent = await hk.messages.send(
  { from: process.env.HIKYAKU_FROM ?? "Shop <orders@shop.example>", to, subject: "Your order 1234", text: "Thank you for your order.", tags: ["order"] },
  { idempotencyKey: `example-${Date.now()}` },
);
if (sent.error) {
  console.error(`refused (${sent.error.status} ${sent.error.code}${sent.error.field ? `, field ${sent.error.field}` : ""}): ${sent.error.message}`);
  process.exit(2);
}
console.log(`accepted ${sent.data.id} (${sent.data.state})`);

const FINAL = new Set(["delivered", "bounced", "expired", "cancelled"]);
for (;;) {
  const msg = await hk.messages.get(sent.data.id);
  if (msg.error) {
    console.error(`cannot read the message: ${msg.error.message}`);
    process.exit(2);
  }
  if (msg.data.recipients.every((r) => FINAL.has(r.state))) break;
  await new Promise((r) => setTimeout(r, 500));
}

let delivered = true;
for await (const { data: event, error } of hk.logs.list({ message_id: sent.data.id })) {
  if (error) {
    console.error(`cannot read the log: ${error.message}`);
    process.exit(2);
  }
  if (!("recipient" in event)) continue;
  console.log(`${event.time} ${event.event} ${event.recipient}: ${event.response}`);
  if (event.event !== "delivered" && event.event !== "deferred") delivered = false;
}
process.exit(delivered ? 0 : 1);
