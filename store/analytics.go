package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
)

// OverviewDays is the length of the analytics overview's trend and
// timeline: today (UTC) and the 13 days before it.
const OverviewDays = 14

// overviewWindow returns the overview's UTC window [start, end) for now:
// start is midnight 13 days before today, end the next midnight.
func overviewWindow(now time.Time) (start, end time.Time) {
	y, m, d := now.UTC().Date()
	today := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	return today.AddDate(0, 0, -(OverviewDays - 1)), today.AddDate(0, 0, 1)
}

// dayCounts is one session_day_counts row.
type dayCounts struct {
	Day                                            string
	Created, Succeeded, Failed, Expired, Cancelled int
}

// SessionOverview computes GET /v1/analytics/sessions/overview for the
// organization at now (behaviour-sessions.md section 11) from the per-day
// counts, which the session writes keep in their own transactions, plus the
// active sessions already past expires_at: those count as expired on their
// day of creation even before the expiry job has changed their status.
// Both are read in one snapshot, so a session the job expires meanwhile is
// counted once. The cost is one row per day of kept history and one index
// range of overdue sessions, whatever the number of sessions.
//
// The counts hold an outcome as soon as the status is terminal; the
// definition wants an outcome time too, which every terminal transition
// sets (completed_at), so the two agree. RecountSessionDays rebuilds the
// counts from the rows by the definition itself.
func (s *Store) SessionOverview(ctx context.Context, orgID uuid.UUID, now time.Time) (SessionOverview, error) {
	start, end := overviewWindow(now)
	days := make([]string, OverviewDays)
	for i := range days {
		days[i] = countDay(start.AddDate(0, 0, i))
	}
	var rows []dayCounts
	var overdue overdueCounts
	err := s.readSnapshot(ctx, func(tx *gorm.DB) error {
		// day is YYYY-MM-DD text, so text order is date order; days at or
		// after end are sessions created in the future of now: counted nowhere.
		if err := tx.Table("session_day_counts").
			Select("day, created, succeeded, failed, expired, cancelled").
			Where("organization_id = ? AND day < ?", orgID, countDay(end)).
			Scan(&rows).Error; err != nil {
			return err
		}
		var err error
		overdue, err = overdueByDay(tx, orgID, now, start)
		return err
	})
	if err != nil {
		return SessionOverview{}, fmt.Errorf("store: session overview: %w", err)
	}

	out := SessionOverview{Trend: make([]TrendPoint, OverviewDays), Timeline: make([]TimelinePoint, OverviewDays)}
	index := make(map[string]int, OverviewDays)
	created := make([]int, OverviewDays)
	for i, d := range days {
		index[d] = i
		out.Trend[i] = TrendPoint{Date: d, Expired: overdue.window[i]}
	}
	out.Summary.Expired = overdue.total
	for _, r := range rows {
		out.Summary.Total += r.Created
		out.Summary.Success += r.Succeeded
		out.Summary.Failure += r.Failed
		out.Summary.Expired += r.Expired
		out.Summary.Cancelled += r.Cancelled
		if i, ok := index[r.Day]; ok {
			created[i] = r.Created
			p := &out.Trend[i]
			p.Success += r.Succeeded
			p.Failure += r.Failed
			p.Expired += r.Expired
			p.Cancelled += r.Cancelled
		}
	}
	sum := &out.Summary
	sum.Active = sum.Total - sum.Success - sum.Failure - sum.Expired - sum.Cancelled

	// Running sums over the window only: sessions created before it are in
	// the summary, not here.
	var run SessionCounts
	for i, p := range out.Trend {
		run.Total += created[i]
		run.Success += p.Success
		run.Failure += p.Failure
		run.Expired += p.Expired
		run.Cancelled += p.Cancelled
		run.Active = run.Total - run.Success - run.Failure - run.Expired - run.Cancelled
		out.Timeline[i] = TimelinePoint{Date: p.Date, SessionCounts: run}
	}
	return out, nil
}

// overdueCounts are the active sessions with expires_at <= now created
// before the window's end: all of them, and those created on each day of
// the window.
type overdueCounts struct {
	total  int
	window [OverviewDays]int
}

