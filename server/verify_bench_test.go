package server_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/kayle-id/orgs-api/internal/benchenv"
	"github.com/kayle-id/orgs-api/internal/testdb"
	"github.com/kayle-id/orgs-api/internal/verifytest"
	"github.com/kayle-id/orgs-api/server"
	"github.com/kayle-id/orgs-api/verify/biometric"
	"github.com/kayle-id/orgs-api/verify/biometric/biotest"
	"github.com/kayle-id/orgs-api/verify/flow"
)

// timedVerifier adds up the time the flow spends waiting on the biometric
// verifier (the real client, calling biotest over loopback), so that the
// benchmark can report the server's own time without it.
type timedVerifier struct {
	flow.Verifier
	ns atomic.Int64
}

func (v *timedVerifier) Verify(ctx context.Context, in biometric.Input) (biometric.Verdict, error) {
	start := time.Now()
	out, err := v.Verifier.Verify(ctx, in)
	v.ns.Add(int64(time.Since(start)))
	return out, err
}

// verifyConcurrency is how many phones verify at once.
const verifyConcurrency = 100

// BenchmarkVerifySessions runs b.N whole verifications through the socket
// (hello, MRZ and NFC phases with the document's uploads and its checks
// against the trust store, liveness against biotest answering at once,
// share selection and the session's success with its event and audit),
// verifyConcurrency at a time, against a real server on PostgreSQL.
// Sessions are created and handed off before the timer starts.
//
// Metrics: ns/op is wall time per session at that concurrency (the
// inverse of throughput); latency-ms is one verification's mean wall time;
// server-ms is that minus the time the flow waited on the verifier;
// verifier-ms that wait; cpu-ms the test process's CPU time per session
// (server, phones and the stub verifier; PostgreSQL is another process);
// peak-RSS-MiB the test process's VmHWM, its high-water mark so far (the
// sequential run goes first, so the concurrent one's figure is its own or
// higher).
//
// The sequential run (concurrency=1) gives one verification's latency
// with nothing else competing for the two cores.
//
//	go test -run '^$' -bench VerifySessions -benchtime 200x ./server
func BenchmarkVerifySessions(b *testing.B) {
	for _, n := range []int{1, verifyConcurrency} {
		b.Run(fmt.Sprintf("concurrency=%d", n), func(b *testing.B) { benchVerify(b, n) })
	}
}

func benchVerify(b *testing.B, concurrency int) {
	var timed *timedVerifier
	e := newVerifyEnvLimits(b, testdb.Postgres, func(fc *flow.Config) {
		timed = &timedVerifier{Verifier: fc.Verifier}
		fc.Verifier = timed
	}, flow.Limits{PerAddress: 4 * verifyConcurrency, Total: 4 * verifyConcurrency},
		func(c *server.Config) { c.VerifyRateLimit = -1 })
	o := e.rpOrg(b, "bench-verify")

	type ticket struct{ id, token string }
	tickets := make([]ticket, b.N)
	for i := range tickets {
		a := e.call(b, "POST", "/v1/sessions", o.key, "")
		wantStatus(b, a, 200)
		var s struct {
			Data sessionObject `json:"data"`
		}
		a.decode(b, &s)
		wantStatus(b, e.call(b, "POST", "/v1/verify/session/"+s.Data.ID+"/consent", "",
			`{"biometric_consent":true,"document_processing_consent":true,"privacy_notice_acknowledged":true,"share_claims_consent":true,"terms_acknowledged":true}`), 200)
		h := e.call(b, "POST", "/v1/verify/session/"+s.Data.ID+"/handoff", "", "")
		wantStatus(b, h, 200)
		var out struct {
			Data struct {
				Token string `json:"mobile_write_token"`
			} `json:"data"`
		}
		h.decode(b, &out)
		tickets[i] = ticket{s.Data.ID, out.Data.Token}
	}
	video := biotest.StubVideo(biotest.Accept)
	queue := make(chan ticket, len(tickets))
	for _, t := range tickets {
		queue <- t
	}
	close(queue)

	var (
		wg        sync.WaitGroup
		latencyNS atomic.Int64
		mu        sync.Mutex
		firstErr  error
	)
	ctx := context.Background()
	timed.ns.Store(0)
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	for range min(concurrency, b.N) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for t := range queue {
				began := time.Now()
				err := func() error {
					c, err := verifytest.Dial(ctx, e.srv.URL, t.id, nil)
					if err != nil {
						return err
					}
					defer c.CloseNow()
					w := verifytest.Walk{SessionID: t.id, Token: t.token, Doc: e.doc, Video: video}
					_, err = w.Run(ctx, c)
					return err
				}()
				latencyNS.Add(int64(time.Since(began)))
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	wall, cpu := time.Since(start), cpuTime()-cpu0
	b.StopTimer()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	if n := e.count2(b, "SELECT COUNT(*) FROM verification_sessions WHERE status = 'succeeded'"); n != b.N {
		b.Fatalf("%d of %d sessions succeeded", n, b.N)
	}
	n := float64(b.N)
	latency := float64(latencyNS.Load()) / n / 1e6
	verifier := float64(timed.ns.Load()) / n / 1e6
	b.ReportMetric(latency, "latency-ms")
	b.ReportMetric(verifier, "verifier-ms")
	b.ReportMetric(latency-verifier, "server-ms")
	b.ReportMetric(n/wall.Seconds(), "sessions/s")
	b.ReportMetric(float64(cpu)/n/1e6, "cpu-ms")
	b.ReportMetric(benchenv.PeakRSS(os.Getpid()), "peak-RSS-MiB")
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// count2 is count for benchmarks.
func (e *verifyEnv) count2(t testing.TB, q string) int {
	t.Helper()
	var n int
	if err := e.st.DB().QueryRow(e.ph(q)).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
