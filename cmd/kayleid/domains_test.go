package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kayle-id/orgs-api/dnstxt"
	api "github.com/kayle-id/orgs-api/gen/api"
	"github.com/kayle-id/orgs-api/internal/dnstest"
	"github.com/kayle-id/orgs-api/internal/testdb"
	"github.com/kayle-id/orgs-api/store"
)

// `kayleid domains recheck` runs one pass of the daily re-check: a clean
// miss counts, a resolver failure does not, a hit confirms.
func TestDomainsRecheckCLI(t *testing.T) {
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			url := testdb.URL(t, kind)
			dns, err := dnstest.Start()
			if err != nil {
				t.Fatal(err)
			}
			defer dns.Close()
			// Verified two days ago, so due now.
			past := func() time.Time { return time.Now().Add(-48 * time.Hour) }
			st, err := store.Open(ctx, url, store.Options{Now: past})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if _, err := st.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			u, _ := st.CreateUser(ctx, "o@example.com", "O")
			tok, _ := st.CreateSession(ctx, "o@example.com", nil, time.Hour*100)
			a := store.Actor{UserID: u.ID, SessionID: tok.Session.ID}
			org, err := st.CreateOrganization(ctx, a, store.NewOrganization{Name: "Recheck", Slug: "recheck"})
			if err != nil {
				t.Fatal(err)
			}
			a.ActiveOrganizationID = &org.ID
			for _, apex := range []string{"recheck.io", "broken.io"} {
				c, _ := st.StartDNSChallenge(ctx, a, apex)
				p, _ := st.PrepareVerification(ctx, a, c.Challenge.ID, false)
				if _, err := st.CompleteVerification(ctx, a, p); err != nil {
					t.Fatal(err)
				}
			}
			env := map[string]string{"DATABASE_URL": url, "KAYLE_DNS_RESOLVER": dns.Addr, "KAYLE_DNS_TIMEOUT": "1s"}

			// recheck.io's record is gone: a clean miss, counted. broken.io's
			// DNS fails: nothing counted.
			dns.SetMode("_kayle-id-verification.broken.io", dnstest.ServFail)
			r := kayleid(t, env, "domains", "recheck")
			if r.code != 0 || !strings.Contains(r.stdout, "2 due: 0 confirmed, 1 missed, 0 downgraded, 0 restored, 1 lookups failed") {
				t.Fatalf("first pass: %+v", r)
			}
			// Neither is due again at once: the miss for a day, the failure
			// for an hour.
			r = kayleid(t, env, "domains", "recheck")
			if r.code != 0 || !strings.Contains(r.stdout, "0 due") {
				t.Fatalf("second pass: %+v", r)
			}
			misses := map[string]int{}
			rows, err := st.DB().Query(`SELECT apex_domain, consecutive_failed_checks FROM verified_domains`)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var apex string
				var n int
				rows.Scan(&apex, &n)
				misses[apex] = n
			}
			rows.Close()
			if misses["recheck.io"] != 1 || misses["broken.io"] != 0 {
				t.Fatalf("misses recorded: %v", misses)
			}
			// Bad flags: exit 2, nothing done.
			if r := kayleid(t, env, "domains", "recheck", "--dns-resolver", "8.8.8.8"); r.code != 2 {
				t.Fatalf("bad resolver: %+v", r)
			}
			if r := kayleid(t, env, "domains", "recheck", "--dns-timeout", "0s"); r.code != 2 {
				t.Fatalf("bad timeout: %+v", r)
			}
		})
	}
}

