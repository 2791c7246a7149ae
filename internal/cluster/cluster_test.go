package cluster_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	api "github.com/kayle-id/orgs-api/gen/api"
	"github.com/kayle-id/orgs-api/internal/cluster"
	"github.com/kayle-id/orgs-api/internal/testdb"
	"github.com/kayle-id/orgs-api/store"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testdb.Shutdown()
	os.Exit(code)
}

// The shipped deployment on loopback: a fresh PostgreSQL database, three
// `kayleid serve` processes and HAProxy with deploy/haproxy.cfg.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test skipped in -short mode")
	}
	haproxy := findHAProxy(t)
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := buildKayleid(t, root, dir)
	url := testdb.URL(t, testdb.Postgres)
	addrs, err := cluster.FreeAddrs(5)
	if err != nil {
		t.Fatal(err)
	}
	replicas := make([]*cluster.Replica, 3)
	for i := range replicas {
		name := fmt.Sprintf("r%d", i+1)
		replicas[i] = &cluster.Replica{Name: name, Addr: addrs[i], Bin: bin, LogPath: filepath.Join(dir, name+".log"), Env: []string{
			"DATABASE_URL=" + url,
			"KAYLE_TRUSTED_PROXIES=127.0.0.1/32",
			"KAYLE_SHUTDOWN_DRAIN=3s",
			"KAYLE_PURGE_INTERVAL=300ms",
			"KAYLE_MAIL_DIR=" + filepath.Join(dir, "mail-"+name),
			// One bucket for all, as replicas share object storage.
			"KAYLE_STORAGE_URL=" + filepath.Join(dir, "objects"),
			// The test reads each replica's job metrics on its own address.
			"KAYLE_METRICS_PUBLIC=true",
		}}
	}
	t.Cleanup(func() {
		var wg sync.WaitGroup
		for _, r := range replicas {
			wg.Add(1)
			go func() { defer wg.Done(); _ = r.Stop(syscall.SIGTERM, 20*time.Second) }()
		}
		wg.Wait()
		if t.Failed() {
			for _, r := range replicas {
				t.Logf("%s log tail:\n%s", r.Name, tail(r.LogPath, 30))
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()

	if !t.Run("four migrate and three serve at once on a fresh database", func(t *testing.T) {
		concurrentStart(ctx, t, root, bin, url, replicas)
	}) {
		return
	}
	for _, r := range replicas { // when -run left the start out
		if r.Pid() == 0 {
			if err := r.Start(); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, r := range replicas {
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		err := r.WaitReady(wctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}

	lb, err := cluster.StartBalancer(ctx, haproxy, filepath.Join(root, "deploy", "haproxy.cfg"), map[string]string{
		"KAYLE_LB_ADDR": addrs[3], "KAYLE_LB_STATS_ADDR": addrs[4],
		"KAYLE_REPLICA_1": addrs[0], "KAYLE_REPLICA_2": addrs[1], "KAYLE_REPLICA_3": addrs[2],
	}, filepath.Join(dir, "haproxy.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(lb.Stop)
	for _, r := range replicas {
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		err := lb.WaitState(wctx, r.Name, "UP")
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	st, err := store.Open(ctx, url, store.Options{MaxOpenConns: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	fx := &fixtures{t: t, st: st}

	t.Run("two owners leave at once on different replicas", func(t *testing.T) {
		ownersRace(ctx, t, fx, replicas)
	})
	t.Run("purgers on every replica and the CLI at once", func(t *testing.T) {
		purgeRace(ctx, t, fx, bin, url, replicas)
	})
	t.Run("the balancer: client addresses, its limit, its errors", func(t *testing.T) {
		balancerEdges(ctx, t, fx, lb, replicas)
	})
	t.Run("connections per client address, and the wait for a first request", func(t *testing.T) {
		connectionLimits(ctx, t, lb, replicas)
	})
	t.Run("limits are per replica", func(t *testing.T) {
		perReplicaLimits(ctx, t, fx, lb)
	})
	t.Run("rolling restart under load", func(t *testing.T) {
		rollingRestart(ctx, t, fx, lb, replicas)
	})
}

// Four `kayleid migrate` and three `kayleid serve` started together on an
// empty database all succeed, each migration (River's job tables among
// them) is applied by exactly one of them, and the three replicas turn
// ready.
func concurrentStart(ctx context.Context, t *testing.T, root, bin, url string, replicas []*cluster.Replica) {
	files, err := filepath.Glob(filepath.Join(root, "store", "migrations", "postgres", "*.sql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("migration files: %v %v", files, err)
	}
	migrates := make([]*exec.Cmd, 4)
	outs := make([]strings.Builder, len(migrates))
	objects := t.TempDir() // an empty database has no logos to move
	for i := range migrates {
		migrates[i] = exec.Command(bin, "migrate")
		migrates[i].Env = append(os.Environ(), "DATABASE_URL="+url, "KAYLE_STORAGE_URL="+objects)
		migrates[i].Stdout, migrates[i].Stderr = &outs[i], &outs[i]
	}
	for i, r := range replicas {
		if err := r.Start(); err != nil {
			t.Fatal(err)
		}
		if err := migrates[i].Start(); err != nil {
			t.Fatal(err)
		}
	}
	if err := migrates[3].Start(); err != nil {
		t.Fatal(err)
	}
	applied := 0
	appliedRe := regexp.MustCompile(`migrate: (\d+) applied`)
	for i, m := range migrates {
		if err := m.Wait(); err != nil {
			t.Errorf("migrate %d: %v\n%s", i, err, outs[i].String())
			continue
		}
		match := appliedRe.FindStringSubmatch(outs[i].String())
		if match == nil {
			t.Errorf("migrate %d printed: %s", i, outs[i].String())
			continue
		}
		n, _ := strconv.Atoi(match[1])
		applied += n
	}
	for _, r := range replicas {
		if err := r.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
		applied += strings.Count(readFile(r.LogPath), `"msg":"migration applied"`)
	}
	// Each migration file once, and the job queue's own migrations (one
	// step) once.
	if applied != len(files)+1 {
		t.Fatalf("%d migration steps applied in all, want each of %d files and the job queue's once", applied, len(files))
	}
	t.Logf("%d migrations applied once between 7 processes; /readyz 200 on %d replicas", len(files), len(replicas))
}

// Two owners of one organization leave at the same moment, each through a
// different replica: exactly one succeeds, the other is the last owner.
func ownersRace(ctx context.Context, t *testing.T, fx *fixtures, replicas []*cluster.Replica) {
	const trials = 60
	type trial struct {
		org      uuid.UUID
		tokens   [2]string
		statuses [2]int
		codes    [2]string
	}
	ts := make([]*trial, trials)
	for i := range ts {
		org, ownerTok, owner := fx.org(fmt.Sprintf("race-%d", i))
		_, otherTok := fx.join(org, owner, fmt.Sprintf("race-%d-b", i), store.RoleOwner)
		ts[i] = &trial{org: org, tokens: [2]string{ownerTok, otherTok}}
	}
	for i, tr := range ts {
		var wg sync.WaitGroup
		start := make(chan struct{})
		for k := range 2 {
			r := replicas[(i+k)%len(replicas)]
			c := client(t, "http://"+r.Addr, fmt.Sprintf("127.0.1.%d", 1+i%200))
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				resp, err := c.LeaveOrganizationWithResponse(ctx, bearer(tr.tokens[k]))
				if err != nil {
					t.Errorf("trial %d: %v", i, err)
					return
				}
				tr.statuses[k] = resp.StatusCode()
				if resp.JSON409 != nil {
					tr.codes[k] = resp.JSON409.Error.Code
				}
			}()
		}
		close(start)
		wg.Wait()
		ok, last := 0, 0
		for k := range 2 {
			switch {
			case tr.statuses[k] == 200:
				ok++
			case tr.statuses[k] == 409 && tr.codes[k] == "LAST_OWNER":
				last++
			}
		}
		if ok != 1 || last != 1 {
			t.Fatalf("trial %d: answers %v %v, want one 200 and one 409 LAST_OWNER", i, tr.statuses, tr.codes)
		}
		var owners, left int
		fx.scan(`SELECT COUNT(*) FROM organization_members WHERE organization_id = $1 AND role = 'owner' AND suspended_at IS NULL`, &owners, tr.org)
		fx.scan(`SELECT COUNT(*) FROM audit_logs WHERE organization_id = $1 AND event = 'member.left'`, &left, tr.org)
		if owners != 1 || left != 1 {
			t.Fatalf("trial %d: %d active owners, %d leave audit rows", i, owners, left)
		}
	}
	t.Logf("%d trials across replicas: one leave succeeded, one was refused as the last owner, every time", trials)
}

// Every replica purges every 300 ms while two `kayleid orgs purge` run:
// all due organizations go, and the purged counts add up to exactly the
// number that was due.
func purgeRace(ctx context.Context, t *testing.T, fx *fixtures, bin, url string, replicas []*cluster.Replica) {
	const due = 600
	before, skippedBefore := 0.0, 0.0
	for _, r := range replicas {
		before += scrapeReplica(t, r, `kayle_job_items_total{job="purge"}`)
		skippedBefore += scrapeReplica(t, r, `kayle_job_runs_total{job="purge",outcome="skipped"}`)
	}
	_, _, owner := fx.org("purge-owner")
	for i := range due {
		if _, err := fx.st.CreateOrganization(ctx, owner, store.NewOrganization{Name: "Due", Slug: fmt.Sprintf("purge-due-%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	clis := make([]*exec.Cmd, 2)
	outs := make([]strings.Builder, len(clis))
	for i := range clis {
		clis[i] = exec.Command(bin, "orgs", "purge")
		clis[i].Env = append(os.Environ(), "DATABASE_URL="+url)
		clis[i].Stdout, clis[i].Stderr = &outs[i], &outs[i]
	}
	if _, err := fx.st.DB().ExecContext(ctx, `UPDATE organizations SET pending_deletion_at = now() - interval '1 hour' WHERE slug LIKE 'purge-due-%'`); err != nil {
		t.Fatal(err)
	}
	for _, c := range clis {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
	}
	byCLI := 0
	cliRe := regexp.MustCompile(`orgs purge: (\d+) organizations purged`)
	for i, c := range clis {
		if err := c.Wait(); err != nil {
			t.Fatalf("orgs purge: %v\n%s", err, outs[i].String())
		}
		m := cliRe.FindStringSubmatch(outs[i].String())
		if m == nil {
			t.Fatalf("orgs purge printed %s", outs[i].String())
		}
		n, _ := strconv.Atoi(m[1])
		byCLI += n
	}
	deadline := time.Now().Add(30 * time.Second)
	var left int
	var byReplicas, skipped float64
	for {
		fx.scan(`SELECT COUNT(*) FROM organizations WHERE slug LIKE 'purge-due-%'`, &left)
		byReplicas, skipped = -before, -skippedBefore
		for _, r := range replicas {
			byReplicas += scrapeReplica(t, r, `kayle_job_items_total{job="purge"}`)
			skipped += scrapeReplica(t, r, `kayle_job_runs_total{job="purge",outcome="skipped"}`)
		}
		if left == 0 && int(byReplicas)+byCLI >= due {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d due organizations left; purged %v by replicas, %d by the CLI", left, due, byReplicas, byCLI)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if int(byReplicas)+byCLI != due {
		t.Fatalf("purged %v by replicas and %d by the CLI: %v in all, %d were due", byReplicas, byCLI, int(byReplicas)+byCLI, due)
	}
	t.Logf("%d due organizations purged once each: %v by the replicas' purge job, %d by two CLI runs; %v replica turns skipped (lock held elsewhere)",
		due, byReplicas, byCLI, skipped)
}

// Through the balancer: a replica logs the address the client connected
// from, whatever the client wrote in X-Forwarded-For; the balancer's own
// per-address write limit holds for all replicas together; its own errors
// are in the API's envelope.
func balancerEdges(ctx context.Context, t *testing.T, fx *fixtures, lb *cluster.Balancer, replicas []*cluster.Replica) {
	base := "http://" + lb.Addr
	hc := httpClient("127.0.2.1")
	req, _ := http.NewRequestWithContext(ctx, "POST", base+"/v1/auth/orgs/members/leave", nil)
	req.Header.Set("Authorization", "Bearer kid_forged")
	req.Header.Set("X-Forwarded-For", "203.0.113.66")
	req.Header.Set("X-Request-Id", "forged-xff-probe")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("probe: %d", resp.StatusCode)
	}
	var logged []string
	for _, r := range replicas {
		for _, l := range requestLines(r.LogPath) {
			if l["request_id"] == "forged-xff-probe" {
				logged = append(logged, fmt.Sprint(l["client_ip"]))
			}
		}
	}
	if len(logged) != 1 || logged[0] != "127.0.2.1" {
		t.Fatalf("the probe was logged with client addresses %v, want [127.0.2.1]", logged)
	}

	// One address writing as fast as it can for two seconds: the balancer
	// lets about KAYLE_LB_WRITE_RATE (50) a second through to all replicas
	// together, and answers the rest 429 in the envelope.
	var passed, limited, other atomic.Int64
	var badBody atomic.Value
	hc = httpClient("127.0.2.2")
	until := time.Now().Add(2 * time.Second)
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ; time.Now().Before(until); time.Sleep(2 * time.Millisecond) {
				req, _ := http.NewRequestWithContext(ctx, "POST", base+"/v1/auth/orgs/members/leave", nil)
				req.Header.Set("Authorization", "Bearer kid_guess")
				resp, err := hc.Do(req)
				if err != nil {
					other.Add(1)
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				switch resp.StatusCode {
				case 401:
					passed.Add(1)
				case 429:
					limited.Add(1)
					if !isEnvelope(body, "RATE_LIMITED") || resp.Header.Get("Retry-After") == "" {
						badBody.Store(string(body))
					}
				default:
					other.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if b := badBody.Load(); b != nil {
		t.Fatalf("a 429 without the envelope or Retry-After: %s", b)
	}
	if other.Load() > 0 || limited.Load() == 0 || passed.Load() < 30 || passed.Load() > 2*50+20 {
		t.Fatalf("one address for 2s: %d through, %d limited, %d other", passed.Load(), limited.Load(), other.Load())
	}
	t.Logf("balancer write limit (50/s per address): one address flooding for 2s: %d through, %d answered 429", passed.Load(), limited.Load())

	// A request that is not HTTP (a space in a header name) gets a 400 from
	// HAProxy's parser (its built-in page: see deploy/haproxy.cfg).
	conn, err := net.Dial("tcp", lb.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n")
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if raw, err := http.ReadResponse(bufio.NewReader(conn), nil); err != nil || raw.StatusCode != 400 {
		t.Fatalf("malformed request through the balancer: %v %v", raw, err)
	}

	// With no replica in rotation the balancer answers 503 in the envelope.
	addrs, err := cluster.FreeAddrs(5)
	if err != nil {
		t.Fatal(err)
	}
	empty, err := cluster.StartBalancer(ctx, lb.Path, lb.Config, map[string]string{
		"KAYLE_LB_ADDR": addrs[0], "KAYLE_LB_STATS_ADDR": addrs[1],
		"KAYLE_REPLICA_1": addrs[2], "KAYLE_REPLICA_2": addrs[3], "KAYLE_REPLICA_3": addrs[4],
	}, lb.LogPath+".empty")
	if err != nil {
		t.Fatal(err)
	}
	defer empty.Stop()
	for _, r := range []string{"r1", "r2", "r3"} {
		if err := empty.WaitState(ctx, r, "DOWN"); err != nil {
			t.Fatal(err)
		}
	}
	resp, err = http.Get("http://" + empty.Addr + "/v1/auth/orgs/members")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || !isEnvelope(body, "SERVICE_UNAVAILABLE") || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("no replica: %d %s", resp.StatusCode, body)
	}
}

// One address cannot take the balancer from the others. With the shipped
// limits, the review's attack (4,100 bare connections from one address, as
// fast as it can) leaves another address answered, and at most
// KAYLE_LB_CONN_PER_SOURCE (100) of the attacker's connections are served;
// a connection that sends nothing is closed after KAYLE_LB_HEAD_TIMEOUT
// (5s), well before the 10 s HAProxy waited before. Then, on a balancer
// with small limits in front of the same replicas, exactly: the cap on
// open connections, its release, and the rate of new connections.
func connectionLimits(ctx context.Context, t *testing.T, lb *cluster.Balancer, replicas []*cluster.Replica) {
	const (
		flood     = 4100
		shipCap   = 100
		shipHead  = 5 * time.Second
		oldHead   = 10 * time.Second
		attacker  = "127.0.5.1"
		bystander = "127.0.5.2"
	)
	conns := make([]net.Conn, flood)
	var wg sync.WaitGroup
	var dialFailed atomic.Int64
	var dialErr atomic.Value
	for w := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < flood; i += 64 {
				c, err := dialFrom(lb.Addr, attacker)
				if err != nil {
					dialFailed.Add(1)
					dialErr.Store(err.Error())
					continue
				}
				conns[i] = c
			}
		}()
	}
	wg.Wait()
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	// While they are held, another address is answered (before, it waited
	// for the attacker's connections to time out: 10 s).
	hc := httpClient(bystander)
	hc.Timeout = 4 * time.Second
	resp, err := hc.Get("http://" + lb.Addr + "/healthz")
	if err != nil {
		t.Fatalf("another address, while one holds %d connections: %v", flood-int(dialFailed.Load()), err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("another address: %d", resp.StatusCode)
	}
	hc.CloseIdleConnections()
	// Of the attacker's connections, those the balancer kept answer a
	// request (200, or the replicas' own per-address 429); the others were
	// closed on accept.
	var answered, refused, other atomic.Int64
	for w := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < flood; i += 64 {
				if conns[i] == nil {
					continue
				}
				switch status, err := ask(conns[i]); {
				case status != 0:
					answered.Add(1)
				case refusedErr(err):
					refused.Add(1)
				default:
					other.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if answered.Load() > shipCap || refused.Load() == 0 || other.Load() > 0 {
		t.Fatalf("%d bare connections from one address: %d served, %d closed on accept, %d neither (%d dials failed); at most %d may be served",
			flood, answered.Load(), refused.Load(), other.Load(), dialFailed.Load(), shipCap)
	}
	t.Logf("%d bare connections from one address at once: %d served (cap %d), %d closed on accept, %d dials failed (%v); another address answered meanwhile",
		flood, answered.Load(), shipCap, refused.Load(), dialFailed.Load(), dialErr.Load())

	// A connection that sends nothing is closed after the head timeout.
	c, err := dialFrom(lb.Addr, "127.0.5.3")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(shipHead + (oldHead-shipHead)/2))
	_, err = io.Copy(io.Discard, c) // a 408 page or nothing, then the close
	if err != nil && !refusedErr(err) {
		t.Fatalf("a connection that sent nothing for %s was not closed: %v", shipHead+(oldHead-shipHead)/2, err)
	}

	// The same replicas behind a balancer with small limits.
	const cap, rate = 10, 30
	addrs, err := cluster.FreeAddrs(2)
	if err != nil {
		t.Fatal(err)
	}
	small, err := cluster.StartBalancer(ctx, lb.Path, lb.Config, map[string]string{
		"KAYLE_LB_ADDR": addrs[0], "KAYLE_LB_STATS_ADDR": addrs[1],
		"KAYLE_REPLICA_1": replicas[0].Addr, "KAYLE_REPLICA_2": replicas[1].Addr, "KAYLE_REPLICA_3": replicas[2].Addr,
		"KAYLE_LB_CONN_PER_SOURCE": strconv.Itoa(cap), "KAYLE_LB_CONN_RATE": strconv.Itoa(rate),
	}, lb.LogPath+".small")
	if err != nil {
		t.Fatal(err)
	}
	defer small.Stop()
	for _, r := range replicas {
		if err := small.WaitState(ctx, r.Name, "UP"); err != nil {
			t.Fatal(err)
		}
	}
	// cap connections from one address, each served once and then idle
	// (keep-alive): the next ones from that address are closed on accept,
	// another address is served, and a closed one frees its place.
	held := make([]net.Conn, cap)
	for i := range held {
		if held[i], err = dialFrom(small.Addr, "127.0.5.4"); err != nil {
			t.Fatal(err)
		}
		defer held[i].Close()
		if status, err := ask(held[i]); status != 200 {
			t.Fatalf("connection %d of %d: %d %v", i+1, cap, status, err)
		}
	}
	for i := range 3 {
		status, err := dialAndAsk(small.Addr, "127.0.5.4")
		if !refusedErr(err) {
			t.Fatalf("connection %d beyond the cap of %d: %d %v, want it closed on accept", i+1, cap, status, err)
		}
	}
	c2, err := dialFrom(small.Addr, "127.0.5.5")
	if err != nil {
		t.Fatal(err)
	}
	if status, err := ask(c2); status != 200 {
		t.Fatalf("another address beside a full one: %d %v", status, err)
	}
	c2.Close()
	held[0].Close()
	err = poll(ctx, 100*time.Millisecond, func() error {
		if status, err := dialAndAsk(small.Addr, "127.0.5.4"); status != 200 {
			return fmt.Errorf("after closing one of %d: %d %v", cap, status, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// New connections from one address, each closed after its request:
	// about rate a second are served (200, or the replicas' own
	// per-address 429), the rest closed on accept.
	var served, closed int
	for range 3 * rate {
		switch status, err := dialAndAsk(small.Addr, "127.0.5.6"); {
		case status != 0:
			served++
		case refusedErr(err):
			closed++
		default:
			t.Fatalf("a new connection: %d %v", status, err)
		}
	}
	if served < rate || closed == 0 {
		t.Fatalf("%d new connections from one address at once: %d served, %d closed on accept; want at least %d served, then refusals", 3*rate, served, closed, rate)
	}
	t.Logf("small limits (%d open, %d new a second per address): the %d-th open connection closed on accept, another address served, a place freed by a close; %d new connections in a row: %d served, %d closed",
		cap, rate, cap+1, 3*rate, served, closed)
}

// dialFrom opens a TCP connection from the given loopback address.
func dialFrom(addr, from string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	return d.Dial("tcp", addr)
}

// dialAndAsk asks on a new connection from the address; a balancer that
// closes it on accept may reset it before the dial returns.
func dialAndAsk(addr, from string) (int, error) {
	c, err := dialFrom(addr, from)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return ask(c)
}

// ask sends GET /healthz on c and returns the answer's status (0 with the
// error when there is none).
func ask(c net.Conn) (int, error) {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: kayleid\r\n\r\n"); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// refusedErr reports whether err is the peer closing the connection (an
// end of file or a reset), not a time-out or no error at all.
func refusedErr(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

func poll(ctx context.Context, every time.Duration, try func() error) error {
	for {
		err := try()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-time.After(every):
		}
	}
}

// One credential writing through the balancer from several addresses for
// two seconds: each replica keeps its own bucket (KAYLE_RATE_LIMIT 10/s,
// KAYLE_RATE_BURST 20), so three let through about three times what one
// would. This is the documented formula, measured.
func perReplicaLimits(ctx context.Context, t *testing.T, fx *fixtures, lb *cluster.Balancer) {
	tok := fx.user("limited")
	const sources = 8
	var allowed, limited, other atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	until := start.Add(2 * time.Second)
	for s := range sources {
		c := client(t, "http://"+lb.Addr, fmt.Sprintf("127.0.3.%d", s+1))
		wg.Add(1)
		go func() {
			defer wg.Done()
			// 40 a second from each address: under the balancer's own
			// per-address limit, so only the replicas' limits act.
			tick := time.NewTicker(25 * time.Millisecond)
			defer tick.Stop()
			for time.Now().Before(until) {
				<-tick.C
				r, err := c.LeaveOrganizationWithResponse(ctx, bearer(tok))
				switch {
				case err != nil:
					other.Add(1)
				case r.StatusCode() == 403: // through the limits; no organization selected
					allowed.Add(1)
				case r.StatusCode() == 429:
					limited.Add(1)
				default:
					other.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	// One bucket allows the burst, then 10 a second. More than one bucket's
	// worth shows the buckets are per replica; the upper bound only checks
	// that they act at all (it leaves room for a loaded machine).
	one := 20 + 10*secs
	if other.Load() > 0 || float64(allowed.Load()) < 1.5*one || float64(allowed.Load()) > 4*one {
		t.Fatalf("one credential, %.1fs: %d allowed, %d limited, %d other; one replica allows %.0f", secs, allowed.Load(), limited.Load(), other.Load(), one)
	}
	t.Logf("per-replica limits: one credential at %d requests/s for %.1fs through 3 replicas: %d allowed (%.0f/s), %d limited; one replica alone allows %.0f",
		sources*40, secs, allowed.Load(), float64(allowed.Load())/secs, limited.Load(), one)
}

// Clients send a steady mix of reads and writes through the balancer
// while each replica in turn gets SIGTERM, exits and starts again: no
// request fails, none answers 5xx, and every acknowledged leave and
// reinstatement is in the audit log exactly once.
func rollingRestart(ctx context.Context, t *testing.T, fx *fixtures, lb *cluster.Balancer, replicas []*cluster.Replica) {
	const workers = 12
	type worker struct {
		org                   uuid.UUID
		member                uuid.UUID
		ownerTok, memberTok   string
		left, reinstated      atomic.Int64
		sent, reads, failures atomic.Int64
	}
	ws := make([]*worker, workers)
	for i := range ws {
		org, ownerTok, owner := fx.org(fmt.Sprintf("rolling-%d", i))
		member, memberTok := fx.join(org, owner, fmt.Sprintf("rolling-%d-m", i), store.RoleMember)
		ws[i] = &worker{org: org, member: member, ownerTok: ownerTok, memberTok: memberTok}
	}
	var (
		failMu   sync.Mutex
		failures []string
		fiveXX   atomic.Int64
	)
	fail := func(w *worker, what string, status int, err error) {
		w.failures.Add(1)
		if status >= 500 {
			fiveXX.Add(1)
		}
		failMu.Lock()
		defer failMu.Unlock()
		if len(failures) < 20 {
			failures = append(failures, fmt.Sprintf("%s %s: status %d, %v", time.Now().Format("15:04:05.000"), what, status, err))
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, w := range ws {
		c := client(t, "http://"+lb.Addr, fmt.Sprintf("127.0.4.%d", i+1))
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Eight rounds a second: each credential stays under the
			// replicas' per-credential limit even if a round robin sent all
			// its writes to one replica.
			tick := time.NewTicker(125 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				w.sent.Add(1)
				if r, err := c.LeaveOrganizationWithResponse(ctx, bearer(w.memberTok)); status(r, err) != 200 {
					fail(w, "leave", status(r, err), err)
					continue
				}
				w.left.Add(1)
				w.sent.Add(1)
				if r, err := c.ReinstateMemberWithResponse(ctx, w.member, bearer(w.ownerTok)); status(r, err) != 200 {
					fail(w, "reinstate", status(r, err), err)
					continue
				}
				w.reinstated.Add(1)
				w.sent.Add(1)
				w.reads.Add(1)
				if r, err := c.ListMembersWithResponse(ctx, &api.ListMembersParams{}, bearer(w.ownerTok)); status(r, err) != 200 {
					fail(w, "members", status(r, err), err)
				}
				w.sent.Add(1)
				w.reads.Add(1)
				if r, err := c.ListAuditLogsWithResponse(ctx, &api.ListAuditLogsParams{}, bearer(w.ownerTok)); status(r, err) != 200 {
					fail(w, "audit-logs", status(r, err), err)
				}
			}
		}()
	}
	began := time.Now()
	time.Sleep(2 * time.Second)
	var took []string
	for _, r := range replicas {
		at := time.Now()
		if err := cluster.Restart(ctx, r, lb); err != nil {
			close(stop)
			wg.Wait()
			t.Fatal(err)
		}
		took = append(took, fmt.Sprintf("%s %.1fs", r.Name, time.Since(at).Seconds()))
		time.Sleep(time.Second)
	}
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	duration := time.Since(began)

	var sent, reads, failed, left, reinstated int64
	for _, w := range ws {
		sent += w.sent.Load()
		reads += w.reads.Load()
		failed += w.failures.Load()
		left += w.left.Load()
		reinstated += w.reinstated.Load()
	}
	if failed > 0 || fiveXX.Load() > 0 {
		t.Fatalf("%d of %d requests failed (%d 5xx) during the rolling restart:\n%s", failed, sent, fiveXX.Load(), strings.Join(failures, "\n"))
	}
	for i, w := range ws {
		var leftRows, reinRows, suspended int
		fx.scan(`SELECT COUNT(*) FROM audit_logs WHERE organization_id = $1 AND event = 'member.left'`, &leftRows, w.org)
		fx.scan(`SELECT COUNT(*) FROM audit_logs WHERE organization_id = $1 AND event = 'member.reinstated'`, &reinRows, w.org)
		fx.scan(`SELECT COUNT(*) FROM organization_members WHERE organization_id = $1 AND suspended_at IS NOT NULL`, &suspended, w.org)
		if int64(leftRows) != w.left.Load() || int64(reinRows) != w.reinstated.Load() || suspended != 0 {
			t.Fatalf("worker %d: %d leaves and %d reinstatements acknowledged; audit log has %d and %d; %d suspended now",
				i, w.left.Load(), w.reinstated.Load(), leftRows, reinRows, suspended)
		}
	}
	if left < 100 {
		t.Fatalf("only %d leaves in %s: the load did not run", left, duration)
	}
	t.Logf("rolling restart: %d requests (%d writes, %d reads) from %d clients over %.1fs, 0 failed, 0 5xx; every replica restarted in turn (%s); audit log: %d leaves and %d reinstatements, each once",
		sent, sent-reads, reads, workers, duration.Seconds(), strings.Join(took, ", "), left, reinstated)
}

// fixtures makes users, organizations and memberships straight through the
// store (how they came to be is tested elsewhere).
type fixtures struct {
	t  *testing.T
	st *store.Store
	n  atomic.Int64
}

func (f *fixtures) email(name string) string {
	return fmt.Sprintf("%s-%d@example.com", name, f.n.Add(1))
}

// user makes a user with a session that has no organization selected.
func (f *fixtures) user(name string) string {
	f.t.Helper()
	ctx := context.Background()
	email := f.email(name)
	if _, err := f.st.CreateUser(ctx, email, name); err != nil {
		f.t.Fatal(err)
	}
	tok, err := f.st.CreateSession(ctx, email, nil, time.Hour)
	if err != nil {
		f.t.Fatal(err)
	}
	return tok.Token
}

// org makes an organization; its owner's token has it selected.
func (f *fixtures) org(slug string) (uuid.UUID, string, store.Actor) {
	f.t.Helper()
	ctx := context.Background()
	tok := f.user(slug + "-owner")
	p, err := f.st.Authenticate(ctx, tok)
	if err != nil {
		f.t.Fatal(err)
	}
	org, err := f.st.CreateOrganization(ctx, p.Actor(), store.NewOrganization{Name: slug, Slug: fmt.Sprintf("%s-%d", slug, f.n.Add(1))})
	if err != nil {
		f.t.Fatal(err)
	}
	a := p.Actor()
	a.ActiveOrganizationID = &org.ID
	return org.ID, tok, a
}

// join adds a member with the role; its token has the organization selected.
func (f *fixtures) join(org uuid.UUID, owner store.Actor, name string, role store.Role) (uuid.UUID, string) {
	f.t.Helper()
	ctx := context.Background()
	email := f.email(name)
	if _, err := f.st.CreateUser(ctx, email, name); err != nil {
		f.t.Fatal(err)
	}
	inv, err := f.st.Invite(ctx, owner, email, role)
	if err != nil {
		f.t.Fatal(err)
	}
	first, err := f.st.CreateSession(ctx, email, nil, time.Hour)
	if err != nil {
		f.t.Fatal(err)
	}
	p, err := f.st.Authenticate(ctx, first.Token)
	if err != nil {
		f.t.Fatal(err)
	}
	m, err := f.st.AcceptInvitation(ctx, p.Actor(), inv.ID)
	if err != nil {
		f.t.Fatal(err)
	}
	tok, err := f.st.CreateSession(ctx, email, &org, time.Hour)
	if err != nil {
		f.t.Fatal(err)
	}
	return m.ID, tok.Token
}

func (f *fixtures) scan(q string, dst *int, args ...any) {
	f.t.Helper()
	for i, a := range args {
		if id, ok := a.(uuid.UUID); ok {
			args[i] = id.String()
		}
	}
	if err := f.st.DB().QueryRow(q, args...).Scan(dst); err != nil {
		f.t.Fatalf("%s: %v", q, err)
	}
}

// httpClient connects from the given loopback address, so that the
// balancer and the replicas see distinct clients.
func httpClient(from string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext: d.DialContext, MaxIdleConnsPerHost: 8,
		// Shorter than the balancer's keep-alive timeout (10s), so the
		// client never reuses a connection the balancer is closing.
		IdleConnTimeout: 5 * time.Second,
	}}
}

func client(t *testing.T, base, from string) *api.ClientWithResponses {
	c, err := api.NewClientWithResponses(base, api.WithHTTPClient(httpClient(from)))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func bearer(token string) api.RequestEditorFn {
	return func(_ context.Context, r *http.Request) error {
		r.Header.Set("Authorization", "Bearer "+token)
		return nil
	}
}

// status is a response's status, 0 when the request failed outright.
func status[R interface{ StatusCode() int }](r R, err error) int {
	if err != nil {
		return 0
	}
	return r.StatusCode()
}

func isEnvelope(body []byte, code string) bool {
	var env struct {
		Data  any `json:"data"`
		Error *struct {
			Code, Message, Hint, Docs string
		} `json:"error"`
	}
	return json.Unmarshal(body, &env) == nil && env.Data == nil && env.Error != nil && env.Error.Code == code &&
		env.Error.Message != "" && env.Error.Hint != "" && env.Error.Docs != ""
}

func scrapeReplica(t *testing.T, r *cluster.Replica, series string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + r.Addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}

func requestLines(path string) []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(readFile(path)))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == "request" {
			out = append(out, m)
		}
	}
	return out
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

func tail(path string, n int) string {
	lines := strings.Split(strings.TrimRight(readFile(path), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func findHAProxy(t *testing.T) string {
	if p, err := exec.LookPath("haproxy"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/haproxy"); err == nil {
		return "/usr/sbin/haproxy"
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("haproxy is required in CI (Debian package haproxy; .ci/run installs it)")
	}
	t.Skip("cluster test skipped: no haproxy (apt-get install haproxy)")
	return ""
}

// buildKayleid builds the server binary the replicas run.
func buildKayleid(t *testing.T, root, dir string) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the cluster test builds kayleid: %v", err)
	}
	bin := filepath.Join(dir, "kayleid")
	cmd := exec.Command(goBin, "build", "-o", bin, "./cmd/kayleid")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}
