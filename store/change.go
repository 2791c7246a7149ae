package store

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"gorm.io/gorm"
)

// A membership change (leave, suspend, reinstate, role change) runs in two
// steps with the rules, in Go, between them:
//
//  1. open: lock the organization's row, then read the caller's active
//     membership and the target membership (scopeSQL);
//  2. apply: update the one membership row and write its audit rows, then
//     commit.
//
// On PostgreSQL each step is a single round trip: pgx sends the statements
// of a step together (BEGIN, lock, read; update+audit, COMMIT). Every
// statement still runs on its own, in order, with its own READ COMMITTED
// snapshot, so the read after the lock sees whatever the previous holder of
// the lock committed. SQLite runs in-process, where a round trip costs
// nothing, and takes the same statements one at a time through GORM.

// lockedMember is a membership read under the organization's lock, with its
// user's email and name, and whether the organization has another active
// owner: what the rules need, read in one statement.
type lockedMember struct {
	Member
	Email        string
	Name         string
	AnotherOwner bool
}

// scopeSQL reads the caller's active membership (user_id) and a target
// membership (id; uuid.Nil when there is none). AnotherOwner is computed for
// active owners only, the only rows the last-owner rule is asked about.
const scopeSQL = `SELECT m.id, m.organization_id, m.user_id, m.role, m.created_at, m.suspended_at, m.suspended_by,
	u.email, u.name,
	CASE WHEN m.role = 'owner' AND m.suspended_at IS NULL THEN EXISTS (
		SELECT 1 FROM organization_members o WHERE o.organization_id = m.organization_id
		AND o.role = 'owner' AND o.suspended_at IS NULL AND o.id <> m.id) ELSE FALSE END AS another_owner
FROM organization_members m JOIN users u ON u.id = m.user_id
WHERE m.organization_id = ? AND ((m.user_id = ? AND m.suspended_at IS NULL) OR m.id = ?)`

// orgStateColumns are what the rules read of the organization: not the
// logo, which can be 1.4 MB.
var orgStateColumns = []string{"id", "pending_deletion_at"}

// keepsAnOwner is ErrLastOwner when m is the organization's only active
// owner, so suspending or demoting m would leave it without one.
func (m lockedMember) keepsAnOwner() error {
	if m.Role == RoleOwner && m.Active() && !m.AnotherOwner {
		return ErrLastOwner
	}
	return nil
}

func (m lockedMember) view() MemberView {
	return MemberView{Member: m.Member, Email: m.Email, Name: m.Name}
}

// scope is an organization opened for a membership change: locked, with the
// caller's active membership and, when one was asked for, the target
// membership (nil when it is not in the organization).
type scope struct {
	org    Organization
	caller lockedMember
	target *lockedMember
}

// activeTarget is the target membership when it is active, else
// ErrMemberNotFound: a suspended membership can only be reinstated.
func (sc scope) activeTarget() (lockedMember, error) {
	if sc.target == nil || !sc.target.Active() {
		return lockedMember{}, ErrMemberNotFound
	}
	return *sc.target, nil
}

// newScope applies the checks every membership change makes, in the order
// upstream makes them: a selected organization, not frozen, the caller's own
// active membership, and for owner/admin actions (manager) a role that may
// manage (ErrForbidden, also for a caller who is not an active member).
// org is nil when the organization is gone.
func newScope(a Actor, org *Organization, rows []lockedMember, target uuid.UUID, manager bool) (scope, error) {
	if org == nil {
		// The selected organization vanished (purged): nothing is selected.
		return scope{}, ErrNoActiveOrganization
	}
	sc := scope{org: *org}
	if sc.org.Frozen() {
		return sc, ErrOrganizationFrozen
	}
	isMember := false
	for i, r := range rows {
		if r.UserID == a.UserID && r.Active() {
			sc.caller, isMember = r, true
		}
		if target != uuid.Nil && r.ID == target {
			sc.target = &rows[i]
		}
	}
	switch {
	case !isMember && manager:
		return sc, ErrForbidden
	case !isMember:
		return sc, ErrNotMember
	case manager && !sc.caller.Role.CanManage():
		return sc, ErrForbidden
	}
	return sc, nil
}