// The README's walkthrough, end to end: a real `kayleid serve` asks a
// real dnsmasq (Debian's) for the record the challenge names, verifies the
// domain, then takes a redirect URI on it.
func TestDomainWalkthroughWithDnsmasq(t *testing.T) {
	if testing.Short() {
		t.Skip("process test skipped in -short mode")
	}
	dnsmasq, err := exec.LookPath("dnsmasq")
	if err != nil {
		for _, p := range []string{"/usr/sbin/dnsmasq", "/sbin/dnsmasq"} {
			if _, serr := os.Stat(p); serr == nil {
				dnsmasq, err = p, nil
			}
		}
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("dnsmasq is required in CI (.ci/run installs dnsmasq-base)")
		}
		t.Skip("dnsmasq not installed (apt-get install dnsmasq-base)")
	}
	ctx := context.Background()
	dir := t.TempDir()
	env := map[string]string{"DATABASE_URL": filepath.Join(dir, "walk.db"), "KAYLE_CREATE_DB": "true"}
	if r := kayleid(t, env, "users", "create", "--email", "ada@example.com", "--name", "Ada"); r.code != 0 {
		t.Fatalf("users create: %+v", r)
	}
	r := kayleid(t, env, "tokens", "create", "--email", "ada@example.com")
	var tok struct{ Token string }
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &tok) != nil {
		t.Fatalf("tokens create: %+v", r)
	}

	// A port free for UDP and TCP, for dnsmasq, held until it starts: a
	// port only checked for UDP was at times taken on TCP by one of the
	// many loopback connections of tests running beside this one.
	reserved := reserveDNSPort(t)
	dnsAddr := reserved.addr
	_, dnsPort, _ := net.SplitHostPort(dnsAddr)

	addr := freeAddr(t)
	srv := exec.Command(os.Args[0], "serve")
	srv.Env = append(os.Environ(), "KAYLE_TEST_RUN_MAIN=1", "DATABASE_URL="+env["DATABASE_URL"], "KAYLE_ADDR="+addr,
		"KAYLE_DNS_RESOLVER="+dnsAddr, "KAYLE_DNS_TIMEOUT=1s", "KAYLE_MAIL_DIR="+filepath.Join(dir, "mail"), "KAYLE_PURGE_INTERVAL=0")
	logPath := filepath.Join(dir, "serve.log")
	logFile, _ := os.Create(logPath)
	srv.Stdout, srv.Stderr = logFile, logFile
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { srv.Process.Kill(); srv.Wait() }()
	base := "http://" + addr
	waitReady(t, base, logPath)
	c, _ := api.NewClientWithResponses(base)
	auth := func(_ context.Context, req *http.Request) error {
		req.Header.Set("Authorization", "Bearer "+tok.Token)
		return nil
	}
	org, err := c.CreateOrganizationWithResponse(ctx, api.CreateOrganizationJSONRequestBody{Name: "Acme Test", Slug: "acme-test"}, auth)
	if err != nil || org.JSON200 == nil {
		t.Fatalf("create org: %v %s", err, org.Body)
	}
	ch, err := c.StartDnsChallengeWithResponse(ctx, api.StartDnsChallengeJSONRequestBody{ApexDomain: "acme.test"}, auth)
	if err != nil || ch.JSON200 == nil || ch.JSON200.Data.RecordName != "_kayle-id-verification.acme.test" {
		t.Fatalf("start: %v %s", err, ch.Body)
	}
	verify := func() *api.VerifyDnsChallengeResponse {
		v, err := c.VerifyDnsChallengeWithResponse(ctx, api.VerifyDnsChallengeJSONRequestBody{ChallengeId: ch.JSON200.Data.ChallengeId}, auth)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	// No DNS server yet: the lookup fails, 503.
	if v := verify(); v.StatusCode() != 503 || !strings.Contains(string(v.Body), "DNS_LOOKUP_FAILED") {
		t.Fatalf("before dnsmasq: %d %s", v.StatusCode(), v.Body)
	}

	dm := exec.Command(dnsmasq, "--no-daemon", "--port="+dnsPort, "--listen-address=127.0.0.1", "--bind-interfaces",
		"--no-resolv", "--no-hosts", "--pid-file=", "--conf-file=/dev/null",
		"--txt-record="+ch.JSON200.Data.RecordName+","+ch.JSON200.Data.RecordValue)
	dmLog, _ := os.Create(filepath.Join(dir, "dnsmasq.log"))
	dm.Stdout, dm.Stderr = dmLog, dmLog
	reserved.release()
	if err := dm.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { dm.Process.Kill(); dm.Wait() }()
	res, _ := dnstxt.New(dnsAddr, dnstxt.Options{Timeout: 200 * time.Millisecond})
	for i := 0; ; i++ {
		if _, err := res.LookupTXT(ctx, ch.JSON200.Data.RecordName); err == nil {
			break
		}
		if i > 100 {
			log, _ := os.ReadFile(filepath.Join(dir, "dnsmasq.log"))
			t.Fatalf("dnsmasq did not answer: %s", log)
		}
		time.Sleep(50 * time.Millisecond)
	}

	v := verify()
	if v.JSON200 == nil || v.JSON200.Data.ApexDomain != "acme.test" {
		t.Fatalf("verify: %d %s", v.StatusCode(), v.Body)
	}
	add, err := c.AddRedirectUriWithResponse(ctx, api.AddRedirectUriJSONRequestBody{Pattern: "HTTPS://App.Acme.TEST:443/callback"}, auth)
	if err != nil || add.JSON200 == nil || add.JSON200.Data.Pattern != "https://app.acme.test/callback" || add.JSON200.Data.VerifiedDomainId != v.JSON200.Data.DomainId {
		t.Fatalf("add redirect URI: %v %s", err, add.Body)
	}
	evil, _ := c.AddRedirectUriWithResponse(ctx, api.AddRedirectUriJSONRequestBody{Pattern: "https://evil.example/callback"}, auth)
	if evil.StatusCode() != 422 {
		t.Fatalf("uncovered host: %d %s", evil.StatusCode(), evil.Body)
	}
	list, _ := c.ListDomainsWithResponse(ctx, auth)
	if list.JSON200 == nil || len(list.JSON200.Data.Domains) != 1 || list.JSON200.Data.Domains[0].Id != uuid.UUID(v.JSON200.Data.DomainId) {
		t.Fatalf("list: %s", list.Body)
	}
}

// dnsPort is a loopback port held open for UDP and TCP until release.
type dnsPort struct {
	addr string
	pc   net.PacketConn
	ln   net.Listener
}

func (p *dnsPort) release() { p.pc.Close(); p.ln.Close() }

func reserveDNSPort(t *testing.T) *dnsPort {
	t.Helper()
	for range 50 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err != nil {
			pc.Close() // taken on TCP: another port
			continue
		}
		return &dnsPort{addr: pc.LocalAddr().String(), pc: pc, ln: ln}
	}
	t.Fatal("no loopback port free for both UDP and TCP")
	return nil
}
