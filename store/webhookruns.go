package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/kayle-id/orgs-api/sessions"
	"github.com/kayle-id/orgs-api/webhooks"
)

// The delivery pipeline's side of the store: the fan-out of an event into
// deliveries (in the event's transaction), the runs that send them (jobs
// of a River queue, inserted in the same transactions, so a committed
// delivery always has its job and a rolled-back one never does), and what
// one attempt reads and records.

// QueueWebhooks is the River queue deliveries run on.
const QueueWebhooks = "webhooks"

// DeliverArgs is the job of one delivery run. RunID fences it: a job whose
// run is no longer the delivery's current one stops without sending.
type DeliverArgs struct {
	DeliveryID string `json:"delivery_id"`
	RunID      string `json:"run_id"`
	// EndpointID lets the worker take the endpoint's concurrency slot
	// before it touches the row.
	EndpointID string `json:"endpoint_id"`
}

// Kind names the job in River's tables.
func (DeliverArgs) Kind() string { return "webhook_delivery" }

// InsertOpts puts deliveries on their queue. Attempts beyond the schedule
// are River's own retries of a run that failed for a reason of ours (the
// database unreachable mid-attempt), not of the receiver's.
func (DeliverArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueWebhooks, MaxAttempts: 25}
}

// ReleaseArgs is the job that encrypts an endpoint's held deliveries to
// its new active key and starts them.
type ReleaseArgs struct {
	EndpointID string `json:"endpoint_id"`
}

// Kind names the job in River's tables.
func (ReleaseArgs) Kind() string { return "webhook_release_held" }

// InsertOpts puts the release on the webhooks queue.
func (ReleaseArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueWebhooks, MaxAttempts: 25}
}

// openQueue sets up River over the store's database: a pool of its own
// (PostgreSQL: a few connections beside the store's pool, so the queue's
// polling never waits behind requests; SQLite: the single-connection pool
// without the store's time format, which River reads its own way) and an
// insert-only client that adds jobs inside the store's transactions.
func (s *Store) openQueue() error {
	switch s.dialect {
	case Postgres:
		db, err := sql.Open("pgx", s.url)
		if err != nil {
			return fmt.Errorf("store: queue pool: %w", err)
		}
		db.SetMaxOpenConns(4)
		db.SetMaxIdleConns(4)
		db.SetConnMaxIdleTime(5 * time.Minute)
		s.queueDB = db
		s.queueDriver = riverdatabasesql.New(db)
	default:
		s.queueDB = s.migrateDB
		s.queueDriver = riversqlite.New(s.migrateDB)
	}
	c, err := river.NewClient(s.queueDriver, &river.Config{})
	if err != nil {
		return fmt.Errorf("store: queue client: %w", err)
	}
	s.queue = c
	return nil
}

// QueueDriver is the River driver a worker builds its client on.
func (s *Store) QueueDriver() riverdriver.Driver[*sql.Tx] { return s.queueDriver }

// migrateQueue applies River's own migrations (its job tables), under the
// migration lock on PostgreSQL.
func (s *Store) migrateQueue(ctx context.Context) (int, error) {
	m, err := rivermigrate.New(s.queueDriver, nil)
	if err != nil {
		return 0, err
	}
	if s.dialect == Postgres {
		conn, err := s.sqlDB.Conn(ctx)
		if err != nil {
			return 0, err
		}
		defer conn.Close()
		if err := (migrationLocker{}).SessionLock(ctx, conn); err != nil {
			return 0, err
		}
		defer func() { _ = (migrationLocker{}).SessionUnlock(context.WithoutCancel(ctx), conn) }()
	}
	res, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return 0, fmt.Errorf("store: queue migrations: %w", err)
	}
	return len(res.Versions), nil
}

// queuePending counts River migrations not applied yet.
func (s *Store) queuePending(ctx context.Context) (int, error) {
	m, err := rivermigrate.New(s.queueDriver, nil)
	if err != nil {
		return 0, err
	}
	res, err := m.Migrate(ctx, rivermigrate.DirectionUp, &rivermigrate.MigrateOpts{DryRun: true})
	if err != nil {
		return 0, err
	}
	return len(res.Versions), nil
}

