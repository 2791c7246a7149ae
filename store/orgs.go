package store

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
)

// Deletion timing, as upstream: codes live 24 h; a confirmed deletion
// happens 48 h later unless cancelled.
const (
	DeletionCodeTTL   = 24 * time.Hour
	DeletionGraceTime = 48 * time.Hour
)

// NewOrganization is what CreateOrganization needs.
type NewOrganization struct {
	Name            string
	Slug            string
	Logo            *string
	LogoContentType *string
}

// CreateOrganization creates an organization whose owner is the caller and
// selects it on the caller's session.
func (s *Store) CreateOrganization(ctx context.Context, a Actor, in NewOrganization) (Organization, error) {
	now := s.clock()
	org := Organization{ID: uuid.New(), Name: strings.TrimSpace(in.Name), Slug: in.Slug, Logo: in.Logo, LogoContentType: in.LogoContentType, CreatedAt: now}
	err := s.tx(ctx, func(tx *gorm.DB) error {
		if err := tx.Create(&org).Error; err != nil {
			if isUniqueViolation(err) {
				return ErrSlugTaken
			}
			return err
		}
		m := Member{ID: uuid.New(), OrganizationID: org.ID, UserID: a.UserID, Role: RoleOwner, CreatedAt: now}
		if err := tx.Create(&m).Error; err != nil {
			return err
		}
		if err := tx.Model(&Session{}).Where("id = ?", a.SessionID).Update("active_organization_id", org.ID).Error; err != nil {
			return err
		}
		if err := s.audit(tx, org.ID, &a.UserID, EventOrganizationCreated, "organization", org.ID.String(),
			Metadata{"name": org.Name, "slug": org.Slug}); err != nil {
			return err
		}
		return s.audit(tx, org.ID, &a.UserID, EventOwnershipAssigned, "member", m.ID.String(), Metadata{"user_id": a.UserID.String()})
	})
	return org, err
}

// SetActiveOrganization selects an organization on the caller's session.
// ErrOrganizationNotFound when it does not exist or the caller never
// belonged to it (existence is not revealed); ErrNotMember when the
// caller's membership is suspended.
func (s *Store) SetActiveOrganization(ctx context.Context, a Actor, orgID uuid.UUID) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		if err := visibleOrg(tx, orgID, a.UserID); err != nil {
			return err
		}
		if _, err := activeMembership(tx, orgID, a.UserID); err != nil {
			return err
		}
		return tx.Model(&Session{}).Where("id = ?", a.SessionID).Update("active_organization_id", orgID).Error
	})
}

// visibleOrg is ErrOrganizationNotFound unless the organization exists and
// the user has (or had) a membership in it.
func visibleOrg(tx *gorm.DB, orgID, userID uuid.UUID) error {
	var n int64
	err := tx.Model(&Member{}).Where("organization_id = ? AND user_id = ?", orgID, userID).Count(&n).Error
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrOrganizationNotFound
	}
	return nil
}

// deletionScope opens an organization named in a deletion request body:
// ErrOrganizationNotFound (absent, or never the caller's), ErrNotMember
// (suspended), ErrForbidden (role not allowed).
func deletionScope(tx *gorm.DB, a Actor, orgID uuid.UUID, allowed func(Role) bool) (Organization, Member, error) {
	if err := visibleOrg(tx, orgID, a.UserID); err != nil {
		return Organization{}, Member{}, err
	}
	org, err := lockOrg(tx, orgID)
	if err != nil {
		return org, Member{}, err
	}
	m, err := activeMembership(tx, orgID, a.UserID)
	if err != nil {
		return org, m, err
	}
	if !allowed(m.Role) {
		return org, m, ErrForbidden
	}
	return org, m, nil
}

func isOwner(r Role) bool { return r == RoleOwner }

const codeAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// newDeletionCode returns 8 characters from A-Z0-9, uniformly.
func newDeletionCode() (string, error) {
	b := make([]byte, 8)
	out := make([]byte, 0, 8)
	for len(out) < 8 {
		if _, err := rand.Read(b); err != nil {
			return "", err
		}
		for _, c := range b {
			// 252 = 7*36: rejecting bytes above it keeps the choice uniform.
			if c < 252 && len(out) < 8 {
				out = append(out, codeAlphabet[int(c)%36])
			}
		}
	}
	return string(out), nil
}

// DeletionRequest is a pending deletion code and where to send it.
type DeletionRequest struct {
	Organization Organization
	Code         string
	Email        string
	ExpiresAt    time.Time
}

// RequestDeletion issues a deletion code for an owner, replacing any earlier
// one; only its hash is stored. deliver (which mails the code) runs last,
// inside the transaction: when it fails, nothing is stored.
func (s *Store) RequestDeletion(ctx context.Context, a Actor, orgID uuid.UUID, deliver func(DeletionRequest) error) (DeletionRequest, error) {
	var out DeletionRequest
	code, err := newDeletionCode()
	if err != nil {
		return out, err
	}
	err = s.tx(ctx, func(tx *gorm.DB) error {
		org, _, err := deletionScope(tx, a, orgID, isOwner)
		if err != nil {
			return err
		}
		if org.Frozen() {
			return ErrAlreadyScheduled
		}
		var u User
		if err := tx.Where("id = ?", a.UserID).Take(&u).Error; err != nil {
			return err
		}
		now := s.clock()
		dc := DeletionCode{OrganizationID: org.ID, RequestedBy: a.UserID, CodeHash: hashToken(code), CreatedAt: now, ExpiresAt: now.Add(DeletionCodeTTL)}
		if err := tx.Where("organization_id = ?", org.ID).Delete(&DeletionCode{}).Error; err != nil {
			return err
		}
		if err := tx.Create(&dc).Error; err != nil {
			return err
		}
		out = DeletionRequest{Organization: org, Code: code, Email: u.Email, ExpiresAt: dc.ExpiresAt}
		if err := s.audit(tx, org.ID, &a.UserID, EventDeletionRequested, "organization", org.ID.String(), Metadata{"expires_at": dc.ExpiresAt.Format(time.RFC3339)}); err != nil {
			return err
		}
		return deliver(out)
	})
	return out, err
}

// NormalizeDeletionCode trims and upper-cases a code as typed by a person.
func NormalizeDeletionCode(code string) string { return strings.ToUpper(strings.TrimSpace(code)) }

func wellFormedCode(code string) bool {
	if len(code) != 8 {
		return false
	}
	for i := 0; i < len(code); i++ {
		if !strings.ContainsRune(codeAlphabet, rune(code[i])) {
			return false
		}
	}
	return true
}

// ConfirmDeletion checks the requester's code and schedules the deletion
// DeletionGraceTime from now.
func (s *Store) ConfirmDeletion(ctx context.Context, a Actor, orgID uuid.UUID, code string) (time.Time, error) {
	code = NormalizeDeletionCode(code)
	// The code's shape is checked first, as upstream's schema does: a
	// malformed code says nothing about the organization it names.
	if !wellFormedCode(code) {
		return time.Time{}, ErrInvalidCode
	}
	var at time.Time
	err := s.tx(ctx, func(tx *gorm.DB) error {
		org, _, err := deletionScope(tx, a, orgID, isOwner)
		if err != nil {
			return err
		}
		if org.Frozen() {
			return ErrAlreadyScheduled
		}
		var dc DeletionCode
		err = tx.Where("organization_id = ? AND requested_by = ?", org.ID, a.UserID).Take(&dc).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return ErrInvalidCode
		}
		if err != nil {
			return err
		}
		if subtle.ConstantTimeCompare([]byte(dc.CodeHash), []byte(hashToken(code))) != 1 {
			return ErrInvalidCode
		}
		now := s.clock()
		if !now.Before(dc.ExpiresAt) {
			return ErrCodeExpired
		}
		at = now.Add(DeletionGraceTime)
		if err := tx.Model(&Organization{}).Where("id = ?", org.ID).Updates(map[string]any{
			"pending_deletion_at": at, "pending_deletion_requested_at": now, "pending_deletion_requested_by": a.UserID,
		}).Error; err != nil {
			return err
		}
		if err := tx.Where("organization_id = ?", org.ID).Delete(&DeletionCode{}).Error; err != nil {
			return err
		}
		return s.audit(tx, org.ID, &a.UserID, EventDeletionScheduled, "organization", org.ID.String(), Metadata{"pending_deletion_at": at.Format(time.RFC3339)})
	})
	return at, err
}

