package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"

	"github.com/kayle-id/orgs-api/idp"
	"github.com/kayle-id/orgs-api/mail"
	"github.com/kayle-id/orgs-api/server"
	"github.com/kayle-id/orgs-api/validator"
)

// limitedServer serves the env's store with rl. The connection's address
// is taken from the X-Test-Remote header when a test sends one, standing in
// for clients at other addresses (the server itself reads the address as
// always, from the connection).
func limitedServer(t *testing.T, e *env, rl server.RateLimit) string {
	t.Helper()
	app, err := server.New(server.Config{Validation: validator.Full, Metrics: conformance, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), RateLimit: rl},
		e.st, &mail.Outbox{Dir: t.TempDir(), From: "x@kayle.id"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a := r.Header.Get("X-Test-Remote"); a != "" {
			r.RemoteAddr = a
		}
		app.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// call sends one request with the Authorization header as given (none when
// empty) and returns the status and Retry-After.
func call(t *testing.T, base, method, path, authorization, remote string) (int, int) {
	t.Helper()
	req, _ := http.NewRequest(method, base+path, nil)
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	if remote != "" {
		req.Header.Set("X-Test-Remote", remote)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	retry, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	if resp.StatusCode == 429 {
		var env envelope
		if err := json.Unmarshal(body, &env); err != nil || env.Error == nil || env.Error.Code != "RATE_LIMITED" || retry < 1 {
			t.Fatalf("429 without the envelope or Retry-After: %s (Retry-After %q)", body, resp.Header.Get("Retry-After"))
		}
	}
	return resp.StatusCode, retry
}

func TestRateLimits(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()

		// The per-user bucket is the user's, not the header's text:
		// every spelling authentication accepts spends from the same one.
		t.Run("per user, whatever the spelling", func(t *testing.T) {
			base := limitedServer(t, e, server.RateLimit{PerCredential: 0.05, Burst: 2})
			a, b := e.person("a"), e.person("b")
			for _, auth := range []string{"Bearer " + a.Token, "bEaReR  " + a.Token} {
				if s, _ := call(t, base, "POST", "/v1/auth/orgs/members/leave", auth, ""); s != 403 {
					t.Fatalf("%q: %d, want 403 (through to the rules)", auth, s)
				}
			}
			if s, _ := call(t, base, "POST", "/v1/auth/orgs/members/leave", "BEARER "+a.Token+"  ", ""); s != 429 {
				t.Fatalf("a third spelling of the same token: %d, want 429", s)
			}
			// A second session of the same user spends from the same bucket
			// (signing in again buys nothing); another user has its own;
			// reads are limited separately.
			if s, _ := call(t, base, "POST", "/v1/auth/orgs/members/leave", "Bearer "+e.token(a.User.Email, nil), ""); s != 429 {
				t.Fatalf("another session of the same user: %d, want 429", s)
			}
			if s, _ := call(t, base, "POST", "/v1/auth/orgs/members/leave", "Bearer "+b.Token, ""); s != 403 {
				t.Fatalf("another user: %d", s)
			}
			for range 5 {
				l, _ := e.c.ListOwnedOrganizationsWithResponse(ctx, bearer(a.Token))
				wantStatus(t, l, 200)
			}
		})

		// The administration operations' writes spend from the same bucket.
		t.Run("administration writes", func(t *testing.T) {
			base := limitedServer(t, e, server.RateLimit{PerCredential: 0.05, Burst: 2})
			a := e.person("admin-writes")
			for _, path := range []string{"/v1/auth/orgs/rp-terms", "/v1/auth/api-keys"} {
				if s, _ := call(t, base, "POST", path, "Bearer "+a.Token, ""); s != 403 {
					t.Fatalf("POST %s within the burst: %d, want 403 (through to the rules)", path, s)
				}
			}
			if s, _ := call(t, base, "POST", "/v1/auth/orgs/business-details", "Bearer "+a.Token, ""); s != 429 {
				t.Fatalf("beyond the burst: %d, want 429", s)
			}
		})

		t.Run("reads per user", func(t *testing.T) {
			base := limitedServer(t, e, server.RateLimit{PerCredentialRead: 0.05, Burst: 2})
			a := e.person("a")
			for range 2 {
				if s, _ := call(t, base, "GET", "/v1/auth/account/owned-organizations", "Bearer "+a.Token, ""); s != 200 {
					t.Fatalf("read within the burst: %d", s)
				}
			}
			if s, _ := call(t, base, "GET", "/v1/auth/account/owned-organizations", "Bearer "+a.Token, ""); s != 429 {
				t.Fatalf("read beyond the burst: %d, want 429", s)
			}
			if s, _ := call(t, base, "POST", "/v1/auth/orgs/members/leave", "Bearer "+a.Token, ""); s != 403 {
				t.Fatalf("a write is not a read: %d", s)
			}
		})

		// Anonymous and failed requests are limited per address, GETs and
		// unknown paths included; a spent address waits even with a valid
		// credential, so guesses cannot be told apart by the answer.
		t.Run("per address, any method", func(t *testing.T) {
			base := limitedServer(t, e, server.RateLimit{PerIP: 0.05, Burst: 3})
			valid := e.person("valid")
			for i := range 10 {
				if s, _ := call(t, base, "GET", "/v1/auth/orgs/members", "Bearer "+valid.Token, ""); s != 403 {
					t.Fatalf("authenticated request %d: %d; it must not spend the address's budget", i, s)
				}
			}
			call(t, base, "GET", "/v1/auth/orgs/audit-logs", "Bearer kid_guess1", "")
			call(t, base, "GET", "/no/such/path", "", "")
			call(t, base, "HEAD", "/v1/auth/account/owned-organizations", "", "")
			if s, _ := call(t, base, "GET", "/v1/auth/orgs/members", "Bearer kid_guess2", ""); s != 429 {
				t.Fatalf("fourth anonymous request: %d, want 429", s)
			}
			if s, _ := call(t, base, "GET", "/v1/auth/orgs/members", "Bearer "+valid.Token, ""); s != 429 {
				t.Fatalf("a valid credential from a spent address: %d, want 429", s)
			}
		})

		// Requests sent at once are all checked before any is charged;
		// the address then owes for them, and waits them off.
		t.Run("concurrent guesses are paid back", func(t *testing.T) {
			base := limitedServer(t, e, server.RateLimit{PerIP: 2, Burst: 2})
			var wg sync.WaitGroup
			var mu sync.Mutex
			passed := 0
			for i := range 30 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if s, _ := call(t, base, "GET", "/v1/auth/orgs/members", fmt.Sprintf("Bearer kid_guess%d", i), ""); s == 401 {
						mu.Lock()
						passed++
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			s, retry := call(t, base, "GET", "/v1/auth/orgs/members", "Bearer kid_next", "")
			if want := (passed - 2) / 2; s != 429 || retry < want {
				t.Fatalf("after %d concurrent failures: %d, Retry-After %d, want 429 and at least %d", passed, s, retry, want)
			}
		})

		t.Run("IPv6 per /64", func(t *testing.T) {
			base := limitedServer(t, e, server.RateLimit{PerIP: 0.05, Burst: 3})
			for i := 1; i <= 3; i++ {
				if s, _ := call(t, base, "POST", "/v1/auth/orgs/members/leave", "Bearer kid_x", fmt.Sprintf("[2001:db8:1:2::%x]:4000", i)); s != 401 {
					t.Fatalf("guess %d: %d", i, s)
				}
			}
			if s, _ := call(t, base, "POST", "/v1/auth/orgs/members/leave", "Bearer kid_x", "[2001:db8:1:2:ffff:ffff:ffff:ffff]:4000"); s != 429 {
				t.Fatalf("another address of the same /64: %d, want 429", s)
			}
			if s, _ := call(t, base, "POST", "/v1/auth/orgs/members/leave", "Bearer kid_x", "[2001:db8:1:3::1]:4000"); s != 401 {
				t.Fatalf("another /64: %d, want 401", s)
			}
			for i := 1; i <= 3; i++ {
				call(t, base, "POST", "/v1/auth/orgs/members/leave", "Bearer kid_x", "192.0.2.1:4000")
			}
			if s, _ := call(t, base, "POST", "/v1/auth/orgs/members/leave", "Bearer kid_x", "192.0.2.2:4000"); s != 401 {
				t.Fatalf("IPv4 addresses count one by one: %d", s)
			}
			if s, _ := call(t, base, "POST", "/v1/auth/orgs/members/leave", "Bearer kid_x", "[::ffff:192.0.2.1]:4000"); s != 429 {
				t.Fatalf("an IPv4-mapped address is the IPv4 address: %d", s)
			}
		})
	})
}

// A provider's tokens are limited by the user they resolve to, like
// session tokens: fresh tokens for the same identity share one bucket,
// even from separate sign-ins (each sid is a session of its own).
func TestRateLimitsProviderTokens(t *testing.T) {
	forEachDBWithProvider(t, func(t *testing.T, pe *provEnv) {
		for i := range 3 {
			token := pe.op.Token(claimsWith(pe.op.Claims("ada", "ada@example.com"), "jti", fmt.Sprintf("token-%d", i), "sid", fmt.Sprintf("sign-in-%d", i)))
			status, hdr, raw := pe.call(t, "POST", "/v1/auth/orgs/members/leave", token, "")
			want := 403 // through to the rules: no organization selected
			if i == 2 {
				want = 429
			}
			if status != want {
				t.Fatalf("provider token %d: %d %s (Retry-After %q), want %d", i, status, raw, hdr.Get("Retry-After"), want)
			}
		}
	}, func(c *server.Config, _ *idp.Config) { c.RateLimit = server.RateLimit{PerCredential: 0.05, Burst: 2} })
}