// sqlTx is the database/sql transaction under a GORM transaction, which
// River's drivers take.
func sqlTx(tx *gorm.DB) (*sql.Tx, error) {
	if t, ok := tx.Statement.ConnPool.(*sql.Tx); ok {
		return t, nil
	}
	return nil, errors.New("store: not in a transaction")
}

// enqueue inserts jobs in tx.
func (s *Store) enqueue(tx *gorm.DB, args ...river.JobArgs) error {
	if len(args) == 0 {
		return nil
	}
	t, err := sqlTx(tx)
	if err != nil {
		return err
	}
	params := make([]river.InsertManyParams, len(args))
	for i, a := range args {
		params[i] = river.InsertManyParams{Args: a}
	}
	_, err = s.queue.InsertManyFastTx(tx.Statement.Context, t, params)
	return err
}

// payloadExpiry is when an undelivered payload goes: after the whole
// schedule and the endpoint's retention, as upstream.
func payloadExpiry(start time.Time, retentionHours int) time.Time {
	return start.Add(webhooks.ScheduleTotal + time.Duration(retentionHours)*time.Hour)
}

func newRunID() (string, error) { return randomString(apiKeyAlphabet, 24) }

// deliverEvent fans an event out, in the transaction of the change that
// made it: one delivery per enabled endpoint of the organization subscribed
// to the event's type (among the session's targets when it names some).
// With an active key the payload is encrypted at once and its run
// enqueued; without one it is held, sealed under the webhook data key,
// until a key is added or its retention window ends (never sent in clear,
// never thrown away unseen: the delivery list shows it pending with reason
// no_active_key).
func (s *Store) deliverEvent(tx *gorm.DB, v VerificationSession, ev Event, e Ending) error {
	var eps []WebhookEndpoint
	q := tx.Select("id", "subscribed_event_types", "undelivered_payload_retention_hours").
		Where("organization_id = ? AND enabled = ?", ev.OrganizationID, true)
	if len(v.WebhookEndpointIDs) > 0 {
		q = q.Where("id IN ?", []string(v.WebhookEndpointIDs))
	}
	if err := q.Order("id").Find(&eps).Error; err != nil {
		return err
	}
	eps = slices.DeleteFunc(eps, func(ep WebhookEndpoint) bool { return !slices.Contains(ep.SubscribedEventTypes, ev.Type) })
	if len(eps) == 0 {
		return nil
	}
	plain, err := webhooks.Payload(ev.Type, ev.ID, v.ID, payloadData(v, e))
	if err != nil {
		return err
	}
	ids := make([]string, len(eps))
	for i, ep := range eps {
		ids[i] = ep.ID
	}
	var keys []WebhookKey
	if err := tx.Where("webhook_endpoint_id IN ? AND is_active = ?", ids, true).Find(&keys).Error; err != nil {
		return err
	}
	active := make(map[string]WebhookKey, len(keys))
	for _, k := range keys {
		active[k.WebhookEndpointID] = k
	}
	now := ev.CreatedAt
	rows := make([]WebhookDelivery, 0, len(eps))
	var attempts []WebhookAttempt
	var jobs []river.JobArgs
	var held *string
	for _, ep := range eps {
		id, err := webhooks.NewID(webhooks.DeliveryIDPrefix, webhooks.LongIDChars)
		if err != nil {
			return err
		}
		d := WebhookDelivery{ID: id, EventID: ev.ID, WebhookEndpointID: ep.ID, OrganizationID: ev.OrganizationID,
			Status: DeliveryPending, CreatedAt: now, UpdatedAt: now}
		expires := payloadExpiry(now, ep.UndeliveredPayloadRetentionHours)
		k, ok := active[ep.ID]
		switch {
		case !ok:
			if held == nil {
				box, err := s.webhookBox(tx.Statement.Context)
				if err != nil {
					return err
				}
				sealed, err := box.Seal(string(plain))
				if err != nil {
					return err
				}
				held = &sealed
			}
			d.HeldPayload, d.PayloadExpiresAt, d.PayloadRetentionReason = held, &expires, ptr(ReasonNoActiveKey)
		default:
			d.WebhookEncryptionKeyID = &k.ID
			jwe, err := encryptTo(plain, k)
			if err != nil {
				// The stored key cannot be used (it passed the checks when
				// added): upstream's born-failed delivery, with its attempt.
				d.Status, d.AttemptCount, d.LastAttemptAt = DeliveryFailed, 1, &now
				d.PayloadScrubbedAt, d.PayloadRetentionReason = &now, ptr(ReasonJWECreationError)
				aid, err := webhooks.NewID(webhooks.AttemptIDPrefix, webhooks.LongIDChars)
				if err != nil {
					return err
				}
				msg := "encryption to the endpoint's key failed"
				attempts = append(attempts, WebhookAttempt{ID: aid, WebhookDeliveryID: id, Status: DeliveryFailed, Error: &msg, AttemptedAt: now})
				break
			}
			run, err := newRunID()
			if err != nil {
				return err
			}
			d.Payload, d.PayloadExpiresAt, d.PayloadRetentionReason = &jwe, &expires, ptr(ReasonPendingDelivery)
			d.RunID, d.NextAttemptAt = &run, &now
			jobs = append(jobs, DeliverArgs{DeliveryID: id, RunID: run, EndpointID: ep.ID})
		}
		rows = append(rows, d)
	}
	if err := tx.Create(&rows).Error; err != nil {
		return err
	}
	if len(attempts) > 0 {
		if err := tx.Create(&attempts).Error; err != nil {
			return err
		}
	}
	return s.enqueue(tx, jobs...)
}

