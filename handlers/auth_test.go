package handlers_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/kayle-id/orgs-api/handlers"
	"github.com/kayle-id/orgs-api/internal/testdb"
	"github.com/kayle-id/orgs-api/store"
)

// An authenticated request's context carries its user's share of the
// database (store.WithShare), so one user's concurrent requests cannot take
// every turn at the database.
func TestAuthenticateSetsShare(t *testing.T) {
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st, err := store.Open(ctx, testdb.URL(t, kind), store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			if _, err := st.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			u, err := st.CreateUser(ctx, "share@example.com", "Share")
			if err != nil {
				t.Fatal(err)
			}
			tok, err := st.CreateSession(ctx, u.Email, nil, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			h := handlers.New(st, nil, nil)
			req := httptest.NewRequest("GET", "/v1/auth/orgs/audit-logs", nil)
			req.Header.Set(echo.HeaderAuthorization, "Bearer "+tok.Token)
			c := echo.New().NewContext(req, httptest.NewRecorder())
			if err := h.Authenticate(c, "listAuditLogs"); err != nil {
				t.Fatal(err)
			}
			key, ok := store.ShareOf(c.Request().Context())
			if !ok || key != u.ID.String() {
				t.Fatalf("share %q %v, want the user id %s", key, ok, u.ID)
			}
			if p, ok := handlers.PrincipalFrom(c.Request().Context()); !ok || p.User.ID != u.ID {
				t.Fatalf("principal lost: %+v %v", p, ok)
			}
		})
	}
}
