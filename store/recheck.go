package store

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/kayle-id/orgs-api/domains"
)

// The daily re-check of verified domains, as upstream's: a domain whose
// TXT record is missing or wrong at three checks in a row is downgraded
// (about two days after the first miss). Unlike upstream, downgraded
// domains are re-checked too, and one whose record is back is restored, as
// the downgrade mail promises. Only clean misses count: a resolver that
// cannot answer changes nothing.
const (
	RecheckAge       = 23 * time.Hour // a domain is due when last checked longer ago
	RecheckRetry     = time.Hour      // and, after a lookup that got no answer, tried again this much later
	DowngradeAfter   = 3              // consecutive misses
	RecheckBatchSize = 500            // most domains one pass checks
)

// RecheckItem is a domain due for a re-check.
type RecheckItem struct {
	ID            uuid.UUID
	ApexDomain    string
	RecheckToken  string
	LastCheckedAt *time.Time
	Downgraded    bool
}

// DueRechecks lists up to limit domains last checked more than RecheckAge
// ago (or never) and not tried in the last RecheckRetry, the least
// recently tried first: domains whose lookups keep failing go to the back
// of the queue instead of filling every pass.
func (s *Store) DueRechecks(ctx context.Context, limit int) ([]RecheckItem, error) {
	var rows []VerifiedDomain
	now := s.clock()
	err := s.read(ctx, func(db *gorm.DB) error {
		return db.Select("id", "apex_domain", "recheck_token", "last_checked_at", "downgraded_at").
			Where("verified_via = ? AND (last_checked_at IS NULL OR last_checked_at < ?) AND (recheck_attempted_at IS NULL OR recheck_attempted_at < ?)",
				MethodDNSTXT, now.Add(-RecheckAge), now.Add(-RecheckRetry)).
			Order("CASE WHEN recheck_attempted_at IS NULL THEN 0 ELSE 1 END, recheck_attempted_at, id").Limit(limit).Find(&rows).Error
	})
	out := make([]RecheckItem, len(rows))
	for i, d := range rows {
		out[i] = RecheckItem{ID: d.ID, ApexDomain: d.ApexDomain, RecheckToken: d.RecheckToken, LastCheckedAt: d.LastCheckedAt, Downgraded: !d.Active()}
	}
	return out, err
}

// RecheckOutcome is what a re-check made of a domain.
type RecheckOutcome int

const (
	RecheckUnchanged  RecheckOutcome = iota // checked; nothing else changed
	RecheckMissed                           // a miss counted, not yet a downgrade
	RecheckDowngraded                       // this miss downgraded the domain
	RecheckRestored                         // a downgraded domain's record is back: trusted again
	RecheckStale                            // the domain changed since it was listed; nothing done
)

// RecordRecheck records a clean re-check of item: found says whether DNS
// showed the record. It applies only if the row is as DueRechecks saw it
// (same token, same last check), so passes that overlap (two replicas, a
// manual run) count each check once.
func (s *Store) RecordRecheck(ctx context.Context, item RecheckItem, proof domains.Proof) (RecheckOutcome, error) {
	outcome := RecheckStale
	err := s.tx(ctx, func(tx *gorm.DB) error {
		outcome = RecheckStale
		var d VerifiedDomain
		err := tx.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate}).Where("id = ?", item.ID).Take(&d).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if d.RecheckToken != item.RecheckToken || !sameTime(d.LastCheckedAt, item.LastCheckedAt) {
			return nil
		}
		now := s.clock()
		set := map[string]any{"last_checked_at": now, "recheck_attempted_at": now, "updated_at": now}
		q := tx.Model(&VerifiedDomain{}).Where("id = ?", d.ID)
		if proof == domains.Match {
			set["consecutive_failed_checks"] = 0
			outcome = RecheckUnchanged
			if !d.Active() {
				// Restored only while no other organization holds the apex.
				held, _, err := activeHolder(tx, d.ApexDomain, d.OrganizationID)
				if err != nil {
					return err
				}
				if held == nil {
					set["downgraded_at"] = nil
					outcome = RecheckRestored
				}
			}
			if err := q.Updates(set).Error; err != nil {
				return err
			}
			if outcome == RecheckRestored {
				return s.audit(tx, d.OrganizationID, nil, EventDomainRestored, "verified_domain", d.ID.String(),
					Metadata{"apex_domain": d.ApexDomain})
			}
			return nil
		}
		misses := d.ConsecutiveFailedChecks + 1
		set["consecutive_failed_checks"] = misses
		outcome = RecheckMissed
		if d.Active() && misses >= DowngradeAfter {
			set["downgraded_at"] = now
			outcome = RecheckDowngraded
		}
		if err := q.Updates(set).Error; err != nil {
			return err
		}
		if outcome != RecheckDowngraded {
			return nil
		}
		if err := s.audit(tx, d.OrganizationID, nil, EventDomainDowngraded, "verified_domain", d.ID.String(),
			Metadata{"apex_domain": d.ApexDomain, "consecutive_failed_checks": misses}); err != nil {
			return err
		}
		org, err := findOrg(tx.Select("id", "name"), d.OrganizationID)
		if err != nil {
			return err
		}
		return s.notifyOwners(tx, d.OrganizationID, NoticeDomainDowngraded, map[string]string{
			"apex_domain": d.ApexDomain, "organization_name": org.Name,
			"record_name": domains.RecordName(d.ApexDomain), "record_value": domains.RecordValue(d.RecheckToken),
		})
	})
	return outcome, err
}

// RecordRecheckFailure records a re-check whose lookup got no answer (the
// resolver was unreachable, failed or spoke nonsense): nothing about the
// domain changes, but it waits RecheckRetry before it is tried again.
func (s *Store) RecordRecheckFailure(ctx context.Context, item RecheckItem) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		q := tx.Model(&VerifiedDomain{}).Where("id = ? AND recheck_token = ?", item.ID, item.RecheckToken)
		if item.LastCheckedAt == nil {
			q = q.Where("last_checked_at IS NULL")
		} else {
			q = q.Where("last_checked_at = ?", *item.LastCheckedAt)
		}
		return q.Update("recheck_attempted_at", s.clock()).Error
	})
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Equal(*b)
}