// lockingSkipLocked claims rows on PostgreSQL without waiting for those
// another replica holds (SQLite's write transaction already serializes).
func lockingSkipLocked() clause.Locking {
	return clause.Locking{Strength: clause.LockingStrengthUpdate, Options: clause.LockingOptionsSkipLocked}
}

func ptr[T any](v T) *T { return &v }

// encryptTo is the compact JWE of plain for a stored key.
func encryptTo(plain []byte, k WebhookKey) (string, error) {
	jwk, err := webhooks.ParseJWK(json.RawMessage(k.JWK))
	if err != nil {
		return "", err
	}
	return webhooks.Encrypt(plain, jwk, k.KeyID)
}

// payloadData is the data member of an event's payload, as upstream
// builds it.
func payloadData(v VerificationSession, e Ending) any {
	switch e.Status {
	case StatusSucceeded:
		// A member for every requested field, in the order upstream reads
		// them back from jsonb (shorter keys first, then bytewise): the
		// shared value for a selected field, null for the others.
		keys := make([]string, 0, len(v.ShareFields))
		for k := range sessions.Contract(v.ShareFields) {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b string) int {
			if len(a) != len(b) {
				return len(a) - len(b)
			}
			return strings.Compare(a, b)
		})
		claims := make(webhooks.Claims, len(keys))
		for i, k := range keys {
			var val any
			if slices.Contains(e.SelectedFieldKeys, k) {
				val = e.Claims[k]
			}
			claims[i] = webhooks.Claim{Key: k, Value: val}
		}
		return webhooks.SucceededData{Claims: claims, SelectedFieldKeys: append([]string{}, e.SelectedFieldKeys...)}
	case StatusFailed:
		return webhooks.FailedData{FailureCode: e.FailureCode, NfcTriesUsed: v.NfcTriesUsed, LivenessTriesUsed: v.LivenessTriesUsed}
	case StatusCancelled:
		reason := "cancelled"
		if v.NfcTriesUsed > 0 || v.LivenessTriesUsed > 0 {
			reason = "cancelled_after_failed_check"
		}
		if e.CancelReason != "" {
			reason = e.CancelReason // transition's, which knows a withdrawal
		}
		return webhooks.CancelledData{Outcome: "not_verified", Reason: reason, NfcTriesUsed: v.NfcTriesUsed, LivenessTriesUsed: v.LivenessTriesUsed}
	default:
		return webhooks.ExpiredData{}
	}
}

