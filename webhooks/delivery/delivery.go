// Package delivery sends webhook deliveries: the workers of the River
// queue whose jobs the store inserts in the transaction of each event
// (and of each manual retry or replay). One job is one run of a delivery:
// it claims the row, makes one attempt, records it, and sleeps (a River
// snooze) until the next attempt of upstream's schedule, so a run survives
// restarts and a crash mid-attempt is rescued and sent again (at least
// once; receivers dedupe on X-Kayle-Delivery-Id or metadata.event_id).
//
// Each attempt goes through an egress client that checks every address it
// dials, with upstream's 15 s deadline, and an endpoint holds at most
// PerEndpoint attempts at once on a replica, so one receiver that hangs
// does not take the workers from the others.
package delivery

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/riverqueue/river"

	"github.com/kayle-id/orgs-api/egress"
	"github.com/kayle-id/orgs-api/store"
	"github.com/kayle-id/orgs-api/webhooks"
)

// Options configure a Runner. The zero value of each field means its
// default.
type Options struct {
	// Workers is how many jobs run at once on this replica (64).
	Workers int
	// PerEndpoint is how many attempts one endpoint gets at once on this
	// replica (8); its other jobs wait, snoozed, for a slot.
	PerEndpoint int
	// AllowLoopback lets receivers on localhost/127.0.0.1 be reached
	// (development and tests only).
	AllowLoopback bool
	// Client sends the requests; nil builds the egress client with
	// AllowLoopback and the attempt deadline.
	Client *http.Client
	// PollInterval is how often the queue is polled for due jobs (50ms; the
	// database/sql driver has no LISTEN, and a poll is one indexed read).
	PollInterval time.Duration
	// RescueAfter is how long a job may look running before another
	// replica takes it over, its process presumed dead (1m).
	RescueAfter time.Duration
	// Log receives the runner's lines; nil discards them.
	Log *slog.Logger
}

// Runner owns the River client that works the webhooks queue.
type Runner struct {
	st     *store.Store
	o      Options
	client *river.Client[*sql.Tx]
	slots  *slots
}

// attemptDeadline is the receiver's time; jobTimeout adds the database
// work around it.
const (
	attemptDeadline = webhooks.AttemptTimeout
	jobTimeout      = attemptDeadline + 15*time.Second
)

// New builds a Runner over st. Start starts it.
func New(st *store.Store, o Options) (*Runner, error) {
	if o.Workers <= 0 {
		o.Workers = 64
	}
	if o.PerEndpoint <= 0 {
		o.PerEndpoint = 8
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 50 * time.Millisecond
	}
	if o.RescueAfter <= jobTimeout {
		o.RescueAfter = max(o.RescueAfter, time.Minute)
		if o.RescueAfter <= jobTimeout {
			o.RescueAfter = jobTimeout + time.Second
		}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Client == nil {
		o.Client = egress.New(egress.Options{AllowLoopback: o.AllowLoopback, Timeout: attemptDeadline, MaxIdlePerHost: o.PerEndpoint})
	}
	r := &Runner{st: st, o: o, slots: newSlots(o.PerEndpoint)}
	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, &deliverWorker{r: r}); err != nil {
		return nil, err
	}
	if err := river.AddWorkerSafely(workers, &releaseWorker{r: r}); err != nil {
		return nil, err
	}
	c, err := river.NewClient(st.QueueDriver(), &river.Config{
		Queues:  map[string]river.QueueConfig{store.QueueWebhooks: {MaxWorkers: o.Workers}},
		Workers: workers,
		// database/sql has no LISTEN: the queue is polled.
		PollOnly:             true,
		FetchPollInterval:    o.PollInterval,
		FetchCooldown:        min(o.PollInterval, 20*time.Millisecond),
		JobTimeout:           jobTimeout,
		RescueStuckJobsAfter: o.RescueAfter,
		// A run's job ends when its delivery does; keep finished jobs an
		// hour for inspection, not River's day.
		CompletedJobRetentionPeriod: time.Hour,
		Logger:                      slog.New(levelAtLeast{o.Log.Handler(), slog.LevelWarn}),
	})
	if err != nil {
		return nil, fmt.Errorf("delivery: queue client: %w", err)
	}
	r.client = c
	return r, nil
}

// Start starts working the queue; Stop ends it.
func (r *Runner) Start(ctx context.Context) error { return r.client.Start(ctx) }

