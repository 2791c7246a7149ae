package server

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/kayle-id/orgs-api/store"
)

// Job is background work every replica schedules and one replica at a time
// runs: every Interval, each replica tries the job's lock; the one that gets
// it runs a pass, the others skip that turn.
//
// To add a job, write Run as one pass over whatever is due, reporting how
// many items it handled (and, on long passes, progress as it goes), and
// hand the Job to RunJobs in `kayleid serve`. The runner brings the rest:
// the lock, a deadline per pass, the log lines, the kayle_job_* metrics, and
// stopping with the server.
//
// The lock spares replicas from doing the same work twice; it is not what
// keeps the work correct. It lives on a database session, which can drop in
// the middle of a pass and let a second replica start. Run must therefore
// be safe to run twice at once: claim rows with FOR UPDATE SKIP LOCKED, as
// the purge does, or make each item's change idempotent. When ctx ends
// (shutdown, or the pass's deadline) Run should return promptly; what it
// committed stays, what it had not is picked up by the next pass.
type Job struct {
	// Name labels the log lines and metrics and names the lock.
	Name string
	// Interval is the time from the start of one turn to the next.
	Interval time.Duration
	// Timeout bounds one pass; 0 means the interval, at least a minute.
	Timeout time.Duration
	// Run does one pass. progress reports items handled so far; the runner
	// logs it now and then. progress must not be called from two goroutines
	// at once.
	Run func(ctx context.Context, progress func(done int)) (done int, err error)
	// Unlocked runs the pass on every replica without taking the lock: for a
	// frequent job whose passes already claim their own rows (FOR UPDATE SKIP
	// LOCKED), where the lock would only cost a database session per turn.
	Unlocked bool
}

func (j Job) timeout() time.Duration {
	if j.Timeout > 0 {
		return j.Timeout
	}
	return max(j.Interval, time.Minute)
}

// Locker is the cross-process lock taken around each pass: store.Store's
// TryLock (a PostgreSQL advisory lock), which answers store.ErrLockHeld when
// another replica holds it.
type Locker interface {
	TryLock(ctx context.Context, name string) (release func(), err error)
}

// progressEvery is how often a long pass logs its progress.
const progressEvery = 5 * time.Second

// RunJobs runs each job on its schedule until ctx ends, then returns once
// every pass in progress has (their contexts end with ctx). m may be nil.
func RunJobs(ctx context.Context, locker Locker, log *slog.Logger, m *Metrics, jobs ...Job) {
	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(j.Interval)
			defer t.Stop()
			for {
				runOnce(ctx, locker, log, m, j)
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
		}()
	}
	wg.Wait()
}

// runOnce takes the job's lock and, when it gets it, runs one pass.
func runOnce(ctx context.Context, locker Locker, log *slog.Logger, m *Metrics, j Job) {
	if ctx.Err() != nil {
		return
	}
	pass, cancel := context.WithTimeout(ctx, j.timeout())
	defer cancel()
	release, err := func() {}, error(nil)
	if !j.Unlocked {
		release, err = locker.TryLock(pass, "job:"+j.Name)
	}
	switch {
	case errors.Is(err, store.ErrLockHeld):
		m.jobRun(j.Name, "skipped", 0, 0)
		log.Debug("job skipped: running elsewhere", "job", j.Name)
		return
	case err != nil:
		if ctx.Err() == nil {
			m.jobRun(j.Name, "failed", 0, 0)
			log.Warn("job failed", "job", j.Name, "error", err.Error())
		}
		return
	}
	defer release()
	start := time.Now()
	logged := start
	done, err := j.Run(pass, func(done int) {
		if now := time.Now(); now.Sub(logged) >= progressEvery {
			logged = now
			log.Info("job progress", "job", j.Name, "items", done, "elapsed_ms", now.Sub(start).Milliseconds())
		}
	})
	elapsed := time.Since(start)
	attrs := []any{"job", j.Name, "items", done, "duration_ms", elapsed.Milliseconds()}
	switch {
	case err != nil && ctx.Err() != nil:
		m.jobRun(j.Name, "stopped", done, elapsed)
		log.Info("job stopped by shutdown", attrs...)
	case err != nil:
		m.jobRun(j.Name, "failed", done, elapsed)
		log.Warn("job failed", append(attrs, "error", err.Error())...)
	default:
		m.jobRun(j.Name, "ok", done, elapsed)
		level := slog.LevelDebug
		if done > 0 {
			level = slog.LevelInfo
		}
		log.Log(ctx, level, "job finished", attrs...)
	}
}

// PurgeJob purges organizations whose deletion time has passed
// (store.PurgeDue, which claims its rows with FOR UPDATE SKIP LOCKED).
func PurgeJob(st *store.Store, interval time.Duration) Job {
	return Job{Name: "purge", Interval: interval, Run: func(ctx context.Context, progress func(int)) (int, error) {
		res, err := st.PurgeDue(ctx, func(done, _ int) { progress(done) })
		return res.Organizations, err
	}}
}