// startRun is the manual requeue of one delivery (retry, replay): pending
// again with upstream's counters reset, a new run that supersedes any run
// still scheduled (so a delivery never has two), its job in tx, and, unlike
// upstream, a payload expiry that outlasts the new schedule.
func (s *Store) startRun(tx *gorm.DB, d *WebhookDelivery, now time.Time) error {
	var retention int
	if err := tx.Model(&WebhookEndpoint{}).Where("id = ?", d.WebhookEndpointID).
		Pluck("undelivered_payload_retention_hours", &retention).Error; err != nil {
		return err
	}
	run, err := newRunID()
	if err != nil {
		return err
	}
	expires := payloadExpiry(now, retention)
	if d.PayloadExpiresAt != nil && d.PayloadExpiresAt.After(expires) {
		expires = *d.PayloadExpiresAt
	}
	set := map[string]any{"status": DeliveryPending, "attempt_count": 0, "last_attempt_at": nil,
		"last_status_code": nil, "next_attempt_at": now, "run_id": run, "payload_expires_at": expires,
		"payload_retention_reason": ReasonPendingDelivery, "updated_at": now}
	res := tx.Model(&WebhookDelivery{}).Where("id = ? AND status <> ? AND payload IS NOT NULL", d.ID, DeliveryDelivering).Updates(set)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected != 1 {
		return ErrNotFound
	}
	d.Status, d.AttemptCount, d.LastAttemptAt, d.LastStatusCode = DeliveryPending, 0, nil, nil
	d.NextAttemptAt, d.RunID, d.PayloadExpiresAt, d.PayloadRetentionReason, d.UpdatedAt = &now, &run, &expires, ptr(ReasonPendingDelivery), now
	return s.enqueue(tx, DeliverArgs{DeliveryID: d.ID, RunID: run, EndpointID: d.WebhookEndpointID})
}

// releaseHeld is called in the transaction that makes key the endpoint's
// active key: its held deliveries are encrypted to it and started, by a job
// (there may be many; the key's request should not wait for them).
func (s *Store) releaseHeld(tx *gorm.DB, endpointID string, key WebhookKey) error {
	var n int64
	if err := tx.Model(&WebhookDelivery{}).Where("webhook_endpoint_id = ? AND held_payload IS NOT NULL", endpointID).
		Limit(1).Count(&n).Error; err != nil || n == 0 {
		return err
	}
	return s.enqueue(tx, ReleaseArgs{EndpointID: endpointID})
}

