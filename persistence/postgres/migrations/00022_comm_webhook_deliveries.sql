-- Outbound webhook deliveries (one per event and subscribed endpoint) and
-- every attempt made for them, written by the delivery worker.
--
-- A pending delivery is due when next_attempt_at has passed. A worker claims
-- it by moving next_attempt_at a lease into the future and counting the
-- attempt, so a worker that dies mid-attempt leaves it due again once the
-- lease has expired; results are recorded only if attempts still matches,
-- so a stale worker cannot overwrite a newer attempt's outcome.

-- +goose Up

CREATE TABLE comm.webhook_deliveries (
	-- id is also the Standard Webhooks message id (webhook-id header),
	-- stable across retries and replays.
	id               text        PRIMARY KEY,
	endpoint_id      text        NOT NULL,
	merchant_id      text        NOT NULL,
	event_id         text        NOT NULL,
	event_type       text        NOT NULL,
	-- The exact body sent: {type, timestamp, data}.
	payload          text        NOT NULL,
	-- pending: waiting for its next attempt; succeeded: a 2xx answered;
	-- failed: given up without exhausting retries (410 Gone, endpoint
	-- disabled or deleted); exhausted: every scheduled attempt failed.
	status           text        NOT NULL DEFAULT 'pending'
		CHECK (status IN ('pending', 'succeeded', 'failed', 'exhausted')),
	attempts         int         NOT NULL DEFAULT 0,
	-- The attempt count when the retry schedule last (re)started: a replay
	-- starts a fresh schedule.
	retry_base       int         NOT NULL DEFAULT 0,
	next_attempt_at  timestamptz,
	last_status_code int,
	last_error       text        NOT NULL DEFAULT '',
	created_at       timestamptz NOT NULL DEFAULT now(),
	updated_at       timestamptz NOT NULL DEFAULT now(),
	completed_at     timestamptz,
	UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_due_idx ON comm.webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint_idx ON comm.webhook_deliveries (endpoint_id, created_at DESC, id DESC);

CREATE TABLE comm.webhook_attempts (
	delivery_id text        NOT NULL REFERENCES comm.webhook_deliveries (id),
	attempt     int         NOT NULL,
	-- NULL when no HTTP answer arrived (timeout, refused connection).
	status_code int,
	duration_ms int         NOT NULL,
	error       text        NOT NULL DEFAULT '',
	at          timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (delivery_id, attempt)
);

-- +goose Down

DROP TABLE IF EXISTS comm.webhook_attempts;
DROP TABLE IF EXISTS comm.webhook_deliveries;
