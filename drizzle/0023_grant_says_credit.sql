-- Custom SQL migration file, put your code below! --
-- (0023) destination_grant also says whether the grant took a high-priority credit: a
-- slot reserved earlier, claimed now, which goes as soon as it has a connection. Any
-- other paced grant must begin near its slot, or ask again (src/delivery/shaped-attempt.ts).
-- Otherwise as in 0022.
DROP FUNCTION destination_grant(text, timestamptz, integer, integer, integer, double precision, double precision);--> statement-breakpoint
CREATE FUNCTION destination_grant(p_key text, p_at timestamptz, p_limit integer, p_n integer, p_priority integer,
  p_max_wait double precision, p_spread double precision)
RETURNS TABLE (granted integer, start_at timestamptz, interval_s double precision, park_at timestamptz, reason text,
  credit boolean)
LANGUAGE plpgsql AS $$
DECLARE
  s destination_state%ROWTYPE;
  v_factor double precision;
  v_rate double precision;
  v_t double precision;
  v_burst integer;
  v_start timestamptz;
  v_room timestamptz;
  v_k integer := 0;
  v_park timestamptz;
  v_reason text := 'rate';
  v_credit integer := 0;
BEGIN
  INSERT INTO destination_state (key, updated_at) VALUES (p_key, p_at) ON CONFLICT (key) DO NOTHING;
  SELECT * INTO s FROM destination_state d WHERE d.key = p_key FOR UPDATE;
  s.high_credit_slots := ARRAY(SELECT t FROM unnest(s.high_credit_slots) t
    WHERE t > p_at - make_interval(secs => p_max_wait + 60) ORDER BY t);
  s.high_credits := cardinality(s.high_credit_slots);
  v_factor := destination_rate_factor(s.rate_factor, s.recover_from, s.recover_seconds, p_at);
  IF v_factor >= 1 THEN
    -- recovered: a budget without a limit has none again
    s.backoff_base := NULL;
    s.recover_from := NULL;
  END IF;
  v_rate := coalesce(p_limit, s.backoff_base) * v_factor;
  v_t := CASE WHEN v_rate IS NULL THEN p_spread ELSE 60.0 / greatest(v_rate, 0.01) END;
  IF s.suspended_until > p_at THEN
    v_room := s.suspended_until;
    v_reason := 'suspended';
  ELSIF s.backoff_until > p_at THEN
    v_room := s.backoff_until;
    v_reason := 'backoff';
  ELSIF v_rate IS NULL THEN
    v_k := p_n;
    v_start := p_at;
  ELSE
    v_burst := greatest(1, floor(v_rate / 60))::integer;
    -- greatest() skips a null tat: an idle budget may send its burst at once
    v_start := greatest(s.tat, p_at - make_interval(secs => (v_burst - 1) * v_t));
    IF p_priority <= -10 AND s.high_credits > 0 THEN
      v_credit := least(s.high_credits, p_n);
      s.high_credits := s.high_credits - v_credit;
      s.high_credit_slots := s.high_credit_slots[v_credit + 1:cardinality(s.high_credit_slots)];
      v_k := v_credit;
      v_start := p_at;
    ELSIF v_start <= p_at + make_interval(secs => p_max_wait) THEN
      v_k := least(p_n, floor(extract(epoch FROM p_at + make_interval(secs => p_max_wait) - v_start) / v_t)::integer + 1);
      s.tat := coalesce(v_start, p_at) + make_interval(secs => v_k * v_t);
    ELSE
      s.tat := v_start;
    END IF;
    v_room := s.tat;
    IF p_priority <= -10 AND v_k < p_n THEN
      -- reserve the slots of the rest; they wake when the first one begins
      v_park := s.tat;
      s.tat := s.tat + make_interval(secs => (p_n - v_k) * v_t);
      s.high_credits := s.high_credits + (p_n - v_k);
      s.high_credit_slots := s.high_credit_slots || ARRAY(SELECT v_park + make_interval(secs => i * v_t)
        FROM generate_series(0, p_n - v_k - 1) i);
    END IF;
  END IF;
  IF v_k < p_n AND v_park IS NULL THEN
    v_park := greatest(v_room, s.tail_high,
      CASE WHEN p_priority >= 0 THEN s.tail_normal END,
      CASE WHEN p_priority >= 10 THEN s.tail_bulk END);
    IF p_priority <= -10 THEN
      s.tail_high := v_park + make_interval(secs => (p_n - v_k) * v_t);
    ELSIF p_priority <= 0 THEN
      s.tail_normal := v_park + make_interval(secs => (p_n - v_k) * v_t);
    ELSE
      s.tail_bulk := v_park + make_interval(secs => (p_n - v_k) * v_t);
    END IF;
  END IF;
  UPDATE destination_state d SET limit_per_minute = p_limit, backoff_base = s.backoff_base, tat = s.tat,
    rate_factor = v_factor, recover_from = s.recover_from, tail_high = s.tail_high, tail_normal = s.tail_normal,
    tail_bulk = s.tail_bulk, high_credits = s.high_credits, high_credit_slots = s.high_credit_slots, updated_at = p_at
  WHERE d.key = p_key;
  RETURN QUERY SELECT v_k, v_start, v_t, v_park, CASE WHEN v_k < p_n THEN v_reason END, v_credit > 0;
END $$;
