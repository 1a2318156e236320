-- Custom SQL migration file, put your code below! --
-- The webhook outbox is written by row triggers on the two log tables, so every writer
-- of a log event (outcomes, sweeper, cancel, intake refusals, and any writer added
-- later) queues its webhooks in the same transaction without knowing they exist. A row
-- becomes an outbox row only for an enabled endpoint of the event's account that wants
-- its type; accepted intake events (the hot path of intake) never enter PL/pgSQL.
CREATE FUNCTION webhook_outbox_delivery() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO webhook_outbox (endpoint_id, source, event_id, message_id, created_at, run_at)
  SELECT w.id, 'delivery', NEW.id, NEW.message_id, NEW.created_at, NEW.created_at
  FROM webhook_endpoints w
  WHERE w.account_id = NEW.account_id AND w.enabled AND NEW.event = ANY (w.event_types);
  RETURN NULL;
END $$;--> statement-breakpoint
CREATE TRIGGER webhook_outbox_delivery AFTER INSERT ON delivery_events
  FOR EACH ROW EXECUTE FUNCTION webhook_outbox_delivery();--> statement-breakpoint
CREATE FUNCTION webhook_outbox_reception() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO webhook_outbox (endpoint_id, source, event_id, message_id, created_at, run_at)
  SELECT w.id, 'reception', NEW.id, NEW.message_id, NEW.created_at, NEW.created_at
  FROM webhook_endpoints w
  WHERE w.account_id = NEW.account_id AND w.enabled AND 'reception.refused' = ANY (w.event_types);
  RETURN NULL;
END $$;--> statement-breakpoint
CREATE TRIGGER webhook_outbox_reception AFTER INSERT ON reception_events
  FOR EACH ROW WHEN (NOT NEW.accepted AND NEW.account_id IS NOT NULL) EXECUTE FUNCTION webhook_outbox_reception();
