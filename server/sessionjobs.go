package server

import (
	"context"
	"time"

	"github.com/kayle-id/orgs-api/store"
)

// Session job bounds: the expiry job ends up to expiryPerPass overdue
// sessions a pass, expiryBatch per transaction; retention removes up to
// retentionPerPass rows per step a pass, retentionBatch per transaction,
// pausing between batches so the SQLite write lock is not held for long.
const (
	expiryBatch      = 100
	expiryPerPass    = 50_000
	retentionBatch   = 500
	retentionPerPass = 200_000
	retentionPause   = 50 * time.Millisecond
)

// SessionExpiryJob expires verification sessions past their expiry
// (store.ExpireDue; each ending is conditional, so two replicas running it
// at once still write one event per session).
func SessionExpiryJob(st *store.Store, interval time.Duration) Job {
	return Job{Name: "session-expiry", Interval: interval, Run: func(ctx context.Context, progress func(int)) (int, error) {
		return st.ExpireDue(ctx, expiryBatch, expiryPerPass, progress)
	}}
}

// RetentionJob applies the session retention rules (store.SweepRetention).
func RetentionJob(st *store.Store, interval time.Duration) Job {
	return Job{Name: "session-retention", Interval: interval, Timeout: max(interval, 10*time.Minute),
		Run: func(ctx context.Context, progress func(int)) (int, error) {
			res, err := st.SweepRetention(ctx, store.RetentionOptions{Batch: retentionBatch, Max: retentionPerPass, Pause: retentionPause}, progress)
			return res.Total(), err
		}}
}

// Webhook payload sweep bounds: per transaction and per pass.
const (
	sweepBatch   = 500
	sweepPerPass = 100_000
)

// WebhookSweepJob removes undelivered webhook payloads past their
// retention (store.SweepWebhookPayloads; safe on two replicas at once).
func WebhookSweepJob(st *store.Store, interval time.Duration) Job {
	return Job{Name: "webhook-payload-sweep", Interval: interval, Run: func(ctx context.Context, _ func(int)) (int, error) {
		return st.SweepWebhookPayloads(ctx, sweepBatch, sweepPerPass)
	}}
}
