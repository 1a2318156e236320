-- Custom SQL migration file, put your code below! --
-- Keeps delivery_event_tags (one row per tag of a delivery event) in step with
-- delivery_events, once per INSERT statement: the writers need not know it exists.
CREATE FUNCTION delivery_event_tags_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO delivery_event_tags (account_id, tag, tx, event_id, created_at)
  SELECT DISTINCT n.account_id, t.tag, n.tx, n.id, n.created_at
  FROM new_events n CROSS JOIN LATERAL unnest(n.tags) AS t(tag)
  WHERE cardinality(n.tags) > 0;
  RETURN NULL;
END $$;--> statement-breakpoint
CREATE TRIGGER delivery_event_tags_insert AFTER INSERT ON delivery_events
  REFERENCING NEW TABLE AS new_events FOR EACH STATEMENT EXECUTE FUNCTION delivery_event_tags_insert();--> statement-breakpoint
INSERT INTO delivery_event_tags (account_id, tag, tx, event_id, created_at)
  SELECT DISTINCT e.account_id, t.tag, e.tx, e.id, e.created_at
  FROM delivery_events e CROSS JOIN LATERAL unnest(e.tags) AS t(tag)
  WHERE cardinality(e.tags) > 0;
