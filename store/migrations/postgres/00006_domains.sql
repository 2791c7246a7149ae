-- +goose Up
-- Domains an organization proved it controls through a DNS TXT record.
-- A downgraded row (downgraded_at set) is kept but no longer trusted: its
-- redirect URIs stop working until it is verified again.
CREATE TABLE verified_domains (
    id                        uuid PRIMARY KEY,
    organization_id           uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    apex_domain               text NOT NULL,
    verified_at               timestamptz NOT NULL,
    verified_via              text NOT NULL CHECK (verified_via IN ('dns_txt')),
    verified_by               uuid REFERENCES users (id) ON DELETE SET NULL,
    recheck_token             text NOT NULL,
    last_checked_at           timestamptz,
    recheck_attempted_at      timestamptz,
    consecutive_failed_checks integer NOT NULL DEFAULT 0,
    downgraded_at             timestamptz,
    created_at                timestamptz NOT NULL,
    updated_at                timestamptz NOT NULL
);
-- One row per organization and apex, revived on re-verification.
CREATE UNIQUE INDEX verified_domains_org_apex_key ON verified_domains (organization_id, apex_domain);
-- At most one organization holds an apex actively, platform-wide.
CREATE UNIQUE INDEX verified_domains_active_apex_key ON verified_domains (apex_domain) WHERE downgraded_at IS NULL;
-- The re-check job picks the rows checked longest ago. last_checked_at is
-- the last check that got an answer; recheck_attempted_at the last attempt,
-- answered or not, so domains whose lookups keep failing go to the back.
CREATE INDEX verified_domains_recheck_idx ON verified_domains (last_checked_at);

-- Pending DNS challenges: at most one per organization, apex and method.
CREATE TABLE domain_challenges (
    id              uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    apex_domain     text NOT NULL,
    method          text NOT NULL CHECK (method IN ('dns_txt')),
    token           text NOT NULL,
    expires_at      timestamptz NOT NULL,
    created_at      timestamptz NOT NULL,
    created_by      uuid REFERENCES users (id) ON DELETE SET NULL
);
CREATE UNIQUE INDEX domain_challenges_org_apex_key ON domain_challenges (organization_id, apex_domain, method);

-- Redirect-URI patterns, stored normalised, each on one verified domain.
CREATE TABLE redirect_uris (
    id                 uuid PRIMARY KEY,
    organization_id    uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    verified_domain_id uuid NOT NULL REFERENCES verified_domains (id) ON DELETE CASCADE,
    pattern            text NOT NULL,
    created_at         timestamptz NOT NULL,
    created_by         uuid REFERENCES users (id) ON DELETE SET NULL
);
CREATE UNIQUE INDEX redirect_uris_domain_pattern_key ON redirect_uris (verified_domain_id, pattern);
CREATE INDEX redirect_uris_org_idx ON redirect_uris (organization_id, created_at DESC, id DESC);

-- Per-organization counters of costly actions (DNS challenges and lookups)
-- in fixed windows, so limits hold across replicas.
CREATE TABLE organization_rate_windows (
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    action          text NOT NULL,
    window_start    timestamptz NOT NULL,
    count           integer NOT NULL,
    PRIMARY KEY (organization_id, action)
);

-- Mail written in the transaction of the change it reports and delivered
-- after commit, with retries, by a sender that holds no transaction while
-- it talks to the mail server. Delivered rows are deleted.
CREATE TABLE mail_outbox (
    id              uuid PRIMARY KEY,
    kind            text NOT NULL,
    recipient       text NOT NULL,
    data            jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at      timestamptz NOT NULL,
    next_attempt_at timestamptz NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    locked_until    timestamptz,
    last_error      text,
    failed_at       timestamptz
);
CREATE INDEX mail_outbox_due_idx ON mail_outbox (next_attempt_at) WHERE failed_at IS NULL;

-- +goose Down
DROP TABLE mail_outbox;
DROP TABLE organization_rate_windows;
DROP TABLE redirect_uris;
DROP TABLE domain_challenges;
DROP TABLE verified_domains;
