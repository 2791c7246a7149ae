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
// ends. Every change to an organization's memberships takes this lock (here
// or through pgLockSQL, see change.go), so they are serialized and the
// last-owner rule holds. On SQLite the lock is the database write lock
// BEGIN IMMEDIATE already holds.
func lockOrg(tx *gorm.DB, id uuid.UUID) (Organization, error) {
	return findOrg(tx.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate}), id)
}

// orgFrozen reports whether the organization is scheduled for deletion,
// reading only its state; one that no longer exists is not frozen.
func orgFrozen(db *gorm.DB, id uuid.UUID) (bool, error) {
	org, err := findOrg(db.Select(orgStateColumns), id)
	if errors.Is(err, ErrOrganizationNotFound) {
		return false, nil
	}
	return org.Frozen(), err
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

// requireRole is the caller's active membership in orgID when its role
// passes allowed (CanManage for owners and admins, isOwner for owners);
// ErrForbidden when the caller has no active membership or another role.
func requireRole(tx *gorm.DB, orgID, userID uuid.UUID, allowed func(Role) bool) (Member, error) {
	m, err := activeMembership(tx, orgID, userID)
	if errors.Is(err, ErrNotMember) || err == nil && !allowed(m.Role) {
		return m, ErrForbidden
	}
	return m, err
}

// suspension is the change that suspends m, recorded as event.
func (s *Store) suspension(m Member, by uuid.UUID, event string) *memberChange {
	return &memberChange{
		id: m.ID, set: "suspended_at = ?, suspended_by = ?", args: []any{s.clock(), by}, guard: "suspended_at IS NULL",
		audit: []AuditLog{s.auditRow(m.OrganizationID, &by, event, "member", m.ID.String(),
			Metadata{"user_id": m.UserID.String(), "role": string(m.Role)})},
	}
}

// Leave suspends the caller's own membership of the active organization.
// The last active owner cannot leave (ErrLastOwner).
func (s *Store) Leave(ctx context.Context, a Actor) (Member, error) {
	var caller Member
	err := s.changeMembership(ctx, a, uuid.Nil, false, func(sc scope) (*memberChange, error) {
		caller = sc.caller.Member
		if err := sc.caller.keepsAnOwner(); err != nil {
			return nil, err
		}
		return s.suspension(caller, a.UserID, EventMemberLeft), nil
	})
	return caller, err
}

// Suspend suspends a member of the active organization (owner/admin only).
// An admin may suspend an owner while another active owner remains.
func (s *Store) Suspend(ctx context.Context, a Actor, memberID uuid.UUID) (Member, error) {
	var target Member
	err := s.changeMembership(ctx, a, memberID, true, func(sc scope) (*memberChange, error) {
		t, err := sc.activeTarget()
		if err != nil {
			return nil, err
		}
		target = t.Member
		if err := t.keepsAnOwner(); err != nil {
			return nil, err
		}
		event := EventMemberSuspended
		if target.UserID == a.UserID {
			event = EventMemberLeft
		}
		return s.suspension(target, a.UserID, event), nil
	})
	return target, err
}

// Reinstate clears a suspension (owner/admin only; reinstating an owner's
// row needs an owner, since it grants the owner role back).
func (s *Store) Reinstate(ctx context.Context, a Actor, memberID uuid.UUID) (Member, error) {
	var target Member
	err := s.changeMembership(ctx, a, memberID, true, func(sc scope) (*memberChange, error) {
		if sc.target == nil {
			return nil, ErrMemberNotFound
		}
		target = sc.target.Member
		if target.Active() {
			return nil, ErrMemberNotSuspended
		}
		if target.Role == RoleOwner && sc.caller.Role != RoleOwner {
			return nil, ErrOwnerRequired
		}
		// The user may have joined again since (a new invitation): the
		// unique index on active memberships then refuses the update.
		return &memberChange{
			id: target.ID, set: "suspended_at = NULL, suspended_by = NULL", guard: "suspended_at IS NOT NULL",
			audit: []AuditLog{s.auditRow(sc.org.ID, &a.UserID, EventMemberReinstated, "member", target.ID.String(),
				Metadata{"user_id": target.UserID.String(), "role": string(target.Role)})},
		}, nil
	})
	if isUniqueViolation(err) {
		return target, ErrActiveMembershipExists
	}
	target.SuspendedAt, target.SuspendedBy = nil, nil
	return target, err
}

// ChangeRole sets an active member's role (owner/admin only; only owners
// grant or take away owner; the last active owner cannot be demoted).
// Setting the role a member already has changes nothing and writes no audit row.
func (s *Store) ChangeRole(ctx context.Context, a Actor, memberID uuid.UUID, role Role) (MemberView, error) {
	var out MemberView
	if err := checkRole(role); err != nil {
		return out, err
	}
	err := s.changeMembership(ctx, a, memberID, true, func(sc scope) (*memberChange, error) {
		t, err := sc.activeTarget()
		if err != nil {
			return nil, err
		}
		if (t.Role == RoleOwner || role == RoleOwner) && sc.caller.Role != RoleOwner {
			return nil, ErrOwnerRequired
		}
		out = t.view()
		if t.Role == role {
			return nil, nil
		}
		if err := t.keepsAnOwner(); err != nil {
			return nil, err
		}
		out.Role = role
		ch := &memberChange{id: t.ID, set: "role = ?", args: []any{role}, guard: "suspended_at IS NULL",
			audit: []AuditLog{s.auditRow(sc.org.ID, &a.UserID, EventMemberRoleChanged, "member", t.ID.String(),
				Metadata{"user_id": t.UserID.String(), "from": string(t.Role), "to": string(role)})}}
		if role == RoleOwner {
			ch.audit = append(ch.audit, s.auditRow(sc.org.ID, &a.UserID, EventOwnershipAssigned, "member", t.ID.String(),
				Metadata{"user_id": t.UserID.String()}))
		}
		return ch, nil
	})
	return out, err
}

// Page asks for one keyset page: at most Limit rows after the row whose id
// is StartingAfter (empty for the first page). Limit is brought into
// 1..MaxPageLimit.
type Page struct {
	Limit         int
	StartingAfter string
}

func (p Page) clamped() Page {
	p.Limit = ClampPageLimit(p.Limit)
	return p
}

// ListMembers lists the active organization's memberships, suspended ones
// included, newest first. Any active member may list.
func (s *Store) ListMembers(ctx context.Context, a Actor, p Page) ([]MemberView, bool, error) {
	p = p.clamped()
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

// newestFirst starts a keyset page of an organization's rows of table,
// newest first (created_at desc, id desc, at full precision), aliased
// alias, after the row whose id is cursor: ErrInvalidCursor when the
// organization has no such row (a page cannot start after a row that has
// no place in the order). The caller adds its filters and runs it with
// page.
func newestFirst(db *gorm.DB, table, alias string, orgID uuid.UUID, cursor string) (*gorm.DB, error) {
	q := db.Table(table+" AS "+alias).Select(alias+".*").Where(alias+".organization_id = ?", orgID)
	if cursor == "" {
		return q, nil
	}
	var cur struct {
		ID        string
		CreatedAt time.Time
	}
	err := db.Table(table).Select("id", "created_at").Where("organization_id = ? AND id = ?", orgID, cursor).Take(&cur).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrInvalidCursor
	}
	if err != nil {
		return nil, err
	}
	return after(q, alias, cur.CreatedAt, cur.ID), nil
}

// page orders a newestFirst query and fetches one row more than limit
// (trimPage tells from it whether more follow).
func page(q *gorm.DB, alias string, limit int, dst any) error {
	return q.Order(alias + ".created_at DESC, " + alias + ".id DESC").Limit(limit + 1).Find(dst).Error
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
	if err := errors.Join(checkEmail(email), checkRole(role)); err != nil {
		return inv, err
	}
	err := s.tx(ctx, func(tx *gorm.DB) error {
		sc, err := openScope(tx, a, uuid.Nil, true)
		if err != nil {
			return err
		}
		org, caller := sc.org, sc.caller
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
			Where("organization_id = ? AND email = ? AND accepted_at IS NULL AND cancelled_at IS NULL AND expires_at > ?", org.ID, email, now).
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
// is unknown, expired, used, cancelled, or addressed to another email is
// ErrInvitationNotFound, so its existence is not revealed. An invitation
// grants only what its sender may still grant: when they have left, been
// suspended or lost the role that let them grant it, it is
// ErrInvitationRevoked.
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
		if !inv.Pending(now) || inv.Email != u.Email {
			return ErrInvitationNotFound
		}
		org, err := lockOrg(tx.Select(orgStateColumns), inv.OrganizationID)
		if err != nil {
			return err
		}
		if org.Frozen() {
			return ErrOrganizationFrozen
		}
		// Read under the organization's lock, which every membership change
		// takes: the sender cannot be suspended or demoted meanwhile.
		sender, err := activeMembership(tx, org.ID, inv.InvitedBy)
		if errors.Is(err, ErrNotMember) || (err == nil && !sender.Role.MayGrant(inv.Role)) {
			return ErrInvitationRevoked
		}
		if err != nil {
			return err
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
