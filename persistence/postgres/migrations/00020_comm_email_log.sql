-- Transactional email log of the comm domain: one row per email.send event,
-- written by the email worker. event_id is unique, so a redelivered event
-- finds its row and is not sent twice.

-- +goose Up

CREATE TABLE comm.email_log (
	id          text        PRIMARY KEY,
	merchant_id text        NOT NULL DEFAULT '',
	event_id    text        NOT NULL UNIQUE,
	template    text        NOT NULL,
	"to"        text        NOT NULL,
	subject     text        NOT NULL DEFAULT '',
	provider    text        NOT NULL DEFAULT 'resend',
	provider_id text,
	-- queued: not sent yet (possibly retrying); sent: the provider accepted
	-- it; failed: given up (permanent tells a refusal that no retry can fix
	-- from running out of attempts, which a dead-letter replay may retry).
	status      text        NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'sent', 'failed')),
	permanent   boolean     NOT NULL DEFAULT false,
	error       text        NOT NULL DEFAULT '',
	attempts    int         NOT NULL DEFAULT 0,
	-- While a worker sends the email, no other may (a duplicate job waits).
	lease_until timestamptz,
	created_at  timestamptz NOT NULL DEFAULT now(),
	sent_at     timestamptz
);
CREATE INDEX email_log_merchant_idx ON comm.email_log (merchant_id, created_at);

-- +goose Down

DROP TABLE IF EXISTS comm.email_log;
