// Which destination replies back a budget off (src/delivery/shaper.ts isSlowDown): the
// wording real providers use for rate limits, against greylisting and per-transaction
// limits, which must not pause a whole provider.
import assert from "node:assert/strict";
import { test } from "node:test";
import { kindOfCode, type Outcome } from "../src/delivery/outcome.ts";
import { isSlowDown } from "../src/delivery/shaper.ts";
import { service } from "../src/delivery/smtp-attempt.ts";

const reply = (line: string): Outcome => {
  const code = Number(line.slice(0, 3));
  return { kind: kindOfCode(code), code, enhanced: null, response: line, source: "destination", mxHost: "mx.test", mxIp: "127.0.0.2", tls: true };
};

test("rate-limit replies back off", () => {
  for (const line of [
    "421 4.7.0 Too many concurrent SMTP connections from this IP address; please try again later.",
    "421 4.7.28 Our system has detected an unusual rate of unsolicited mail originating from your IP address.",
    "451 4.7.650 The mail server [192.0.2.1] has been temporarily rate limited due to IP reputation.",
    "421 4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred due to unexpected volume or user complaints",
    "450 4.2.1 The user you are trying to contact is receiving mail at a rate that prevents additional messages from being delivered.",
    "452 4.3.1 Message rate exceeded, slow down",
    "421 closing transmission channel",
    "451 throttled: sender over quota",
  ]) {
    assert.equal(isSlowDown(reply(line)), true, line);
  }
});

test("greylisting, per-transaction limits and other temporary failures do not", () => {
  for (const line of [
    "451 4.7.1 try again later",
    "451 4.7.1 Please try again later",
    "450 4.2.0 <a@b.test>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/",
    "451 4.7.1 Greylisting in action, please come back later",
    "452 4.5.3 Too many recipients",
    "452 4.2.2 Mailbox full",
    "451 4.3.0 Temporary lookup failure",
  ]) {
    assert.equal(isSlowDown(reply(line)), false, line);
  }
});

test("only the destination's own words count, and only for a deferral", () => {
  assert.equal(isSlowDown(service("connection_failed", "mx.test", "127.0.0.2", null)), false, "Hikyaku's own 421");
  assert.equal(isSlowDown(reply("550 5.7.1 rate limited permanently")), false, "a 5xx is final, not a slow-down");
});
