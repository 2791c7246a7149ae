package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kayle-id/orgs-api/internal/idptest"
	"github.com/kayle-id/orgs-api/internal/testdb"
	"github.com/kayle-id/orgs-api/internal/verifytest"
	"github.com/kayle-id/orgs-api/internal/whtest"
	"github.com/kayle-id/orgs-api/store"
	"github.com/kayle-id/orgs-api/verify/proto"
	"github.com/kayle-id/orgs-api/webhooks"
)

func TestMain(m *testing.M) {
	// Re-executed by tests that need the real process (signals, exit codes).
	if os.Getenv("KAYLE_TEST_RUN_MAIN") == "1" {
		main()
		return
	}
	code := m.Run()
	testdb.Shutdown()
	os.Exit(code)
}

type result struct {
	code           int
	stdout, stderr string
}

func kayleid(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb, func(k string) string { return env[k] })
	return result{code, out.String(), errb.String()}
}

func TestCLI(t *testing.T) {
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"DATABASE_URL": testdb.URL(t, kind), "KAYLE_CREATE_DB": "true", "KAYLE_STORAGE_URL": filepath.Join(t.TempDir(), "objects")}

			r := kayleid(t, env, "migrate")
			if r.code != 0 || !strings.Contains(r.stdout, "applied") {
				t.Fatalf("migrate: %+v", r)
			}
			r = kayleid(t, env, "migrate")
			if r.code != 0 || !strings.Contains(r.stdout, "0 applied") {
				t.Fatalf("second migrate must apply nothing: %+v", r)
			}

			r = kayleid(t, env, "users", "create", "--email", "Ada@Example.com", "--name", "Ada")
			var user struct{ ID, Email string }
			if r.code != 0 || json.Unmarshal([]byte(r.stdout), &user) != nil || user.Email != "ada@example.com" || user.ID == "" {
				t.Fatalf("users create: %+v", r)
			}
			// Bad input: exit 2, nothing written.
			for _, args := range [][]string{
				{"users", "create", "--email", "not-an-email", "--name", "X"},
				{"users", "create", "--email", "x@example.com"},
				{"users", "create", "--email", "ada@example.com", "--name", "Again"},
				{"users", "create", "--bogus"},
				{"tokens", "create"},
				{"tokens", "create", "--email", "ada@example.com", "--ttl", "forever"},
				{"tokens", "create", "--email", "ada@example.com", "--org", "nope"},
				{"nonsense"},
			} {
				if r := kayleid(t, env, args...); r.code != 2 || r.stderr == "" {
					t.Errorf("%v: want exit 2 with a message, got %+v", args, r)
				}
			}
			r = kayleid(t, env, "tokens", "create", "--email", "ada@example.com", "--ttl", "2h")
			var tok struct{ Token, ExpiresAt string }
			if r.code != 0 || json.Unmarshal([]byte(r.stdout), &tok) != nil || !strings.HasPrefix(tok.Token, "kid_") {
				t.Fatalf("tokens create: %+v", r)
			}
			if exp, err := time.Parse(time.RFC3339, tok.ExpiresAt); err != nil || time.Until(exp) < 119*time.Minute || time.Until(exp) > 121*time.Minute {
				t.Fatalf("expiresAt %q", tok.ExpiresAt)
			}
			// --org of an organization the user is not in: exit 1.
			r = kayleid(t, env, "tokens", "create", "--email", "ada@example.com", "--org", "8f14e45f-ceea-467f-a8d5-4c6b1b3a9c11")
			if r.code != 1 || !strings.Contains(r.stderr, "does not exist") {
				t.Fatalf("--org unknown: %+v", r)
			}
			r = kayleid(t, env, "tokens", "create", "--email", "nobody@example.com")
			if r.code != 1 || !strings.Contains(r.stderr, "no user") {
				t.Fatalf("unknown user: %+v", r)
			}
			if r := kayleid(t, env, "tokens", "revoke", "--token", tok.Token); r.code != 0 {
				t.Fatalf("revoke: %+v", r)
			}
			if r := kayleid(t, env, "tokens", "revoke", "--token", tok.Token); r.code != 1 {
				t.Fatalf("second revoke: %+v", r)
			}
			if r := kayleid(t, env, "orgs", "purge"); r.code != 0 || !strings.Contains(r.stdout, "0 organizations purged") {
				t.Fatalf("purge: %+v", r)
			}
		})
	}
}

