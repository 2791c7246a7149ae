package store

// TEMPORARY minimal SessionOverview, replaced by the analytics branch's
// store/analytics.go at the merge (same file name on purpose).

import (
	"context"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
)

// SessionOverview is the analytics overview of the organization at now,
// from session_day_counts (overdue active sessions count as expired: the
// callers expire them on touch first).
func (s *Store) SessionOverview(ctx context.Context, orgID uuid.UUID, now time.Time) (SessionOverview, error) {
	today := now.UTC().Truncate(24 * time.Hour)
	start, end := today.AddDate(0, 0, -13), today.AddDate(0, 0, 1)
	type row struct {
		Day                                            string
		Created, Succeeded, Failed, Expired, Cancelled int
	}
	var rows []row
	err := s.read(ctx, func(db *gorm.DB) error {
		return db.Table("session_day_counts").Where("organization_id = ? AND day < ?", orgID, countDay(end)).Find(&rows).Error
	})
	if err != nil {
		return SessionOverview{}, err
	}
	byDay := map[string]row{}
	var out SessionOverview
	for _, r := range rows {
		byDay[r.Day] = r
		out.Summary.Total += r.Created
		out.Summary.Success += r.Succeeded
		out.Summary.Failure += r.Failed
		out.Summary.Expired += r.Expired
		out.Summary.Cancelled += r.Cancelled
	}
	sm := &out.Summary
	sm.Active = sm.Total - sm.Success - sm.Failure - sm.Expired - sm.Cancelled
	var run SessionCounts
	for d := start; d.Before(end); d = d.AddDate(0, 0, 1) {
		r := byDay[countDay(d)]
		out.Trend = append(out.Trend, TrendPoint{Date: countDay(d), Success: r.Succeeded, Failure: r.Failed, Expired: r.Expired, Cancelled: r.Cancelled})
		run.Total += r.Created
		run.Success += r.Succeeded
		run.Failure += r.Failed
		run.Expired += r.Expired
		run.Cancelled += r.Cancelled
		run.Active = run.Total - run.Success - run.Failure - run.Expired - run.Cancelled
		out.Timeline = append(out.Timeline, TimelinePoint{Date: countDay(d), SessionCounts: run})
	}
	return out, nil
}
