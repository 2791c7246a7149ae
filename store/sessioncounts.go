package store

import (
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Columns of session_day_counts: sessions created on a UTC day, and those of
// them that ended in each terminal status.
const (
	CountCreated   = "created"
	CountSucceeded = "succeeded"
	CountFailed    = "failed"
	CountExpired   = "expired"
	CountCancelled = "cancelled"
)

// countDay is the session_day_counts key of a session created at t.
func countDay(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// bumpSessionDay adds delta to one column of the day a session was created
// on, inside the transaction that creates, ends or deletes it, so the counts
// never disagree with the rows. The caller passes the session's created_at,
// not the time of the change: outcomes count on the day of creation.
func bumpSessionDay(tx *gorm.DB, orgID uuid.UUID, createdAt time.Time, column string, delta int) error {
	switch column {
	case CountCreated, CountSucceeded, CountFailed, CountExpired, CountCancelled:
	default:
		return fmt.Errorf("session_day_counts: no column %q", column)
	}
	row := map[string]any{"organization_id": orgID, "day": countDay(createdAt), column: delta}
	return tx.Table("session_day_counts").Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "organization_id"}, {Name: "day"}},
		DoUpdates: clause.Assignments(map[string]any{column: gorm.Expr("session_day_counts."+column+" + ?", delta)}),
	}).Create(row).Error
}

// SessionCounts are the analytics overview's summary and the numbers of one
// timeline point.
type SessionCounts struct {
	Total, Active, Success, Failure, Expired, Cancelled int
}

// TrendPoint is one UTC day of the overview's trend: the terminal outcomes of
// the sessions created that day.
type TrendPoint struct {
	Date                                 string // YYYY-MM-DD
	Success, Failure, Expired, Cancelled int
}

// TimelinePoint is one UTC day of the overview's timeline: running sums over
// the window.
type TimelinePoint struct {
	Date string // YYYY-MM-DD
	SessionCounts
}

// SessionOverview is GET /v1/analytics/sessions/overview's answer.
type SessionOverview struct {
	Summary  SessionCounts
	Trend    []TrendPoint    // 14 points, oldest first
	Timeline []TimelinePoint // 14 points, oldest first
}
