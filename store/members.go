package store

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Actor is the caller of an operation: a user acting through a session whose
// active organization (if any) scopes the membership operations.
type Actor struct {
	UserID               uuid.UUID
	SessionID            uuid.UUID
	ActiveOrganizationID *uuid.UUID
}

// InvitationTTL is how long an invitation can be accepted.
const InvitationTTL = 7 * 24 * time.Hour

func findOrg(tx *gorm.DB, id uuid.UUID) (Organization, error) {
	var o Organization
	err := tx.Where("id = ?", id).Take(&o).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return o, ErrOrganizationNotFound
	}
	return o, err
}

// lockOrg reads the organization and locks its row until the transaction
// ends. Every membership change goes through it, so changes to one
// organization's memberships are serialized and the last-owner rule holds.
// On SQLite the lock is the database write lock BEGIN IMMEDIATE already holds.
func lockOrg(tx *gorm.DB, id uuid.UUID) (Organization, error) {
	return findOrg(tx.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate}), id)
}

// activeMembership is the user's active membership, or ErrNotMember.
func activeMembership(tx *gorm.DB, orgID, userID uuid.UUID) (Member, error) {
	var m Member
	err := tx.Where("organization_id = ? AND user_id = ? AND suspended_at IS NULL", orgID, userID).Take(&m).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return m, ErrNotMember
	}
	return m, err
}

func memberInOrg(tx *gorm.DB, orgID, memberID uuid.UUID) (Member, error) {
	var m Member
	err := tx.Where("organization_id = ? AND id = ?", orgID, memberID).Take(&m).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return m, ErrMemberNotFound
	}
	return m, err
}

// otherActiveOwners counts active owners of the organization other than the
// membership excluded.
func otherActiveOwners(tx *gorm.DB, orgID, excluded uuid.UUID) (int64, error) {
	var n int64
	err := tx.Model(&Member{}).
		Where("organization_id = ? AND role = ? AND suspended_at IS NULL AND id <> ?", orgID, RoleOwner, excluded).
		Count(&n).Error
	return n, err
}

// mutableScope opens the caller's active organization for a membership
// change, in the order upstream checks: a selected organization, not frozen,
// then the caller's own active membership.
func mutableScope(tx *gorm.DB, a Actor) (Organization, Member, error) {
	if a.ActiveOrganizationID == nil {
		return Organization{}, Member{}, ErrNoActiveOrganization
	}
	org, err := lockOrg(tx, *a.ActiveOrganizationID)
	if errors.Is(err, ErrOrganizationNotFound) {
		// The selected organization vanished (purged): nothing is selected.
		return org, Member{}, ErrNoActiveOrganization
	}
	if err != nil {
		return org, Member{}, err
	}
	if org.Frozen() {
		return org, Member{}, ErrOrganizationFrozen
	}
	// A statement of its own, after the lock: under READ COMMITTED each
	// statement sees what committed before it started, so this read sees
	// the work of whoever held the lock before us. Joined into the locking
	// statement it would read a stale membership.
	caller, err := activeMembership(tx, org.ID, a.UserID)
	return org, caller, err
}

// managerScope is mutableScope for owner/admin actions: a caller who is not
// an active member, or is a plain member, may not act (ErrForbidden).
func managerScope(tx *gorm.DB, a Actor) (Organization, Member, error) {
	org, caller, err := mutableScope(tx, a)
	if errors.Is(err, ErrNotMember) || err == nil && !caller.Role.CanManage() {
		return org, caller, ErrForbidden
	}
	return org, caller, err
}

// keepsAnOwner is ErrLastOwner when m is the organization's only active
// owner, so suspending or demoting m would leave it without one. It runs
// under the organization's lock (see lockOrg).
func keepsAnOwner(tx *gorm.DB, m Member) error {
	if m.Role != RoleOwner {
		return nil
	}
	n, err := otherActiveOwners(tx, m.OrganizationID, m.ID)
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrLastOwner
	}
	return nil
}

