package server_test

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	api "github.com/kayle-id/orgs-api/gen/api"
	"github.com/kayle-id/orgs-api/mail"
	"github.com/kayle-id/orgs-api/server"
	"github.com/kayle-id/orgs-api/validator"
)

// When the deletion code cannot be mailed, the answer is a 500 in the
// envelope and nothing is stored: no code, no audit row.
func TestRequestDeletionMailFailure(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		owner := e.person("owner")
		orgID := e.org(owner, "mailfail-"+string(e.kind))
		blocker := filepath.Join(t.TempDir(), "not-a-folder")
		if err := os.WriteFile(blocker, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		h, err := server.New(server.Config{Validation: validator.Full, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))},
			e.st, &mail.Outbox{Dir: blocker, From: "x@kayle.id"})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(h)
		defer srv.Close()
		c, _ := api.NewClientWithResponses(srv.URL)
		r, err := c.RequestOrganizationDeletionWithResponse(ctx, api.RequestOrganizationDeletionJSONRequestBody{OrganizationId: orgID}, bearer(owner.Token))
		if err != nil {
			t.Fatal(err)
		}
		wantError(t, r, 500, "INTERNAL_SERVER_ERROR", "")
		for _, q := range []string{
			`SELECT COUNT(*) FROM organization_deletion_codes`,
			`SELECT COUNT(*) FROM audit_logs WHERE event = 'organization.deletion.requested'`,
		} {
			var n int
			if err := e.st.DB().QueryRow(q).Scan(&n); err != nil || n != 0 {
				t.Fatalf("%s: %d %v", q, n, err)
			}
		}
	})
}

// The running server purges organizations whose deletion time has passed.
func TestPurgerRuns(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		owner := e.person("owner")
		orgID := e.org(owner, "purger-"+string(e.kind))
		scheduleDeletion(t, e, owner, orgID)
		e.clock.Advance(49 * time.Hour)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			server.RunPurger(ctx, e.st, 20*time.Millisecond, slog.New(slog.NewTextHandler(io.Discard, nil)))
			close(done)
		}()
		deadline := time.Now().Add(10 * time.Second)
		for {
			var n int
			if err := e.st.DB().QueryRow(`SELECT COUNT(*) FROM organizations WHERE id = $1`, orgID.String()).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the purger did not purge a due organization")
			}
			time.Sleep(20 * time.Millisecond)
		}
		cancel()
		<-done
	})
}
