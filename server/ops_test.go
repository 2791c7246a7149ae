package server_test

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	api "github.com/kayle-id/orgs-api/gen/api"
	"github.com/kayle-id/orgs-api/mail"
	"github.com/kayle-id/orgs-api/server"
	"github.com/kayle-id/orgs-api/validator"
)

// When the deletion code cannot be mailed, the answer is a 500 that says
// so, in the envelope, and nothing usable is stored: no code, no audit row.
func TestRequestDeletionMailFailure(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		owner := e.person("owner")
		orgID := e.org(owner, "mailfail-"+string(e.kind))
		blocker := filepath.Join(t.TempDir(), "not-a-folder")
		if err := os.WriteFile(blocker, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		h, err := server.New(server.Config{Validation: validator.Full, Metrics: conformance, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))},
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
		wantError(t, r, 500, "CODE_NOT_SENT", "The confirmation code could not be mailed, so no code was issued.")
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
			server.RunJobs(ctx, e.st, slog.New(slog.NewTextHandler(io.Discard, nil)), nil, server.PurgeJob(e.st, 20*time.Millisecond))
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

// Unexpected failures (here: a table that has gone missing under the
// server) answer 500 in the envelope, reveal nothing, and roll back.
func TestInternalErrors(t *testing.T) {
	e := newEnv(t, "sqlite")
	ctx := context.Background()
	owner := e.person("owner")
	orgID := e.org(owner, "internal")
	scheduled := e.org(owner, "internal-scheduled")
	scheduleDeletion(t, e, owner, scheduled)
	r, _ := e.c.RequestOrganizationDeletionWithResponse(ctx, api.RequestOrganizationDeletionJSONRequestBody{OrganizationId: orgID}, bearer(owner.Token))
	wantStatus(t, r, 200)
	code := lastCode(t, e, owner.User.Email)
	if _, err := e.st.DB().Exec(`DROP TABLE audit_logs`); err != nil {
		t.Fatal(err)
	}
	var orgsBefore int
	e.st.DB().QueryRow(`SELECT COUNT(*) FROM organizations`).Scan(&orgsBefore)

	c1, _ := e.c.CreateOrganizationWithResponse(ctx, api.CreateOrganizationJSONRequestBody{Name: "X", Slug: "internal-x"}, bearer(owner.Token))
	wantError(t, c1, 500, "INTERNAL_SERVER_ERROR", "An unexpected error occurred.")
	if strings.Contains(string(c1.Body), "audit_logs") || strings.Contains(string(c1.Body), "sqlite") {
		t.Fatalf("a 500 leaked internals: %s", c1.Body)
	}
	var orgsAfter int
	e.st.DB().QueryRow(`SELECT COUNT(*) FROM organizations`).Scan(&orgsAfter)
	if orgsAfter != orgsBefore {
		t.Fatal("a failed organization creation left rows behind")
	}
	c2, _ := e.c.ConfirmOrganizationDeletionWithResponse(ctx, api.ConfirmOrganizationDeletionJSONRequestBody{OrganizationId: orgID, Code: code}, bearer(owner.Token))
	wantError(t, c2, 500, "INTERNAL_SERVER_ERROR", "")
	c3, _ := e.c.CancelOrganizationDeletionWithResponse(ctx, api.CancelOrganizationDeletionJSONRequestBody{OrganizationId: scheduled}, bearer(owner.Token))
	wantError(t, c3, 500, "INTERNAL_SERVER_ERROR", "")
	c4, _ := e.c.ListAuditLogsWithResponse(ctx, &api.ListAuditLogsParams{}, bearer(owner.Token))
	wantError(t, c4, 500, "INTERNAL_SERVER_ERROR", "")
	// The confirm and the cancel were rolled back: still pending, still scheduled.
	var pendingCodes, stillScheduled int
	e.st.DB().QueryRow(`SELECT COUNT(*) FROM organization_deletion_codes`).Scan(&pendingCodes)
	e.st.DB().QueryRow(`SELECT COUNT(*) FROM organizations WHERE pending_deletion_at IS NOT NULL`).Scan(&stillScheduled)
	if pendingCodes != 1 || stillScheduled != 1 {
		t.Fatalf("failed changes were not rolled back: codes=%d scheduled=%d", pendingCodes, stillScheduled)
	}
	if _, err := e.st.DB().Exec(`ALTER TABLE organization_members RENAME TO gone`); err != nil {
		t.Fatal(err)
	}
	c5, _ := e.c.ListOwnedOrganizationsWithResponse(ctx, bearer(owner.Token))
	wantError(t, c5, 500, "INTERNAL_SERVER_ERROR", "")
}
