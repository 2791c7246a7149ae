package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/kayle-id/orgs-api/domains"
	"github.com/kayle-id/orgs-api/sessions"
	"github.com/kayle-id/orgs-api/terms"
	"github.com/kayle-id/orgs-api/verify/tokens"
)

// Verification sessions: what a relying party creates with an API key to
// have a person verified, their terminal events, and the jobs that expire
// and retire them. Every move out of created/in_progress goes through
// transition, one conditional update, so racing cancel, expiry and
// completion produce exactly one terminal event.

// Session statuses.
const (
	StatusCreated    = "created"
	StatusInProgress = "in_progress"
	StatusSucceeded  = "succeeded"
	StatusFailed     = "failed"
	StatusExpired    = "expired"
	StatusCancelled  = "cancelled"
)

// SessionStatuses are the six statuses, in upstream's order.
var SessionStatuses = []string{StatusCreated, StatusInProgress, StatusSucceeded, StatusFailed, StatusExpired, StatusCancelled}

// FailureCodes are the failure codes a failed session may carry.
var FailureCodes = []string{"document_authenticity_failed", "document_active_authentication_failed",
	"document_chip_authentication_failed", "document_anti_cloning_attestation_failed",
	"document_data_invalid", "liveness_failed", "selfie_face_mismatch"}

// Session audit events (the seven upstream names).
const (
	EventSessionCreated        = "session.created"
	EventSessionCancelled      = "session.cancelled"
	EventSessionExpired        = "session.expired"
	EventSessionSucceeded      = "session.succeeded"
	EventSessionFailed         = "session.failed"
	EventSessionCheckFailed    = "session.check.failed"
	EventSessionPrivacyRequest = "session.privacy_request.submitted"
)

// sessionRetiredEvents are the session audit events retention deletes
// after a year (the privacy request is kept).
var sessionRetiredEvents = []string{EventSessionCreated, EventSessionCancelled, EventSessionExpired,
	EventSessionSucceeded, EventSessionCheckFailed, EventSessionFailed}

const (
	// SessionTTL is how long a session can be started.
	SessionTTL = 60 * time.Minute
	// sessionIDChars and cancelTokenChars are the random lengths, as upstream.
	sessionIDChars   = 64
	cancelTokenChars = 48
	// unverifiedOrgLimit is how many identity-revealing sessions an
	// organization without an owner check may create per 24 hours.
	unverifiedOrgLimit = 5
	// touchBatch is how many overdue sessions an expire-on-touch pass ends
	// per transaction.
	touchBatch = 100
)

// TriggerTypeSession is the trigger_type of session events.
const TriggerTypeSession = "verification_session"

// VerificationSession is one row of verification_sessions.
type VerificationSession struct {
	ID                     string
	OrganizationID         uuid.UUID
	Status                 string
	ContractVersion        int
	ShareFields            ShareContract
	RedirectURL            *string
	WebhookEndpointIDs     NullStringList
	CancelTokenHash        string
	CancelTokenConsumedAt  *time.Time
	IsAgeOnly              bool
	FailureCode            *string
	NfcTriesUsed           int
	LivenessTriesUsed      int
	RiskScore              float64
	SelectedShareFieldKeys NullStringList
	ExpiresAt              time.Time
	CompletedAt            *time.Time
	CreatedAt              time.Time
	UpdatedAt              time.Time
	// The verify flow's columns (issue 23): the mobile write token's keyed
	// hash and life, the first hello's device and app, the phase and the
	// one connection that holds the session.
	MobileWriteTokenHash       *string
	MobileWriteTokenIssuedAt   *time.Time
	MobileWriteTokenExpiresAt  *time.Time
	MobileWriteTokenConsumedAt *time.Time
	MobileHelloDeviceIDHash    *string `gorm:"column:mobile_hello_device_id_hash"`
	MobileHelloAppVersion      *string
	MobileAttestKeyID          *string `gorm:"column:mobile_attest_key_id"`
	CurrentPhase               *string
	PhaseUpdatedAt             *time.Time
	ClaimedByConnectionID      *string `gorm:"column:claimed_by_connection_id"`
	ClaimedAt                  *time.Time
}

// TableName pins GORM to the migrated table.
func (VerificationSession) TableName() string { return "verification_sessions" }

// Active reports whether the session can still end.
func (v VerificationSession) Active() bool {
	return v.Status == StatusCreated || v.Status == StatusInProgress
}

// Event is one terminal transition's event row.
type Event struct {
	ID             string
	OrganizationID uuid.UUID
	Type           string
	TriggerID      string
	TriggerType    string
	Data           Metadata
	CreatedAt      time.Time
}

// TableName pins GORM to the migrated table.
func (Event) TableName() string { return "events" }

// ShareContract is the normalised share contract in one JSON column.
type ShareContract sessions.Contract

// Value stores the contract as JSON text.
func (c ShareContract) Value() (driver.Value, error) {
	if c == nil {
		return "{}", nil
	}
	b, err := json.Marshal(sessions.Contract(c))
	return string(b), err
}

// Scan reads the contract from JSON text or bytes.
func (c *ShareContract) Scan(src any) error {
	b, err := jsonColumn(src, "share contract")
	if err != nil || b == nil {
		*c = ShareContract{}
		return err
	}
	out := ShareContract{}
	if err := json.Unmarshal(b, &out); err != nil {
		return fmt.Errorf("share contract: %w", err)
	}
	*c = out
	return nil
}

// NullStringList is a JSON array of strings that may be NULL (nil).
type NullStringList []string

// GormDataType names the column type for GORM, which cannot infer it from
// the NULL a zero list stores.
func (NullStringList) GormDataType() string { return "text" }

