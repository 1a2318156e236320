-- Custom SQL migration file, put your code below! --
-- Destination shaping (src/delivery/shaper.ts): each decision about a budget is one call
-- that locks the budget's destination_state row, so every worker process sharing the
-- database draws from one schedule. Times come from the caller's clock (src/clock.ts).

-- The share of the rate in force at p_at: the stored factor doubled once for every
-- recovery period since recover_from, up to 1.
CREATE FUNCTION destination_rate_factor(p_factor double precision, p_from timestamptz, p_every double precision, p_at timestamptz)
RETURNS double precision LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE
    WHEN p_factor >= 1 OR p_from IS NULL OR p_every IS NULL OR p_at <= p_from THEN least(p_factor, 1)
    ELSE least(1, p_factor * power(2, floor(extract(epoch FROM p_at - p_from) / p_every)))
  END
$$;--> statement-breakpoint

-- Grants up to p_n transactions whose slots begin within p_max_wait seconds (GCRA with a
-- burst of one second's worth), and places the rest behind the parked messages of the
-- same or a higher priority (-10 high, 0 normal, 10 bulk), staggered at the budget's
-- rate (p_spread seconds apart for a budget with no rate). A parked normal or bulk
-- message reserves nothing: it competes again when it wakes, so a later high-priority
-- message takes the next free slot. A parked high-priority message does reserve its
-- slot (tat moves past it, high_credits counts it), so waking bulk mail cannot take it:
-- the next high-priority message to ask takes a credit and goes at once.
CREATE FUNCTION destination_grant(p_key text, p_at timestamptz, p_limit integer, p_n integer, p_priority integer,
  p_max_wait double precision, p_spread double precision)
RETURNS TABLE (granted integer, start_at timestamptz, interval_s double precision, park_at timestamptz, reason text)
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
    tail_bulk = s.tail_bulk, high_credits = s.high_credits, updated_at = p_at
  WHERE d.key = p_key;
  RETURN QUERY SELECT v_k, v_start, v_t, v_park, CASE WHEN v_k < p_n THEN v_reason END;
END $$;--> statement-breakpoint

-- A slow-down reply: halves the rate in force (for a budget without a limit, the rate
-- observed over the last minute, all processes), pauses the budget for p_pause seconds,
-- then lets the rate double back every p_recover seconds. Replies that arrive while the
-- pause is in force (transactions that were already under way) change nothing.
CREATE FUNCTION destination_backoff(p_key text, p_at timestamptz, p_limit integer, p_pause double precision, p_recover double precision)
RETURNS TABLE (backoff_until timestamptz, rate_factor double precision)
LANGUAGE plpgsql AS $$
DECLARE
  s destination_state%ROWTYPE;
  v_factor double precision;
  v_base integer;
  v_until timestamptz;
BEGIN
  INSERT INTO destination_state (key, updated_at) VALUES (p_key, p_at) ON CONFLICT (key) DO NOTHING;
  SELECT * INTO s FROM destination_state d WHERE d.key = p_key FOR UPDATE;
  IF s.backoff_until > p_at THEN
    RETURN QUERY SELECT s.backoff_until, s.rate_factor;
    RETURN;
  END IF;
  v_factor := destination_rate_factor(s.rate_factor, s.recover_from, s.recover_seconds, p_at);
  v_base := CASE WHEN p_limit IS NOT NULL THEN p_limit
    WHEN v_factor < 1 AND s.backoff_base IS NOT NULL THEN s.backoff_base
    ELSE greatest(1, (SELECT coalesce(sum(n), 0) FROM destination_sent c WHERE c.key = p_key AND c.second > p_at - interval '60 seconds'))::integer
  END;
  -- never below one message a minute
  v_factor := greatest(v_factor / 2, least(1, 1.0 / v_base));
  v_until := p_at + make_interval(secs => p_pause);
  UPDATE destination_state d SET limit_per_minute = p_limit, backoff_base = CASE WHEN p_limit IS NULL THEN v_base END,
    rate_factor = v_factor, recover_from = v_until, recover_seconds = p_recover, backoff_until = v_until, updated_at = p_at
  WHERE d.key = p_key;
  RETURN QUERY SELECT v_until, v_factor;
END $$;--> statement-breakpoint

-- An attempt in which no server of the destination accepted a connection. The
-- p_threshold-th in a row (all processes) suspends the budget for p_first seconds,
-- doubling with each further suspension up to p_max; after a suspension one more failure
-- suspends again. Returns the suspension in force, or null.
CREATE FUNCTION destination_unreachable(p_key text, p_at timestamptz, p_threshold integer, p_first double precision, p_max double precision)
RETURNS timestamptz LANGUAGE plpgsql AS $$
DECLARE
  s destination_state%ROWTYPE;
  v_until timestamptz;
BEGIN
  INSERT INTO destination_state (key, updated_at) VALUES (p_key, p_at) ON CONFLICT (key) DO NOTHING;
  SELECT * INTO s FROM destination_state d WHERE d.key = p_key FOR UPDATE;
  IF s.suspended_until > p_at THEN
    RETURN s.suspended_until;
  END IF;
  IF s.connect_failures + 1 < p_threshold THEN
    UPDATE destination_state d SET connect_failures = s.connect_failures + 1, updated_at = p_at WHERE d.key = p_key;
    RETURN NULL;
  END IF;
  v_until := p_at + make_interval(secs => least(p_max, p_first * power(2, least(s.suspensions, 30))));
  UPDATE destination_state d SET suspended_until = v_until, suspensions = s.suspensions + 1,
    connect_failures = greatest(p_threshold - 1, 0), updated_at = p_at
  WHERE d.key = p_key;
  RETURN v_until;
END $$;
