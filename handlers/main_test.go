package handlers_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/kayle-id/orgs-api/internal/testdb"
	"github.com/kayle-id/orgs-api/store"
)

// TestMain stops the throwaway PostgreSQL cluster the tests may start.
func TestMain(m *testing.M) {
	code := m.Run()
	testdb.Shutdown()
	os.Exit(code)
}

// withUser runs test on each database, with a migrated store holding one
// user and a session token of theirs.
func withUser(t *testing.T, email string, test func(t *testing.T, st *store.Store, u store.User, token string)) {
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
			u, err := st.CreateUser(ctx, email, "Test")
			if err != nil {
				t.Fatal(err)
			}
			tok, err := st.CreateSession(ctx, u.Email, nil, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			test(t, st, u, tok.Token)
		})
	}
}