// Value stores nil as NULL and anything else as a JSON array.
func (l NullStringList) Value() (driver.Value, error) {
	if l == nil {
		return nil, nil
	}
	b, err := json.Marshal([]string(l))
	return string(b), err
}

// Scan reads NULL as nil.
func (l *NullStringList) Scan(src any) error {
	b, err := jsonColumn(src, "string list")
	if err != nil || b == nil {
		*l = nil
		return err
	}
	var out []string
	if err := json.Unmarshal(b, &out); err != nil {
		return fmt.Errorf("string list: %w", err)
	}
	if out == nil {
		out = []string{}
	}
	*l = out
	return nil
}

// RPCaller is who acts on an organization's sessions: an API key, or a
// dashboard user acting on their active organization. Audit rows name it.
type RPCaller struct {
	OrganizationID uuid.UUID
	APIKeyID       *uuid.UUID
	UserID         *uuid.UUID
	// gate is the organization as the key's lookup read it (APIKey.gate).
	gate *sessionOrg
}

// Relying-party scopes an operation needs.
const (
	ScopeSessionsRead  = "sessions:read"
	ScopeSessionsWrite = "sessions:write"
	ScopeAnalyticsRead = "analytics:read"
	ScopeWebhooksRead  = "webhooks:read"
	ScopeWebhooksWrite = "webhooks:write"
)

// grants reports whether a key holding granted may do what needs: the scope
// itself, or, for a read scope, the write scope of its area. analytics:read
// has no write scope, so nothing else implies it.
func grants(granted []string, needs string) bool {
	if slices.Contains(granted, needs) {
		return true
	}
	switch needs {
	case ScopeSessionsRead:
		return slices.Contains(granted, ScopeSessionsWrite)
	case ScopeWebhooksRead:
		return slices.Contains(granted, ScopeWebhooksWrite)
	}
	return false
}

// writeScope reports whether a scope is a write scope (dashboard callers
// need owner/admin for those, any active member for the others).
func writeScope(scope string) bool {
	return scope == ScopeSessionsWrite || scope == ScopeWebhooksWrite
}

// AuthorizeRP checks that p may act with scope on the relying-party API and
// names the organization: an API key must hold the scope (a write scope
// implies its area's read scope); a dashboard caller needs an active
// organization (ErrNoActiveOrganization) and an active membership of it,
// owner or admin for writes, any role for reads (ErrForbidden).
func (s *Store) AuthorizeRP(ctx context.Context, p Principal, scope string) (RPCaller, error) {
	if p.APIKey != nil {
		if !grants(p.APIKey.Permissions, scope) {
			return RPCaller{}, ErrForbidden
		}
		id := p.APIKey.ID
		return RPCaller{OrganizationID: p.APIKey.OrganizationID, APIKeyID: &id, gate: p.APIKey.gate}, nil
	}
	org := p.Session.ActiveOrganizationID
	if org == nil {
		return RPCaller{}, ErrNoActiveOrganization
	}
	allowed := func(Role) bool { return true }
	if writeScope(scope) {
		allowed = Role.CanManage
	}
	err := s.read(ctx, func(db *gorm.DB) error {
		_, err := requireRole(db, *org, p.User.ID, allowed)
		return err
	})
	if err != nil {
		return RPCaller{}, err
	}
	uid := p.User.ID
	return RPCaller{OrganizationID: *org, UserID: &uid}, nil
}

// sessionAudit is an audit row of a session change, naming who acted: the
// API key, the user, or (nil caller) the system.
func (s *Store) sessionAudit(tx *gorm.DB, c *RPCaller, orgID uuid.UUID, event, sessionID string, meta Metadata) error {
	var user *uuid.UUID
	if c != nil {
		user = c.UserID
	}
	row := s.auditRow(orgID, user, event, TriggerTypeSession, sessionID, meta)
	if c != nil && c.APIKeyID != nil {
		k := c.APIKeyID.String()
		row.ActorType, row.ActorAPIKeyID = ActorAPIKey, &k
	}
	return writeAudit(tx, row)
}

// NewVerificationSession is what CreateVerificationSession needs, each
// field as the request carried it.
type NewVerificationSession struct {
	// ShareFields is the share_fields value as sent; nil when omitted.
	ShareFields json.RawMessage
	// Redirect is the parsed redirect_url (domains.ParseSessionRedirect);
	// nil when omitted.
	Redirect *domains.Redirect
	// WebhookEndpointIDs are the targets as sent (a string made a list of
	// one); nil when omitted.
	WebhookEndpointIDs []string
	// Production turns off the loopback redirect exception.
	Production bool
	// Parsed says Contract and ContractErr are ShareFields already parsed
	// (sessions.ParseShareFields), so the creation does not parse again.
	Parsed      bool
	Contract    sessions.Contract
	ContractErr error
}

// IssuedVerificationSession is a new session and its cancel token, shown
// once.
type IssuedVerificationSession struct {
	VerificationSession
	CancelToken string
}

