package store

import (
	"errors"

	"github.com/google/uuid"
	"gorm.io/gorm"
)

// adminScope is what the organization administration operations check: the
// active organization, locked for the rest of the transaction, and the
// caller's active membership of it. Each operation applies the checks in
// the order upstream does (some refuse a frozen organization before looking
// at the role, some after), so this only gathers the facts.
type adminScope struct {
	org    Organization
	found  bool // the organization still exists
	member *Member
}

// lockAdminScope locks the caller's active organization (reading only the
// columns named, besides id and the deletion state) and reads the caller's
// active membership. ErrNoActiveOrganization when the session has none.
func lockAdminScope(tx *gorm.DB, a Actor, columns ...string) (adminScope, error) {
	return openAdminScope(tx, a, true, columns)
}

// lockNamedAdminScope is lockAdminScope for an organization the request
// names rather than the session's active one. An organization that does
// not exist and one the caller has no active membership of (never joined,
// or suspended) are both ErrOrganizationNotFound: the answer must not tell
// a stranger which organizations exist.
func lockNamedAdminScope(tx *gorm.DB, a Actor, orgID uuid.UUID, columns ...string) (adminScope, error) {
	org, err := lockOrg(tx.Select(append(append([]string{}, orgStateColumns...), columns...)), orgID)
	if err != nil {
		return adminScope{}, err
	}
	m, err := activeMembership(tx, org.ID, a.UserID)
	if errors.Is(err, ErrNotMember) {
		return adminScope{}, ErrOrganizationNotFound
	}
	if err != nil {
		return adminScope{}, err
	}
	return adminScope{org: org, found: true, member: &m}, nil
}

// readAdminScope is lockAdminScope without the lock, for checks made
// before work that must not hold a transaction (an upload).
func readAdminScope(db *gorm.DB, a Actor) (adminScope, error) {
	return openAdminScope(db, a, false, nil)
}

func openAdminScope(tx *gorm.DB, a Actor, lock bool, columns []string) (adminScope, error) {
	if a.ActiveOrganizationID == nil {
		return adminScope{}, ErrNoActiveOrganization
	}
	q := tx.Select(append(append([]string{}, orgStateColumns...), columns...))
	read := findOrg
	if lock {
		read = lockOrg
	}
	org, err := read(q, *a.ActiveOrganizationID)
	if errors.Is(err, ErrOrganizationNotFound) {
		return adminScope{}, nil
	}
	if err != nil {
		return adminScope{}, err
	}
	sc := adminScope{org: org, found: true}
	m, err := activeMembership(tx, org.ID, a.UserID)
	if err == nil {
		sc.member = &m
	} else if !errors.Is(err, ErrNotMember) {
		return sc, err
	}
	return sc, nil
}

// frozen reports an organization scheduled for deletion; one that no longer
// exists is not frozen.
func (sc adminScope) frozen() bool { return sc.found && sc.org.Frozen() }

// allows reports an active membership whose role passes.
func (sc adminScope) allows(role func(Role) bool) bool {
	return sc.found && sc.member != nil && role(sc.member.Role)
}

// frozenThenRole refuses a frozen organization (ErrOrganizationFrozen), then
// a caller whose role does not pass (ErrForbidden): business details, the
// terms and the organization update check in this order, as upstream.
func (sc adminScope) frozenThenRole(role func(Role) bool) error {
	if sc.frozen() {
		return ErrOrganizationFrozen
	}
	if !sc.allows(role) {
		return ErrForbidden
	}
	return nil
}

// roleThenFrozen is the other order, API keys' and the logo upload's.
func (sc adminScope) roleThenFrozen(role func(Role) bool) error {
	if !sc.allows(role) {
		return ErrForbidden
	}
	if sc.frozen() {
		return ErrOrganizationFrozen
	}
	return nil
}