// overdueByDay counts the overdue active sessions by day of creation in one
// pass over verification_sessions_org_active_idx (organization_id,
// expires_at WHERE status is active). The days are ranges of created_at
// rather than a date function of it, so the query is the same on both
// databases (SQLite keeps fixed-width UTC text, ordered as time).
func overdueByDay(tx *gorm.DB, orgID uuid.UUID, now, start time.Time) (overdueCounts, error) {
	var q strings.Builder
	q.WriteString("SELECT COUNT(*)")
	args := make([]any, 0, 2*OverviewDays+4)
	for i := range OverviewDays {
		q.WriteString(", COALESCE(SUM(CASE WHEN created_at >= ? AND created_at < ? THEN 1 ELSE 0 END), 0)")
		args = append(args, start.AddDate(0, 0, i), start.AddDate(0, 0, i+1))
	}
	q.WriteString(" FROM verification_sessions WHERE organization_id = ? AND status IN ('created', 'in_progress')" +
		" AND expires_at <= ? AND created_at < ?")
	args = append(args, orgID, now.UTC(), start.AddDate(0, 0, OverviewDays))

	var out overdueCounts
	dest := make([]any, 0, OverviewDays+1)
	dest = append(dest, &out.total)
	for i := range out.window {
		dest = append(dest, &out.window[i])
	}
	if err := tx.Raw(q.String(), args...).Row().Scan(dest...); err != nil {
		return overdueCounts{}, err
	}
	return out, nil
}

// readSnapshot runs fn in a read-only transaction whose statements all see
// one snapshot: REPEATABLE READ on PostgreSQL (READ COMMITTED would give
// each statement its own), a deferred transaction on SQLite (WAL keeps the
// snapshot of its first read, and takes no write lock).
func (s *Store) readSnapshot(ctx context.Context, fn func(tx *gorm.DB) error) error {
	opts := &sql.TxOptions{ReadOnly: true}
	if s.dialect == Postgres {
		opts.Isolation = sql.LevelRepeatableRead
	}
	return s.admit(ctx, func() error { return s.db.WithContext(ctx).Transaction(fn, opts) })
}

// RecountSessionDays rebuilds session_day_counts from the session rows, by
// the overview's definition (a terminal outcome counts when it has its
// outcome time), for every organization: for an operator after a manual
// change to verification_sessions or a restore that left the two apart.
// Overdue active sessions are not counted as expired here; the overview
// adds them when it reads. Writes that race the rebuild wait for it
// (PostgreSQL: the counts table is locked against them; SQLite has one
// writer) and then add to the rebuilt counts.
func (s *Store) RecountSessionDays(ctx context.Context) error {
	day := "strftime('%Y-%m-%d', created_at)"
	if s.dialect == Postgres {
		day = "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
	}
	err := s.tx(ctx, func(tx *gorm.DB) error {
		if s.dialect == Postgres {
			// EXCLUSIVE blocks the bumps (ROW EXCLUSIVE) of writers that have
			// not yet bumped, and waits for those that have to commit, so the
			// rows read below and the bumps after it never overlap.
			if err := tx.Exec("LOCK TABLE session_day_counts IN EXCLUSIVE MODE").Error; err != nil {
				return err
			}
		}
		if err := tx.Exec("DELETE FROM session_day_counts").Error; err != nil {
			return err
		}
		return tx.Exec(`INSERT INTO session_day_counts (organization_id, day, created, succeeded, failed, expired, cancelled)
			SELECT organization_id, ` + day + `, COUNT(*),
				SUM(CASE WHEN status = 'succeeded' AND completed_at IS NOT NULL THEN 1 ELSE 0 END),
				SUM(CASE WHEN status = 'failed' AND completed_at IS NOT NULL THEN 1 ELSE 0 END),
				SUM(CASE WHEN status = 'expired' THEN 1 ELSE 0 END),
				SUM(CASE WHEN status = 'cancelled' AND completed_at IS NOT NULL THEN 1 ELSE 0 END)
			FROM verification_sessions GROUP BY organization_id, ` + day).Error
	})
	if err != nil {
		return fmt.Errorf("store: recount session days: %w", err)
	}
	return nil
}
