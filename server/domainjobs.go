package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/kayle-id/orgs-api/dnstxt"
	"github.com/kayle-id/orgs-api/domains"
	"github.com/kayle-id/orgs-api/store"
)

// RecheckOptions tunes one re-check pass.
type RecheckOptions struct {
	// Concurrency is how many lookups run at once (upstream's 25).
	Concurrency int
	// Limit is how many due domains one pass takes (upstream's 500).
	Limit int
	// LookupTimeout bounds each domain's lookup, every resolver tried.
	LookupTimeout time.Duration
	Log           *slog.Logger
	Metrics       *Metrics
	// Progress, when set, is told after each domain.
	Progress func(done, total int)
}

// RecheckReport counts what a pass did.
type RecheckReport struct {
	Due, Confirmed, Missed, Downgraded, Restored, LookupFailed, Stale int
}

func (r RecheckReport) String() string {
	return fmt.Sprintf("%d due: %d confirmed, %d missed, %d downgraded, %d restored, %d lookups failed, %d changed meanwhile",
		r.Due, r.Confirmed, r.Missed, r.Downgraded, r.Restored, r.LookupFailed, r.Stale)
}

// RecheckDomains runs one pass of the daily re-check: every due domain's
// TXT record is looked up (several at once, no database connection held
// during a lookup) and the outcome recorded. A lookup that gets no clean
// answer changes nothing; the domain stays due for the next pass.
func RecheckDomains(ctx context.Context, st *store.Store, dns dnstxt.Looker, o RecheckOptions) (RecheckReport, error) {
	if o.Concurrency <= 0 {
		o.Concurrency = 25
	}
	if o.Limit <= 0 {
		o.Limit = store.RecheckBatchSize
	}
	if o.LookupTimeout <= 0 {
		o.LookupTimeout = 15 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	var rep RecheckReport
	items, err := st.DueRechecks(ctx, o.Limit)
	if err != nil {
		return rep, err
	}
	rep.Due = len(items)
	var (
		mu    sync.Mutex
		done  int
		first error
		wg    sync.WaitGroup
	)
	sem := make(chan struct{}, o.Concurrency)
	for _, it := range items {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func(it store.RecheckItem) {
			defer func() { <-sem; wg.Done() }()
			outcome, err := recheckOne(ctx, st, dns, it, o.LookupTimeout)
			mu.Lock()
			defer mu.Unlock()
			done++
			switch {
			case err != nil && first == nil && ctx.Err() == nil:
				first = err
			case err != nil:
			case outcome == "confirmed":
				rep.Confirmed++
			case outcome == "missed":
				rep.Missed++
			case outcome == "downgraded":
				rep.Downgraded++
				o.Log.Warn("verified domain downgraded", "domain_id", it.ID.String(), "apex_domain", it.ApexDomain)
			case outcome == "restored":
				rep.Restored++
				o.Log.Info("verified domain restored", "domain_id", it.ID.String(), "apex_domain", it.ApexDomain)
			case outcome == "lookup_failed":
				rep.LookupFailed++
			case outcome == "stale":
				rep.Stale++
			}
			if err == nil && o.Metrics != nil {
				o.Metrics.recheck(outcome)
			}
			if o.Progress != nil {
				o.Progress(done, len(items))
			}
		}(it)
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return rep, first
}

func recheckOne(ctx context.Context, st *store.Store, dns dnstxt.Looker, it store.RecheckItem, timeout time.Duration) (string, error) {
	lctx, cancel := context.WithTimeout(ctx, timeout)
	values, err := dns.LookupTXT(lctx, domains.RecordName(it.ApexDomain))
	cancel()
	if err != nil && !errors.Is(err, dnstxt.ErrNoSuchName) {
		// No clean answer (unreachable, SERVFAIL, garbage): not a miss.
		return "lookup_failed", st.RecordRecheckFailure(ctx, it)
	}
	outcome, err := st.RecordRecheck(ctx, it, domains.Check(values, it.RecheckToken))
	if err != nil {
		return "", err
	}
	return recheckOutcomeNames[outcome], nil
}

// recheckOutcomeNames label the re-check's outcomes in its metric.
var recheckOutcomeNames = map[store.RecheckOutcome]string{
	store.RecheckUnchanged: "confirmed", store.RecheckMissed: "missed", store.RecheckDowngraded: "downgraded",
	store.RecheckRestored: "restored", store.RecheckStale: "stale",
}

// RecheckJob runs the daily re-check on the job runner: one replica at a
// time, a pass every interval (each pass takes what has come due).
func RecheckJob(st *store.Store, dns dnstxt.Looker, interval time.Duration, log *slog.Logger, m *Metrics) Job {
	return Job{Name: "domain-recheck", Interval: interval, Timeout: max(interval, 10*time.Minute),
		Run: func(ctx context.Context, progress func(int)) (int, error) {
			rep, err := RecheckDomains(ctx, st, dns, RecheckOptions{Log: log, Metrics: m, Progress: func(done, _ int) { progress(done) }})
			if rep.Due > 0 {
				log.Info("domain re-check", "due", rep.Due, "confirmed", rep.Confirmed, "missed", rep.Missed,
					"downgraded", rep.Downgraded, "restored", rep.Restored, "lookup_failed", rep.LookupFailed, "stale", rep.Stale)
			}
			return rep.Due, err
		}}
}
