package store_test

import (
	"context"
	"errors"
	"runtime"
	"testing"

	"github.com/google/uuid"

	"github.com/kayle-id/orgs-api/internal/testdb"
	"github.com/kayle-id/orgs-api/store"
)

// A change refused by a rule ends its transaction and hands the connection
// back in a usable state: with a pool of one, the next change runs on the
// very same connection (on PostgreSQL, the same server process).
func TestRefusedChangeKeepsConnection(t *testing.T) {
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st, err := store.Open(ctx, testdb.URL(t, kind), store.Options{MaxOpenConns: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if _, err := st.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			owner, err := st.CreateUser(ctx, "owner@example.com", "Owner")
			if err != nil {
				t.Fatal(err)
			}
			a := store.Actor{UserID: owner.ID}
			org, err := st.CreateOrganization(ctx, a, store.NewOrganization{Name: "Keep", Slug: "keep"})
			if err != nil {
				t.Fatal(err)
			}
			a.ActiveOrganizationID = &org.ID
			backend := func() string {
				if kind != testdb.Postgres {
					return ""
				}
				var pid string
				if err := st.DB().QueryRowContext(ctx, "SELECT pg_backend_pid()::text").Scan(&pid); err != nil {
					t.Fatal(err)
				}
				return pid
			}
			before := backend()
			for range 3 {
				if _, err := st.Leave(ctx, a); !errors.Is(err, store.ErrLastOwner) {
					t.Fatalf("the only owner left: %v", err)
				}
			}
			if after := backend(); after != before {
				t.Fatalf("the connection was replaced after a refused change: backend %s, then %s", before, after)
			}
			var membership uuid.UUID
			if err := st.DB().QueryRowContext(ctx, "SELECT id FROM organization_members WHERE organization_id = $1", org.ID.String()).Scan(&membership); err != nil {
				t.Fatal(err)
			}
			if _, err := st.ChangeRole(ctx, a, membership, store.RoleOwner); err != nil {
				t.Fatalf("a no-op role change after refusals: %v", err)
			}
			if got := st.DB().Stats().OpenConnections; got != 1 {
				t.Fatalf("%d connections open, want 1", got)
			}
		})
	}
}

// Without a setting the pool holds as many connections as there are CPUs,
// at least 4.
func TestDefaultPoolSize(t *testing.T) {
	st, err := store.Open(context.Background(), testdb.URL(t, testdb.SQLite), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if got, want := st.DB().Stats().MaxOpenConnections, max(4, runtime.NumCPU()); got != want {
		t.Fatalf("pool of %d, want %d", got, want)
	}
}
