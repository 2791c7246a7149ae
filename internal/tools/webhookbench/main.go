// Command webhookbench measures the webhook pipeline as deployed: a
// `kayleid serve` process sending to three receivers on loopback that
// verify every signature and decrypt every payload (internal/whtest),
// while this process commits the events the way the server does (session
// endings through the store, each with its deliveries and their jobs in
// one transaction).
//
//  1. Burst: -events sessions end at once (the expiry pass, 100 per
//     transaction); every one of the 3 x events deliveries must arrive.
//     Reported: deliveries per second from the first commit to the last
//     arrival, and the server's peak resident set.
//  2. Paced: sessions are cancelled one per transaction at -rate events a
//     second for -paced; reported: the first attempt's arrival after its
//     event's commit, p50/p99/max (the event's created_at is taken inside
//     the transaction, so each figure is an upper bound).
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/kayle-id/orgs-api/internal/benchenv"
	"github.com/kayle-id/orgs-api/internal/testdb"
	"github.com/kayle-id/orgs-api/internal/whtest"
	"github.com/kayle-id/orgs-api/store"
)

const dataKey = "webhookbench-data-key-0123456789abcdef"

type config struct {
	bin, db, pgURL string
	events, rate   int
	paced          time.Duration
}

func main() {
	var c config
	flag.StringVar(&c.bin, "bin", "bin/kayleid", "server binary")
	flag.StringVar(&c.db, "db", "postgres", "database: postgres or sqlite")
	flag.StringVar(&c.pgURL, "pg", os.Getenv("TEST_DATABASE_URL"), "PostgreSQL server URL (a throwaway cluster is started when empty)")
	flag.IntVar(&c.events, "events", 10_000, "events in the burst (each to 3 endpoints)")
	flag.IntVar(&c.rate, "rate", 250, "events per second in the paced phase")
	flag.DurationVar(&c.paced, "paced", 10*time.Second, "length of the paced phase; 0 skips it")
	flag.Parse()
	if err := run(c); err != nil {
		fmt.Fprintf(os.Stderr, "webhookbench: %v\n", err)
		os.Exit(1)
	}
}