// suspend marks m suspended by the actor and writes its audit row.
func (s *Store) suspend(tx *gorm.DB, m Member, by uuid.UUID, event string) error {
	now := s.clock()
	res := tx.Model(&Member{}).Where("id = ? AND suspended_at IS NULL", m.ID).
		Updates(map[string]any{"suspended_at": now, "suspended_by": by})
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected != 1 {
		return ErrMemberNotFound
	}
	return s.audit(tx, m.OrganizationID, &by, event, "member", m.ID.String(), Metadata{"user_id": m.UserID.String(), "role": string(m.Role)})
}

// Leave suspends the caller's own membership of the active organization.
// The last active owner cannot leave (ErrLastOwner).
func (s *Store) Leave(ctx context.Context, a Actor) (Member, error) {
	var caller Member
	err := s.tx(ctx, func(tx *gorm.DB) error {
		var err error
		_, caller, err = mutableScope(tx, a)
		if err != nil {
			return err
		}
		if err := keepsAnOwner(tx, caller); err != nil {
			return err
		}
		return s.suspend(tx, caller, a.UserID, EventMemberLeft)
	})
	return caller, err
}

// Suspend suspends a member of the active organization (owner/admin only).
// An admin may suspend an owner while another active owner remains.
func (s *Store) Suspend(ctx context.Context, a Actor, memberID uuid.UUID) (Member, error) {
	var target Member
	err := s.tx(ctx, func(tx *gorm.DB) error {
		org, _, err := managerScope(tx, a)
		if err != nil {
			return err
		}
		target, err = memberInOrg(tx, org.ID, memberID)
		if err != nil {
			return err
		}
		if !target.Active() {
			return ErrMemberNotFound
		}
		if err := keepsAnOwner(tx, target); err != nil {
			return err
		}
		event := EventMemberSuspended
		if target.UserID == a.UserID {
			event = EventMemberLeft
		}
		return s.suspend(tx, target, a.UserID, event)
	})
	return target, err
}

// Reinstate clears a suspension (owner/admin only; reinstating an owner's
// row needs an owner, since it grants the owner role back).
func (s *Store) Reinstate(ctx context.Context, a Actor, memberID uuid.UUID) (Member, error) {
	var target Member
	err := s.tx(ctx, func(tx *gorm.DB) error {
		org, caller, err := managerScope(tx, a)
		if err != nil {
			return err
		}
		target, err = memberInOrg(tx, org.ID, memberID)
		if err != nil {
			return err
		}
		if target.Active() {
			return ErrMemberNotSuspended
		}
		if target.Role == RoleOwner && caller.Role != RoleOwner {
			return ErrOwnerRequired
		}
		if _, err := activeMembership(tx, org.ID, target.UserID); err == nil {
			return ErrActiveMembershipExists
		} else if !errors.Is(err, ErrNotMember) {
			return err
		}
		res := tx.Model(&Member{}).Where("id = ? AND suspended_at IS NOT NULL", target.ID).
			Updates(map[string]any{"suspended_at": nil, "suspended_by": nil})
		if res.Error != nil {
			if isUniqueViolation(res.Error) {
				return ErrActiveMembershipExists
			}
			return res.Error
		}
		target.SuspendedAt, target.SuspendedBy = nil, nil
		return s.audit(tx, org.ID, &a.UserID, EventMemberReinstated, "member", target.ID.String(),
			Metadata{"user_id": target.UserID.String(), "role": string(target.Role)})
	})
	return target, err
}

