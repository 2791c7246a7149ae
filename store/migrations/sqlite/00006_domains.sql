-- +goose Up
-- Domains an organization proved it controls through a DNS TXT record.
-- A downgraded row (downgraded_at set) is kept but no longer trusted: its
-- redirect URIs stop working until it is verified again.
CREATE TABLE verified_domains (
    id                        TEXT PRIMARY KEY,
    organization_id           TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    apex_domain               TEXT NOT NULL,
    verified_at               DATETIME NOT NULL,
    verified_via              TEXT NOT NULL CHECK (verified_via IN ('dns_txt')),
    verified_by               TEXT REFERENCES users (id) ON DELETE SET NULL,
    recheck_token             TEXT NOT NULL,
    last_checked_at           DATETIME,
    recheck_attempted_at      DATETIME,
    consecutive_failed_checks INTEGER NOT NULL DEFAULT 0,
    downgraded_at             DATETIME,
    created_at                DATETIME NOT NULL,
    updated_at                DATETIME NOT NULL
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
    id              TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    apex_domain     TEXT NOT NULL,
    method          TEXT NOT NULL CHECK (method IN ('dns_txt')),
    token           TEXT NOT NULL,
    expires_at      DATETIME NOT NULL,
    created_at      DATETIME NOT NULL,
    created_by      TEXT REFERENCES users (id) ON DELETE SET NULL
);
CREATE UNIQUE INDEX domain_challenges_org_apex_key ON domain_challenges (organization_id, apex_domain, method);

-- Redirect-URI patterns, stored normalised, each on one verified domain.
CREATE TABLE redirect_uris (
    id                 TEXT PRIMARY KEY,
    organization_id    TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    verified_domain_id TEXT NOT NULL REFERENCES verified_domains (id) ON DELETE CASCADE,
    pattern            TEXT NOT NULL,
    created_at         DATETIME NOT NULL,
    created_by         TEXT REFERENCES users (id) ON DELETE SET NULL
);
CREATE UNIQUE INDEX redirect_uris_domain_pattern_key ON redirect_uris (verified_domain_id, pattern);
CREATE INDEX redirect_uris_org_idx ON redirect_uris (organization_id, created_at DESC, id DESC);

-- Per-organization counters of costly actions (DNS challenges and lookups)
-- in fixed windows, so limits hold across replicas.
CREATE TABLE organization_rate_windows (
    organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    action          TEXT NOT NULL,
    window_start    DATETIME NOT NULL,
    count           INTEGER NOT NULL,
    PRIMARY KEY (organization_id, action)
);

-- Mail written in the transaction of the change it reports and delivered
-- after commit, with retries, by a sender that holds no transaction while
-- it talks to the mail server. Delivered rows are deleted.
CREATE TABLE mail_outbox (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    data            TEXT NOT NULL DEFAULT '{}',
    created_at      DATETIME NOT NULL,
    next_attempt_at DATETIME NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    locked_until    DATETIME,
    last_error      TEXT,
    failed_at       DATETIME
);
CREATE INDEX mail_outbox_due_idx ON mail_outbox (next_attempt_at) WHERE failed_at IS NULL;

-- +goose Down
DROP TABLE mail_outbox;
DROP TABLE organization_rate_windows;
DROP TABLE redirect_uris;
DROP TABLE domain_challenges;
DROP TABLE verified_domains;
