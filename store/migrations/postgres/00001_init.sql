-- +goose Up
CREATE TABLE users (
    id         uuid PRIMARY KEY,
    email      text NOT NULL,
    name       text NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX users_email_key ON users (email);

CREATE TABLE organizations (
    id                            uuid PRIMARY KEY,
    name                          text NOT NULL,
    slug                          text NOT NULL,
    logo                          text,
    logo_content_type             text,
    created_at                    timestamptz NOT NULL,
    pending_deletion_at           timestamptz,
    pending_deletion_requested_at timestamptz,
    pending_deletion_requested_by uuid REFERENCES users (id)
);
CREATE UNIQUE INDEX organizations_slug_key ON organizations (slug);
-- The purge job scans for organizations whose deletion time has passed.
CREATE INDEX organizations_pending_deletion_idx ON organizations (pending_deletion_at)
    WHERE pending_deletion_at IS NOT NULL;

CREATE TABLE organization_members (
    id              uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id         uuid NOT NULL REFERENCES users (id),
    role            text NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    created_at      timestamptz NOT NULL,
    suspended_at    timestamptz,
    suspended_by    uuid
);
-- At most one active (not suspended) membership per (organization, user).
CREATE UNIQUE INDEX organization_members_active_key ON organization_members (organization_id, user_id)
    WHERE suspended_at IS NULL;
-- Keyset pagination of the member list: (created_at desc, id desc).
CREATE INDEX organization_members_page_idx ON organization_members (organization_id, created_at DESC, id DESC);
CREATE INDEX organization_members_user_idx ON organization_members (user_id);

CREATE TABLE sessions (
    id                     uuid PRIMARY KEY,
    token_hash             text NOT NULL,
    user_id                uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    active_organization_id uuid REFERENCES organizations (id) ON DELETE SET NULL,
    created_at             timestamptz NOT NULL,
    expires_at             timestamptz NOT NULL,
    revoked_at             timestamptz
);
CREATE UNIQUE INDEX sessions_token_hash_key ON sessions (token_hash);

CREATE TABLE invitations (
    id              uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    email           text NOT NULL,
    role            text NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    invited_by      uuid NOT NULL REFERENCES users (id),
    created_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    accepted_at     timestamptz,
    accepted_by     uuid REFERENCES users (id)
);
CREATE INDEX invitations_org_email_idx ON invitations (organization_id, email);

CREATE TABLE organization_deletion_codes (
    organization_id uuid PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
    requested_by    uuid NOT NULL REFERENCES users (id),
    code_hash       text NOT NULL,
    created_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL
);

CREATE TABLE audit_logs (
    id               text PRIMARY KEY,
    organization_id  uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    actor_user_id    uuid,
    actor_api_key_id text,
    actor_type       text NOT NULL CHECK (actor_type IN ('user', 'system', 'api_key')),
    event            text NOT NULL,
    target_id        text,
    target_type      text,
    metadata         jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at       timestamptz NOT NULL
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
