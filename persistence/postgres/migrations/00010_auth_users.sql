-- Users of the auth domain: people who sign in. A user's password is an
-- argon2id PHC string; NULL means no usable password yet (a user invited to
-- a team who has not accepted). Emails are unique regardless of case; the
-- address keeps the case it was typed in.

-- +goose Up

-- Stamps updated_at on every UPDATE that does not set it itself.
-- +goose StatementBegin
CREATE FUNCTION auth.touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	IF NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at THEN
		NEW.updated_at := now();
	END IF;
	RETURN NEW;
END
$$;
-- +goose StatementEnd

CREATE TABLE auth.users (
	id                text        PRIMARY KEY,
	email             text        NOT NULL CHECK (char_length(email) BETWEEN 3 AND 254),
	name              text        NOT NULL CHECK (char_length(name) <= 100),
	password_hash     text,
	email_verified_at timestamptz,
	created_at        timestamptz NOT NULL DEFAULT now(),
	updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON auth.users (lower(email));
CREATE TRIGGER users_touch BEFORE UPDATE ON auth.users
	FOR EACH ROW EXECUTE FUNCTION auth.touch_updated_at();

-- +goose Down

DROP TABLE IF EXISTS auth.users;
DROP FUNCTION IF EXISTS auth.touch_updated_at();