// CreateVerificationSession creates a session for the caller's
// organization. Checks, in upstream's order: share-field shape
// (*sessions.Error: INVALID_SHARE_FIELDS, REASON_REQUIRED, REASON_TOO_LONG), frozen (ErrOrganizationFrozen),
// the redirect URL against the organization's domains (*sessions.Error),
// share-field semantics (*sessions.Error), webhook targets
// (ErrWebhookEndpointUnavailable), onboarding (*sessions.Error), then the
// unverified-organization limit (ErrUnverifiedOrgLimit).
func (s *Store) CreateVerificationSession(ctx context.Context, c RPCaller, in NewVerificationSession) (IssuedVerificationSession, error) {
	// One parse: a refusal of the schema step answers now, before
	// everything else; a semantic one waits for its turn (step 5).
	contract, contractErr := in.Contract, in.ContractErr
	if !in.Parsed {
		contract, contractErr = sessions.ParseShareFields(in.ShareFields)
	}
	var se *sessions.Error
	if contractErr != nil && (!errors.As(contractErr, &se) || se.Schema()) {
		return IssuedVerificationSession{}, contractErr
	}
	secret, _, err := s.authSecret(ctx)
	if err != nil {
		return IssuedVerificationSession{}, err
	}
	id, err := randomString(apiKeyAlphabet, sessionIDChars)
	if err != nil {
		return IssuedVerificationSession{}, err
	}
	token, err := randomString(apiKeyAlphabet, cancelTokenChars)
	if err != nil {
		return IssuedVerificationSession{}, err
	}
	var out IssuedVerificationSession
	// create runs the checks and the insert on db: a transaction when inTx,
	// else the pool, statement by statement.
	create := func(tx *gorm.DB, inTx bool) error {
		now := s.clock()
		var org sessionOrg
		if c.gate != nil && !inTx {
			// PostgreSQL, an API key: the key's lookup read the gate at the
			// start of this request, as a statement of its own here would
			// (READ COMMITTED), one round trip earlier.
			org = *c.gate
		} else if org, err = readSessionOrg(tx, c.OrganizationID); err != nil {
			return err
		}
		if org.PendingDeletionAt != nil {
			return ErrOrganizationFrozen
		}
		var redirect *string
		if in.Redirect != nil {
			u, err := CheckSessionRedirectTx(tx, org.ID, *in.Redirect, in.Production)
			if err != nil {
				return err
			}
			redirect = &u
		}
		if contractErr != nil {
			return contractErr
		}
		targets, err := webhookTargets(tx, org.ID, in.WebhookEndpointIDs)
		if err != nil {
			return err
		}
		if err := org.onboarding(); err != nil {
			return err
		}
		ageOnly := contract.AgeOnly()
		limited := !ageOnly && org.OwnerIDCheckedAt == nil
		v := VerificationSession{
			ID: "vs_" + id, OrganizationID: org.ID, Status: StatusCreated, ContractVersion: 1,
			ShareFields: ShareContract(contract), RedirectURL: redirect, WebhookEndpointIDs: targets,
			CancelTokenHash: tokens.CancelTokenHash(secret, token), IsAgeOnly: ageOnly,
			ExpiresAt: now.Add(SessionTTL), CreatedAt: now, UpdatedAt: now,
		}
		if err := s.writeNewSession(tx, inTx, limited, &c, v, len(contract)); err != nil {
			return err
		}
		out = IssuedVerificationSession{VerificationSession: v, CancelToken: token}
		return nil
	}
	if s.dialect != Postgres {
		// SQLite: all of it in one write transaction (BEGIN IMMEDIATE), so
		// the reads see the database as the insert finds it.
		return out, s.tx(ctx, func(tx *gorm.DB) error { return create(tx, true) })
	}
	// PostgreSQL: no transaction around the reads. At READ COMMITTED each
	// statement sees what was committed when it began, in a transaction or
	// not, and the reads take no locks, so a transaction around them would
	// guarantee nothing more; it would only cost the BEGIN and COMMIT round
	// trips and hold a connection across them. The writes are one statement
	// (insertCreatedSession), atomic on its own, and the limit's path opens
	// its transaction above.
	err = s.retry(ctx, func(events *[]string) error {
		if err := s.enter(ctx); err != nil {
			return err
		}
		defer s.exit(ctx)
		return create(s.db.WithContext(context.WithValue(ctx, eventsKey{}, events)), false)
	})
	return out, err
}

// writeNewSession inserts a new session (insertCreatedSession), first
// holding its organization to the unverified-organization limit when
// limited. db is a transaction when inTx, else the pool.
func (s *Store) writeNewSession(db *gorm.DB, inTx, limited bool, c *RPCaller, v VerificationSession, fieldCount int) error {
	write := func(tx *gorm.DB) error {
		if limited {
			if err := s.unverifiedOrgLimit(tx, v.OrganizationID, v.CreatedAt); err != nil {
				return err
			}
		}
		return s.insertCreatedSession(tx, c, v, fieldCount)
	}
	if inTx || !limited {
		return write(db)
	}
	// The limit's lock, its count and the insert it allows hold together
	// only in one transaction.
	return db.Transaction(write)
}

