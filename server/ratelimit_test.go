package server_test

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	api "github.com/kayle-id/orgs-api/gen/api"
	"github.com/kayle-id/orgs-api/mail"
	"github.com/kayle-id/orgs-api/server"
	"github.com/kayle-id/orgs-api/validator"
)

func TestRateLimits(t *testing.T) {
	e := newEnv(t, "sqlite")
	ctx := context.Background()
	serve := func(rl server.RateLimit) *api.ClientWithResponses {
		app, err := server.New(server.Config{Validation: validator.Full, Metrics: conformance, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), RateLimit: rl},
			e.st, &mail.Outbox{Dir: t.TempDir(), From: "x@kayle.id"})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(app)
		t.Cleanup(srv.Close)
		c, _ := api.NewClientWithResponses(srv.URL)
		return c
	}

	t.Run("per credential", func(t *testing.T) {
		c := serve(server.RateLimit{PerCredential: 0.05, Burst: 2})
		a, b := e.person("a"), e.person("b")
		for i := 0; i < 2; i++ {
			r, _ := c.LeaveOrganizationWithResponse(ctx, bearer(a.Token))
			wantStatus(t, r, 403) // allowed through to the rules
		}
		r, _ := c.LeaveOrganizationWithResponse(ctx, bearer(a.Token))
		wantError(t, r, 429, "RATE_LIMITED", "Too many requests.")
		if s, err := strconv.Atoi(r.HTTPResponse.Header.Get("Retry-After")); err != nil || s < 1 {
			t.Fatalf("Retry-After %q", r.HTTPResponse.Header.Get("Retry-After"))
		}
		// Reads are not limited, and other credentials have their own bucket.
		for i := 0; i < 5; i++ {
			l, _ := c.ListOwnedOrganizationsWithResponse(ctx, bearer(a.Token))
			wantStatus(t, l, 200)
		}
		r, _ = c.LeaveOrganizationWithResponse(ctx, bearer(b.Token))
		wantStatus(t, r, 403)
	})

	t.Run("administration writes", func(t *testing.T) {
		c := serve(server.RateLimit{PerCredential: 0.05, Burst: 2})
		a := e.person("admin-writes")
		for range 2 {
			r, _ := c.AcceptRpTermsWithResponse(ctx, bearer(a.Token))
			wantStatus(t, r, 403) // allowed through to the rules
		}
		r, _ := c.CreateApiKeyWithBodyWithResponse(ctx, "application/json", strings.NewReader(`{"name":"x","permissions":["sessions:read"]}`), bearer(a.Token))
		wantError(t, r, 429, "RATE_LIMITED", "")
		l, _ := c.GetRpTermsWithResponse(ctx, bearer(a.Token))
		wantStatus(t, l, 403) // reads are not limited
	})

	t.Run("per address, before authentication", func(t *testing.T) {
		c := serve(server.RateLimit{PerIP: 0.05, Burst: 3})
		for i := 0; i < 3; i++ {
			r, _ := c.LeaveOrganizationWithResponse(ctx, bearer("kid_guess"+strconv.Itoa(i)))
			wantStatus(t, r, 401)
		}
		r, _ := c.LeaveOrganizationWithResponse(ctx, bearer(e.person("c").Token))
		wantError(t, r, 429, "RATE_LIMITED", "")
	})
}
