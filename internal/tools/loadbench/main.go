// Command loadbench measures the real server under load: it seeds a
// database (thousands of organizations and members, a large audit log),
// starts `kayleid serve` on it as a separate process, drives it over
// loopback with concurrent keep-alive clients for a fixed time on three
// paths, and reports requests/s, latency percentiles, errors and the
// server's peak RSS, with KAYLE_VALIDATION=full and =off in one invocation
// so the ratio holds on a noisy machine. `make bench` runs it.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/kayle-id/orgs-api/internal/benchenv"
	"github.com/kayle-id/orgs-api/internal/testdb"
	"github.com/kayle-id/orgs-api/store"
)

type config struct {
	bin       string
	dbs       []string
	duration  time.Duration
	clients   int
	orgs      int
	members   int
	auditRows int
	pgURL     string
	only      string
}

func main() {
	var c config
	var dbs string
	flag.StringVar(&c.bin, "bin", "bin/kayleid", "server binary")
	flag.StringVar(&dbs, "db", "postgres,sqlite", "databases to measure")
	flag.DurationVar(&c.duration, "duration", 10*time.Second, "how long each workload runs")
	flag.IntVar(&c.clients, "clients", 32, "concurrent keep-alive clients")
	flag.IntVar(&c.orgs, "orgs", 2000, "organizations to seed")
	flag.IntVar(&c.members, "members", 10, "members per organization")
	flag.IntVar(&c.auditRows, "audit", 1_000_000, "audit rows in the largest organization")
	flag.StringVar(&c.only, "only", "", "run only the workloads whose name contains this")
	flag.StringVar(&c.pgURL, "pg", os.Getenv("TEST_DATABASE_URL"), "PostgreSQL server URL (a throwaway cluster is started when empty)")
	flag.Parse()
	c.dbs = strings.Split(dbs, ",")
	if err := run(c); err != nil {
		fmt.Fprintf(os.Stderr, "loadbench: %v\n", err)
		os.Exit(1)
	}
}

func logf(format string, a ...any) { fmt.Fprintf(os.Stderr, "loadbench: "+format+"\n", a...) }

func run(c config) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "kayle-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	fmt.Printf("machine: %s, %d CPUs; %d clients, %s per workload; %d organizations x %d members, %d audit rows\n",
		benchenv.CPUModel(), benchenv.NumCPU(), c.clients, c.duration, c.orgs, c.members, c.auditRows)
	for _, db := range c.dbs {
		var url string
		switch db {
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
			url, err = benchenv.CreateDB(base)
			if err != nil {
				return err
			}
		default:
			return fmt.Errorf("unknown database %q", db)
		}
		st, err := store.Open(ctx, url, store.Options{})
		if err != nil {
			return err
		}
		if _, err := st.Migrate(ctx); err != nil {
			return err
		}
		fx, err := seed(ctx, st, c.orgs, c.members, c.auditRows, logf)
		st.Close()
		if err != nil {
			return err
		}
		results, err := measure(c, url, fx, filepath.Join(dir, "mail"))
		if err != nil {
			return fmt.Errorf("%s: %w", db, err)
		}
		report(db, results)
	}
	return nil
}

type result struct {
	requests int
	errors   int
	rps      float64
	p50, p95 time.Duration
	p99      time.Duration
	rssMiB   float64
}

type workload struct {
	name string
	// do performs one unit of work (one or two requests) and returns the
	// latencies of its requests, or an error for an unexpected answer.
	do func(s *server, client *client, worker, iter int) ([]time.Duration, error)
}

// server is one `kayleid serve` process.
type server struct {
	cmd  *exec.Cmd
	base string
}

