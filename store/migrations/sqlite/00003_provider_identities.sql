-- +goose Up
-- Users signed in through an identity provider are found by the token's
-- (issuer, subject). email is the last address the provider marked verified
-- for this identity ('' when none), so a change is noticed without a write
-- on every request.
CREATE TABLE user_identities (
    issuer     TEXT NOT NULL,
    subject    TEXT NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email      TEXT NOT NULL DEFAULT '',
    created_at DATETIME NOT NULL,
    PRIMARY KEY (issuer, subject)
);
CREATE INDEX user_identities_user_idx ON user_identities (user_id);

-- A provider user without a verified email has none here (''): an address
-- the provider does not vouch for is never stored as a user's email. Only
-- real addresses must be unique.
DROP INDEX users_email_key;
CREATE UNIQUE INDEX users_email_key ON users (email) WHERE email <> '';

-- +goose Down
DROP INDEX users_email_key;
CREATE UNIQUE INDEX users_email_key ON users (email);
DROP TABLE user_identities;
