-- Custom SQL migration file, put your code below! --
-- The tag rows are now written by a row trigger that fires only for events that carry
-- tags (its WHEN is checked without entering PL/pgSQL): the statement trigger of 0004
-- cost every insert into delivery_events about as much again, tags or not.
DROP TRIGGER delivery_event_tags_insert ON delivery_events;--> statement-breakpoint
DROP FUNCTION delivery_event_tags_insert();--> statement-breakpoint
CREATE FUNCTION delivery_event_tags_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO delivery_event_tags (account_id, tag, tx, event_id, created_at)
  SELECT DISTINCT NEW.account_id, t.tag, NEW.tx, NEW.id, NEW.created_at FROM unnest(NEW.tags) AS t(tag);
  RETURN NULL;
END $$;--> statement-breakpoint
CREATE TRIGGER delivery_event_tags_insert AFTER INSERT ON delivery_events
  FOR EACH ROW WHEN (cardinality(NEW.tags) > 0) EXECUTE FUNCTION delivery_event_tags_insert();
