-- WhatsApp conversations of the comm domain, written only by the
-- conversation actor (conversation/{store_id}:{wa_id}) as vayva_comm in
-- the same transactions as its journal commits, and read by the merchant
-- inbox (also as vayva_comm: the comm schema is readable by its own role
-- only).
--
-- References to stores are not foreign keys, so that the comm domain's
-- tables stay its own.

-- +goose Up

-- One row per thread of a store with a customer. id is the opaque id the
-- API shows (conv_…); (store_id, wa_id) is the actor identity.
CREATE TABLE comm.conversations (
	id               text        PRIMARY KEY,
	store_id         text        NOT NULL,
	merchant_id      text        NOT NULL,
	-- wa_id is the customer's WhatsApp id: E.164 digits without "+".
	wa_id            text        NOT NULL CHECK (wa_id ~ '^[0-9]{1,32}$'),
	phone_number_id  text        NOT NULL,
	customer_name    text        NOT NULL DEFAULT '',
	mode             text        NOT NULL CHECK (mode IN ('ai', 'human')),
	handoff_reason   text        NOT NULL DEFAULT '',
	-- The 24-hour customer service window is open until
	-- last_inbound_at + 24h; NULL when the customer never wrote.
	last_inbound_at  timestamptz,
	last_message_seq bigint      NOT NULL DEFAULT 0 CHECK (last_message_seq >= 0),
	last_message_at  timestamptz NOT NULL,
	created_at       timestamptz NOT NULL,
	updated_at       timestamptz NOT NULL,
	UNIQUE (store_id, wa_id)
);
CREATE INDEX conversations_store_recent_idx ON comm.conversations (store_id, last_message_at DESC, id DESC);
CREATE INDEX conversations_store_mode_idx ON comm.conversations (store_id, mode, last_message_at DESC, id DESC);

-- Every message of a thread, inbound and outbound, in order (seq). wamid is
-- Meta's id: set on arrival for inbound messages, once Meta accepted the
-- send for outbound ones; unique, so a message is stored once.
CREATE TABLE comm.whatsapp_messages (
	id              text        PRIMARY KEY,
	conversation_id text        NOT NULL REFERENCES comm.conversations (id),
	store_id        text        NOT NULL,
	seq             bigint      NOT NULL CHECK (seq > 0),
	direction       text        NOT NULL CHECK (direction IN ('inbound', 'outbound')),
	origin          text        NOT NULL CHECK (origin IN ('customer', 'ai', 'agent')),
	author_id       text        NOT NULL DEFAULT '',
	wamid           text        UNIQUE,
	type            text        NOT NULL,
	original_type   text        NOT NULL DEFAULT '',
	text            text        NOT NULL DEFAULT '',
	reply_id        text        NOT NULL DEFAULT '',
	context_wamid   text        NOT NULL DEFAULT '',
	-- media is the provider's reference ({id, mime_type, sha256,
	-- filename}) of a media message; content describes an outbound
	-- message beyond its text (buttons, template).
	media           jsonb,
	content         jsonb,
	status          text        NOT NULL CHECK (status IN ('received', 'queued', 'sent', 'delivered', 'read', 'failed')),
	error           text        NOT NULL DEFAULT '',
	sent_at         timestamptz,
	status_at       timestamptz,
	created_at      timestamptz NOT NULL,
	UNIQUE (conversation_id, seq)
);

-- Delivery statuses Meta reported, one row per message and status. A
-- status can arrive before the outbound worker has recorded the wamid it
-- belongs to; recording the wamid applies the best status already here.
CREATE TABLE comm.whatsapp_statuses (
	wamid       text        NOT NULL,
	status      text        NOT NULL CHECK (status IN ('sent', 'delivered', 'read', 'failed')),
	at          timestamptz,
	error_code  integer     NOT NULL DEFAULT 0,
	error_title text        NOT NULL DEFAULT '',
	recorded_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (wamid, status)
);

-- +goose Down

DROP TABLE IF EXISTS comm.whatsapp_statuses;
DROP TABLE IF EXISTS comm.whatsapp_messages;
DROP TABLE IF EXISTS comm.conversations;
