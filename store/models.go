package store

import (
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Role is a membership role. Rank: owner > admin > member.
type Role string

const (
	RoleOwner  Role = "owner"
	RoleAdmin  Role = "admin"
	RoleMember Role = "member"
)

// Valid reports whether r is one of the three known roles.
func (r Role) Valid() bool { return r == RoleOwner || r == RoleAdmin || r == RoleMember }

// CanManage reports whether the role may manage other members (owner/admin).
func (r Role) CanManage() bool { return r == RoleOwner || r == RoleAdmin }

// MayGrant reports whether a member with role r may give someone role g:
// owners grant any role, admins any but owner, members none.
func (r Role) MayGrant(g Role) bool {
	if g == RoleOwner {
		return r == RoleOwner
	}
	return r.CanManage()
}

// User is a person who can hold sessions and memberships.
type User struct {
	ID        uuid.UUID
	Email     string
	Name      string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Organization is a tenant. PendingDeletionAt non-nil means it is frozen.
type Organization struct {
	ID   uuid.UUID
	Name string
	Slug string
	// Logo is the URL of the logo in object storage. Rows from before
	// logos moved there hold the base64 image here, with its
	// LogoContentType, until Migrate moves it (see logos.go).
	Logo                       *string
	LogoContentType            *string
	CreatedAt                  time.Time
	PendingDeletionAt          *time.Time
	PendingDeletionRequestedAt *time.Time
	PendingDeletionRequestedBy *uuid.UUID
	BusinessDetails
	// OwnerIDCheckedAt non-nil means the organization is verified (an
	// owner's identity was checked, outside this API).
	OwnerIDCheckedAt            *time.Time
	VerificationTermsAcceptedAt *time.Time
	VerificationTermsAcceptedBy *uuid.UUID
	// Metadata is the public and compliance profile as JSON object text
	// (see orgmeta.go); nil until an update first sends it.
	Metadata *string
}

// Frozen reports whether the organization is scheduled for deletion.
func (o Organization) Frozen() bool { return o.PendingDeletionAt != nil }

// Member is one membership row. Rows are never deleted by user-facing flows:
// suspension keeps audit attribution.
type Member struct {
	ID             uuid.UUID
	OrganizationID uuid.UUID
	UserID         uuid.UUID
	Role           Role
	CreatedAt      time.Time
	SuspendedAt    *time.Time
	SuspendedBy    *uuid.UUID
}

// TableName pins GORM to the migrated table.
func (Member) TableName() string { return "organization_members" }

// Active reports whether the membership is not suspended.
func (m Member) Active() bool { return m.SuspendedAt == nil }

// MemberView is a membership joined with its user, as the member list shows it.
type MemberView struct {
	Member
	Email string
	Name  string
}

// Session is a bearer credential. Only the SHA-256 of the token is stored.
type Session struct {
	ID                   uuid.UUID
	TokenHash            string
	UserID               uuid.UUID
	ActiveOrganizationID *uuid.UUID
	CreatedAt            time.Time
	ExpiresAt            time.Time
	RevokedAt            *time.Time
}

// Invitation asks the holder of Email to join an organization with Role.
type Invitation struct {
	ID             uuid.UUID
	OrganizationID uuid.UUID
	Email          string
	Role           Role
	InvitedBy      uuid.UUID
	CreatedAt      time.Time
	ExpiresAt      time.Time
	AcceptedAt     *time.Time
	AcceptedBy     *uuid.UUID
	CancelledAt    *time.Time
	CancelledBy    *uuid.UUID
}

// Pending reports whether the invitation can still be accepted, as far as
// the invitation itself goes (see AcceptInvitation for its sender).
func (inv Invitation) Pending(now time.Time) bool {
	return inv.AcceptedAt == nil && inv.CancelledAt == nil && now.Before(inv.ExpiresAt)
}

// DeletionCode is the pending confirmation code of an organization
// deletion. It can be used only once it has been delivered, and only while
// fewer than MaxDeletionCodeAttempts wrong codes have been tried.
type DeletionCode struct {
	OrganizationID uuid.UUID `gorm:"primaryKey"`
	RequestedBy    uuid.UUID
	CodeHash       string
	CreatedAt      time.Time
	ExpiresAt      time.Time
	DeliveredAt    *time.Time
	FailedAttempts int
}

// TableName pins GORM to the migrated table.
func (DeletionCode) TableName() string { return "organization_deletion_codes" }

// Actor types recorded in the audit log.
const (
	ActorUser   = "user"
	ActorSystem = "system"
	ActorAPIKey = "api_key"
)

// Membership and organization events recorded in the audit log.
const (
	EventMemberInvited           = "member.invited"
	EventMemberJoined            = "member.joined"
	EventMemberSuspended         = "member.suspended"
	EventMemberLeft              = "member.left"
	EventMemberReinstated        = "member.reinstated"
	EventMemberRoleChanged       = "member.role.changed"
	EventOwnershipAssigned       = "organization.ownership.assigned"
	EventOrganizationCreated     = "organization.created"
	EventDeletionRequested       = "organization.deletion.requested"
	EventDeletionScheduled       = "organization.deletion.scheduled"
	EventDeletionCancelled       = "organization.deletion.cancelled"
	EventMemberInvitationDeleted = "member.invitation.cancelled"
)

// EventIdentityLinked records that a provider identity was linked, by its
// verified email, to an existing user who belongs to the organization.
const EventIdentityLinked = "user.identity.linked"

// Organization administration events recorded in the audit log.
const (
	EventAPIKeyCreated          = "api_key.created"
	EventAPIKeyUpdated          = "api_key.updated"
	EventAPIKeyDeleted          = "api_key.deleted"
	EventLogoUpdated            = "organization.logo.updated"
	EventBusinessDetailsUpdated = "organization.business_details.updated"
	EventPublicDetailsUpdated   = "organization.public_details.updated"
	EventRPTermsAccepted        = "organization.rp_terms.accepted"
	// EventVerificationTermsAccepted is ours: upstream records the
	// acceptance without an audit row.
	EventVerificationTermsAccepted = "organization.verification_terms.accepted"
	// EventOwnerIDChecked is ours: an operator recorded that an owner's
	// identity was checked (upstream's verify flow sets the column silently).
	EventOwnerIDChecked = "organization.owner_id_checked"
)

// Domain and redirect-URI events recorded in the audit log.
const (
	EventDomainChallengeStarted = "domain.challenge.started"
	EventDomainVerified         = "domain.verified"
	EventDomainRemoved          = "domain.removed"
	EventDomainDowngraded       = "domain.downgraded"
	EventDomainRestored         = "domain.restored"
	EventDomainTransferred      = "domain.transferred"
	EventRedirectURIAdded       = "redirect_uri.added"
	EventRedirectURIRemoved     = "redirect_uri.removed"
)

// KnownEvents lists every event name the audit-log filter accepts.
var KnownEvents = []string{
	EventMemberInvited, EventMemberInvitationDeleted, EventMemberJoined,
	EventMemberSuspended, EventMemberLeft, EventMemberReinstated,
	EventMemberRoleChanged, EventOwnershipAssigned, EventOrganizationCreated,
	EventDeletionRequested, EventDeletionScheduled, EventDeletionCancelled,
	EventDomainChallengeStarted, EventDomainVerified, EventDomainRemoved, EventDomainDowngraded,
	EventDomainRestored, EventDomainTransferred, EventRedirectURIAdded, EventRedirectURIRemoved,
	EventIdentityLinked,
	EventAPIKeyCreated, EventAPIKeyUpdated, EventAPIKeyDeleted, EventLogoUpdated,
	EventBusinessDetailsUpdated, EventPublicDetailsUpdated, EventRPTermsAccepted, EventVerificationTermsAccepted,
	EventOwnerIDChecked,
	EventSessionCreated, EventSessionCancelled, EventSessionExpired, EventSessionPrivacyRequest,
	EventSessionSucceeded, EventSessionCheckFailed, EventSessionFailed,
	EventWebhookEndpointCreated, EventWebhookEndpointUpdated, EventWebhookEndpointDeleted,
	EventWebhookSecretRotated, EventWebhookSecretRevealed,
	EventWebhookKeyCreated, EventWebhookKeyDeactivated, EventWebhookKeyReactivated,
	EventWebhookDeliveryRetried, EventWebhookEventReplayed,
}

// Metadata is an audit row's JSON object.
type Metadata map[string]any

// Value stores Metadata as JSON text (jsonb on PostgreSQL accepts it).
func (m Metadata) Value() (driver.Value, error) {
	if m == nil {
		return "{}", nil
	}
	b, err := json.Marshal(map[string]any(m))
	return string(b), err
}

// jsonColumn is the JSON text a driver hands Scan for a JSON column: text
// on SQLite, bytes on PostgreSQL; nil for NULL.
func jsonColumn(src any, what string) ([]byte, error) {
	switch v := src.(type) {
	case nil:
		return nil, nil
	case string:
		return []byte(v), nil
	case []byte:
		return v, nil
	}
	return nil, fmt.Errorf("%s: unsupported type %T", what, src)
}

// Scan reads Metadata from JSON text or bytes.
func (m *Metadata) Scan(src any) error {
	b, err := jsonColumn(src, "metadata")
	if err != nil || b == nil {
		*m = Metadata{}
		return err
	}
	out := Metadata{}
	if err := json.Unmarshal(b, &out); err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	*m = out
	return nil
}

// AuditLog is one audit row.
type AuditLog struct {
	ID             string
	OrganizationID uuid.UUID
	ActorUserID    *uuid.UUID
	ActorAPIKeyID  *string `gorm:"column:actor_api_key_id"`
	ActorType      string
	Event          string
	TargetID       *string
	TargetType     *string
	Metadata       Metadata
	CreatedAt      time.Time
}

// AuditEntry is an audit row with its actor's user details, as the log shows it.
type AuditEntry struct {
	AuditLog
	ActorName       *string
	ActorEmail      *string
	ActorAPIKeyName *string
}