// insertCreatedSession writes a new session, its session.created audit row
// and its day count in the caller's transaction. It is the hot path of POST
// /v1/sessions, so it spells the statements out instead of going through
// GORM's reflective Create, and on PostgreSQL sends the three writes as one
// statement (data-modifying CTEs): one round trip instead of three.
func (s *Store) insertCreatedSession(tx *gorm.DB, c *RPCaller, v VerificationSession, fieldCount int) error {
	share, err := v.ShareFields.Value()
	if err != nil {
		return err
	}
	targets, err := v.WebhookEndpointIDs.Value()
	if err != nil {
		return err
	}
	a := s.auditRow(v.OrganizationID, c.UserID, EventSessionCreated, TriggerTypeSession, v.ID, nil)
	if c.APIKeyID != nil {
		k := c.APIKeyID.String()
		a.ActorType, a.ActorAPIKeyID = ActorAPIKey, &k
	}
	// What Metadata{"is_age_only", "share_field_count"} marshals to (keys
	// sorted), without a map and encoding/json's reflection.
	meta := fmt.Sprintf(`{"is_age_only":%t,"share_field_count":%d}`, v.IsAgeOnly, fieldCount)
	args := []any{v.ID, v.OrganizationID, v.Status, v.ContractVersion, share, v.RedirectURL, targets,
		v.CancelTokenHash, v.IsAgeOnly, v.ExpiresAt, v.CreatedAt, v.UpdatedAt,
		a.ID, a.OrganizationID, a.ActorUserID, a.ActorAPIKeyID, a.ActorType, a.Event, a.TargetID, a.TargetType, meta, a.CreatedAt,
		v.OrganizationID, countDay(v.CreatedAt)}
	if s.dialect == Postgres {
		err = tx.Exec("WITH s AS ("+insertSessionSQL+"), a AS ("+insertAuditSQL+") "+bumpCreatedSQL, args...).Error
	} else {
		// SQLite runs in process: three statements cost no round trips.
		if err = tx.Exec(insertSessionSQL, args[:12]...).Error; err == nil {
			if err = tx.Exec(insertAuditSQL, args[12:22]...).Error; err == nil {
				err = tx.Exec(bumpCreatedSQL, args[22:]...).Error
			}
		}
	}
	if err != nil {
		return err
	}
	noteEvent(tx, a.Event)
	return nil
}

// The statements of insertCreatedSession. The columns left out take their
// defaults, which are a new session's zero values (no failure, no tries, no
// completion, no consumed cancel token, no selected keys).
const (
	insertSessionSQL = `INSERT INTO verification_sessions (id, organization_id, status, contract_version,
		share_fields, redirect_url, webhook_endpoint_ids, cancel_token_hash, is_age_only, expires_at, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	insertAuditSQL = `INSERT INTO audit_logs (id, organization_id, actor_user_id, actor_api_key_id, actor_type,
		event, target_id, target_type, metadata, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	bumpCreatedSQL = `INSERT INTO session_day_counts (organization_id, day, created) VALUES (?, ?, 1)
		ON CONFLICT (organization_id, day) DO UPDATE SET created = session_day_counts.created + 1`
)

// sessionOrg is what creating a session reads of its organization, in one
// statement: the freeze, the onboarding gate's inputs (the row, its
// metadata, whether the current integration terms are accepted) and the
// owner check.
type sessionOrg struct {
	ID                uuid.UUID
	PendingDeletionAt *time.Time
	OwnerIDCheckedAt  *time.Time
	BusinessDetails
	Logo          *string
	Metadata      *string
	TermsAccepted bool
}

func readSessionOrg(db *gorm.DB, orgID uuid.UUID) (sessionOrg, error) {
	c := terms.Current
	var o sessionOrg
	// Straight through database/sql (db's transaction or pool): GORM's
	// reflective Scan was a tenth of a session creation's CPU.
	err := db.Statement.ConnPool.QueryRowContext(db.Statement.Context, sessionOrgSQL, c.Version, c.Hash, c.Jurisdiction, orgID).Scan(
		&o.ID, &o.PendingDeletionAt, &o.OwnerIDCheckedAt, &o.BusinessType, &o.BusinessName,
		&o.BusinessJurisdiction, &o.BusinessRegistrationNumber, &o.Logo, &o.Metadata, &o.TermsAccepted)
	if errors.Is(err, sql.ErrNoRows) {
		return o, ErrOrganizationNotFound
	}
	return o, err
}

// sessionOrgSQL reads a sessionOrg. $n are both databases' placeholders, in
// their numbers' order (SQLite numbers them by first appearance).
const sessionOrgSQL = `SELECT o.id, o.pending_deletion_at, o.owner_id_checked_at, o.business_type, o.business_name,
	o.business_jurisdiction, o.business_registration_number, o.logo, o.metadata,
	EXISTS (SELECT 1 FROM organization_rp_terms_acceptances a WHERE a.organization_id = o.id
		AND a.terms_version = $1 AND a.terms_hash = $2 AND a.jurisdiction = $3) AS terms_accepted
	FROM organizations o WHERE o.id = $4`

// onboarding is upstream's RP compliance gate (package sessions).
func (o sessionOrg) onboarding() error {
	return sessions.CheckOnboarding(sessions.Profile{
		BusinessType: o.BusinessType, BusinessName: o.BusinessName,
		BusinessJurisdiction: o.BusinessJurisdiction, BusinessRegistrationNumber: o.BusinessRegistrationNumber,
		Logo: o.Logo, Metadata: o.Metadata,
		OwnerIDChecked: o.OwnerIDCheckedAt != nil, RPTermsAccepted: o.TermsAccepted,
	})
}

// unverifiedOrgLimit holds an organization without an owner check to
// unverifiedOrgLimit identity-revealing sessions per 24 hours, counted
// under a lock so that concurrent creations cannot all pass: an advisory
// transaction lock on PostgreSQL; on SQLite the write transaction already
// holds the database. (Unreachable while the onboarding gate requires the
// owner check, as upstream's.)
func (s *Store) unverifiedOrgLimit(tx *gorm.DB, orgID uuid.UUID, now time.Time) error {
	if s.dialect == Postgres {
		if err := tx.Exec("SELECT pg_advisory_xact_lock(?)", lockKey("sessions:"+orgID.String())).Error; err != nil {
			return err
		}
	}
	var n int64
	err := tx.Model(&VerificationSession{}).
		Where("organization_id = ? AND NOT is_age_only AND created_at >= ?", orgID, now.Add(-24*time.Hour)).
		Count(&n).Error
	if err != nil {
		return err
	}
	if n >= unverifiedOrgLimit {
		return ErrUnverifiedOrgLimit
	}
	return nil
}

// GetVerificationSession reads one of the organization's sessions, an
// overdue active one first expired. ErrNotFound for an unknown id or
// another organization's.
func (s *Store) GetVerificationSession(ctx context.Context, c RPCaller, id string) (VerificationSession, error) {
	if err := s.expireOverdue(ctx, c.OrganizationID, id); err != nil {
		return VerificationSession{}, err
	}
	var v VerificationSession
	err := s.read(ctx, func(db *gorm.DB) error {
		return db.Where("id = ? AND organization_id = ?", id, c.OrganizationID).Take(&v).Error
	})
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return v, ErrNotFound
	}
	return v, err
}