// ChangeRole sets an active member's role (owner/admin only; only owners
// grant or take away owner; the last active owner cannot be demoted).
// Setting the role a member already has changes nothing and writes no audit row.
func (s *Store) ChangeRole(ctx context.Context, a Actor, memberID uuid.UUID, role Role) (MemberView, error) {
	var out MemberView
	err := s.tx(ctx, func(tx *gorm.DB) error {
		org, caller, err := managerScope(tx, a)
		if err != nil {
			return err
		}
		target, err := memberInOrg(tx, org.ID, memberID)
		if err != nil {
			return err
		}
		if !target.Active() {
			return ErrMemberNotFound
		}
		if (target.Role == RoleOwner || role == RoleOwner) && caller.Role != RoleOwner {
			return ErrOwnerRequired
		}
		if target.Role == role {
			out, err = memberView(tx, target.ID)
			return err
		}
		if err := keepsAnOwner(tx, target); err != nil {
			return err
		}
		if err := tx.Model(&Member{}).Where("id = ?", target.ID).Update("role", role).Error; err != nil {
			return err
		}
		if err := s.audit(tx, org.ID, &a.UserID, EventMemberRoleChanged, "member", target.ID.String(),
			Metadata{"user_id": target.UserID.String(), "from": string(target.Role), "to": string(role)}); err != nil {
			return err
		}
		if role == RoleOwner {
			if err := s.audit(tx, org.ID, &a.UserID, EventOwnershipAssigned, "member", target.ID.String(),
				Metadata{"user_id": target.UserID.String()}); err != nil {
				return err
			}
		}
		out, err = memberView(tx, target.ID)
		return err
	})
	return out, err
}

func memberView(tx *gorm.DB, id uuid.UUID) (MemberView, error) {
	var v MemberView
	err := tx.Table("organization_members AS m").
		Select("m.*, u.email AS email, u.name AS name").
		Joins("JOIN users u ON u.id = m.user_id").
		Where("m.id = ?", id).Take(&v).Error
	return v, err
}

// Page asks for one keyset page: at most Limit rows after the row whose id
// is StartingAfter (empty for the first page).
type Page struct {
	Limit         int
	StartingAfter string
}

// ListMembers lists the active organization's memberships, suspended ones
// included, newest first. Any active member may list.
func (s *Store) ListMembers(ctx context.Context, a Actor, p Page) ([]MemberView, bool, error) {
	if a.ActiveOrganizationID == nil {
		return nil, false, ErrNoActiveOrganization
	}
	orgID := *a.ActiveOrganizationID
	var rows []MemberView
	err := s.read(ctx, func(db *gorm.DB) error {
		if _, err := activeMembership(db, orgID, a.UserID); err != nil {
			return err
		}
		q := db.Table("organization_members AS m").
			Select("m.*, u.email AS email, u.name AS name").
			Joins("JOIN users u ON u.id = m.user_id").
			Where("m.organization_id = ?", orgID)
		if p.StartingAfter != "" {
			id, err := uuid.Parse(p.StartingAfter)
			if err != nil {
				return ErrInvalidCursor
			}
			var cur Member
			if err := db.Where("organization_id = ? AND id = ?", orgID, id).Take(&cur).Error; err != nil {
				if errors.Is(err, gorm.ErrRecordNotFound) {
					return ErrInvalidCursor
				}
				return err
			}
			q = after(q, "m", cur.CreatedAt, cur.ID)
		}
		return q.Order("m.created_at DESC, m.id DESC").Limit(p.Limit + 1).Find(&rows).Error
	})
	if err != nil {
		return nil, false, err
	}
	rows, more := trimPage(rows, p.Limit)
	return rows, more, nil
}

// after narrows a list ordered (created_at desc, id desc) to the rows
// after the cursor row. A row-value comparison, so that both databases walk
// the (organization_id, created_at desc, id desc) index from the cursor
// instead of filtering from the start.
func after(q *gorm.DB, alias string, createdAt time.Time, id any) *gorm.DB {
	return q.Where("("+alias+".created_at, "+alias+".id) < (?, ?)", createdAt, id)
}

// trimPage cuts the extra row a list query fetched (limit+1) to learn
// whether more rows follow.
func trimPage[T any](rows []T, limit int) ([]T, bool) {
	if len(rows) > limit {
		return rows[:limit], true
	}
	return rows, false
}