// openScope is step 1 inside a GORM transaction (SQLite, and operations
// that do more than one membership change).
func openScope(tx *gorm.DB, a Actor, target uuid.UUID, manager bool) (scope, error) {
	if a.ActiveOrganizationID == nil {
		return scope{}, ErrNoActiveOrganization
	}
	org, err := lockOrg(tx.Select(orgStateColumns), *a.ActiveOrganizationID)
	if errors.Is(err, ErrOrganizationNotFound) {
		return newScope(a, nil, nil, target, manager)
	}
	if err != nil {
		return scope{}, err
	}
	// A statement of its own, after the lock: see the comment at the top.
	var rows []lockedMember
	if err := tx.Raw(scopeSQL, org.ID, a.UserID, target).Scan(&rows).Error; err != nil {
		return scope{}, err
	}
	return newScope(a, &org, rows, target, manager)
}

// memberChange is what a rule decided: set columns of one membership row,
// provided guard still holds for it, and record it with the audit rows.
type memberChange struct {
	id    uuid.UUID
	set   string // "col = ?, ..."
	args  []any  // for set's placeholders
	guard string
	audit []AuditLog
}

// changeMembership runs one membership change: decide sees the scope and
// returns the change to make, nil for none, or a rule error, which rolls
// everything back.
func (s *Store) changeMembership(ctx context.Context, a Actor, target uuid.UUID, manager bool, decide func(scope) (*memberChange, error)) error {
	if a.ActiveOrganizationID == nil {
		return ErrNoActiveOrganization
	}
	if s.dialect == Postgres {
		return s.retry(ctx, func(events *[]string) error { return s.changePipelined(ctx, a, target, manager, decide, events) })
	}
	return s.tx(ctx, func(tx *gorm.DB) error {
		sc, err := openScope(tx, a, target, manager)
		if err != nil {
			return err
		}
		ch, err := decide(sc)
		if err != nil || ch == nil {
			return err
		}
		return s.applyChange(tx, ch)
	})
}

// applyChange is step 2 inside a GORM transaction, a statement at a time.
func (s *Store) applyChange(tx *gorm.DB, ch *memberChange) error {
	res := tx.Exec("UPDATE organization_members SET "+ch.set+" WHERE id = ? AND "+ch.guard, append(ch.args, ch.id)...)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected != 1 {
		return ErrMemberNotFound
	}
	for _, row := range ch.audit {
		if err := writeAudit(tx, row); err != nil {
			return err
		}
	}
	return nil
}

// auditColumns are the audit_logs columns the pipelined change writes, with
// the types their parameters are cast to (an INSERT ... SELECT does not
// infer them from the columns).
var auditColumns = []struct{ name, typ string }{
	{"id", "text"}, {"organization_id", "uuid"}, {"actor_user_id", "uuid"}, {"actor_api_key_id", "text"},
	{"actor_type", "text"}, {"event", "text"}, {"target_id", "text"}, {"target_type", "text"},
	{"metadata", "jsonb"}, {"created_at", "timestamptz"},
}

func auditValues(r AuditLog) []any {
	return []any{r.ID, r.OrganizationID, r.ActorUserID, r.ActorAPIKeyID, r.ActorType, r.Event, r.TargetID, r.TargetType, r.Metadata, r.CreatedAt}
}

// pgChangeSQL is step 2's update and audit rows as one PostgreSQL statement
// (a data-modifying WITH): the audit rows are written only if the update
// matched, and the statement reports how many were written.
func pgChangeSQL(ch *memberChange) (string, []any) {
	args := make([]any, 0, len(ch.args)+1+len(ch.audit)*len(auditColumns))
	var b strings.Builder
	b.WriteString("WITH changed AS (UPDATE organization_members SET ")
	b.WriteString(ch.set)
	b.WriteString(" WHERE id = ? AND ")
	b.WriteString(ch.guard)
	b.WriteString(" RETURNING 1) INSERT INTO audit_logs (")
	args = append(append(args, ch.args...), ch.id)
	for i, c := range auditColumns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(c.name)
	}
	b.WriteString(") SELECT v.* FROM changed, (VALUES ")
	for i, r := range ch.audit {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(")
		for j, c := range auditColumns {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("?::" + c.typ)
		}
		b.WriteString(")")
		args = append(args, auditValues(r)...)
	}
	b.WriteString(") AS v")
	return dollarPlaceholders(b.String()), args
}

