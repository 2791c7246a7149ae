package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/time/rate"

	"github.com/kayle-id/orgs-api/internal/testdb"
	"github.com/kayle-id/orgs-api/internal/testimg"
	"github.com/kayle-id/orgs-api/logo"
	"github.com/kayle-id/orgs-api/mail"
	"github.com/kayle-id/orgs-api/server"
	"github.com/kayle-id/orgs-api/validator"
)

// BenchmarkServe measures whole requests through the server (routing,
// authentication, validation, handler, SQLite), with validation full and
// off, so that the cost of the contract check shows next to the rest.
func BenchmarkServe(b *testing.B) {
	e := newEnv(b, testdb.SQLite)
	owner := e.person("owner")
	e.org(owner, "bench")
	for i := 0; i < 60; i++ {
		p := e.person(fmt.Sprintf("m%d", i))
		e.join(owner, p, "member")
	}
	// The abuse limits' own cost: every limit on, at rates no request here
	// reaches, so the limiters run on each request and never refuse.
	never := rate.Limit(1e9)
	limits := server.RateLimit{PerCredential: never, PerCredentialRead: never, PerIP: never, Burst: 1e9}
	for _, v := range []struct {
		name   string
		mode   validator.Mode
		limits bool
	}{{"off", validator.Off, false}, {"full", validator.Full, false}, {"full+limits", validator.Full, true}} {
		cfg := server.Config{Validation: v.mode, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))}
		if v.limits {
			cfg.RateLimit, cfg.MaxInFlight = limits, 128
			cfg.MaxInFlightPerAddress, cfg.MaxInFlightPerCredential = 1e6, 1e6
		}
		app, err := server.New(cfg, e.st, &mail.Outbox{Dir: b.TempDir(), From: "x@kayle.id"})
		if err != nil {
			b.Fatal(err)
		}
		for _, path := range []string{"/v1/auth/orgs/members?limit=50", "/v1/auth/orgs/audit-logs?limit=50"} {
			b.Run(fmt.Sprintf("%s%s", v.name, path), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					req := httptest.NewRequestWithContext(context.Background(), http.MethodGet, path, nil)
					req.Header.Set("Authorization", "Bearer "+owner.Token)
					rec := httptest.NewRecorder()
					app.ServeHTTP(rec, req)
					if rec.Code != 200 {
						b.Fatalf("%d %s", rec.Code, rec.Body)
					}
				}
			})
		}
	}
}

// BenchmarkServeWrite is the write path (leave, then reinstate) through the
// whole server on PostgreSQL, one request at a time: with the rate limits
// off, and on (in memory, per replica) at rates it never reaches, so that
// what the limits cost a request that passes them shows.
func BenchmarkServeWrite(b *testing.B) {
	e := newEnv(b, testdb.Postgres)
	owner := e.person("owner")
	e.org(owner, "bench-write")
	m := e.person("m")
	id := e.join(owner, m, "member")
	for _, c := range []struct {
		name string
		rl   server.RateLimit
	}{
		{"limits-off", server.RateLimit{}},
		{"limits-on", server.RateLimit{PerCredential: 1e9, PerIP: 1e9, Burst: 1e9}},
	} {
		app, err := server.New(server.Config{Validation: validator.Full, RateLimit: c.rl, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))}, e.st, &mail.Outbox{Dir: b.TempDir(), From: "x@kayle.id"})
		if err != nil {
			b.Fatal(err)
		}
		do := func(path, token string) {
			req := httptest.NewRequestWithContext(context.Background(), http.MethodPost, path, nil)
			req.Header.Set("Authorization", "Bearer "+token)
			rec := httptest.NewRecorder()
			app.ServeHTTP(rec, req)
			if rec.Code != 200 {
				b.Fatalf("%s: %d %s", path, rec.Code, rec.Body)
			}
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				do("/v1/auth/orgs/members/leave", m.Token)
				do("/v1/auth/orgs/members/"+id.String()+"/reinstate", owner.Token)
			}
		})
	}
}