// SessionFilter narrows a session listing; zero fields do not filter.
type SessionFilter struct {
	Status      string
	CreatedFrom *time.Time
	CreatedTo   *time.Time
}

// ListVerificationSessions lists the organization's sessions newest first
// (created_at desc, id desc), overdue active ones first expired. The
// cursor (StartingAfter) is a session id of the organization; an unknown
// one is ErrInvalidCursor (a page cannot start after a row that has no
// place in the order).
func (s *Store) ListVerificationSessions(ctx context.Context, c RPCaller, f SessionFilter, p Page) ([]VerificationSession, bool, error) {
	p = p.clamped()
	if err := s.expireOverdue(ctx, c.OrganizationID, ""); err != nil {
		return nil, false, err
	}
	var rows []VerificationSession
	err := s.read(ctx, func(db *gorm.DB) error {
		q, err := newestFirst(db, "verification_sessions", "v", c.OrganizationID, p.StartingAfter)
		if err != nil {
			return err
		}
		if f.Status != "" {
			q = q.Where("v.status = ?", f.Status)
		}
		if f.CreatedFrom != nil {
			q = q.Where("v.created_at >= ?", f.CreatedFrom.UTC())
		}
		if f.CreatedTo != nil {
			q = q.Where("v.created_at <= ?", f.CreatedTo.UTC())
		}
		return page(q, "v", p.Limit, &rows)
	})
	if err != nil {
		return nil, false, err
	}
	rows, more := trimPage(rows, p.Limit)
	return rows, more, nil
}

// CancelVerificationSession cancels one of the organization's sessions if
// it is still active; a terminal one is left as it is (cancel is
// idempotent). An overdue one is expired, not cancelled. ErrNotFound for an
// unknown id or another organization's.
func (s *Store) CancelVerificationSession(ctx context.Context, c RPCaller, id string) error {
	if err := s.expireOverdue(ctx, c.OrganizationID, id); err != nil {
		return err
	}
	return s.tx(ctx, func(tx *gorm.DB) error {
		_, _, err := s.transition(tx, c.OrganizationID, id, Ending{Status: StatusCancelled, Caller: &c}, s.clock(), false)
		return err
	})
}

// SandboxCompletion is how the sandbox ends a session.
type SandboxCompletion struct {
	Succeeded   bool
	Claims      map[string]any // succeeded: the claims shared
	FailureCode string         // failed
}

// CompleteSandboxSession ends an active session of the organization as
// succeeded (claims checked against its share contract) or failed, through
// the same transition as every other ending. ErrNotFound for an unknown id,
// ErrSessionNotActive for a session that has already ended (an overdue one
// is expired first), *InvalidInputError for claims the contract refuses.
func (s *Store) CompleteSandboxSession(ctx context.Context, c RPCaller, id string, in SandboxCompletion) (VerificationSession, error) {
	if err := s.expireOverdue(ctx, c.OrganizationID, id); err != nil {
		return VerificationSession{}, err
	}
	var out VerificationSession
	err := s.tx(ctx, func(tx *gorm.DB) error {
		v, err := lockSession(tx, c.OrganizationID, id)
		if err != nil {
			return err
		}
		if !v.Active() {
			return ErrSessionNotActive
		}
		e := Ending{Status: StatusFailed, Caller: &c}
		if in.Succeeded {
			keys, err := checkClaims(sessions.Contract(v.ShareFields), in.Claims)
			if err != nil {
				return err
			}
			e = Ending{Status: StatusSucceeded, Caller: &c, SelectedFieldKeys: keys, Claims: in.Claims}
		} else {
			if !slices.Contains(FailureCodes, in.FailureCode) {
				return invalid("failure_code must be one of %v when outcome is failed.", FailureCodes)
			}
			e.FailureCode = in.FailureCode
		}
		ended, moved, err := s.transition(tx, c.OrganizationID, id, e, s.clock(), false)
		if err == nil && !moved {
			err = ErrSessionNotActive
		}
		out = ended
		return err
	})
	return out, err
}

// checkClaims holds sandbox claims to the session's contract: every key in
// it, every required key present, strings for document claims, a boolean
// for the age gate, null for kayle_human_id. It answers the selected keys
// in alphabetical order.
func checkClaims(contract sessions.Contract, claims map[string]any) ([]string, error) {
	ageKey, _, hasAge := contract.AgeGate()
	keys := make([]string, 0, len(claims))
	for k, val := range claims {
		if _, ok := contract[k]; !ok {
			return nil, invalid("claim %q is not in the session's share contract.", k)
		}
		switch {
		case hasAge && k == ageKey:
			if _, ok := val.(bool); !ok {
				return nil, invalid("claim %q must be a boolean.", k)
			}
		case k == "kayle_human_id":
			if val != nil {
				return nil, invalid("claim kayle_human_id must be null.")
			}
		default:
			if str, ok := val.(string); !ok || !text(str, 1024) {
				return nil, invalid("claim %q must be a string of text.", k)
			}
		}
		keys = append(keys, k)
	}
	for k, f := range contract {
		if _, ok := claims[k]; f.Required && !ok {
			return nil, invalid("required claim %q is missing.", k)
		}
	}
	sort.Strings(keys)
	return keys, nil
}