// CancelDeletion clears a scheduled deletion (owner or admin).
func (s *Store) CancelDeletion(ctx context.Context, a Actor, orgID uuid.UUID) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		org, _, err := deletionScope(tx, a, orgID, Role.CanManage)
		if err != nil {
			return err
		}
		if !org.Frozen() {
			return ErrNotScheduled
		}
		if err := tx.Model(&Organization{}).Where("id = ?", org.ID).Updates(map[string]any{
			"pending_deletion_at": nil, "pending_deletion_requested_at": nil, "pending_deletion_requested_by": nil,
		}).Error; err != nil {
			return err
		}
		return s.audit(tx, org.ID, &a.UserID, EventDeletionCancelled, "organization", org.ID.String(), Metadata{})
	})
}

// ListOwnedOrganizations lists organizations where the user is the only
// active owner.
func (s *Store) ListOwnedOrganizations(ctx context.Context, userID uuid.UUID) ([]Organization, error) {
	var orgs []Organization
	err := s.read(ctx, func(db *gorm.DB) error {
		return db.Table("organizations AS o").Select("o.*").
			Joins("JOIN organization_members m ON m.organization_id = o.id AND m.user_id = ? AND m.role = ? AND m.suspended_at IS NULL", userID, RoleOwner).
			Where("NOT EXISTS (SELECT 1 FROM organization_members x WHERE x.organization_id = o.id AND x.role = ? AND x.suspended_at IS NULL AND x.user_id <> ?)", RoleOwner, userID).
			Order("o.created_at, o.id").Find(&orgs).Error
	})
	return orgs, err
}

// PurgeResult counts what one purge removed.
type PurgeResult struct {
	Organizations int
}

// PurgeDue hard-deletes organizations whose deletion time has passed, with
// their memberships, invitations, codes and audit rows (foreign-key
// cascades), one organization per transaction. progress, when set, is called
// after each one.
func (s *Store) PurgeDue(ctx context.Context, progress func(done, total int)) (PurgeResult, error) {
	var res PurgeResult
	now := s.clock()
	var ids []uuid.UUID
	err := s.read(ctx, func(db *gorm.DB) error {
		return db.Model(&Organization{}).Where("pending_deletion_at IS NOT NULL AND pending_deletion_at <= ?", now).
			Order("pending_deletion_at").Pluck("id", &ids).Error
	})
	if err != nil {
		return res, err
	}
	for i, id := range ids {
		err := s.tx(ctx, func(tx *gorm.DB) error {
			// Re-check under the lock: a cancel may have won the race.
			org, err := lockOrg(tx, id)
			if errors.Is(err, ErrOrganizationNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			if org.PendingDeletionAt == nil || org.PendingDeletionAt.After(now) {
				return nil
			}
			d := tx.Where("id = ?", id).Delete(&Organization{})
			if d.Error != nil {
				return d.Error
			}
			res.Organizations += int(d.RowsAffected)
			return nil
		})
		if err != nil {
			return res, err
		}
		if progress != nil {
			progress(i+1, len(ids))
		}
	}
	return res, nil
}