// BenchmarkAuthentication is one light request (owned organizations: the
// credential's lookup and one query) with a session token against the same
// request with identity provider JWTs (RS256, ES256), on both databases:
// the cost of JWT verification per request, side by side.
func BenchmarkAuthentication(b *testing.B) {
	for _, kind := range testdb.Kinds {
		pe := newProviderEnv(b, kind)
		ecKey := pe.op.AddKey(jose.ES256)
		local := pe.person("local")
		tokens := []struct{ name, token string }{
			{"session-token", local.Token},
			{"jwt-RS256", pe.op.Token(pe.op.Claims("bench-rs", "bench-rs@example.com"))},
			{"jwt-ES256", pe.op.SignWith(ecKey, pe.op.Claims("bench-es", "bench-es@example.com"))},
		}
		for _, tk := range tokens {
			b.Run(string(kind)+"/"+tk.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					req := httptest.NewRequestWithContext(context.Background(), http.MethodGet, "/v1/auth/account/owned-organizations", nil)
					req.Header.Set("Authorization", "Bearer "+tk.token)
					rec := httptest.NewRecorder()
					pe.srv.Config.Handler.ServeHTTP(rec, req)
					if rec.Code != 200 {
						b.Fatalf("%d %s", rec.Code, rec.Body)
					}
				}
			})
		}
	}
}

// BenchmarkServeLogo is the public read the server makes when no CDN serves
// the bucket: GET /logos/<id> of a 1 MiB logo in a folder bucket.
func BenchmarkServeLogo(b *testing.B) {
	e := newEnv(b, testdb.SQLite)
	owner := e.person("owner")
	e.org(owner, "bench-logo")
	a := e.call(b, "POST", "/v1/auth/orgs/logo", owner.Token, logoBody(testimg.Base64(testimg.PaddedPNG(logo.MaxBytes)), "image/png"))
	if a.status != 200 {
		b.Fatalf("upload: %d %s", a.status, a.body)
	}
	var up struct {
		Data struct{ Logo string } `json:"data"`
	}
	if err := json.Unmarshal(a.body, &up); err != nil {
		b.Fatal(err)
	}
	path := strings.TrimPrefix(up.Data.Logo, e.srv.URL)
	app, err := server.New(server.Config{Validation: validator.Full, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Logos: e.logos, ServeLogos: true}, e.st, &mail.Outbox{Dir: b.TempDir(), From: "x@kayle.id"})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(logo.MaxBytes)
	for b.Loop() {
		rec := httptest.NewRecorder()
		app.ServeHTTP(rec, httptest.NewRequestWithContext(context.Background(), http.MethodGet, path, nil))
		if rec.Code != 200 || rec.Body.Len() != logo.MaxBytes {
			b.Fatalf("%d (%d bytes)", rec.Code, rec.Body.Len())
		}
	}
}

// BenchmarkRPCredentials is one relying-party read (GET /v1/sessions,
// an empty first page) with an API key against the same read with a
// member's session token, on both databases: the issue's "the API-key
// check costs no more than a session token's", side by side.
func BenchmarkRPCredentials(b *testing.B) {
	for _, kind := range testdb.Kinds {
		e := newEnv(b, kind)
		o := e.rpOrg(b, "bench")
		for _, c := range []struct{ name, token string }{{"api-key", o.key}, {"session-token", o.member.Token}} {
			b.Run(string(kind)+"/"+c.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					req := httptest.NewRequestWithContext(context.Background(), http.MethodGet, "/v1/sessions?limit=1", nil)
					req.Header.Set("Authorization", "Bearer "+c.token)
					rec := httptest.NewRecorder()
					e.srv.Config.Handler.ServeHTTP(rec, req)
					if rec.Code != 200 {
						b.Fatalf("%d %s", rec.Code, rec.Body)
					}
				}
			})
		}
	}
}

// BenchmarkCreateSession is POST /v1/sessions with an API key (a share
// contract and no redirect), in process, on both databases: the request
// behind the load benchmark's "create session" workload, for profiles.
func BenchmarkCreateSession(b *testing.B) {
	for _, kind := range testdb.Kinds {
		e := newEnv(b, kind)
		o := e.rpOrg(b, "bench-create")
		body := `{"share_fields":{"age_over_18":{"required":true,"reason":"Check your age"}}}`
		b.Run(string(kind), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequestWithContext(context.Background(), http.MethodPost, "/v1/sessions", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+o.key)
				req.Header.Set("Content-Type", "application/json")
				rec := httptest.NewRecorder()
				e.srv.Config.Handler.ServeHTTP(rec, req)
				if rec.Code != 200 {
					b.Fatalf("%d %s", rec.Code, rec.Body)
				}
			}
		})
	}
}
