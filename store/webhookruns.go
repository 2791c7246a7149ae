package store

import (
	"time"

	"gorm.io/gorm"

	"github.com/kayle-id/orgs-api/webhooks"
)

// Placeholders for the delivery pipeline's two entry points (the lead's
// version on main replaces this file): only the row changes, no queue job.

// startRun requeues one delivery by hand: pending, counters reset as
// upstream, a new run_id (so a run still scheduled stops without sending)
// and next_attempt_at = now. ErrNotFound when the row changed under the
// caller (a lost race).
func (s *Store) startRun(tx *gorm.DB, d *WebhookDelivery, now time.Time) error {
	run, err := webhooks.NewID("run_", webhooks.ShortIDChars)
	if err != nil {
		return err
	}
	res := tx.Model(&WebhookDelivery{}).
		Where("id = ? AND status <> ? AND payload IS NOT NULL", d.ID, DeliveryDelivering).
		Updates(map[string]any{"status": DeliveryPending, "attempt_count": 0, "last_attempt_at": nil,
			"last_status_code": nil, "next_attempt_at": now, "run_id": run, "updated_at": now})
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected != 1 {
		return ErrNotFound
	}
	d.Status, d.AttemptCount, d.LastAttemptAt, d.LastStatusCode = DeliveryPending, 0, nil, nil
	d.NextAttemptAt, d.RunID, d.UpdatedAt = &now, &run, now
	return nil
}

// releaseHeld is called in the transaction that makes key the endpoint's
// active key: deliveries held for want of one are encrypted to it and
// started. Placeholder: the pipeline's version does the work.
func (s *Store) releaseHeld(tx *gorm.DB, endpointID string, key WebhookKey) error {
	return nil
}
