package store

import (
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// RateLimit allows Max of an action per organization in each fixed Window.
type RateLimit struct {
	Action string
	Max    int
	Window time.Duration
}

// RateLimitedError: the organization used up an action's allowance;
// RetryAfter is when the window ends.
type RateLimitedError struct {
	Action     string
	RetryAfter time.Duration
}

func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("store: %s rate limit reached; retry in %s", e.Action, e.RetryAfter)
}

// Is makes errors.Is(err, ErrRateLimited) hold.
func (e *RateLimitedError) Is(target error) bool { return target == ErrRateLimited }

// rateWindow is one organization's counter for one action.
type rateWindow struct {
	OrganizationID uuid.UUID `gorm:"primaryKey"`
	Action         string    `gorm:"primaryKey"`
	WindowStart    time.Time
	Count          int
}

func (rateWindow) TableName() string { return "organization_rate_windows" }

// countAction counts one use of an action, or refuses it with a
// *RateLimitedError. It runs in a transaction that holds the
// organization's lock, so concurrent uses on any replica count exactly;
// one row per organization and action, so storage stays bounded.
func (s *Store) countAction(tx *gorm.DB, orgID uuid.UUID, l RateLimit, now time.Time) error {
	var w rateWindow
	err := tx.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate}).
		Where("organization_id = ? AND action = ?", orgID, l.Action).Take(&w).Error
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		return tx.Create(&rateWindow{OrganizationID: orgID, Action: l.Action, WindowStart: now, Count: 1}).Error
	case err != nil:
		return err
	}
	q := tx.Model(&rateWindow{}).Where("organization_id = ? AND action = ?", orgID, l.Action)
	if !now.Before(w.WindowStart.Add(l.Window)) {
		return q.Updates(map[string]any{"window_start": now, "count": 1}).Error
	}
	if w.Count >= l.Max {
		return &RateLimitedError{Action: l.Action, RetryAfter: w.WindowStart.Add(l.Window).Sub(now)}
	}
	return q.Update("count", w.Count+1).Error
}
