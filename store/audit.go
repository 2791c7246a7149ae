package store

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
)

var auditIDEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

func newAuditID() string {
	b := make([]byte, 15)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return "aud_" + auditIDEncoding.EncodeToString(b)
}

// audit writes one audit row in the caller's transaction, so the row and the
// state change it records commit or roll back together.
func (s *Store) audit(tx *gorm.DB, orgID uuid.UUID, actor *uuid.UUID, event, targetType, targetID string, meta Metadata) error {
	return writeAudit(tx, s.auditRow(orgID, actor, event, targetType, targetID, meta))
}

// writeAudit inserts the row and notes its event for the metrics.
func writeAudit(tx *gorm.DB, row AuditLog) error {
	if err := tx.Create(&row).Error; err != nil {
		return err
	}
	noteEvent(tx, row.Event)
	return nil
}

func (s *Store) auditRow(orgID uuid.UUID, actor *uuid.UUID, event, targetType, targetID string, meta Metadata) AuditLog {
	row := AuditLog{
		ID:             newAuditID(),
		OrganizationID: orgID,
		ActorUserID:    actor,
		ActorType:      ActorUser,
		Event:          event,
		TargetType:     &targetType,
		TargetID:       &targetID,
		Metadata:       meta,
		CreatedAt:      s.clock(),
	}
	if actor == nil {
		row.ActorType = ActorSystem
	}
	return row
}

// noteEvent records that the transaction wrote an audit event, to be
// reported once it commits (see Store.tx).
func noteEvent(tx *gorm.DB, event string) {
	if evs, ok := tx.Statement.Context.Value(eventsKey{}).(*[]string); ok {
		*evs = append(*evs, event)
	}
}

// AuditFilter narrows an audit-log listing. Zero fields do not filter.
type AuditFilter struct {
	Events        []string
	ActorUserID   *uuid.UUID
	ActorAPIKeyID *uuid.UUID
	ActorType     string
	CreatedFrom   *time.Time
	CreatedTo     *time.Time
	Query         string
}

// ParseEvents splits a comma-separated event list, keeping known names
// only, each once; unknown names are ignored, as upstream does.
func ParseEvents(list string) []string {
	names := strings.Split(list, ",")
	for i, e := range names {
		names[i] = strings.TrimSpace(e)
	}
	return knownEvents(names)
}

// likeEscaper makes user text literal inside a LIKE pattern (ESCAPE '\').
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

const (
	// AuditSearchWindow is how many entries a search (q) looks through: the
	// organization's newest ones within created_from/created_to, the other
	// filters and q then narrowing those. A search costs the same however
	// long the log; an older entry is found by moving created_to back.
	AuditSearchWindow = 10_000
	// AuditQueryTimeout caps the time an audit-log listing's statements
	// spend at the database; one that runs longer answers ErrUnavailable.
	AuditQueryTimeout = 2 * time.Second
)

// foldedLike is "col LIKE ?" with col folded as asciiLower folds:
// SQLite's LOWER folds ASCII only; PostgreSQL's follows the database's
// locale unless told the C collation, under which it folds ASCII only.
func (s *Store) foldedLike(col string) string {
	if s.dialect == Postgres {
		col += ` COLLATE "C"`
	}
	return "LOWER(" + col + `) LIKE ? ESCAPE '\'`
}

// ListAuditLogs lists the active organization's audit log, newest first
// (created_at desc, id desc), for owners and admins. With a search text
// (q) it looks through the AuditSearchWindow newest entries within the
// created range only, so its cost does not grow with the log; every
// filtered listing's statements get at most AuditQueryTimeout at the
// database.
func (s *Store) ListAuditLogs(ctx context.Context, a Actor, f AuditFilter, p Page) ([]AuditEntry, bool, error) {
	p = p.clamped()
	if err := f.check(); err != nil {
		return nil, false, err
	}
	if p.StartingAfter != "" && !wellFormedAuditID(p.StartingAfter) {
		return nil, false, ErrInvalidCursor
	}
	if a.ActiveOrganizationID == nil {
		return nil, false, ErrNoActiveOrganization
	}
	orgID := *a.ActiveOrganizationID
	var rows []AuditEntry
	// A plain page walks audit_logs_page_idx for Limit+1 rows; a filter's
	// cost depends on how rare its matches are, so only filtered listings
	// are bounded at the database (on PostgreSQL the bound is a transaction
	// of its own, three more round trips: a quarter more time for a plain
	// page, measured by the load benchmark).
	run := s.read
	if f.filtered() {
		run = func(ctx context.Context, fn func(db *gorm.DB) error) error {
			return s.readBounded(ctx, s.auditTimeout, fn)
		}
	}
	err := run(ctx, func(db *gorm.DB) error {
		if _, err := requireRole(db, orgID, a.UserID, Role.CanManage); err != nil {
			return err
		}
		// The rows looked at: the organization's, in the created range,
		// walked along audit_logs_page_idx.
		src := db.Table("audit_logs").Where("organization_id = ?", orgID)
		if f.CreatedFrom != nil {
			src = src.Where("created_at >= ?", f.CreatedFrom.UTC())
		}
		if f.CreatedTo != nil {
			src = src.Where("created_at <= ?", f.CreatedTo.UTC())
		}
		if f.Query != "" {
			src = src.Order("created_at DESC, id DESC").Limit(s.auditWindow)
		}
		q := db.Table("(?) AS a", src).
			Select("a.*, u.name AS actor_name, u.email AS actor_email, k.name AS actor_api_key_name").
			Joins("LEFT JOIN users u ON u.id = a.actor_user_id").
			// A deleted key's rows lose their key id (clearAPIKeyActor), so
			// the join finds the name of every key still named.
			Joins("LEFT JOIN api_keys k ON k.organization_id = a.organization_id AND CAST(k.id AS TEXT) = a.actor_api_key_id")
		if len(f.Events) > 0 {
			q = q.Where("a.event IN ?", f.Events)
		}
		if f.ActorUserID != nil {
			q = q.Where("a.actor_user_id = ?", *f.ActorUserID)
		}
		if f.ActorAPIKeyID != nil {
			q = q.Where("a.actor_api_key_id = ?", f.ActorAPIKeyID.String())
		}
		if f.ActorType != "" {
			q = q.Where("a.actor_type = ?", f.ActorType)
		}
		if f.Query != "" {
			pat := "%" + likeEscaper.Replace(asciiLower(f.Query)) + "%"
			q = q.Where("("+s.foldedLike("a.event")+" OR "+s.foldedLike("COALESCE(a.target_id, '')")+
				" OR "+s.foldedLike("COALESCE(u.name, '')")+" OR "+s.foldedLike("COALESCE(u.email, '')")+")",
				pat, pat, pat, pat)
		}
		if p.StartingAfter != "" {
			var cur AuditLog
			err := db.Where("organization_id = ? AND id = ?", orgID, p.StartingAfter).Take(&cur).Error
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return ErrInvalidCursor
			}
			if err != nil {
				return err
			}
			q = after(q, "a", cur.CreatedAt, cur.ID)
		}
		return q.Order("a.created_at DESC, a.id DESC").Limit(p.Limit + 1).Find(&rows).Error
	})
	if err != nil {
		return nil, false, err
	}
	rows, more := trimPage(rows, p.Limit)
	return rows, more, nil
}

// filtered reports a filter beyond the created range: one that the page
// index does not serve, so a listing may walk many rows to fill a page.
func (f AuditFilter) filtered() bool {
	return f.Query != "" || len(f.Events) > 0 || f.ActorUserID != nil || f.ActorAPIKeyID != nil || f.ActorType != ""
}
