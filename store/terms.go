package store

import (
	"context"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/kayle-id/orgs-api/terms"
)

// RPTermsAcceptance is an organization's acceptance of one version of the
// Kayle ID Integration Terms. AcceptedBy is nil once the acceptor's user
// row is gone; the acceptance still counts.
type RPTermsAcceptance struct {
	ID             uuid.UUID
	OrganizationID uuid.UUID
	TermsVersion   string
	TermsHash      string
	Jurisdiction   string
	AcceptedBy     *uuid.UUID
	AcceptedAt     time.Time
	CreatedAt      time.Time
}

// TableName pins GORM to the migrated table.
func (RPTermsAcceptance) TableName() string { return "organization_rp_terms_acceptances" }

// currentRPTerms narrows to acceptances of the current terms.
func currentRPTerms(db *gorm.DB, orgID uuid.UUID) *gorm.DB {
	c := terms.Current
	return db.Where("organization_id = ? AND terms_version = ? AND terms_hash = ? AND jurisdiction = ?", orgID, c.Version, c.Hash, c.Jurisdiction)
}

// RPTermsStatus is the active organization's acceptance of the current
// terms, nil when there is none. Any caller whose session selects the
// organization may read it, as upstream (no membership check).
func (s *Store) RPTermsStatus(ctx context.Context, a Actor) (*RPTermsAcceptance, error) {
	if a.ActiveOrganizationID == nil {
		return nil, ErrNoActiveOrganization
	}
	var rows []RPTermsAcceptance
	err := s.read(ctx, func(db *gorm.DB) error {
		return currentRPTerms(db, *a.ActiveOrganizationID).Limit(1).Find(&rows).Error
	})
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	return &rows[0], nil
}

// AcceptRPTerms records that an owner accepted the current terms for the
// active organization. Accepting again keeps the first acceptance (and
// returns it) but is audited every time, as upstream. Checks, in order: a
// selected organization, not frozen, an active owner.
func (s *Store) AcceptRPTerms(ctx context.Context, a Actor) (RPTermsAcceptance, error) {
	var out RPTermsAcceptance
	err := s.tx(ctx, func(tx *gorm.DB) error {
		sc, err := lockAdminScope(tx, a)
		if err != nil {
			return err
		}
		if err := sc.frozenThenRole(isOwner); err != nil {
			return err
		}
		c, now := terms.Current, s.clock()
		row := RPTermsAcceptance{
			ID: uuid.New(), OrganizationID: sc.org.ID, TermsVersion: c.Version, TermsHash: c.Hash,
			Jurisdiction: c.Jurisdiction, AcceptedBy: &a.UserID, AcceptedAt: now, CreatedAt: now,
		}
		if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&row).Error; err != nil {
			return err
		}
		if err := currentRPTerms(tx, sc.org.ID).Take(&out).Error; err != nil {
			return err
		}
		return s.audit(tx, sc.org.ID, &a.UserID, EventRPTermsAccepted, "organization", sc.org.ID.String(),
			Metadata{"jurisdiction": c.Jurisdiction, "terms_hash": c.Hash, "terms_version": c.Version})
	})
	return out, err
}

// VerificationTerms is an organization's acceptance of the organization
// verification terms.
type VerificationTerms struct {
	AcceptedAt time.Time
	AcceptedBy uuid.UUID
}

// AcceptVerificationTerms records that an owner accepted the terms of the
// organization verification flow for the organization named (not the
// session's). An organization the caller never belonged to is
// ErrOrganizationNotFound whatever its state (upstream tells anyone whether
// it is frozen or verified); to its members, in upstream's order: frozen
// (ErrOrganizationFrozen), already verified (ErrAlreadyVerified), then an
// active owner (ErrForbidden). An acceptance on file is returned as it is;
// one whose acceptor is gone no longer counts and is replaced. Recording an
// acceptance writes one audit row in its transaction; returning one on
// file writes none.
func (s *Store) AcceptVerificationTerms(ctx context.Context, userID uuid.UUID, orgID *uuid.UUID) (VerificationTerms, error) {
	if orgID == nil {
		return VerificationTerms{}, ErrOrganizationNotFound
	}
	var out VerificationTerms
	err := s.tx(ctx, func(tx *gorm.DB) error {
		// Visibility before the lock: the organization is named in the
		// body, and a stranger must not hold its row.
		if err := visibleOrg(tx, *orgID, userID); err != nil {
			return err
		}
		cols := append(append([]string{}, orgStateColumns...), "owner_id_checked_at", "verification_terms_accepted_at", "verification_terms_accepted_by")
		org, err := lockOrg(tx.Select(cols), *orgID)
		if err != nil {
			return err
		}
		switch {
		case org.Frozen():
			return ErrOrganizationFrozen
		case org.OwnerIDCheckedAt != nil:
			return ErrAlreadyVerified
		}
		if _, err := requireRole(tx, org.ID, userID, isOwner); err != nil {
			return err
		}
		if org.VerificationTermsAcceptedAt != nil && org.VerificationTermsAcceptedBy != nil {
			out = VerificationTerms{AcceptedAt: *org.VerificationTermsAcceptedAt, AcceptedBy: *org.VerificationTermsAcceptedBy}
			return nil
		}
		out = VerificationTerms{AcceptedAt: s.clock(), AcceptedBy: userID}
		if err := tx.Model(&Organization{}).Where("id = ?", org.ID).Updates(map[string]any{
			"verification_terms_accepted_at": out.AcceptedAt, "verification_terms_accepted_by": userID,
		}).Error; err != nil {
			return err
		}
		return s.audit(tx, org.ID, &userID, EventVerificationTermsAccepted, "organization", org.ID.String(),
			Metadata{"accepted_at": out.AcceptedAt.UTC().Format(time.RFC3339Nano)})
	})
	return out, err
}
