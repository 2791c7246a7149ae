-- +goose Up
-- Webhook endpoints of an organization. The signing secret is recoverable
-- (reveal exists): it is kept sealed under the server's webhook data key,
-- whose id the ciphertext names, so the key can rotate.
CREATE TABLE webhook_endpoints (
    id                     TEXT PRIMARY KEY,
    organization_id        uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name                   TEXT,
    labels                 jsonb NOT NULL DEFAULT '[]',
    url                    TEXT NOT NULL,
    enabled                BOOLEAN NOT NULL DEFAULT true,
    subscribed_event_types jsonb NOT NULL,
    undelivered_payload_retention_hours INTEGER NOT NULL DEFAULT 72
        CONSTRAINT webhook_endpoints_payload_retention_hours_check
        CHECK (undelivered_payload_retention_hours IN (0, 24, 72, 168)),
    signing_secret_ciphertext TEXT NOT NULL,
    created_at             timestamptz NOT NULL,
    updated_at             timestamptz NOT NULL,
    disabled_at            timestamptz
);
CREATE INDEX webhook_endpoints_page_idx ON webhook_endpoints (organization_id, created_at DESC, id DESC);

-- The customers' public RSA keys; at most one active per endpoint.
CREATE TABLE webhook_encryption_keys (
    id                  TEXT PRIMARY KEY,
    webhook_endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    key_id              TEXT NOT NULL,
    algorithm           TEXT NOT NULL,
    key_type            TEXT NOT NULL,
    jwk                 jsonb NOT NULL,
    is_active           BOOLEAN NOT NULL DEFAULT true,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    disabled_at         timestamptz
);
CREATE INDEX webhook_encryption_keys_endpoint_idx ON webhook_encryption_keys (webhook_endpoint_id, id);
CREATE UNIQUE INDEX webhook_encryption_keys_one_active_per_endpoint_uidx
    ON webhook_encryption_keys (webhook_endpoint_id) WHERE is_active;

-- One delivery per (event, endpoint), written in the transaction of the
-- event. run_id fences the delivery's runs: the queue job that carries the
-- current run_id is the only one that may send it, so a manual retry
-- supersedes a scheduled run instead of starting a second one.
-- held_payload is the plaintext of a delivery whose endpoint had no active
-- key, sealed under the webhook data key, until a key is added (then it is
-- encrypted to it) or the retention window ends (then it is dropped).
CREATE TABLE webhook_deliveries (
    id                        TEXT PRIMARY KEY,
    event_id                  TEXT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    webhook_endpoint_id       TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    organization_id           uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    webhook_encryption_key_id TEXT REFERENCES webhook_encryption_keys (id) ON DELETE SET NULL,
    status                    TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'delivering', 'succeeded', 'failed')),
    attempt_count             INTEGER NOT NULL DEFAULT 0,
    next_attempt_at           timestamptz,
    last_status_code          INTEGER,
    payload                   TEXT,
    held_payload              TEXT,
    payload_expires_at        timestamptz,
    payload_scrubbed_at       timestamptz,
    payload_retention_reason  TEXT CHECK (payload_retention_reason IS NULL OR payload_retention_reason IN (
        'pending_delivery', 'delivered', 'terminal_failure_retention', 'expired',
        'no_active_key', 'jwe_creation_failed', 'privacy_request')),
    run_id                    TEXT,
    last_attempt_at           timestamptz,
    created_at                timestamptz NOT NULL,
    updated_at                timestamptz NOT NULL
-- Room in each page for the two updates of every attempt (claim, outcome)
-- to stay heap-only where no indexed column changes.
) WITH (fillfactor = 80);
CREATE INDEX webhook_deliveries_page_idx ON webhook_deliveries (organization_id, created_at DESC, id DESC);
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (webhook_endpoint_id, created_at DESC, id DESC);
CREATE INDEX webhook_deliveries_event_idx ON webhook_deliveries (event_id);
-- The payload sweep: rows still holding a payload, by expiry.
CREATE INDEX webhook_deliveries_payload_expiry_idx ON webhook_deliveries (payload_expires_at)
    WHERE payload IS NOT NULL OR held_payload IS NOT NULL;

-- Attempt history (no API shows it; operators and tests read it).
CREATE TABLE webhook_delivery_attempts (
    id                  TEXT PRIMARY KEY,
    webhook_delivery_id TEXT NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    status              TEXT NOT NULL CHECK (status IN ('succeeded', 'failed')),
    status_code         INTEGER,
    error               TEXT,
    attempted_at        timestamptz NOT NULL
);
CREATE INDEX webhook_delivery_attempts_delivery_idx ON webhook_delivery_attempts (webhook_delivery_id);

-- +goose Down
DROP TABLE webhook_delivery_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_encryption_keys;
DROP TABLE webhook_endpoints;