// lockSession reads one of the organization's sessions and, on PostgreSQL,
// locks its row until the transaction ends (SQLite's write transaction
// holds the database already).
func lockSession(tx *gorm.DB, orgID uuid.UUID, id string) (VerificationSession, error) {
	var v VerificationSession
	err := tx.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate}).
		Where("id = ? AND organization_id = ?", id, orgID).Take(&v).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return v, ErrNotFound
	}
	return v, err
}

// Ending is a terminal move of a session.
type Ending struct {
	Status string // succeeded, failed, expired or cancelled
	// Caller acted; nil for the system (expiry).
	Caller *RPCaller
	// FailureCode for failed.
	FailureCode string
	// SelectedFieldKeys for succeeded, alphabetical.
	SelectedFieldKeys []string
	// Claims for succeeded: handed to the deliveries (issue 21), never
	// stored in the event row.
	Claims map[string]any
	// Set are more columns the ending writes (the verify flow's risk
	// score), in the same conditional update.
	Set map[string]any
	// AuditMeta is added to the ending's audit row (the failed check).
	AuditMeta Metadata
	// Withdraw is the privacy withdrawal of a succeeded or failed session
	// (the public cancel when nothing was delivered): to cancelled, its
	// completed_at kept, with no session.cancelled audit row (the privacy
	// request writes its own). Status must be cancelled.
	Withdraw bool
	// CancelReason is the cancelled payload's reason; transition sets it.
	CancelReason string
}

// flowColumns are the verify flow's traces on a session: cleared at once by
// a cancel or a privacy withdrawal, and by the 7-day minimisation.
var flowColumns = []string{"mobile_write_token_hash", "mobile_write_token_issued_at", "mobile_write_token_expires_at",
	"mobile_write_token_consumed_at", "mobile_hello_device_id_hash", "mobile_hello_app_version", "mobile_attest_key_id",
	"current_phase", "phase_updated_at", "claimed_by_connection_id", "claimed_at", "nfc_verified_digest"}

var endingColumns = map[string]string{
	StatusSucceeded: CountSucceeded, StatusFailed: CountFailed,
	StatusExpired: CountExpired, StatusCancelled: CountCancelled,
}

var endingAudit = map[string]string{
	StatusSucceeded: EventSessionSucceeded, StatusFailed: EventSessionFailed,
	StatusExpired: EventSessionExpired, StatusCancelled: EventSessionCancelled,
}

// transition is the one way a session ends: a conditional update out of
// created/in_progress (and, with due, only past its expiry), and when it
// moved the row, in the same transaction: the event row, the audit row, the
// day's outcome count and (issue 21) the webhook deliveries. moved is false
// when the session had already ended (or is not yet due); ErrNotFound when
// it is not the organization's.
func (s *Store) transition(tx *gorm.DB, orgID uuid.UUID, id string, e Ending, now time.Time, due bool) (VerificationSession, bool, error) {
	column, ok := endingColumns[e.Status]
	if !ok {
		return VerificationSession{}, false, fmt.Errorf("store: %q is not a terminal status", e.Status)
	}
	from := []string{StatusCreated, StatusInProgress}
	if e.Withdraw {
		if e.Status != StatusCancelled {
			return VerificationSession{}, false, fmt.Errorf("store: a withdrawal ends cancelled, not %q", e.Status)
		}
		from = []string{StatusSucceeded, StatusFailed}
	}
	v, err := lockSession(tx, orgID, id)
	if err != nil {
		return v, false, err
	}
	if !slices.Contains(from, v.Status) || due && v.ExpiresAt.After(now) {
		return v, false, nil
	}
	set := map[string]any{"status": e.Status, "completed_at": now, "updated_at": now}
	for k, val := range e.Set {
		set[k] = val
	}
	if e.Withdraw {
		delete(set, "completed_at") // it ended when it ended
	}
	var data Metadata
	switch e.Status {
	case StatusCancelled:
		reason := "cancelled"
		switch {
		case e.Withdraw && v.Status == StatusSucceeded:
			reason = "privacy_cancelled_after_terminal_success"
		case e.Withdraw:
			reason = "privacy_cancelled_after_terminal_failure"
		case v.NfcTriesUsed > 0 || v.LivenessTriesUsed > 0:
			reason = "cancelled_after_failed_check"
		}
		e.CancelReason = reason
		data = Metadata{"outcome": "not_verified", "reason": reason,
			"nfc_tries_used": v.NfcTriesUsed, "liveness_tries_used": v.LivenessTriesUsed}
		// The privacy minimisation of a cancel: nothing of the flow stays.
		set["risk_score"], set["selected_share_field_keys"] = 0, NullStringList{}
		for _, c := range flowColumns {
			set[c] = nil
		}
	case StatusFailed:
		data = Metadata{"failure_code": e.FailureCode,
			"nfc_tries_used": v.NfcTriesUsed, "liveness_tries_used": v.LivenessTriesUsed}
		set["failure_code"] = e.FailureCode
	case StatusExpired:
		data = Metadata{}
	case StatusSucceeded:
		keys := append([]string{}, e.SelectedFieldKeys...)
		data = Metadata{"selected_field_keys": keys}
		set["failure_code"], set["selected_share_field_keys"] = nil, NullStringList(keys)
	}
	q := tx.Model(&VerificationSession{}).
		Where("id = ? AND organization_id = ? AND status IN ?", id, orgID, from)
	if due {
		q = q.Where("expires_at <= ?", now)
	}
	res := q.Updates(set)
	if res.Error != nil {
		return v, false, res.Error
	}
	if res.RowsAffected != 1 {
		return v, false, nil
	}
	evID, err := randomString(apiKeyAlphabet, sessionIDChars)
	if err != nil {
		return v, false, err
	}
	ev := Event{ID: "evt_" + evID, OrganizationID: orgID, Type: "verification.session." + e.Status,
		TriggerID: id, TriggerType: TriggerTypeSession, Data: data, CreatedAt: now}
	if err := tx.Create(&ev).Error; err != nil {
		return v, false, err
	}
	meta := Metadata{}
	if e.Status == StatusFailed {
		meta = Metadata{"failure_code": e.FailureCode, "nfc_tries_used": v.NfcTriesUsed, "liveness_tries_used": v.LivenessTriesUsed}
	}
	for k, val := range e.AuditMeta {
		meta[k] = val
	}
	if !e.Withdraw {
		if err := s.sessionAudit(tx, e.Caller, orgID, endingAudit[e.Status], id, meta); err != nil {
			return v, false, err
		}
	} else if err := bumpSessionDay(tx, orgID, v.CreatedAt, endingColumns[v.Status], -1); err != nil {
		// The day's outcome moves with the row, so retention's decrement
		// finds it where the row now says.
		return v, false, err
	}
	if err := bumpSessionDay(tx, orgID, v.CreatedAt, column, 1); err != nil {
		return v, false, err
	}
	if err := s.deliverEvent(tx, v, ev, e); err != nil {
		return v, false, err
	}
	if !e.Withdraw {
		v.CompletedAt = &now
	}
	v.Status, v.UpdatedAt = e.Status, now
	if e.Status == StatusFailed {
		v.FailureCode = &e.FailureCode
	}
	return v, true, nil
}