// ReleaseHeld encrypts up to batch held deliveries of the endpoint to its
// active key and starts their runs, in one transaction; it reports how many.
// None when the endpoint has no active key (any more).
func (s *Store) ReleaseHeld(ctx context.Context, endpointID string, batch int) (int, error) {
	box, err := s.webhookBox(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	err = s.tx(ctx, func(tx *gorm.DB) error {
		n = 0
		var key WebhookKey
		err := tx.Where("webhook_endpoint_id = ? AND is_active = ?", endpointID, true).Take(&key).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		var rows []WebhookDelivery
		q := tx.Select("id", "held_payload").
			Where("webhook_endpoint_id = ? AND held_payload IS NOT NULL AND status = ?", endpointID, DeliveryPending).
			Order("created_at").Limit(batch)
		if s.dialect == Postgres {
			q = q.Clauses(lockingSkipLocked())
		}
		if err := q.Find(&rows).Error; err != nil {
			return err
		}
		now := s.clock()
		jobs := make([]river.JobArgs, 0, len(rows))
		for _, d := range rows {
			plain, _, err := box.Open(*d.HeldPayload)
			set := map[string]any{"held_payload": nil, "updated_at": now}
			if err != nil {
				// Sealed under a key no longer configured: nothing can be
				// sent; it ends visibly.
				set["status"], set["payload_expires_at"], set["payload_scrubbed_at"] = DeliveryFailed, nil, now
				set["payload_retention_reason"] = ReasonExpired
			} else if jwe, err := encryptTo([]byte(plain), key); err != nil {
				set["status"], set["payload_expires_at"], set["payload_scrubbed_at"] = DeliveryFailed, nil, now
				set["payload_retention_reason"], set["webhook_encryption_key_id"] = ReasonJWECreationError, key.ID
			} else {
				run, err := newRunID()
				if err != nil {
					return err
				}
				set["payload"], set["webhook_encryption_key_id"], set["run_id"], set["next_attempt_at"] = jwe, key.ID, run, now
				set["payload_retention_reason"] = ReasonPendingDelivery
				jobs = append(jobs, DeliverArgs{DeliveryID: d.ID, RunID: run, EndpointID: endpointID})
			}
			if err := tx.Model(&WebhookDelivery{}).Where("id = ? AND held_payload IS NOT NULL", d.ID).Updates(set).Error; err != nil {
				return err
			}
			n++
		}
		return s.enqueue(tx, jobs...)
	})
	return n, err
}

// DeliveryJob is what one attempt needs, read when its run claims the
// delivery.
type DeliveryJob struct {
	Delivery       WebhookDelivery
	EventType      string
	URL            string
	Enabled        bool
	RetentionHours int
	// Secret is the endpoint's signing secret; SecretErr why it could not
	// be opened (the attempt then fails before sending, as upstream).
	Secret    string
	SecretErr error
}

// ClaimDelivery marks the delivery delivering for the run a, if the run is
// still the delivery's current one and there is a payload to send. ok is
// false when there is nothing to do (superseded, ended, scrubbed, or gone
// with its endpoint or event). A delivery already delivering under the same
// run is claimed again: its previous attempt died with its process, and
// the queue runs one job at a time.
func (s *Store) ClaimDelivery(ctx context.Context, a DeliverArgs) (DeliveryJob, bool, error) {
	var row struct {
		WebhookDelivery
		EventType               string
		URL                     string `gorm:"column:url"`
		Enabled                 bool
		RetentionHours          int
		SigningSecretCiphertext string
	}
	now := s.clock()
	found := false
	read := func(tx *gorm.DB, q string, args ...any) error {
		res := tx.Raw(q, args...).Scan(&row)
		found = res.Error == nil && res.RowsAffected == 1
		return res.Error
	}
	var err error
	if s.dialect == Postgres {
		// One statement: the claim and what the attempt needs.
		err = s.admit(ctx, func() error {
			return read(s.db.WithContext(ctx), claimPostgres, now, a.DeliveryID, a.RunID, DeliveryPending, DeliveryDelivering, a.DeliveryID)
		})
	} else {
		err = s.tx(ctx, func(tx *gorm.DB) error {
			res := tx.Exec(claimUpdate, now, a.DeliveryID, a.RunID, DeliveryPending, DeliveryDelivering)
			if res.Error != nil || res.RowsAffected != 1 {
				return res.Error
			}
			return read(tx, fmt.Sprintf(claimSelect, "webhook_deliveries")+` WHERE d.id = ?`, a.DeliveryID)
		})
	}
	if err != nil || !found {
		return DeliveryJob{}, false, err
	}
	job := DeliveryJob{Delivery: row.WebhookDelivery, EventType: row.EventType, URL: row.URL,
		Enabled: row.Enabled, RetentionHours: row.RetentionHours}
	job.Secret, job.SecretErr = s.openSecret(ctx, row.SigningSecretCiphertext)
	return job, true, nil
}

const (
	claimUpdate = `UPDATE webhook_deliveries SET status = 'delivering', updated_at = ?
		WHERE id = ? AND run_id = ? AND status IN (?, ?) AND payload IS NOT NULL`
	claimSelect = `SELECT d.*, ev.type AS event_type, e.url AS url, e.enabled AS enabled,
		e.undelivered_payload_retention_hours AS retention_hours, e.signing_secret_ciphertext AS signing_secret_ciphertext
		FROM %s d JOIN webhook_endpoints e ON e.id = d.webhook_endpoint_id JOIN events ev ON ev.id = d.event_id`
)

// claimPostgres is claimUpdate and claimSelect in one statement.
var claimPostgres = `WITH c AS (` + claimUpdate + ` RETURNING *) ` + fmt.Sprintf(claimSelect, "c") + ` WHERE d.id = ?`

func (s *Store) openSecret(ctx context.Context, sealed string) (string, error) {
	box, err := s.webhookBox(ctx)
	if err != nil {
		return "", err
	}
	plain, _, err := box.Open(sealed)
	return plain, err
}

// AttemptResult is the outcome of one attempt.
type AttemptResult struct {
	// Start is when the attempt began (upstream's last_attempt_at).
	Start time.Time
	// StatusCode is the receiver's answer; 0 when none came.
	StatusCode int
	// Err says why the attempt failed without an answer (never shown by
	// the API; kept in the attempt history).
	Err string
}

// Succeeded is upstream's rule: any 2xx.
func (r AttemptResult) Succeeded() bool { return r.StatusCode >= 200 && r.StatusCode < 300 }

// RecordAttempt writes an attempt of the claimed job and moves the
// delivery on: succeeded (payload scrubbed), pending until the next attempt
// of the schedule (retryIn > 0), or, after the eighth, failed with the
// payload kept for the endpoint's retention (or dropped, with none). The
// history row is written whatever became of the delivery meanwhile (unless
// it is gone); the delivery only moves while it is still this run's.
func (s *Store) RecordAttempt(ctx context.Context, job DeliveryJob, r AttemptResult) (retryIn time.Duration, err error) {
	d := job.Delivery
	aid, err := webhooks.NewID(webhooks.AttemptIDPrefix, webhooks.LongIDChars)
	if err != nil {
		return 0, err
	}
	att := WebhookAttempt{ID: aid, WebhookDeliveryID: d.ID, Status: DeliveryFailed, AttemptedAt: r.Start}
	if r.StatusCode != 0 {
		att.StatusCode = &r.StatusCode
	}
	if r.Err != "" {
		att.Error = &r.Err
	}
	now := s.clock()
	count := d.AttemptCount + 1
	// What the delivery becomes; the payload is kept unless scrub.
	next := struct {
		status      string
		scrub       bool
		nextAttempt *time.Time
		expires     *time.Time
		scrubbedAt  *time.Time
		reason      string
		runID       *string
	}{status: DeliveryPending, expires: d.PayloadExpiresAt, reason: ReasonPendingDelivery, runID: d.RunID}
	switch {
	case r.Succeeded():
		att.Status = DeliverySucceeded
		next.status, next.scrub, next.expires, next.scrubbedAt, next.reason, next.runID = DeliverySucceeded, true, nil, &r.Start, ReasonDelivered, nil
	case count < len(webhooks.Schedule):
		retryIn = webhooks.Schedule[count]
		at := now.Add(retryIn)
		next.nextAttempt = &at
		// The payload stays at least until the rest of the schedule has
		// run (upstream's fixed expiry can fall before the last attempt).
		var rest time.Duration
		for _, w := range webhooks.Schedule[count:] {
			rest += w + webhooks.AttemptTimeout
		}
		if least := now.Add(rest); next.expires == nil || next.expires.Before(least) {
			next.expires = &least
		}
	default:
		next.status, next.runID = DeliveryFailed, nil
		if job.RetentionHours == 0 {
			next.scrub, next.expires, next.scrubbedAt, next.reason = true, nil, &now, ReasonExpired
		} else {
			until := now.Add(time.Duration(job.RetentionHours) * time.Hour)
			next.expires, next.reason = &until, ReasonTerminalFailure
		}
	}
	update := []any{next.status, count, r.Start, att.StatusCode, next.nextAttempt, next.scrub, next.expires,
		next.scrubbedAt, next.reason, next.runID, now, d.ID, *d.RunID, DeliveryDelivering}
	insert := []any{att.ID, att.WebhookDeliveryID, att.Status, att.StatusCode, att.Error, att.AttemptedAt, d.ID}
	moved := false
	if s.dialect == Postgres {
		// One statement: the history row and the move.
		err = s.admit(ctx, func() error {
			var n int
			err := s.db.WithContext(ctx).Raw(recordPostgres, append(update, insert...)...).Scan(&n).Error
			moved = n == 1
			return err
		})
	} else {
		err = s.tx(ctx, func(tx *gorm.DB) error {
			if err := tx.Exec(attemptInsert, insert...).Error; err != nil {
				return err
			}
			res := tx.Exec(deliveryMove, update...)
			moved = res.RowsAffected == 1
			return res.Error
		})
	}
	if !moved {
		retryIn = 0 // no longer this run's
	}
	return retryIn, err
}

const (
	deliveryMove = `UPDATE webhook_deliveries SET status = ?, attempt_count = ?, last_attempt_at = ?, last_status_code = ?,
		next_attempt_at = ?, payload = CASE WHEN ? THEN NULL ELSE payload END, payload_expires_at = ?,
		payload_scrubbed_at = ?, payload_retention_reason = ?, run_id = ?, updated_at = ?
		WHERE id = ? AND run_id = ? AND status = ?`
	attemptInsert = `INSERT INTO webhook_delivery_attempts (id, webhook_delivery_id, status, status_code, error, attempted_at)
		SELECT ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM webhook_deliveries WHERE id = ?)`
)

// recordPostgres is deliveryMove and attemptInsert in one statement.
var recordPostgres = `WITH m AS (` + deliveryMove + ` RETURNING 1), a AS (` + attemptInsert + `) SELECT COUNT(*) FROM m`

// SweepWebhookPayloads drops payloads whose retention ended, in batches of
// batch, oldest expiry first, until none is due or max went. Unlike
// upstream, a delivery still pending ends failed (reason expired) instead
// of staying pending for good; one in flight is left to its attempt.
func (s *Store) SweepWebhookPayloads(ctx context.Context, batch, max int) (int, error) {
	done := 0
	for done < max {
		now := s.clock()
		n := 0
		err := s.tx(ctx, func(tx *gorm.DB) error {
			var ids []string
			q := tx.Model(&WebhookDelivery{}).
				Where("(payload IS NOT NULL OR held_payload IS NOT NULL) AND payload_expires_at <= ? AND status <> ?", now, DeliveryDelivering).
				Order("payload_expires_at").Limit(min(batch, max-done))
			if s.dialect == Postgres {
				q = q.Clauses(lockingSkipLocked())
			}
			if err := q.Pluck("id", &ids).Error; err != nil || len(ids) == 0 {
				return err
			}
			base := map[string]any{"payload": nil, "held_payload": nil, "payload_expires_at": nil,
				"payload_scrubbed_at": now, "payload_retention_reason": ReasonExpired, "updated_at": now}
			if err := tx.Model(&WebhookDelivery{}).Where("id IN ? AND status <> ?", ids, DeliveryPending).Updates(base).Error; err != nil {
				return err
			}
			pending := map[string]any{"status": DeliveryFailed, "next_attempt_at": nil, "run_id": nil}
			for k, v := range base {
				pending[k] = v
			}
			if err := tx.Model(&WebhookDelivery{}).Where("id IN ? AND status = ?", ids, DeliveryPending).Updates(pending).Error; err != nil {
				return err
			}
			n = len(ids)
			return nil
		})
		if err != nil || n == 0 {
			return done, err
		}
		done += n
		if n < batch {
			break
		}
	}
	return done, nil
}
