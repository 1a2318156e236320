-- Custom SQL migration file, put your code below! --
-- A hard bounce (an enhanced code 5.1.x: no such user, no such domain, no mail accepted)
-- of an account that opted in adds the recipient to its suppression list. A row trigger
-- whose WHEN is checked without entering PL/pgSQL, so every other event costs nothing,
-- and the outcome writer (src/delivery/record.ts) stays unaware of suppressions. The
-- service's own bounces (empty envelope sender) never suppress anyone.
CREATE FUNCTION suppressions_from_bounce() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO suppressions (account_id, address, reason, event_id, message_id, detail, created_at)
  SELECT NEW.account_id, lower(NEW.recipient), 'hard_bounce', NEW.id, NEW.message_id, left(NEW.response, 500), NEW.created_at
  FROM accounts WHERE id = NEW.account_id AND suppression_list
  ON CONFLICT (account_id, address) DO NOTHING;
  RETURN NULL;
END $$;--> statement-breakpoint
CREATE TRIGGER suppressions_from_bounce AFTER INSERT ON delivery_events
  FOR EACH ROW WHEN (NEW.event = 'bounced' AND NEW.enhanced_code LIKE '5.1.%' AND NEW.envelope_sender <> '')
  EXECUTE FUNCTION suppressions_from_bounce();
