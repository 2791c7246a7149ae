-- +goose Up
CREATE TABLE users (
    id         TEXT PRIMARY KEY,
    email      TEXT NOT NULL,
    name       TEXT NOT NULL,
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL
);
CREATE UNIQUE INDEX users_email_key ON users (email);

CREATE TABLE organizations (
    id                            TEXT PRIMARY KEY,
    name                          TEXT NOT NULL,
    slug                          TEXT NOT NULL,
    logo                          TEXT,
    logo_content_type             TEXT,
    created_at                    DATETIME NOT NULL,
    pending_deletion_at           DATETIME,
    pending_deletion_requested_at DATETIME,
    pending_deletion_requested_by TEXT REFERENCES users (id)
);
CREATE UNIQUE INDEX organizations_slug_key ON organizations (slug);
-- The purge job scans for organizations whose deletion time has passed.
CREATE INDEX organizations_pending_deletion_idx ON organizations (pending_deletion_at)
    WHERE pending_deletion_at IS NOT NULL;

CREATE TABLE organization_members (
    id              TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id         TEXT NOT NULL REFERENCES users (id),
    role            TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    created_at      DATETIME NOT NULL,
    suspended_at    DATETIME,
    suspended_by    TEXT
);
-- At most one active (not suspended) membership per (organization, user).
CREATE UNIQUE INDEX organization_members_active_key ON organization_members (organization_id, user_id)
    WHERE suspended_at IS NULL;
-- Keyset pagination of the member list: (created_at desc, id desc).
CREATE INDEX organization_members_page_idx ON organization_members (organization_id, created_at DESC, id DESC);
CREATE INDEX organization_members_user_idx ON organization_members (user_id);

CREATE TABLE sessions (
    id                     TEXT PRIMARY KEY,
    token_hash             TEXT NOT NULL,
    user_id                TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    active_organization_id TEXT REFERENCES organizations (id) ON DELETE SET NULL,
    created_at             DATETIME NOT NULL,
    expires_at             DATETIME NOT NULL,
    revoked_at             DATETIME
);
CREATE UNIQUE INDEX sessions_token_hash_key ON sessions (token_hash);

CREATE TABLE invitations (
    id              TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    email           TEXT NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    invited_by      TEXT NOT NULL REFERENCES users (id),
    created_at      DATETIME NOT NULL,
    expires_at      DATETIME NOT NULL,
    accepted_at     DATETIME,
    accepted_by     TEXT REFERENCES users (id)
);
CREATE INDEX invitations_org_email_idx ON invitations (organization_id, email);

CREATE TABLE organization_deletion_codes (
    organization_id TEXT PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
    requested_by    TEXT NOT NULL REFERENCES users (id),
    code_hash       TEXT NOT NULL,
    created_at      DATETIME NOT NULL,
    expires_at      DATETIME NOT NULL
);

CREATE TABLE audit_logs (
    id               TEXT PRIMARY KEY,
    organization_id  TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    actor_user_id    TEXT,
    actor_api_key_id TEXT,
    actor_type       TEXT NOT NULL CHECK (actor_type IN ('user', 'system', 'api_key')),
    event            TEXT NOT NULL,
    target_id        TEXT,
    target_type      TEXT,
    metadata         TEXT NOT NULL DEFAULT '{}',
    created_at       DATETIME NOT NULL
);
-- Keyset pagination of the audit log: (created_at desc, id desc).
CREATE INDEX audit_logs_page_idx ON audit_logs (organization_id, created_at DESC, id DESC);

-- +goose Down
DROP TABLE audit_logs;
DROP TABLE organization_deletion_codes;
DROP TABLE invitations;
DROP TABLE sessions;
DROP TABLE organization_members;
DROP TABLE organizations;
DROP TABLE users;
