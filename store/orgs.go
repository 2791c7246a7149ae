package store

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Deletion timing, as upstream: codes live 24 h; a confirmed deletion
// happens 48 h later unless cancelled.
const (
	DeletionCodeTTL   = 24 * time.Hour
	DeletionGraceTime = 48 * time.Hour
)

// NewOrganization is what CreateOrganization needs. Logo is the URL of an
// uploaded logo.
type NewOrganization struct {
	Name string
	Slug string
	Logo *string
	// LogoID is the uploaded object Logo names, recorded in use.
	LogoID uuid.UUID
}

// CreateOrganization creates an organization whose owner is the caller and
// selects it on the caller's session. ErrOrganizationLimit when the caller
// already owns Options.MaxOwnedOrganizations organizations.
func (s *Store) CreateOrganization(ctx context.Context, a Actor, in NewOrganization) (Organization, error) {
	in, err := in.clean()
	if err != nil {
		return Organization{}, err
	}
	now := s.clock()
	org := Organization{ID: uuid.New(), Name: in.Name, Slug: in.Slug, Logo: in.Logo, CreatedAt: now}
	err = s.tx(ctx, func(tx *gorm.DB) error {
		if err := s.roomToOwn(tx, a.UserID); err != nil {
			return err
		}
		if err := tx.Create(&org).Error; err != nil {
			if isUniqueViolation(err) {
				return ErrSlugTaken
			}
			return err
		}
		if in.Logo != nil && in.LogoID != uuid.Nil {
			if err := recordNewOrganizationLogo(tx, org.ID, in.LogoID, now); err != nil {
				return err
			}
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

// CheckNewOrganization answers, without writing or locking anything, what
// CreateOrganization would refuse for its input, its slug or the caller's
// organization limit. It runs before costly work that belongs to the
// creation (a logo's decode and upload), so a refused creation does none
// of it; CreateOrganization checks everything again, under its locks.
func (s *Store) CheckNewOrganization(ctx context.Context, a Actor, in NewOrganization) error {
	in, err := in.clean()
	if err != nil {
		return err
	}
	return s.read(ctx, func(db *gorm.DB) error {
		var taken int64
		if err := db.Model(&Organization{}).Where("slug = ?", in.Slug).Limit(1).Count(&taken).Error; err != nil {
			return err
		}
		if taken > 0 {
			return ErrSlugTaken
		}
		if s.maxOwned <= 0 {
			return nil
		}
		var n int64
		if err := db.Model(&Member{}).Where("user_id = ? AND role = ? AND suspended_at IS NULL", a.UserID, RoleOwner).Count(&n).Error; err != nil {
			return err
		}
		if n >= int64(s.maxOwned) {
			return ErrOrganizationLimit
		}
		return nil
	})
}

// roomToOwn is ErrOrganizationLimit when the user already owns as many
// organizations as allowed. The user's row is locked first (on SQLite the
// write transaction is the lock), so two creations at once cannot both see
// room for one more. FOR NO KEY UPDATE: rows that merely reference the user
// (sessions, memberships) are not held up.
func (s *Store) roomToOwn(tx *gorm.DB, userID uuid.UUID) error {
	if s.maxOwned <= 0 {
		return nil
	}
	var u User
	if err := tx.Clauses(clause.Locking{Strength: "NO KEY UPDATE"}).Select("id").Where("id = ?", userID).Take(&u).Error; err != nil {
		return err
	}
	var n int64
	if err := tx.Model(&Member{}).Where("user_id = ? AND role = ? AND suspended_at IS NULL", userID, RoleOwner).Count(&n).Error; err != nil {
		return err
	}
	if n >= int64(s.maxOwned) {
		return ErrOrganizationLimit
	}
	return nil
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
	org, err := lockOrg(tx.Select(deletionOrgColumns), orgID)
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

// deletionOrgColumns are what the deletion operations read of the
// organization: not the logo.
var deletionOrgColumns = []string{"id", "name", "slug", "pending_deletion_at"}

func isOwner(r Role) bool { return r == RoleOwner }

// Deletion codes are deletionCodeLength characters from codeAlphabet.
const (
	codeAlphabet       = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	deletionCodeLength = 8
)

// DeletionRequest is a pending deletion code and where to send it.
type DeletionRequest struct {
	Organization Organization
	Code         string
	Email        string
	ExpiresAt    time.Time
}

// deliveryReserve is kept back from deliver's deadline for the step after
// it, so a delivery that takes all its time still leaves the code usable.
const deliveryReserve = time.Second

// RequestDeletion issues a deletion code for an owner, replacing any earlier
// one; only its hash is stored. Delivering it (deliver mails it) is a call
// to another service, so it runs outside any transaction, holding no
// database connection, in three steps:
//
//  1. the code is written, not yet usable, and committed;
//  2. deliver runs, with the caller's deadline less deliveryReserve;
//  3. the code is marked delivered, and the request audited.
//
// When deliver fails the code is removed and the error wraps
// ErrNotDelivered. A code that was never delivered cannot be used (see
// ConfirmDeletion), whatever happens between the steps.
func (s *Store) RequestDeletion(ctx context.Context, a Actor, orgID uuid.UUID, deliver func(context.Context, DeletionRequest) error) (DeletionRequest, error) {
	var out DeletionRequest
	code, err := randomString(codeAlphabet, deletionCodeLength)
	if err != nil {
		return out, err
	}
	hash := hashToken(code)
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
		dc := DeletionCode{OrganizationID: org.ID, RequestedBy: a.UserID, CodeHash: hash, CreatedAt: now, ExpiresAt: now.Add(DeletionCodeTTL)}
		if err := tx.Where("organization_id = ?", org.ID).Delete(&DeletionCode{}).Error; err != nil {
			return err
		}
		if err := tx.Create(&dc).Error; err != nil {
			return err
		}
		out = DeletionRequest{Organization: org, Code: code, Email: u.Email, ExpiresAt: dc.ExpiresAt}
		return nil
	})
	if err != nil {
		return out, err
	}
	dctx, cancel := withReserve(ctx, deliveryReserve)
	err = deliver(dctx, out)
	cancel()
	if err != nil {
		s.dropDeletionCode(ctx, orgID, hash)
		return out, fmt.Errorf("%w: %w", ErrNotDelivered, err)
	}
	err = s.tx(ctx, func(tx *gorm.DB) error {
		// The organization first, as everywhere: ConfirmDeletion holds it
		// while it updates the code.
		if _, err := lockOrg(tx.Select(orgStateColumns), orgID); err != nil {
			return err
		}
		res := tx.Model(&DeletionCode{}).Where("organization_id = ? AND code_hash = ? AND delivered_at IS NULL", orgID, hash).
			Update("delivered_at", s.clock())
		if res.Error != nil || res.RowsAffected == 0 {
			// None: a later request replaced this code, and it is that
			// request's code that counts, as if it had come after.
			return res.Error
		}
		return s.audit(tx, orgID, &a.UserID, EventDeletionRequested, "organization", orgID.String(), Metadata{"expires_at": out.ExpiresAt.Format(time.RFC3339)})
	})
	if err != nil {
		s.dropDeletionCode(ctx, orgID, hash)
	}
	return out, err
}

// dropDeletionCode removes a code that was not (or not known to be)
// delivered. It is tidiness only, since such a code cannot be used, so it
// runs even when ctx has ended, briefly, and its failure is ignored.
func (s *Store) dropDeletionCode(ctx context.Context, orgID uuid.UUID, hash string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = s.tx(ctx, func(tx *gorm.DB) error {
		if _, err := lockOrg(tx.Select(orgStateColumns), orgID); err != nil {
			return err
		}
		return tx.Where("organization_id = ? AND code_hash = ? AND delivered_at IS NULL", orgID, hash).Delete(&DeletionCode{}).Error
	})
}

// withReserve is ctx with its deadline brought forward by d, when that
// still leaves at least as much again.
func withReserve(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) > 2*d {
		return context.WithDeadline(ctx, dl.Add(-d))
	}
	return context.WithCancel(ctx)
}

// NormalizeDeletionCode trims and upper-cases a code as typed by a person.
func NormalizeDeletionCode(code string) string { return strings.ToUpper(strings.TrimSpace(code)) }

func wellFormedCode(code string) bool {
	if len(code) != deletionCodeLength {
		return false
	}
	for i := 0; i < len(code); i++ {
		if !strings.ContainsRune(codeAlphabet, rune(code[i])) {
			return false
		}
	}
	return true
}

// MaxDeletionCodeAttempts is how many wrong codes a deletion code survives:
// at the last one it stops working, and a new one must be requested.
const MaxDeletionCodeAttempts = 5

// ConfirmDeletion checks the requester's code and schedules the deletion
// DeletionGraceTime from now. A wrong code counts against the code (under
// the organization's lock, so concurrent guesses count one by one, on any
// replica); the MaxDeletionCodeAttempts-th wrong one, and any code tried
// after it, is ErrCodeAttemptsExhausted.
func (s *Store) ConfirmDeletion(ctx context.Context, a Actor, orgID uuid.UUID, code string) (time.Time, error) {
	code = NormalizeDeletionCode(code)
	// The code's shape is checked first, as upstream's schema does: a
	// malformed code says nothing about the organization it names.
	if !wellFormedCode(code) {
		return time.Time{}, ErrInvalidCode
	}
	var at time.Time
	// A wrong code is an answer, but its count must commit: the
	// transaction succeeds and the answer is given after it.
	var wrong error
	err := s.tx(ctx, func(tx *gorm.DB) error {
		wrong = nil
		org, _, err := deletionScope(tx, a, orgID, isOwner)
		if err != nil {
			return err
		}
		if org.Frozen() {
			return ErrAlreadyScheduled
		}
		var dc DeletionCode
		err = tx.Where("organization_id = ? AND requested_by = ? AND delivered_at IS NOT NULL", org.ID, a.UserID).Take(&dc).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return ErrNoPendingCode
		}
		if err != nil {
			return err
		}
		if dc.FailedAttempts >= MaxDeletionCodeAttempts {
			return ErrCodeAttemptsExhausted
		}
		if subtle.ConstantTimeCompare([]byte(dc.CodeHash), []byte(hashToken(code))) != 1 {
			if err := tx.Model(&DeletionCode{}).Where("organization_id = ?", org.ID).
				Update("failed_attempts", gorm.Expr("failed_attempts + 1")).Error; err != nil {
				return err
			}
			wrong = ErrInvalidCode
			if dc.FailedAttempts+1 >= MaxDeletionCodeAttempts {
				wrong = ErrCodeAttemptsExhausted
			}
			return nil
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
	if err == nil && wrong != nil {
		return time.Time{}, wrong
	}
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
// active owner: their id, name, slug and creation time (no logo).
func (s *Store) ListOwnedOrganizations(ctx context.Context, userID uuid.UUID) ([]Organization, error) {
	var orgs []Organization
	err := s.read(ctx, func(db *gorm.DB) error {
		// Only what the answer shows: a logo can be 1.4 MB, and a user may
		// own many organizations.
		return db.Table("organizations AS o").Select("o.id, o.name, o.slug, o.created_at").
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

// purgeBatch is how many organizations one purge transaction deletes: few
// enough that a transaction (with its cascades) stays short, enough that a
// backlog goes in few round trips.
const purgeBatch = 20

// PurgeDue hard-deletes organizations whose deletion time has passed, with
// their memberships, invitations, codes and audit rows (foreign-key
// cascades), a batch per transaction, until none is left. progress, when
// set, is called after each batch with the count so far and the count due
// at the start.
//
// Any number of purgers may run at once, in one process or several: on
// PostgreSQL each batch claims its rows with FOR UPDATE SKIP LOCKED, so
// every due organization is deleted by exactly one of them and none waits
// for another (rows another purger, or a cancellation, holds are skipped;
// a cancellation that commits first takes the organization out of the
// batch, since the locked row is checked again). SQLite runs one write
// transaction at a time.
func (s *Store) PurgeDue(ctx context.Context, progress func(done, total int)) (PurgeResult, error) {
	var res PurgeResult
	now := s.clock()
	var due int64
	err := s.read(ctx, func(db *gorm.DB) error {
		return db.Model(&Organization{}).Where("pending_deletion_at IS NOT NULL AND pending_deletion_at <= ?", now).Count(&due).Error
	})
	if err != nil {
		return res, err
	}
	claim := ""
	if s.dialect == Postgres {
		claim = " FOR UPDATE SKIP LOCKED"
	}
	q := `DELETE FROM organizations WHERE id IN (SELECT id FROM organizations
		WHERE pending_deletion_at IS NOT NULL AND pending_deletion_at <= ?
		ORDER BY pending_deletion_at LIMIT ?` + claim + `) RETURNING id`
	for {
		n := 0
		err := s.tx(ctx, func(tx *gorm.DB) error {
			n = 0
			rows, err := tx.Raw(q, now, purgeBatch).Rows()
			if err != nil {
				return err
			}
			defer rows.Close()
			var purged []uuid.UUID
			for rows.Next() {
				var id uuid.UUID
				if err := rows.Scan(&id); err != nil {
					return err
				}
				purged = append(purged, id)
				n++
			}
			if err := rows.Err(); err != nil {
				return err
			}
			rows.Close()
			// Their logos are deleted from storage by the cleanup job.
			return releasePurgedLogos(tx, purged, now)
		})
		if err != nil {
			return res, err
		}
		if n == 0 {
			return res, nil
		}
		res.Organizations += n
		if progress != nil {
			progress(res.Organizations, max(int(due), res.Organizations))
		}
	}
}

// MaxOwnerCheckNote bounds RecordOwnerCheck's by note.
const MaxOwnerCheckNote = 200

// RecordOwnerCheck records that an owner's identity was checked for the
// organization at at: it sets owner_id_checked_at (what the session gate
// and the verification terms read as "verified") and writes an audit row,
// organization.owner_id_checked, actor system, naming by (an operator's
// note, e.g. "cli") and the check's time. Until the verification flow can
// record the check itself, an operator does, so the row is the only trace
// of who said so. ErrNotFound for an unknown organization; a frozen one
// (scheduled for deletion) is refused with ErrOrganizationFrozen, as every
// other write to it is. Recording again moves the time and audits again,
// with the previous time: a re-check (after a change of owner, say) is a
// fact worth keeping, and refusing it would need a way to clear the check
// first, which nothing should have.
func (s *Store) RecordOwnerCheck(ctx context.Context, orgID uuid.UUID, at time.Time, by string) error {
	by = jsTrim(by)
	if by == "" || utf16Len(by) > MaxOwnerCheckNote || hasC0Control(by) {
		return invalid("by must be 1 to %d characters without control characters.", MaxOwnerCheckNote)
	}
	if at.IsZero() {
		return invalid("at must be set.")
	}
	at = at.UTC()
	return s.tx(ctx, func(tx *gorm.DB) error {
		org, err := lockOrg(tx.Select(append(append([]string{}, orgStateColumns...), "owner_id_checked_at")), orgID)
		if errors.Is(err, ErrOrganizationNotFound) {
			return fmt.Errorf("%w: %w", ErrNotFound, ErrOrganizationNotFound)
		}
		if err != nil {
			return err
		}
		if org.Frozen() {
			return ErrOrganizationFrozen
		}
		if err := tx.Model(&Organization{}).Where("id = ?", orgID).Update("owner_id_checked_at", at).Error; err != nil {
			return err
		}
		meta := Metadata{"by": by, "checked_at": at.Format(time.RFC3339Nano)}
		if p := org.OwnerIDCheckedAt; p != nil {
			meta["previous_checked_at"] = p.UTC().Format(time.RFC3339Nano)
		}
		return s.audit(tx, orgID, nil, EventOwnerIDChecked, "organization", orgID.String(), meta)
	})
}

// Organization reads one organization's row; ErrNotFound (also
// ErrOrganizationNotFound) when there is none. For operators' tools.
func (s *Store) Organization(ctx context.Context, id uuid.UUID) (Organization, error) {
	var org Organization
	err := s.read(ctx, func(db *gorm.DB) error {
		var err error
		org, err = findOrg(db, id)
		return err
	})
	if errors.Is(err, ErrOrganizationNotFound) {
		return org, fmt.Errorf("%w: %w", ErrNotFound, ErrOrganizationNotFound)
	}
	return org, err
}

// OrganizationIDBySlug finds an organization by its slug, for operators who
// name organizations the way people do.
func (s *Store) OrganizationIDBySlug(ctx context.Context, slug string) (uuid.UUID, error) {
	var org Organization
	err := s.read(ctx, func(db *gorm.DB) error {
		return db.Select("id").Where("slug = ?", slug).Take(&org).Error
	})
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return uuid.Nil, fmt.Errorf("%w: %w", ErrNotFound, ErrOrganizationNotFound)
	}
	return org.ID, err
}