// Stop lets running attempts finish (within ctx), then stops. A run cut
// short is taken up again on the next start.
func (r *Runner) Stop(ctx context.Context) error { return r.client.Stop(ctx) }

type deliverWorker struct {
	river.WorkerDefaults[store.DeliverArgs]
	r *Runner
}

func (w *deliverWorker) Timeout(*river.Job[store.DeliverArgs]) time.Duration { return jobTimeout }

// shareKey is whom the workers' database work is for: all deliveries
// together hold at most the share of the store's turns one caller may
// (store.WithShare), so a burst of deliveries never starves the API.
const shareKey = "webhook-deliveries"

func (w *deliverWorker) Work(ctx context.Context, j *river.Job[store.DeliverArgs]) error {
	ctx = store.WithShare(ctx, shareKey)
	r := w.r
	release, wait := r.slots.acquire(ctx, j.Args.EndpointID)
	if release == nil {
		return river.JobSnooze(wait)
	}
	start := time.Now()
	retryIn, err := r.attempt(ctx, j.Args)
	release(time.Since(start))
	if err != nil {
		return err
	}
	if retryIn > 0 {
		return river.JobSnooze(retryIn)
	}
	return nil
}

// attempt makes one attempt of the run a, if it is still the delivery's.
func (r *Runner) attempt(ctx context.Context, a store.DeliverArgs) (time.Duration, error) {
	job, ok, err := r.st.ClaimDelivery(ctx, a)
	if err != nil || !ok {
		return 0, err
	}
	res := store.AttemptResult{Start: time.Now().UTC()}
	switch {
	case !job.Enabled:
		res.Err = "endpoint disabled"
	case job.SecretErr != nil:
		res.Err = "signing secret unreadable: " + job.SecretErr.Error()
	default:
		res.StatusCode, res.Err = r.send(ctx, job)
	}
	// The outcome is recorded even when the server is stopping: the
	// attempt happened.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	retryIn, err := r.st.RecordAttempt(rctx, job, res)
	if err != nil {
		return 0, err
	}
	if res.Err != "" {
		r.o.Log.Info("webhook attempt failed", "delivery", job.Delivery.ID, "attempt", job.Delivery.AttemptCount+1, "error", res.Err)
	}
	return retryIn, nil
}

// send is one POST of the stored JWE, signed now, to the endpoint's URL as
// it is now (re-checked: it was valid when saved, the rules may be
// stricter here).
func (r *Runner) send(ctx context.Context, job store.DeliveryJob) (int, string) {
	if err := webhooks.CheckURL(job.URL, r.o.AllowLoopback); err != nil {
		return 0, "url refused: " + err.Error()
	}
	target, err := webhooks.SendURL(job.URL)
	if err != nil {
		return 0, "url refused: " + err.Error()
	}
	ctx, cancel := context.WithTimeout(ctx, attemptDeadline)
	defer cancel()
	req, err := webhooks.NewDeliveryRequest(ctx, target, job.Delivery.ID, job.EventType, *job.Delivery.Payload, job.Secret, time.Now())
	if err != nil {
		return 0, err.Error()
	}
	resp, err := r.o.Client.Do(req)
	if err != nil {
		var blocked *egress.BlockedError
		switch {
		case errors.As(err, &blocked):
			return 0, "address refused: " + blocked.Error()
		case ctx.Err() != nil:
			return 0, "no answer within " + attemptDeadline.String()
		}
		return 0, truncate(err.Error(), 300)
	}
	egress.Discard(resp)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, "answered " + strconv.Itoa(resp.StatusCode)
	}
	return resp.StatusCode, ""
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

type releaseWorker struct {
	river.WorkerDefaults[store.ReleaseArgs]
	r *Runner
}

// releaseBatch is how many held deliveries one transaction releases.
const releaseBatch = 200

func (w *releaseWorker) Work(ctx context.Context, j *river.Job[store.ReleaseArgs]) error {
	ctx = store.WithShare(ctx, shareKey)
	for {
		n, err := w.r.st.ReleaseHeld(ctx, j.Args.EndpointID, releaseBatch)
		if err != nil || n < releaseBatch {
			return err
		}
	}
}

// levelAtLeast drops records below a level (River is chatty at info).
type levelAtLeast struct {
	slog.Handler
	min slog.Level
}

func (h levelAtLeast) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}