// Now is the store's clock: the time every session answer is computed at
// (the analytics overview's "now" among them).
func (s *Store) Now() time.Time { return s.clock() }

// expireOverdue ends the organization's overdue active sessions (only id's
// when id is set) through the transition, so that no answer shows one as
// active. Cheap when there are none: one read on the partial index of
// active rows.
func (s *Store) expireOverdue(ctx context.Context, orgID uuid.UUID, id string) error {
	for {
		now := s.clock()
		var ids []string
		err := s.read(ctx, func(db *gorm.DB) error {
			q := db.Model(&VerificationSession{}).
				Where("organization_id = ? AND status IN ? AND expires_at <= ?", orgID, []string{StatusCreated, StatusInProgress}, now)
			if id != "" {
				q = q.Where("id = ?", id)
			}
			return q.Order("expires_at").Limit(touchBatch).Pluck("id", &ids).Error
		})
		if err != nil || len(ids) == 0 {
			return err
		}
		if _, err := s.expire(ctx, orgID, ids, now); err != nil {
			return err
		}
		if len(ids) < touchBatch {
			return nil
		}
	}
}

// expire ends the given sessions of one organization as expired, in one
// transaction, those still active and due; it reports how many moved.
func (s *Store) expire(ctx context.Context, orgID uuid.UUID, ids []string, now time.Time) (int, error) {
	n := 0
	err := s.tx(ctx, func(tx *gorm.DB) error {
		n = 0
		for _, id := range ids {
			_, moved, err := s.transition(tx, orgID, id, Ending{Status: StatusExpired}, now, true)
			if errors.Is(err, ErrNotFound) {
				continue // deleted meanwhile
			}
			if err != nil {
				return err
			}
			if moved {
				n++
			}
		}
		return nil
	})
	return n, err
}

// ExpireDue expires overdue active sessions of every organization, oldest
// deadline first, in batches of batch (one transaction each) until none is
// left or limit have been looked at. Safe to run on two replicas at once:
// each ending is conditional.
func (s *Store) ExpireDue(ctx context.Context, batch, limit int, progress func(done int)) (int, error) {
	done, seen := 0, 0
	for seen < limit {
		now := s.clock()
		var rows []VerificationSession
		err := s.read(ctx, func(db *gorm.DB) error {
			return db.Select("id", "organization_id").
				Where("status IN ? AND expires_at <= ?", []string{StatusCreated, StatusInProgress}, now).
				Order("expires_at").Limit(min(batch, limit-seen)).Find(&rows).Error
		})
		if err != nil || len(rows) == 0 {
			return done, err
		}
		seen += len(rows)
		byOrg := map[uuid.UUID][]string{}
		for _, r := range rows {
			byOrg[r.OrganizationID] = append(byOrg[r.OrganizationID], r.ID)
		}
		for org, ids := range byOrg {
			n, err := s.expire(ctx, org, ids, now)
			if err != nil {
				return done, err
			}
			done += n
		}
		if progress != nil {
			progress(done)
		}
		if len(rows) < batch {
			return done, nil
		}
	}
	return done, nil
}

// Retention periods, as upstream.
const (
	SessionRetention      = 30 * 24 * time.Hour
	SessionMinimiseAfter  = 7 * 24 * time.Hour
	EventRetention        = 30 * 24 * time.Hour
	SessionAuditRetention = 365 * 24 * time.Hour
)

// RetentionOptions bound one retention pass.
type RetentionOptions struct {
	Batch int           // rows per transaction; 0 means 500
	Max   int           // rows per step per pass; 0 means 100,000
	Pause time.Duration // between batches, so writers get the database
}

// RetentionResult counts what a pass removed or minimised.
type RetentionResult struct {
	SessionsDeleted, SessionsMinimised, EventsDeleted, AuditRowsDeleted int
}

