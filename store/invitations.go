package store

import (
	"context"
	"errors"

	"github.com/google/uuid"
	"gorm.io/gorm"
)

// ListInvitations lists the active organization's pending invitations
// (not accepted, cancelled or expired), newest first. Owners and admins
// only; the organization may be scheduled for deletion.
func (s *Store) ListInvitations(ctx context.Context, a Actor, p Page) ([]Invitation, bool, error) {
	p = p.clamped()
	if a.ActiveOrganizationID == nil {
		return nil, false, ErrNoActiveOrganization
	}
	orgID := *a.ActiveOrganizationID
	var rows []Invitation
	err := s.read(ctx, func(db *gorm.DB) error {
		if _, err := requireRole(db, orgID, a.UserID, Role.CanManage); err != nil {
			return err
		}
		q := db.Table("invitations AS i").Select("i.*").
			Where("i.organization_id = ? AND i.accepted_at IS NULL AND i.cancelled_at IS NULL AND i.expires_at > ?", orgID, s.clock())
		if p.StartingAfter != "" {
			id, err := uuid.Parse(p.StartingAfter)
			if err != nil {
				return ErrInvalidCursor
			}
			// The cursor row need not be pending any more: it only marks a place.
			var cur Invitation
			if err := db.Select("id", "created_at").Where("organization_id = ? AND id = ?", orgID, id).Take(&cur).Error; err != nil {
				if errors.Is(err, gorm.ErrRecordNotFound) {
					return ErrInvalidCursor
				}
				return err
			}
			q = after(q, "i", cur.CreatedAt, cur.ID)
		}
		return q.Order("i.created_at DESC, i.id DESC").Limit(p.Limit + 1).Find(&rows).Error
	})
	if err != nil {
		return nil, false, err
	}
	rows, more := trimPage(rows, p.Limit)
	return rows, more, nil
}

// CancelInvitation cancels a pending invitation of the active organization
// (owner/admin), so it can no longer be accepted, and audits it. Unknown,
// another organization's, accepted, expired and already cancelled
// invitations are all ErrInvitationNotFound.
func (s *Store) CancelInvitation(ctx context.Context, a Actor, id uuid.UUID) (Invitation, error) {
	var inv Invitation
	err := s.tx(ctx, func(tx *gorm.DB) error {
		sc, err := openScope(tx, a, uuid.Nil, true)
		if err != nil {
			return err
		}
		err = tx.Where("id = ? AND organization_id = ?", id, sc.org.ID).Take(&inv).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return ErrInvitationNotFound
		}
		if err != nil {
			return err
		}
		now := s.clock()
		if !inv.Pending(now) {
			return ErrInvitationNotFound
		}
		res := tx.Model(&Invitation{}).Where("id = ? AND accepted_at IS NULL AND cancelled_at IS NULL", id).
			Updates(map[string]any{"cancelled_at": now, "cancelled_by": a.UserID})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return ErrInvitationNotFound
		}
		inv.CancelledAt, inv.CancelledBy = &now, &a.UserID
		return s.audit(tx, sc.org.ID, &a.UserID, EventMemberInvitationDeleted, "invitation", id.String(),
			Metadata{"email": inv.Email, "role": string(inv.Role)})
	})
	return inv, err
}