// waitReady polls base's /readyz until it answers 200, failing the test
// with the server's log (at logPath) when it has not after 10 s.
func waitReady(t *testing.T, base, logPath string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logPath)
			t.Fatalf("%s did not become ready:\n%s", base, log)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// serve listens, answers, and stops cleanly on cancellation (SIGINT/SIGTERM
// in main); bad configuration fails at start with one line and exit 2.
func TestServe(t *testing.T) {
	dir := t.TempDir()
	addr, metricsAddr := freeAddr(t), freeAddr(t)
	env := map[string]string{"DATABASE_URL": filepath.Join(dir, "k.db"), "KAYLE_CREATE_DB": "true", "KAYLE_ADDR": addr, "KAYLE_MAIL_DIR": filepath.Join(dir, "mail"),
		"KAYLE_LOG_FORMAT": "text", "KAYLE_METRICS_ADDR": metricsAddr, "KAYLE_STORAGE_URL": filepath.Join(dir, "objects")}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan result, 1)
	go func() {
		var out, errb bytes.Buffer
		code := run(ctx, []string{"serve"}, &out, &errb, func(k string) string { return env[k] })
		done <- result{code, out.String(), errb.String()}
	}()
	var resp *http.Response
	var err error
	for i := 0; i < 100; i++ {
		if resp, err = http.Get("http://" + addr + "/readyz"); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("server did not come up: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("readyz %d", resp.StatusCode)
	}
	// With KAYLE_METRICS_ADDR, /metrics is served there and not on the API address.
	if resp, err := http.Get("http://" + metricsAddr + "/metrics"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("metrics address: %v %v", resp, err)
	} else {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), `kayle_http_requests_total{method="GET",operation="/readyz",status="200"}`) {
			t.Fatalf("metrics address does not serve the server's metrics: %.300s", body)
		}
	}
	if resp, err := http.Get("http://" + addr + "/metrics"); err != nil || resp.StatusCode != 404 {
		t.Fatalf("/metrics still on the API address: %v %v", resp, err)
	}
	cancel()
	select {
	case r := <-done:
		if r.code != 0 || !strings.Contains(r.stderr, "msg=stopped") || !strings.Contains(r.stderr, "msg=request method=GET route=/readyz status=200") {
			t.Fatalf("serve exit: %+v", r)
		}
		// No KAYLE_PUBLIC_URL: logo URLs start with the address served.
		if !strings.Contains(r.stderr, "logo_urls=http://"+addr+"/logos/") {
			t.Fatalf("logo URLs do not follow KAYLE_ADDR: %s", r.stderr)
		}
		// No KAYLE_AUTH_SECRET: said once, at start, as a warning.
		if strings.Count(r.stderr, "level=WARN msg=\"KAYLE_AUTH_SECRET is not set") != 1 {
			t.Fatalf("no warning about the generated auth secret: %s", r.stderr)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop")
	}

	for _, bad := range []map[string]string{
		{"KAYLE_VALIDATION": "sometimes"},
		{"KAYLE_ADDR": "nowhere"},
		{"KAYLE_LOG_FORMAT": "xml"},
		{"KAYLE_BODY_LIMIT": "lots"},
		{"KAYLE_SHUTDOWN_TIMEOUT": "soon"},
		{"KAYLE_SHUTDOWN_DRAIN": "-1s"},
		{"KAYLE_SMTP_URL": "http://mail"},
		{"KAYLE_SMTP_URL": "smtp://127.0.0.1:25", "KAYLE_MAIL_FROM": "Kayle ID"},
		{"KAYLE_DB_MAX_CONNS": "0"},
		{"KAYLE_DB_MAX_CONNS": "many"},
		{"KAYLE_METRICS_PUBLIC": "maybe"},
		{"KAYLE_MAX_IN_FLIGHT": "-1"},
		{"KAYLE_MAX_CONNS": "lots"},
		{"KAYLE_MAX_CONNS_PER_ADDRESS": "-1"},
		{"KAYLE_MAX_IN_FLIGHT_PER_ADDRESS": "some"},
		{"KAYLE_MAX_IN_FLIGHT_PER_CREDENTIAL": "-3"},
		{"KAYLE_MAX_ORGS_PER_USER": "-2"},
		{"KAYLE_RATE_LIMIT_READ": "fast"},
		{"KAYLE_OIDC_ISSUER": "https://id.example.com"},
		{"KAYLE_OIDC_ISSUER": "http://id.example.com", "KAYLE_OIDC_AUDIENCE": "api"},
		{"KAYLE_OIDC_ISSUER": "https://id.example.com", "KAYLE_OIDC_AUDIENCE": "api", "KAYLE_OIDC_JWKS_URL": "http://id.example.com/jwks"},
		{"KAYLE_OIDC_AUDIENCE": "api"},
		{"KAYLE_OIDC_JWKS_URL": "https://id.example.com/jwks"},
		{"KAYLE_TRUSTED_PROXIES": "the load balancer"},
		{"KAYLE_TRUSTED_PROXIES": "10.0.0.0/33"},
		{"KAYLE_TRUSTED_PROXIES": "0.0.0.0/0"},
		{"KAYLE_TRUSTED_PROXIES": "10.0.0.0/8,::/0"},
		{"KAYLE_AUTH_SECRET": "short"},
		{"KAYLE_STORAGE_TIMEOUT": "0s"},
		{"KAYLE_STORAGE_URL": "ftp://nowhere/bucket"},
		{"KAYLE_PUBLIC_URL": "127.0.0.1:8787"},
		{"KAYLE_PUBLIC_URL": "https://api.example.com/?x=1"},
		{"KAYLE_CDN_URL": "cdn.example.com"},
	} {
		var named []string
		for k := range bad {
			named = append(named, k)
		}
		bad["DATABASE_URL"], bad["KAYLE_CREATE_DB"] = filepath.Join(dir, "bad.db"), "true"
		if bad["KAYLE_STORAGE_URL"] == "" {
			bad["KAYLE_STORAGE_URL"] = filepath.Join(dir, "bad-objects")
		}
		var out, errb bytes.Buffer
		code := run(context.Background(), []string{"serve"}, &out, &errb, func(k string) string { return bad[k] })
		msg := strings.TrimSpace(errb.String())
		if code != 2 || strings.Count(msg, "\n") > 0 || !strings.HasSuffix(msg, "(see kayleid serve --help)") {
			t.Errorf("%v: want exit 2 and one line pointing to --help, got %d %q", bad, code, msg)
		}
		// The message names the variable that was set, not the flag.
		if !slices.ContainsFunc(named, func(k string) bool { return strings.Contains(msg, k) }) {
			t.Errorf("%v: the message does not name the variable: %q", bad, msg)
		}
	}
	// Nothing was opened: not the database, not the object storage.
	for _, f := range []string{"bad.db", "bad-objects"} {
		if _, err := os.Stat(filepath.Join(dir, f)); !os.IsNotExist(err) {
			t.Errorf("%s exists after refused configurations: %v", f, err)
		}
	}
	var out bytes.Buffer
	if code := run(context.Background(), []string{"serve", "--help"}, &out, &out, func(string) string { return "" }); code != 0 {
		t.Errorf("serve --help exit %d", code)
	}
}

// On SIGTERM with a drain period, /readyz turns 503 at once while every
// other request is still served, on open keep-alive connections and new
// ones; only after the period does the listener close.
func TestShutdownDrain(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	env := map[string]string{"DATABASE_URL": filepath.Join(dir, "k.db"), "KAYLE_CREATE_DB": "true", "KAYLE_ADDR": addr, "KAYLE_MAIL_DIR": filepath.Join(dir, "mail"),
		"KAYLE_LOG_FORMAT": "text", "KAYLE_SHUTDOWN_DRAIN": "1s", "KAYLE_STORAGE_URL": filepath.Join(dir, "objects")}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan result, 1)
	go func() {
		var out, errb bytes.Buffer
		code := run(ctx, []string{"serve"}, &out, &errb, func(k string) string { return env[k] })
		done <- result{code, out.String(), errb.String()}
	}()
	base := "http://" + addr
	get := func(c *http.Client, path string) (int, string) {
		resp, err := c.Get(base + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	keepAlive := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	for i := 0; ; i++ {
		if code, _ := get(keepAlive, "/readyz"); code == 200 {
			break
		}
		if i > 100 {
			t.Fatal("server did not come up")
		}
		time.Sleep(50 * time.Millisecond)
	}
	signalled := time.Now()
	cancel()
	for {
		code, body := get(fresh, "/readyz")
		if code == 503 && strings.Contains(body, "shutting down") {
			break
		}
		if time.Since(signalled) > 500*time.Millisecond {
			t.Fatalf("/readyz still %d %s after the signal", code, body)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, c := range []*http.Client{keepAlive, fresh} {
		if code, _ := get(c, "/healthz"); code != 200 {
			t.Fatalf("/healthz during the drain: %d", code)
		}
		if code, _ := get(c, "/openapi.json"); code != 200 {
			t.Fatalf("/openapi.json during the drain: %d", code)
		}
	}
	var r result
	select {
	case r = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop")
	}
	if took := time.Since(signalled); r.code != 0 || took < time.Second {
		t.Fatalf("serve stopped after %s with %d: %s", took, r.code, r.stderr)
	}
	drain, down, stopped := strings.Index(r.stderr, "msg=draining"), strings.Index(r.stderr, `msg="shutting down"`), strings.Index(r.stderr, "msg=stopped")
	if drain < 0 || down < drain || stopped < down {
		t.Fatalf("want draining, shutting down, stopped in that order:\n%s", r.stderr)
	}
	if code, _ := get(fresh, "/healthz"); code != 0 {
		t.Fatalf("still listening after stopping: %d", code)
	}
}

// Trusted proxies: CIDRs or single addresses, commas and spaces between.
func TestTrustedProxiesSetting(t *testing.T) {
	nets, err := parseTrustedProxies(" 10.0.0.0/8, 192.168.1.10 ,fd00::/8 ::1")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range nets {
		got = append(got, n.String())
	}
	if strings.Join(got, " ") != "10.0.0.0/8 192.168.1.10/32 fd00::/8 ::1/128" {
		t.Fatalf("parsed %v", got)
	}
	if nets, err := parseTrustedProxies(""); err != nil || nets != nil {
		t.Fatalf("empty: %v %v", nets, err)
	}
}

// A purge with a lot to do reports progress, and the final count.
func TestPurgeProgress(t *testing.T) {
	ctx := context.Background()
	env := map[string]string{"DATABASE_URL": testdb.URL(t, testdb.SQLite), "KAYLE_CREATE_DB": "true"}
	if r := kayleid(t, env, "users", "create", "--email", "p@example.com", "--name", "P"); r.code != 0 {
		t.Fatal(r)
	}
	st, err := store.Open(ctx, env["DATABASE_URL"], store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := st.CreateSession(ctx, "p@example.com", nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	p, err := st.Authenticate(ctx, tok.Token)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 150; i++ {
		if _, err := st.CreateOrganization(ctx, p.Actor(), store.NewOrganization{Name: "O", Slug: fmt.Sprintf("o-%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	// Due for purge: scheduled in the past (the API path is tested elsewhere).
	if _, err := st.DB().Exec(`UPDATE organizations SET pending_deletion_at = '2000-01-01T00:00:00.000000Z'`); err != nil {
		t.Fatal(err)
	}
	st.Close()
	r := kayleid(t, env, "orgs", "purge")
	if r.code != 0 || !strings.Contains(r.stdout, "purged 100/150 organizations") || !strings.Contains(r.stdout, "orgs purge: 150 organizations purged") {
		t.Fatalf("purge output: %+v", r)
	}
}

// `tokens revoke --email` signs a user out everywhere; `--token -` reads
// the token from standard input, so it never appears in the process list.
// (Not parallel: it replaces stdin.)
func TestTokensRevokeEverywhere(t *testing.T) {
	defer func(r io.Reader) { stdin = r }(stdin)
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			ctx := context.Background()
			env := map[string]string{"DATABASE_URL": testdb.URL(t, kind), "KAYLE_CREATE_DB": "true"}
			if r := kayleid(t, env, "users", "create", "--email", "eve@example.com", "--name", "Eve"); r.code != 0 {
				t.Fatal(r)
			}
			if r := kayleid(t, env, "users", "create", "--email", "bob@example.com", "--name", "Bob"); r.code != 0 {
				t.Fatal(r)
			}
			token := func(email string) string {
				r := kayleid(t, env, "tokens", "create", "--email", email)
				var tok struct{ Token string }
				if r.code != 0 || json.Unmarshal([]byte(r.stdout), &tok) != nil {
					t.Fatalf("tokens create: %+v", r)
				}
				return tok.Token
			}
			eve := []string{token("eve@example.com"), token("eve@example.com"), token("eve@example.com")}
			bob := token("bob@example.com")
			live := func(tok string) bool {
				st, err := store.Open(ctx, env["DATABASE_URL"], store.Options{})
				if err != nil {
					t.Fatal(err)
				}
				defer st.Close()
				_, err = st.Authenticate(ctx, tok)
				return err == nil
			}

			r := kayleid(t, env, "tokens", "revoke", "--email", "EVE@example.com")
			var out struct {
				Revoked  bool
				Sessions int
			}
			if r.code != 0 || json.Unmarshal([]byte(r.stdout), &out) != nil || !out.Revoked || out.Sessions != 3 {
				t.Fatalf("revoke --email: %+v", r)
			}
			for _, tok := range eve {
				if live(tok) {
					t.Fatal("a session survived revoke --email")
				}
			}
			if !live(bob) {
				t.Fatal("revoke --email ended another user's session")
			}

			stdin = strings.NewReader(bob + "\n")
			if r := kayleid(t, env, "tokens", "revoke", "--token", "-"); r.code != 0 || strings.Contains(r.stdout+r.stderr, bob) {
				t.Fatalf("revoke --token -: %+v", r)
			}
			if live(bob) {
				t.Fatal("the token read from stdin was not revoked")
			}

			stdin = strings.NewReader("")
			for _, args := range [][]string{
				{"tokens", "revoke"},
				{"tokens", "revoke", "--token", bob, "--email", "bob@example.com"},
				{"tokens", "revoke", "--token", "-"},
			} {
				if r := kayleid(t, env, args...); r.code != 2 || r.stderr == "" {
					t.Errorf("%v: want exit 2 with a message, got %+v", args, r)
				}
			}
			if r := kayleid(t, env, "tokens", "revoke", "--email", "nobody@example.com"); r.code != 1 || !strings.Contains(r.stderr, "no user") {
				t.Errorf("unknown email: %+v", r)
			}
		})
	}
}

// serve pointed at a provider through its settings: keys are loaded at
// start-up, /readyz reports them, and a signed-in user creates an
// organization with nothing but the provider's token.
func TestServeBehindProvider(t *testing.T) {
	op := idptest.New(t)
	dir := t.TempDir()
	addr := freeAddr(t)
	env := map[string]string{"DATABASE_URL": filepath.Join(dir, "k.db"), "KAYLE_CREATE_DB": "true", "KAYLE_ADDR": addr, "KAYLE_MAIL_DIR": filepath.Join(dir, "mail"),
		"KAYLE_LOG_FORMAT": "json", "KAYLE_OIDC_ISSUER": op.Issuer, "KAYLE_OIDC_AUDIENCE": idptest.Audience,
		"KAYLE_STORAGE_URL": filepath.Join(dir, "objects")}
	status, body, stop := startServe(t, env)
	if status != 200 || !strings.Contains(string(body), `"identityProvider":{"status":"fresh","keys":1`) {
		t.Fatalf("readyz: %d %s", status, body)
	}
	token := op.Token(op.Claims("ada", "ada@example.com"))
	req, _ := http.NewRequest("POST", "http://"+addr+"/v1/auth/orgs", strings.NewReader(`{"name":"Acme","slug":"acme"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("create organization with a provider token: %d %s", resp.StatusCode, body)
	}
	if op.KeyFetches() != 1 {
		t.Fatalf("key set fetched %d times, want once, at start-up", op.KeyFetches())
	}
	r := stop()
	if r.code != 0 || !strings.Contains(r.stderr, "identity provider keys loaded") {
		t.Fatalf("serve: %+v", r)
	}
	for _, seg := range strings.Split(token, ".") {
		if strings.Contains(r.stderr, seg) {
			t.Fatal("the token reached the log")
		}
	}
}

// `orgs owner-verified` records the owner check the session onboarding gate
// needs, by id or slug, audited as the system with the operator's note;
// bad input is status 2 and writes nothing.
func TestOrgsOwnerVerified(t *testing.T) {
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			ctx := context.Background()
			env := map[string]string{"DATABASE_URL": testdb.URL(t, kind), "KAYLE_CREATE_DB": "true"}
			if r := kayleid(t, env, "users", "create", "--email", "o@example.com", "--name", "O"); r.code != 0 {
				t.Fatal(r)
			}
			st, err := store.Open(ctx, env["DATABASE_URL"], store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			tok, err := st.CreateSession(ctx, "o@example.com", nil, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			p, err := st.Authenticate(ctx, tok.Token)
			if err != nil {
				t.Fatal(err)
			}
			org, err := st.CreateOrganization(ctx, p.Actor(), store.NewOrganization{Name: "Acme", Slug: "acme"})
			if err != nil {
				t.Fatal(err)
			}
			audits := func() int {
				var n int
				if err := st.DB().QueryRow(`SELECT count(*) FROM audit_logs WHERE event = 'organization.owner_id_checked' AND actor_type = 'system'`).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			for _, bad := range [][]string{
				{"--org", "nope"},
				{"--org", "acme", "--at", "yesterday"},
				{"--org", "acme", "--by", " "},
				{},
			} {
				if r := kayleid(t, env, append([]string{"orgs", "owner-verified"}, bad...)...); r.code != 2 {
					t.Errorf("%v: %+v, want status 2", bad, r)
				}
			}
			if audits() != 0 {
				t.Fatal("a refused command wrote an audit row")
			}
			r := kayleid(t, env, "orgs", "owner-verified", "--org", "acme", "--at", "2026-05-20T09:30:00Z", "--by", "ops ticket 42")
			if r.code != 0 || !strings.Contains(r.stdout, `"ownerIdCheckedAt":"2026-05-20T09:30:00Z"`) || !strings.Contains(r.stdout, org.ID.String()) {
				t.Fatalf("by slug: %+v", r)
			}
			if r := kayleid(t, env, "orgs", "owner-verified", "--org", org.ID.String()); r.code != 0 {
				t.Fatalf("by id: %+v", r)
			}
			got, err := st.Organization(ctx, org.ID)
			if err != nil || got.OwnerIDCheckedAt == nil || time.Since(*got.OwnerIDCheckedAt) > time.Minute {
				t.Fatalf("owner_id_checked_at after the second record: %v, %v", got.OwnerIDCheckedAt, err)
			}
			if n := audits(); n != 2 {
				t.Fatalf("%d audit rows, want one per record", n)
			}
			var note string
			if err := st.DB().QueryRow(`SELECT metadata FROM audit_logs WHERE event = 'organization.owner_id_checked' ORDER BY created_at LIMIT 1`).Scan(&note); err != nil || !strings.Contains(note, "ops ticket 42") {
				t.Fatalf("audit metadata %q, %v", note, err)
			}
		})
	}
}

// `sessions recount` rebuilds the analytics counts from the rows: a count
// no session backs (as a manual change or a restore leaves) is gone after it.
func TestSessionsRecount(t *testing.T) {
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			ctx := context.Background()
			env := map[string]string{"DATABASE_URL": testdb.URL(t, kind), "KAYLE_CREATE_DB": "true"}
			if r := kayleid(t, env, "users", "create", "--email", "r@example.com", "--name", "R"); r.code != 0 {
				t.Fatal(r)
			}
			st, err := store.Open(ctx, env["DATABASE_URL"], store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			tok, err := st.CreateSession(ctx, "r@example.com", nil, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			p, err := st.Authenticate(ctx, tok.Token)
			if err != nil {
				t.Fatal(err)
			}
			org, err := st.CreateOrganization(ctx, p.Actor(), store.NewOrganization{Name: "R", Slug: "r"})
			if err != nil {
				t.Fatal(err)
			}
			q := `INSERT INTO session_day_counts (organization_id, day, created, succeeded) VALUES ($1, '2026-05-20', 7, 3)`
			if kind == testdb.SQLite {
				q = strings.Replace(q, "$1", "?", 1)
			}
			if _, err := st.DB().Exec(q, org.ID.String()); err != nil {
				t.Fatal(err)
			}
			if r := kayleid(t, env, "sessions", "recount"); r.code != 0 || !strings.Contains(r.stdout, `"recounted":true`) {
				t.Fatalf("recount: %+v", r)
			}
			var n int
			if err := st.DB().QueryRow(`SELECT count(*) FROM session_day_counts`).Scan(&n); err != nil || n != 0 {
				t.Fatalf("%d count rows after the recount (%v), want none: no session backs them", n, err)
			}
		})
	}
}

// `webhooks reseal` rewrites every signing secret sealed under an old data
// key with the new one: afterwards the new key alone opens them, with the
// same secret inside.
func TestWebhooksReseal(t *testing.T) {
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			ctx := context.Background()
			oldKey, newKey := "old-webhook-data-key-0123456789abcdef", "new-webhook-data-key-0123456789abcdef"
			env := map[string]string{"DATABASE_URL": testdb.URL(t, kind), "KAYLE_CREATE_DB": "true"}
			if r := kayleid(t, env, "users", "create", "--email", "w@example.com", "--name", "W"); r.code != 0 {
				t.Fatal(r)
			}
			st, err := store.Open(ctx, env["DATABASE_URL"], store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			tok, err := st.CreateSession(ctx, "w@example.com", nil, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			p, err := st.Authenticate(ctx, tok.Token)
			if err != nil {
				t.Fatal(err)
			}
			org, err := st.CreateOrganization(ctx, p.Actor(), store.NewOrganization{Name: "W", Slug: "w"})
			if err != nil {
				t.Fatal(err)
			}
			seed, err := whtest.NewSeed(st.DB(), kind == testdb.Postgres, []byte(oldKey), org.ID)
			if err != nil {
				t.Fatal(err)
			}
			const secret = "whsec_resealresealresealresealreseal"
			ep, err := seed.Endpoint("https://hooks.example.com/k", secret, nil)
			if err != nil {
				t.Fatal(err)
			}
			if r := kayleid(t, map[string]string{"DATABASE_URL": env["DATABASE_URL"], "KAYLE_WEBHOOK_SECRET_KEYS_OLD": oldKey}, "webhooks", "reseal"); r.code != 2 ||
				!strings.Contains(r.stderr, "KAYLE_WEBHOOK_SECRET_KEYS_OLD needs --webhook-secret-key") {
				t.Fatalf("old keys without a new one: %+v", r)
			}
			env["KAYLE_WEBHOOK_SECRET_KEY"], env["KAYLE_WEBHOOK_SECRET_KEYS_OLD"] = newKey, oldKey
			for i, want := range []string{`"secrets":1`, `"secrets":0`} {
				if r := kayleid(t, env, "webhooks", "reseal"); r.code != 0 || !strings.Contains(r.stdout, want) {
					t.Fatalf("reseal %d: %+v, want %s", i+1, r, want)
				}
			}
			var sealed string
			if err := seed.QueryRow(`SELECT signing_secret_ciphertext FROM webhook_endpoints WHERE id = ?`, ep).Scan(&sealed); err != nil {
				t.Fatal(err)
			}
			onlyNew, _ := webhooks.NewSecretBox([]byte(newKey))
			if got, stale, err := onlyNew.Open(sealed); err != nil || stale || got != secret {
				t.Errorf("after the reseal the new key opens %q (stale %v, %v), want the secret", got, stale, err)
			}
			onlyOld, _ := webhooks.NewSecretBox([]byte(oldKey))
			if _, _, err := onlyOld.Open(sealed); err == nil {
				t.Error("the old key still opens the resealed secret")
			}

			// A secret as upstream sealed it (the notes' vector: AUTH_SECRET
			// "auth-secret"), in a database moved from upstream: unreadable
			// without the setting, resealed with it.
			const upstreamSealed = "AAECAwQFBgcICQoL.gLXKW_SqiSTj3rAgaM36yzUFaTvvZUmgLnPT5GIv64Qy"
			if err := seed.Exec(`UPDATE webhook_endpoints SET signing_secret_ciphertext = ? WHERE id = ?`, upstreamSealed, ep); err != nil {
				t.Fatal(err)
			}
			if r := kayleid(t, env, "webhooks", "reseal"); r.code == 0 || !strings.Contains(r.stderr, ep) {
				t.Fatalf("reseal of an upstream secret without its auth secret: %+v, want an error naming the row", r)
			}
			env["KAYLE_WEBHOOK_UPSTREAM_AUTH_SECRET"] = "auth-secret"
			if r := kayleid(t, env, "webhooks", "reseal"); r.code != 0 || !strings.Contains(r.stdout, `"secrets":1`) {
				t.Fatalf("reseal of an upstream secret: %+v", r)
			}
			if err := seed.QueryRow(`SELECT signing_secret_ciphertext FROM webhook_endpoints WHERE id = ?`, ep).Scan(&sealed); err != nil {
				t.Fatal(err)
			}
			if got, stale, err := onlyNew.Open(sealed); err != nil || stale || got != "whsec_test_secret" {
				t.Errorf("upstream's secret after the reseal: %q (stale %v, %v), want whsec_test_secret under the new key", got, stale, err)
			}
		})
	}
}

// startServe runs serve with env in the background until stop (which
// cancels it and answers how it exited). It waits for the listener and
// answers the first /readyz's status and body.
func startServe(t *testing.T, env map[string]string) (status int, body []byte, stop func() result) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel) // a test that fails before stop still stops it
	done := make(chan result, 1)
	go func() {
		var out, errb bytes.Buffer
		code := run(ctx, []string{"serve"}, &out, &errb, func(k string) string { return env[k] })
		done <- result{code, out.String(), errb.String()}
	}()
	stop = func() result {
		cancel()
		select {
		case r := <-done:
			return r
		case <-time.After(20 * time.Second):
			t.Fatal("serve did not stop")
			return result{}
		}
	}
	var resp *http.Response
	var err error
	for i := 0; i < 100; i++ {
		if resp, err = http.Get("http://" + env["KAYLE_ADDR"] + "/readyz"); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		stop()
		t.Fatalf("server did not come up: %v", err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, body, stop
}

// The verification settings reach the server: an empty trust store makes
// /readyz 503 when it is required, the socket is served, and a verifier
// URL without its secret is refused at start.
func TestServeVerifySettings(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	env := map[string]string{"DATABASE_URL": filepath.Join(dir, "k.db"), "KAYLE_CREATE_DB": "true", "KAYLE_ADDR": addr,
		"KAYLE_MAIL_DIR": filepath.Join(dir, "mail"), "KAYLE_STORAGE_URL": filepath.Join(dir, "objects"),
		"KAYLE_TRUST_STORE_REQUIRED": "true"}
	status, body, stop := startServe(t, env)
	if status != 503 || !strings.Contains(string(body), `"empty":true`) {
		stop()
		t.Fatalf("readyz with an empty required trust store: %d %s", status, body)
	}
	// The socket is wired: an upgrade of a malformed id is answered in the
	// protocol (an error message, then close 1000), not 426.
	c, err := verifytest.Dial(context.Background(), "http://"+addr, "nope", nil)
	if err != nil {
		stop()
		t.Fatalf("socket upgrade: %v", err)
	}
	m, err := c.Recv(context.Background())
	if err != nil || m.Kind != proto.ServerError || m.Error.Code != proto.CodeInvalidSessionID {
		t.Errorf("first message: %+v %v", m, err)
	}
	if _, err := c.Recv(context.Background()); err == nil || !strings.Contains(err.Error(), "1000") {
		t.Errorf("after the error: %v, want close 1000", err)
	}
	if r := stop(); r.code != 0 {
		t.Fatalf("serve exit: %+v", r)
	}
	bad := map[string]string{"DATABASE_URL": filepath.Join(dir, "k.db"), "KAYLE_ADDR": freeAddr(t),
		"KAYLE_BIOMETRIC_VERIFIER_URL": "http://127.0.0.1:1"}
	if r := kayleid(t, bad, "serve"); r.code != 2 || !strings.Contains(r.stderr, "--biometric-verifier-secret") {
		t.Fatalf("a verifier without its secret: %+v", r)
	}
}