func run(c config) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "kayle-webhookbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var url string
	switch c.db {
	case "sqlite":
		url = filepath.Join(dir, "bench.db")
	case "postgres":
		base := c.pgURL
		if base == "" {
			cl, err := testdb.StartCluster()
			if err != nil {
				return fmt.Errorf("no PostgreSQL: %w", err)
			}
			defer cl.Stop()
			base = cl.URL
		}
		if url, err = benchenv.CreateDB(base); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unknown database %q", c.db)
	}
	fmt.Printf("machine: %s, %d CPUs; %s; %d events x 3 endpoints\n", benchenv.CPUModel(), benchenv.NumCPU(), c.db, c.events)

	st, err := store.Open(ctx, url, store.Options{WebhookSecretKey: []byte(dataKey), MaxOpenConns: 4})
	if err != nil {
		return err
	}
	defer st.Close()
	if _, err := st.Migrate(ctx); err != nil {
		return err
	}
	u, err := st.CreateUser(ctx, "bench@example.com", "Bench")
	if err != nil {
		return err
	}
	org, err := st.CreateOrganization(ctx, store.Actor{UserID: u.ID}, store.NewOrganization{Name: "Bench", Slug: "bench"})
	if err != nil {
		return err
	}
	seed, err := whtest.NewSeed(st.DB(), st.Dialect() == store.Postgres, []byte(dataKey), org.ID)
	if err != nil {
		return err
	}
	var receivers []*whtest.Receiver
	for i := range 3 {
		key := whtest.NewKey()
		secret := fmt.Sprintf("whsec_bench%027d", i)
		r := whtest.NewReceiver(secret, key)
		r.VerifyOnly = true
		defer r.Close()
		if _, err := seed.Endpoint(r.URL, secret, &key.PublicKey); err != nil {
			return err
		}
		receivers = append(receivers, r)
	}

	// 1. Burst: every event committed (with its deliveries and their jobs)
	// before the server starts, so that what is measured is the sending.
	if _, err := seed.Sessions(c.events, time.Now().Add(-time.Minute)); err != nil {
		return err
	}
	start := time.Now()
	ended, err := st.ExpireDue(ctx, 100, c.events, nil)
	if err != nil {
		return err
	}
	committed := time.Since(start)
	srv, err := startServer(c, url, dir)
	if err != nil {
		return err
	}
	defer srv.stop()
	start = time.Now()
	wctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	for _, r := range receivers {
		if err := r.WaitUnique(wctx, c.events); err != nil {
			return err
		}
	}
	took := time.Since(start)
	st1 := sum(receivers)
	fmt.Printf("burst: %d events committed in %.1fs (%.0f/s, 100 a transaction); from the server ready, %d deliveries arrived in %.1fs: %.0f deliveries/s; %d refused by the receivers, %d duplicates; server peak RSS %.1f MiB\n",
		ended, committed.Seconds(), float64(ended)/committed.Seconds(), st1.Unique, took.Seconds(), float64(st1.Unique)/took.Seconds(),
		st1.Refused, st1.Accepted-st1.Unique, benchenv.PeakRSS(srv.cmd.Process.Pid))

	// 2. Paced.
	if c.paced <= 0 {
		return nil
	}
	n := int(c.paced.Seconds() * float64(c.rate))
	ids, err := seed.Sessions(n, time.Now().Add(time.Hour))
	if err != nil {
		return err
	}
	before := make([]map[string]time.Time, len(receivers))
	for i, r := range receivers {
		before[i] = r.FirstArrivals()
	}
	rc := store.RPCaller{OrganizationID: org.ID}
	tick := time.NewTicker(time.Second / time.Duration(c.rate))
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	for _, id := range ids {
		<-tick.C
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := st.CancelVerificationSession(ctx, rc, id); err != nil {
				select {
				case errs <- err:
				default:
				}
			}
		}()
	}
	tick.Stop()
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
	}
	for _, r := range receivers {
		if err := r.WaitUnique(wctx, c.events+n); err != nil {
			return err
		}
	}
	created, err := eventTimes(st)
	if err != nil {
		return err
	}
	var lat []time.Duration
	for i, r := range receivers {
		for d, at := range r.FirstArrivals() {
			if _, old := before[i][d]; old {
				continue
			}
			lat = append(lat, at.Sub(created[d]))
		}
	}
	slices.Sort(lat)
	q := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	fmt.Printf("paced: %d events at %d/s (%d deliveries); first attempt after the commit: p50 %s, p99 %s, max %s; server peak RSS %.1f MiB\n",
		n, c.rate, len(lat), q(0.50).Round(time.Millisecond), q(0.99).Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond),
		benchenv.PeakRSS(srv.cmd.Process.Pid))
	return nil
}

func sum(rs []*whtest.Receiver) (st whtest.Stats) {
	for _, r := range rs {
		s := r.Stats()
		st.Unique += s.Unique
		st.Accepted += s.Accepted
		st.Refused += s.Refused
	}
	return st
}

// eventTimes is each delivery's event's created_at.
func eventTimes(st *store.Store) (map[string]time.Time, error) {
	rows, err := st.DB().Query(`SELECT d.id, e.created_at FROM webhook_deliveries d JOIN events e ON e.id = d.event_id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var id string
		var at time.Time
		if err := rows.Scan(&id, &at); err != nil {
			return nil, err
		}
		out[id] = at
	}
	return out, rows.Err()
}

type server struct{ cmd *exec.Cmd }

func startServer(c config, url, dir string) (*server, error) {
	addr, err := benchenv.FreeAddr()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(c.bin, "serve")
	cmd.Env = append(os.Environ(), "DATABASE_URL="+url, "KAYLE_ADDR="+addr, "KAYLE_WEBHOOK_SECRET_KEY="+dataKey,
		"KAYLE_WEBHOOK_ALLOW_LOOPBACK=true", "KAYLE_SESSION_EXPIRY_INTERVAL=0", "KAYLE_PURGE_INTERVAL=0",
		"KAYLE_MAIL_DIR="+filepath.Join(dir, "mail"), "KAYLE_STORAGE_URL="+filepath.Join(dir, "objects"),
		"KAYLE_LOG_FORMAT=text")
	cmd.Stdout, cmd.Stderr = nil, nil
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if ok := ready(addr); ok {
			return s, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.stop()
	return nil, fmt.Errorf("server not ready on %s", addr)
}

func ready(addr string) bool {
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func (s *server) stop() {
	_ = s.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
	}
}