// dollarPlaceholders numbers ? placeholders as PostgreSQL's $1, $2, ...
// The statements here have no ? anywhere else.
func dollarPlaceholders(q string) string {
	var b strings.Builder
	n := 0
	for _, part := range strings.SplitAfter(q, "?") {
		if strings.HasSuffix(part, "?") {
			n++
			b.WriteString(part[:len(part)-1] + "$" + strconv.Itoa(n))
			continue
		}
		b.WriteString(part)
	}
	return b.String()
}

var (
	// lockOrg's statement, limited to orgStateColumns.
	pgLockSQL  = `SELECT id, pending_deletion_at FROM organizations WHERE id = $1 FOR UPDATE`
	pgScopeSQL = dollarPlaceholders(scopeSQL)
)

// changePipelined is changeMembership on PostgreSQL: two round trips. The
// connection comes from the same pool (and gate) as GORM's; pgx is reached
// through it to send several statements at once.
func (s *Store) changePipelined(ctx context.Context, a Actor, target uuid.UUID, manager bool, decide func(scope) (*memberChange, error), events *[]string) error {
	if err := s.enter(ctx); err != nil {
		return err
	}
	defer s.exit(ctx)
	conn, err := s.sqlDB.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(driverConn any) (err error) {
		dc, ok := driverConn.(*stdlib.Conn)
		if !ok {
			return errNoDriver
		}
		c := dc.Conn()
		defer func() {
			if err != nil {
				endFailed(c)
			}
		}()
		sc, err := pipelinedScope(ctx, c, a, target, manager)
		if err != nil {
			return err
		}
		ch, err := decide(sc)
		if err != nil {
			return err
		}
		b := &pgx.Batch{}
		var written int64
		if ch != nil {
			q, args := pgChangeSQL(ch)
			b.Queue(q, args...).Exec(func(tag pgconn.CommandTag) error {
				written = tag.RowsAffected()
				return nil
			})
		}
		b.Queue("commit")
		if err := c.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		if ch == nil {
			return nil
		}
		if written != int64(len(ch.audit)) {
			// Unreachable under the lock; nothing was written if it happens.
			return ErrMemberNotFound
		}
		for _, r := range ch.audit {
			*events = append(*events, r.Event)
		}
		return nil
	})
}

// pipelinedScope is step 1 on PostgreSQL: BEGIN, lock, read in one round trip.
func pipelinedScope(ctx context.Context, c *pgx.Conn, a Actor, target uuid.UUID, manager bool) (scope, error) {
	b := &pgx.Batch{}
	b.Queue("begin")
	b.Queue(pgLockSQL, *a.ActiveOrganizationID)
	b.Queue(pgScopeSQL, *a.ActiveOrganizationID, a.UserID, target)
	br := c.SendBatch(ctx, b)
	org := &Organization{}
	var rows []lockedMember
	_, err := br.Exec()
	if err == nil {
		err = br.QueryRow().Scan(&org.ID, &org.PendingDeletionAt)
		if errors.Is(err, pgx.ErrNoRows) {
			org, err = nil, nil // gone: newScope says so once the batch is read
		}
	}
	if err == nil {
		rows, err = scanScope(br)
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return scope{}, err
	}
	return newScope(a, org, rows, target, manager)
}

func scanScope(br pgx.BatchResults) ([]lockedMember, error) {
	rs, err := br.Query()
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var out []lockedMember
	for rs.Next() {
		var m lockedMember
		if err := rs.Scan(&m.ID, &m.OrganizationID, &m.UserID, &m.Role, &m.CreatedAt, &m.SuspendedAt, &m.SuspendedBy,
			&m.Email, &m.Name, &m.AnotherOwner); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rs.Err()
}

// endFailed ends a transaction a failure left open, so the connection goes
// back to the pool clean; a connection that cannot even roll back is closed,
// and the pool discards it.
func endFailed(c *pgx.Conn) {
	if c.IsClosed() || c.PgConn().TxStatus() == 'I' {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Exec(ctx, "rollback"); err != nil {
		_ = c.Close(ctx)
	}
}

var errNoDriver = errors.New("store: a pipelined change needs the pgx driver")
