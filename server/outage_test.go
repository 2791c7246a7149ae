package server_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"
	_ "github.com/jackc/pgx/v5/stdlib"

	api "github.com/kayle-id/orgs-api/gen/api"
	"github.com/kayle-id/orgs-api/internal/testdb"
	"github.com/kayle-id/orgs-api/mail"
	"github.com/kayle-id/orgs-api/server"
	"github.com/kayle-id/orgs-api/store"
	"github.com/kayle-id/orgs-api/validator"
)

// With the server running on PostgreSQL, stop the database: requests answer
// 503 in the envelope within a bounded time, /readyz is not ready while
// /healthz stays up; start it again and the same server serves correctly.
func TestDatabaseOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("outage test skipped in -short mode")
	}
	cluster, err := testdb.StartCluster()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the outage test needs its own PostgreSQL cluster: %v", err)
		}
		t.Skipf("no PostgreSQL cluster can be started here: %v", err)
	}
	defer cluster.Stop()
	admin, err := sql.Open("pgx", cluster.URL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec("CREATE DATABASE outage"); err != nil {
		t.Fatal(err)
	}
	admin.Close()
	url := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/outage?sslmode=disable", cluster.Port)

	ctx := context.Background()
	st, err := store.Open(ctx, url, store.Options{MaxOpenConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	app, err := server.New(server.Config{Validation: validator.Full, RequestTimeout: 5 * time.Second, Metrics: conformance,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, st, &mail.Outbox{Dir: t.TempDir(), From: "x@kayle.id"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(app)
	defer srv.Close()
	c, _ := api.NewClientWithResponses(srv.URL)

	if _, err := st.CreateUser(ctx, "o@example.com", "O"); err != nil {
		t.Fatal(err)
	}
	tok, _ := st.CreateSession(ctx, "o@example.com", nil, time.Hour)
	r, _ := c.CreateOrganizationWithResponse(ctx, api.CreateOrganizationJSONRequestBody{Name: "Outage", Slug: "outage"}, bearer(tok.Token))
	wantStatus(t, r, 200)

	status := func(path string) int {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	if err := cluster.Pause(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	leave, err := c.LeaveOrganizationWithResponse(ctx, bearer(tok.Token))
	if err != nil {
		t.Fatal(err)
	}
	env := wantError(t, leave, 503, "SERVICE_UNAVAILABLE", "")
	if env.Error.Hint == "" || leave.HTTPResponse.Header.Get("Retry-After") == "" {
		t.Errorf("503 without a retry hint: %s", leave.Body)
	}
	if d := time.Since(start); d > 6*time.Second {
		t.Errorf("503 took %s", d)
	}
	create, _ := c.CreateOrganizationWithResponse(ctx, api.CreateOrganizationJSONRequestBody{Name: "Lost", Slug: "lost"}, bearer(tok.Token))
	wantError(t, create, 503, "SERVICE_UNAVAILABLE", "")
	// The domain operations, whose contract documents a 503, answer the same.
	for name, r := range map[string]func() (response, error){
		"start": func() (response, error) {
			return c.StartDnsChallengeWithResponse(ctx, api.StartDnsChallengeJSONRequestBody{ApexDomain: "lost.io"}, bearer(tok.Token))
		},
		"verify": func() (response, error) {
			return c.VerifyDnsChallengeWithResponse(ctx, api.VerifyDnsChallengeJSONRequestBody{ChallengeId: uuid.New()}, bearer(tok.Token))
		},
		"list":   func() (response, error) { return c.ListDomainsWithResponse(ctx, bearer(tok.Token)) },
		"delete": func() (response, error) { return c.DeleteDomainWithResponse(ctx, uuid.New(), bearer(tok.Token)) },
	} {
		got, err := r()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		wantError(t, got, 503, "SERVICE_UNAVAILABLE", "")
	}
	if got := status("/readyz"); got != 503 {
		t.Errorf("/readyz during the outage: %d", got)
	}
	if got := status("/healthz"); got != 200 {
		t.Errorf("/healthz during the outage: %d", got)
	}

	if err := cluster.Resume(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for status("/readyz") != 200 {
		if time.Now().After(deadline) {
			t.Fatal("/readyz did not recover")
		}
		time.Sleep(100 * time.Millisecond)
	}
	var ok bool
	for !ok && time.Now().Before(deadline) {
		r, _ := c.CreateOrganizationWithResponse(ctx, api.CreateOrganizationJSONRequestBody{Name: "After", Slug: "after"}, bearer(tok.Token))
		ok = r.StatusCode() == 200
		if !ok && r.StatusCode() != 503 {
			t.Fatalf("after recovery: %d %s", r.StatusCode(), r.Body)
		}
	}
	if !ok {
		t.Fatal("the server did not serve again after the database came back")
	}
	// Nothing half-written: the organization created during the outage does
	// not exist, and each organization has its owner and audit rows.
	var lost, orgs, owners, created int
	st.DB().QueryRow(`SELECT COUNT(*) FROM organizations WHERE slug = 'lost'`).Scan(&lost)
	st.DB().QueryRow(`SELECT COUNT(*) FROM organizations`).Scan(&orgs)
	st.DB().QueryRow(`SELECT COUNT(*) FROM organization_members WHERE role = 'owner'`).Scan(&owners)
	st.DB().QueryRow(`SELECT COUNT(*) FROM audit_logs WHERE event = 'organization.created'`).Scan(&created)
	if lost != 0 || orgs != 2 || owners != 2 || created != 2 {
		t.Fatalf("rows after the outage: lost=%d orgs=%d owners=%d created=%d", lost, orgs, owners, created)
	}
}
