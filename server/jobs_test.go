package server_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kayle-id/orgs-api/internal/testdb"
	"github.com/kayle-id/orgs-api/server"
	"github.com/kayle-id/orgs-api/store"
)

// scrape reads one series' value from the metrics endpoint (0 when absent).
func scrape(t *testing.T, m *server.Metrics, series string) float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	sc := bufio.NewScanner(rec.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", series, err)
			}
			return f
		}
	}
	return 0
}

func openStore(t *testing.T, url string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), url, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// Three replicas scheduling the same job run it one at a time: a pass never
// overlaps another, the others record a skipped turn, and every pass's
// items are counted once.
func TestJobsRunOnOneReplicaAtATime(t *testing.T) {
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			url := testdb.URL(t, kind)
			const replicas = 3
			lockers := make([]server.Locker, replicas)
			metrics := make([]*server.Metrics, replicas)
			shared := openStore(t, url)
			for i := range lockers {
				// PostgreSQL: a store (so sessions) per replica, as separate
				// processes have. SQLite is served by one process: its
				// replicas here are three runners in it.
				lockers[i] = shared
				if kind == testdb.Postgres {
					lockers[i] = openStore(t, url)
				}
				metrics[i] = server.NewMetrics()
			}
			var inFlight, most, passes atomic.Int64
			job := server.Job{Name: "probe", Interval: 10 * time.Millisecond, Run: func(ctx context.Context, _ func(int)) (int, error) {
				n := inFlight.Add(1)
				defer inFlight.Add(-1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				select {
				case <-time.After(25 * time.Millisecond):
				case <-ctx.Done():
					return 0, ctx.Err()
				}
				passes.Add(1)
				return 2, nil
			}}
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			for i := range lockers {
				wg.Add(1)
				go func() { defer wg.Done(); server.RunJobs(ctx, lockers[i], log, metrics[i], job) }()
			}
			time.Sleep(800 * time.Millisecond)
			cancel()
			wg.Wait()
			if most.Load() != 1 {
				t.Fatalf("%d passes of the job ran at once", most.Load())
			}
			if passes.Load() < 5 {
				t.Fatalf("only %d passes in 800ms", passes.Load())
			}
			var ok, skipped, items float64
			for _, m := range metrics {
				ok += scrape(t, m, `kayle_job_runs_total{job="probe",outcome="ok"}`)
				skipped += scrape(t, m, `kayle_job_runs_total{job="probe",outcome="skipped"}`)
				items += scrape(t, m, `kayle_job_items_total{job="probe"}`)
			}
			if int64(ok) != passes.Load() || int64(items) != 2*passes.Load() || skipped == 0 {
				t.Fatalf("metrics: %v ok, %v skipped, %v items; %d passes ran", ok, skipped, items, passes.Load())
			}
			t.Logf("%s: %d passes, %v turns skipped", kind, passes.Load(), skipped)
		})
	}
}

// The runner stops with the server: a pass in progress is cancelled and
// RunJobs returns promptly. A failing pass is logged and counted, and the
// next turn runs again.
func TestJobsStopAndFail(t *testing.T) {
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			st := openStore(t, testdb.URL(t, kind))
			var logs syncBuffer
			log := slog.New(slog.NewTextHandler(&logs, nil))
			m := server.NewMetrics()
			var failures atomic.Int64
			entered := make(chan struct{})
			var once sync.Once
			failing := server.Job{Name: "failing", Interval: 10 * time.Millisecond, Run: func(context.Context, func(int)) (int, error) {
				failures.Add(1)
				return 0, errors.New("boom")
			}}
			blocking := server.Job{Name: "blocking", Interval: time.Hour, Run: func(ctx context.Context, _ func(int)) (int, error) {
				once.Do(func() { close(entered) })
				<-ctx.Done()
				return 3, ctx.Err()
			}}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { server.RunJobs(ctx, st, log, m, failing, blocking); close(done) }()
			<-entered
			for failures.Load() < 3 {
				time.Sleep(5 * time.Millisecond)
			}
			cancel()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("RunJobs did not return after its context ended")
			}
			if n := scrape(t, m, `kayle_job_runs_total{job="failing",outcome="failed"}`); n < 3 {
				t.Errorf("%v failed passes counted, want at least 3", n)
			}
			if n := scrape(t, m, `kayle_job_runs_total{job="blocking",outcome="stopped"}`); n != 1 {
				t.Errorf("%v stopped passes counted, want 1", n)
			}
			out := logs.String()
			for _, want := range []string{`level=WARN msg="job failed" job=failing`, `error=boom`, `msg="job stopped by shutdown" job=blocking items=3`} {
				if !strings.Contains(out, want) {
					t.Errorf("log lacks %q:\n%s", want, out)
				}
			}
		})
	}
}
