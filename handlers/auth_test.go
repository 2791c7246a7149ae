package handlers_test

import (
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/kayle-id/orgs-api/handlers"
	"github.com/kayle-id/orgs-api/store"
)

// An authenticated request's context carries its user's share of the
// database (store.WithShare), so one user's concurrent requests cannot take
// every turn at the database.
func TestAuthenticateSetsShare(t *testing.T) {
	withUser(t, "share@example.com", func(t *testing.T, st *store.Store, u store.User, token string) {
		h := handlers.New(st, nil, nil)
		req := httptest.NewRequest("GET", "/v1/auth/orgs/audit-logs", nil)
		req.Header.Set(echo.HeaderAuthorization, "Bearer "+token)
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