// Total is every row the pass touched.
func (r RetentionResult) Total() int {
	return r.SessionsDeleted + r.SessionsMinimised + r.EventsDeleted + r.AuditRowsDeleted
}

// SweepRetention applies the retention rules in bounded batches, looping
// until each step's backlog is drained or o.Max rows have gone: terminal
// sessions ended 30 days ago are deleted (their day's counts decremented),
// sessions ended 7 days ago minimised (the risk score, the one verify-flow
// value held so far), events older than 30 days (as upstream, not while a
// delivery of theirs still holds a payload; their deliveries go with them)
// and session audit rows
// (not the privacy request) older than 365 days deleted.
func (s *Store) SweepRetention(ctx context.Context, o RetentionOptions, progress func(done int)) (RetentionResult, error) {
	if o.Batch <= 0 {
		o.Batch = 500
	}
	if o.Max <= 0 {
		o.Max = 100_000
	}
	var res RetentionResult
	report := func() {
		if progress != nil {
			progress(res.Total())
		}
	}
	steps := []struct {
		count *int
		run   func(now time.Time) (int, error)
	}{
		{&res.SessionsDeleted, func(now time.Time) (int, error) {
			return s.deleteEndedSessions(ctx, now.Add(-SessionRetention), o.Batch)
		}},
		{&res.SessionsMinimised, func(now time.Time) (int, error) {
			return s.minimiseSessions(ctx, now.Add(-SessionMinimiseAfter), o.Batch)
		}},
		{&res.EventsDeleted, func(now time.Time) (int, error) {
			return s.deleteBatch(ctx, "events", "created_at < ? AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = events.id AND (d.payload IS NOT NULL OR d.held_payload IS NOT NULL))", []any{now.Add(-EventRetention)}, o.Batch)
		}},
		{&res.AuditRowsDeleted, func(now time.Time) (int, error) {
			return s.deleteBatch(ctx, "audit_logs", "event IN ? AND created_at < ?", []any{sessionRetiredEvents, now.Add(-SessionAuditRetention)}, o.Batch)
		}},
	}
	for _, step := range steps {
		for *step.count < o.Max {
			n, err := step.run(s.clock())
			*step.count += n
			report()
			if err != nil {
				return res, err
			}
			if n < o.Batch {
				break
			}
			if o.Pause > 0 {
				select {
				case <-ctx.Done():
					return res, ctx.Err()
				case <-time.After(o.Pause):
				}
			}
		}
	}
	return res, nil
}

// deleteEndedSessions deletes up to batch terminal sessions that ended
// before cutoff, with their day's counts, in one transaction.
func (s *Store) deleteEndedSessions(ctx context.Context, cutoff time.Time, batch int) (int, error) {
	n := 0
	err := s.tx(ctx, func(tx *gorm.DB) error {
		n = 0
		var rows []VerificationSession
		// Rows another sweeper deleted meanwhile are not returned (FOR
		// UPDATE skips them on PostgreSQL), so no count goes down twice.
		err := tx.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate}).
			// completed_at alone (every ending sets it), so each batch is a
			// range of the partial index of ended rows: a COALESCE with
			// updated_at read every ended session, a million of them at 30
			// days' worth, on every batch.
			Select("id", "organization_id", "status", "created_at").
			Where("status IN ? AND completed_at <= ?",
				[]string{StatusSucceeded, StatusFailed, StatusExpired, StatusCancelled}, cutoff).
			Order("completed_at").Limit(batch).Find(&rows).Error
		if err != nil || len(rows) == 0 {
			return err
		}
		ids := make([]string, len(rows))
		for i, r := range rows {
			ids[i] = r.ID
		}
		if err := tx.Where("id IN ?", ids).Delete(&VerificationSession{}).Error; err != nil {
			return err
		}
		for _, r := range rows {
			if err := bumpSessionDay(tx, r.OrganizationID, r.CreatedAt, CountCreated, -1); err != nil {
				return err
			}
			if err := bumpSessionDay(tx, r.OrganizationID, r.CreatedAt, endingColumns[r.Status], -1); err != nil {
				return err
			}
		}
		n = len(rows)
		return nil
	})
	return n, err
}

// minimiseSessions clears what the verify flow left on up to batch
// sessions that ended before cutoff (the risk score and flowColumns). Rows
// already minimised are not selected again.
func (s *Store) minimiseSessions(ctx context.Context, cutoff time.Time, batch int) (int, error) {
	var n int64
	err := s.tx(ctx, func(tx *gorm.DB) error {
		left := "risk_score <> 0"
		set := map[string]any{"risk_score": 0}
		for _, c := range flowColumns {
			left += " OR " + c + " IS NOT NULL"
			set[c] = nil
		}
		sub := tx.Model(&VerificationSession{}).Select("id").
			Where("status IN ? AND completed_at <= ? AND ("+left+")",
				[]string{StatusSucceeded, StatusFailed, StatusExpired, StatusCancelled}, cutoff).Limit(batch)
		res := tx.Model(&VerificationSession{}).Where("id IN (?)", sub).Updates(set)
		n = res.RowsAffected
		return res.Error
	})
	return int(n), err
}

// deleteBatch deletes up to batch rows of table matching where, in one
// transaction.
func (s *Store) deleteBatch(ctx context.Context, table, where string, args []any, batch int) (int, error) {
	var n int64
	err := s.tx(ctx, func(tx *gorm.DB) error {
		sub := tx.Table(table).Select("id").Where(where, args...).Limit(batch)
		res := tx.Exec("DELETE FROM "+table+" WHERE id IN (?)", sub)
		n = res.RowsAffected
		return res.Error
	})
	return int(n), err
}