func startServer(c config, url, mode, mailDir string) (*server, error) {
	addr, err := benchenv.FreeAddr()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(c.bin, "serve")
	// The abuse limits stay at their defaults: the figures are those of a
	// server as deployed. The workloads spread their requests over enough
	// users that none exceeds its own limits. The per-address caps are
	// lifted: every client here is 127.0.0.1, where a deployment's come
	// from many addresses (the limiters are still on the path, at caps the
	// clients do not reach).
	cmd.Env = append(os.Environ(), "DATABASE_URL="+url, "KAYLE_CREATE_DB=true", "KAYLE_ADDR="+addr, "KAYLE_VALIDATION="+mode,
		"KAYLE_PURGE_INTERVAL=0", "KAYLE_MAIL_DIR="+mailDir, "KAYLE_STORAGE_URL="+filepath.Join(filepath.Dir(mailDir), "objects"),
		fmt.Sprintf("KAYLE_MAX_IN_FLIGHT_PER_ADDRESS=%d", 4*c.clients), fmt.Sprintf("KAYLE_MAX_CONNS_PER_ADDRESS=%d", 4*c.clients))
	// Logs go straight to /dev/null (nil), not through a pipe this process
	// would have to drain.
	cmd.Stdout, cmd.Stderr = nil, nil
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, base: "http://" + addr}
	t0 := time.Now()
	for i := 0; ; i++ {
		if resp, err := http.Get(s.base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				// Start-up: exec to the first ready answer (polled every
				// 5 ms), and the resident set at that moment.
				logf("%s server (%s): ready in %d ms, RSS %.1f MiB", mode, dbKind(url), time.Since(t0).Milliseconds(), benchenv.RSS(cmd.Process.Pid, "VmRSS:"))
				return s, nil
			}
		}
		if i > 3000 {
			s.stop()
			return nil, fmt.Errorf("server did not start")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func dbKind(url string) string {
	if strings.HasPrefix(url, "postgres") {
		return "PostgreSQL"
	}
	return "SQLite"
}

// stop ends the server; stopping it again does nothing.
func (s *server) stop() {
	if s.cmd.ProcessState == nil {
		s.cmd.Process.Signal(os.Interrupt)
		s.cmd.Wait()
	}
}

func (s *server) send(client *client, method, path, token string, want int) (time.Duration, error) {
	t0 := time.Now()
	status, err := client.do(method, path, token)
	d := time.Since(t0)
	if err != nil {
		return d, err
	}
	if status != want {
		return d, fmt.Errorf("%s %s: status %d, want %d", method, path, status, want)
	}
	return d, nil
}

// measure runs each workload against two fresh server processes, one with
// validation off and one with full, taking turns, so both see the same data
// and the same machine.
func measure(c config, url string, fx *fixture, mailDir string) (map[string]map[string]result, error) {
	out := map[string]map[string]result{"off": {}, "full": {}}
	workloads := []workload{
		{"write: leave + reinstate", func(s *server, client *client, w, i int) ([]time.Duration, error) {
			// Each worker owns the members w, w+clients, ...: no two workers
			// touch the same membership, and each cycle restores the state.
			per := len(fx.members) / c.clients
			m := fx.members[w+c.clients*(i%per)]
			d1, err := s.send(client, "POST", "/v1/auth/orgs/members/leave", m.token, 200)
			if err != nil {
				return []time.Duration{d1}, err
			}
			d2, err := s.send(client, "POST", "/v1/auth/orgs/members/"+m.id.String()+"/reinstate", m.ownerToken, 200)
			return []time.Duration{d1, d2}, err
		}},
		{"audit-log page (50 rows)", func(s *server, client *client, w, i int) ([]time.Duration, error) {
			d, err := s.send(client, "GET", "/v1/auth/orgs/audit-logs?limit=50", fx.bigOwners[(w*7919+i)%len(fx.bigOwners)], 200)
			return []time.Duration{d}, err
		}},
		{"create session (API key)", func(s *server, client *client, w, i int) ([]time.Duration, error) {
			d, err := s.send(client, "POST", "/v1/sessions", fx.apiKeys[(w*7919+i)%len(fx.apiKeys)], 200)
			return []time.Duration{d}, err
		}},
		{"members list", func(s *server, client *client, w, i int) ([]time.Duration, error) {
			d, err := s.send(client, "GET", "/v1/auth/orgs/members?limit=50", fx.owners[(w*7919+i)%len(fx.owners)], 200)
			return []time.Duration{d}, err
		}},
	}
	for _, wl := range workloads {
		if c.only != "" && !strings.Contains(wl.name, c.only) {
			continue
		}
		if err := checkpoint(url); err != nil {
			return nil, err
		}
		// Both servers run side by side; the load alternates between them
		// in short slices, so a change in the machine's speed during the
		// run (this machine's throughput drifts by 10% and more within a
		// minute) falls on both modes alike.
		servers := map[string]*server{}
		for _, mode := range []string{"off", "full"} {
			s, err := startServer(c, url, mode, mailDir)
			if err != nil {
				return nil, err
			}
			defer s.stop()
			servers[mode] = s
			drive(c.clients, c.duration/slices, s, wl) // warm-up
		}
		runs := map[string]*sample{"off": {}, "full": {}}
		for range slices {
			for _, mode := range []string{"off", "full"} {
				runs[mode].add(drive(c.clients, c.duration/slices, servers[mode], wl))
			}
		}
		for _, mode := range []string{"off", "full"} {
			r := summarize(runs[mode].latencies, runs[mode].errors, runs[mode].elapsed)
			r.rssMiB = benchenv.PeakRSS(servers[mode].cmd.Process.Pid)
			servers[mode].stop()
			out[mode][wl.name] = r
			logf("%s, validation %s: %.0f requests/s", wl.name, mode, r.rps)
		}
	}
	// The first page against a page 90% deep, one request at a time.
	for _, mode := range []string{"off", "full"} {
		s, err := startServer(c, url, mode, mailDir)
		if err != nil {
			return nil, err
		}
		client := newClient(s.base)
		seq := func(path string) (result, error) {
			var ds []time.Duration
			t0 := time.Now()
			for i := 0; i < 300; i++ {
				d, err := s.send(client, "GET", path, fx.bigOwners[i%len(fx.bigOwners)], 200)
				if err != nil {
					return result{}, err
				}
				if i >= 50 { // the first 50 warm the caches
					ds = append(ds, d)
				}
			}
			return summarize(ds, 0, time.Since(t0)), nil
		}
		first, err := seq("/v1/auth/orgs/audit-logs?limit=50")
		if err == nil {
			out[mode]["audit first page (sequential)"] = first
			var deep result
			deep, err = seq("/v1/auth/orgs/audit-logs?limit=50&starting_after=" + fx.deepCursor)
			rss := benchenv.PeakRSS(s.cmd.Process.Pid)
			first.rssMiB, deep.rssMiB = rss, rss
			out[mode]["audit first page (sequential)"] = first
			out[mode]["audit page 90% deep (sequential)"] = deep
		}
		client.close()
		s.stop()
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// checkpoint folds SQLite's write-ahead log back into the database, so
// each run starts from the same files.
func checkpoint(url string) error {
	if store.DialectFor(url) != store.SQLite {
		return nil
	}
	st, err := store.Open(context.Background(), url, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	_, err = st.DB().Exec("PRAGMA wal_checkpoint(TRUNCATE)")
	return err
}

// slices is how many turns each mode gets in a workload's run.
const slices = 5

// sample is what one or more drives measured.
type sample struct {
	latencies []time.Duration
	errors    int
	elapsed   time.Duration
}

func (r *sample) add(o sample) {
	r.latencies = append(r.latencies, o.latencies...)
	r.errors += o.errors
	r.elapsed += o.elapsed
}

// drive runs the workload with clients concurrent closed-loop clients for d.
func drive(clients int, d time.Duration, s *server, wl workload) sample {
	var mu sync.Mutex
	var all []time.Duration
	var errs atomic.Int64
	var firstErr atomic.Value
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < clients; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			client := newClient(s.base)
			defer client.close()
			var local []time.Duration
			for i := 0; time.Now().Before(deadline); i++ {
				ds, err := wl.do(s, client, w, i)
				local = append(local, ds...)
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
			}
			mu.Lock()
			all = append(all, local...)
			mu.Unlock()
		}(w)
	}
	wg.Wait()
	if e := firstErr.Load(); e != nil {
		logf("%s: first error: %v", wl.name, e)
	}
	return sample{latencies: all, errors: int(errs.Load()), elapsed: time.Since(start)}
}

func summarize(ds []time.Duration, errs int, elapsed time.Duration) result {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	pct := func(p float64) time.Duration {
		if len(ds) == 0 {
			return 0
		}
		return ds[min(len(ds)-1, int(p*float64(len(ds))))]
	}
	return result{requests: len(ds), errors: errs, rps: float64(len(ds)) / elapsed.Seconds(), p50: pct(0.50), p95: pct(0.95), p99: pct(0.99)}
}

func report(db string, results map[string]map[string]result) {
	names := []string{"write: leave + reinstate", "audit-log page (50 rows)", "create session (API key)", "members list", "audit first page (sequential)", "audit page 90% deep (sequential)"}
	fmt.Printf("\n%s\n", db)
	fmt.Printf("| workload | validation | requests/s | p50 | p95 | p99 | errors | peak RSS | full/off throughput |\n")
	fmt.Printf("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, n := range names {
		off, full := results["off"][n], results["full"][n]
		for _, mode := range []string{"full", "off"} {
			r := results[mode][n]
			ratio := ""
			if mode == "full" && off.rps > 0 && !strings.Contains(n, "sequential") {
				ratio = fmt.Sprintf("%.2f", full.rps/off.rps)
			}
			fmt.Printf("| %s | %s | %.0f | %s | %s | %s | %d | %.0f MiB | %s |\n", n, mode, r.rps, ms(r.p50), ms(r.p95), ms(r.p99), r.errors, r.rssMiB, ratio)
		}
	}
	f, d := results["full"]["audit first page (sequential)"], results["full"]["audit page 90% deep (sequential)"]
	if f.p50 > 0 {
		fmt.Printf("\n%s: deep page p50 %s vs first page p50 %s: %.2fx\n", db, ms(d.p50), ms(f.p50), float64(d.p50)/float64(f.p50))
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }
