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
	"strings"
	"testing"
	"time"

	"github.com/kayle-id/orgs-api/internal/idptest"
	"github.com/kayle-id/orgs-api/internal/testdb"
	"github.com/kayle-id/orgs-api/store"
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
			env := map[string]string{"DATABASE_URL": testdb.URL(t, kind)}

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
	env := map[string]string{"DATABASE_URL": filepath.Join(dir, "k.db"), "KAYLE_ADDR": addr, "KAYLE_MAIL_DIR": filepath.Join(dir, "mail"),
		"KAYLE_LOG_FORMAT": "text", "KAYLE_METRICS_ADDR": metricsAddr}
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
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop")
	}

	for _, bad := range []map[string]string{
		{"KAYLE_VALIDATION": "sometimes"},
		{"KAYLE_ADDR": "nowhere"},
		{"KAYLE_LOG_FORMAT": "xml"},
		{"KAYLE_BODY_LIMIT": "lots"},
		{"KAYLE_SHUTDOWN_TIMEOUT": "soon"},
		{"KAYLE_SMTP_URL": "http://mail"},
		{"KAYLE_DB_MAX_CONNS": "0"},
		{"KAYLE_DB_MAX_CONNS": "many"},
		{"KAYLE_OIDC_ISSUER": "https://id.example.com"},
		{"KAYLE_OIDC_ISSUER": "http://id.example.com", "KAYLE_OIDC_AUDIENCE": "api"},
		{"KAYLE_OIDC_ISSUER": "https://id.example.com", "KAYLE_OIDC_AUDIENCE": "api", "KAYLE_OIDC_JWKS_URL": "http://id.example.com/jwks"},
		{"KAYLE_OIDC_AUDIENCE": "api"},
		{"KAYLE_OIDC_JWKS_URL": "https://id.example.com/jwks"},
	} {
		bad["DATABASE_URL"] = filepath.Join(dir, "bad.db")
		var out, errb bytes.Buffer
		code := run(context.Background(), []string{"serve"}, &out, &errb, func(k string) string { return bad[k] })
		if code != 2 || strings.Count(strings.TrimSpace(errb.String()), "\n") > 1 {
			t.Errorf("%v: want exit 2 and one line, got %d %q", bad, code, errb.String())
		}
	}
	var out bytes.Buffer
	if code := run(context.Background(), []string{"serve", "--help"}, &out, &out, func(string) string { return "" }); code != 0 {
		t.Errorf("serve --help exit %d", code)
	}
}

// The README's configuration table and `kayleid serve --help` list the same
// settings with the same defaults.
func TestConfigReferenceMatchesREADME(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var help bytes.Buffer
	if code := run(context.Background(), []string{"serve", "--help"}, &help, &help, func(string) string { return "" }); code != 0 {
		t.Fatalf("serve --help: %d", code)
	}
	readme := string(raw)
	for _, s := range serveSettings {
		def := s.def
		if def == "" {
			def = "(unset)"
		}
		row := fmt.Sprintf("| `--%s` | `%s` | `%s` |", s.flag, s.env, def)
		if def == "(unset)" {
			row = fmt.Sprintf("| `--%s` | `%s` | (unset) |", s.flag, s.env)
		}
		if !strings.Contains(readme, row) {
			t.Errorf("README lacks the row %s", row)
		}
		if !strings.Contains(help.String(), "-"+s.flag) || !strings.Contains(help.String(), "env "+s.env) {
			t.Errorf("serve --help lacks %s / %s", s.flag, s.env)
		}
	}
	if n := strings.Count(readme, "| `--"); n != len(serveSettings) {
		t.Errorf("README lists %d settings, serve has %d", n, len(serveSettings))
	}
}

// A purge with a lot to do reports progress, and the final count.
func TestPurgeProgress(t *testing.T) {
	ctx := context.Background()
	env := map[string]string{"DATABASE_URL": testdb.URL(t, testdb.SQLite)}
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

// serve pointed at a provider through its settings: keys are loaded at
// start-up, /readyz reports them, and a signed-in user creates an
// organization with nothing but the provider's token.
func TestServeBehindProvider(t *testing.T) {
	op := idptest.New(t)
	dir := t.TempDir()
	addr := freeAddr(t)
	env := map[string]string{"DATABASE_URL": filepath.Join(dir, "k.db"), "KAYLE_ADDR": addr, "KAYLE_MAIL_DIR": filepath.Join(dir, "mail"),
		"KAYLE_LOG_FORMAT": "json", "KAYLE_OIDC_ISSUER": op.Issuer, "KAYLE_OIDC_AUDIENCE": idptest.Audience}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
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
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"identityProvider":{"status":"fresh","keys":1`) {
		t.Fatalf("readyz: %d %s", resp.StatusCode, body)
	}
	token := op.Token(op.Claims("ada", "ada@example.com"))
	req, _ := http.NewRequest("POST", "http://"+addr+"/v1/auth/orgs", strings.NewReader(`{"name":"Acme","slug":"acme"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err = http.DefaultClient.Do(req)
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
	cancel()
	r := <-done
	if r.code != 0 || !strings.Contains(r.stderr, "identity provider keys loaded") {
		t.Fatalf("serve: %+v", r)
	}
	for _, seg := range strings.Split(token, ".") {
		if strings.Contains(r.stderr, seg) {
			t.Fatal("the token reached the log")
		}
	}
}