// Invite creates an invitation to the active organization (owner/admin; only
// an owner may invite an owner).
func (s *Store) Invite(ctx context.Context, a Actor, email string, role Role) (Invitation, error) {
	email = NormalizeEmail(email)
	var inv Invitation
	err := s.tx(ctx, func(tx *gorm.DB) error {
		org, caller, err := managerScope(tx, a)
		if err != nil {
			return err
		}
		if role == RoleOwner && caller.Role != RoleOwner {
			return ErrOwnerRequired
		}
		var n int64
		err = tx.Table("organization_members AS m").Joins("JOIN users u ON u.id = m.user_id").
			Where("m.organization_id = ? AND m.suspended_at IS NULL AND u.email = ?", org.ID, email).Count(&n).Error
		if err != nil {
			return err
		}
		if n > 0 {
			return ErrActiveMembershipExists
		}
		now := s.clock()
		err = tx.Model(&Invitation{}).
			Where("organization_id = ? AND email = ? AND accepted_at IS NULL AND expires_at > ?", org.ID, email, now).
			Count(&n).Error
		if err != nil {
			return err
		}
		if n > 0 {
			return ErrInvitationPending
		}
		inv = Invitation{ID: uuid.New(), OrganizationID: org.ID, Email: email, Role: role, InvitedBy: a.UserID, CreatedAt: now, ExpiresAt: now.Add(InvitationTTL)}
		if err := tx.Create(&inv).Error; err != nil {
			return err
		}
		return s.audit(tx, org.ID, &a.UserID, EventMemberInvited, "invitation", inv.ID.String(), Metadata{"email": email, "role": string(role)})
	})
	return inv, err
}

// AcceptInvitation makes the caller an active member of the invitation's
// organization and selects it on the caller's session. An invitation that
// is unknown, expired, used, or addressed to another email is
// ErrInvitationNotFound, so its existence is not revealed.
func (s *Store) AcceptInvitation(ctx context.Context, a Actor, invitationID uuid.UUID) (Member, error) {
	var m Member
	err := s.tx(ctx, func(tx *gorm.DB) error {
		var inv Invitation
		if err := tx.Where("id = ?", invitationID).Take(&inv).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return ErrInvitationNotFound
			}
			return err
		}
		var u User
		if err := tx.Where("id = ?", a.UserID).Take(&u).Error; err != nil {
			return err
		}
		now := s.clock()
		if inv.AcceptedAt != nil || !now.Before(inv.ExpiresAt) || inv.Email != u.Email {
			return ErrInvitationNotFound
		}
		org, err := lockOrg(tx, inv.OrganizationID)
		if err != nil {
			return err
		}
		if org.Frozen() {
			return ErrOrganizationFrozen
		}
		if _, err := activeMembership(tx, org.ID, u.ID); err == nil {
			return ErrActiveMembershipExists
		} else if !errors.Is(err, ErrNotMember) {
			return err
		}
		m = Member{ID: uuid.New(), OrganizationID: org.ID, UserID: u.ID, Role: inv.Role, CreatedAt: now}
		if err := tx.Create(&m).Error; err != nil {
			if isUniqueViolation(err) {
				return ErrActiveMembershipExists
			}
			return err
		}
		res := tx.Model(&Invitation{}).Where("id = ? AND accepted_at IS NULL", inv.ID).
			Updates(map[string]any{"accepted_at": now, "accepted_by": u.ID})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return ErrInvitationNotFound
		}
		if err := tx.Model(&Session{}).Where("id = ?", a.SessionID).Update("active_organization_id", org.ID).Error; err != nil {
			return err
		}
		return s.audit(tx, org.ID, &a.UserID, EventMemberJoined, "member", m.ID.String(),
			Metadata{"user_id": u.ID.String(), "role": string(m.Role), "invitation_id": inv.ID.String()})
	})
	return m, err
}
