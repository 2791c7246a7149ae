package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kayle-id/orgs-api/internal/testdb"
	"github.com/kayle-id/orgs-api/store"
)

// dueOrganizations creates n organizations (each with its owner membership
// and audit rows) whose deletion time has passed, and returns their ids.
func dueOrganizations(t *testing.T, st *store.Store, n int) []string {
	t.Helper()
	ctx := context.Background()
	email := fmt.Sprintf("purge-%d@example.com", time.Now().UnixNano())
	if _, err := st.CreateUser(ctx, email, "Purge"); err != nil {
		t.Fatal(err)
	}
	tok, err := st.CreateSession(ctx, email, nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	p, err := st.Authenticate(ctx, tok.Token)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, n)
	for i := range ids {
		org, err := st.CreateOrganization(ctx, p.Actor(), store.NewOrganization{Name: "Due", Slug: fmt.Sprintf("due-%d-%d", time.Now().UnixNano(), i)})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = org.ID.String()
	}
	if _, err := st.DB().Exec(`UPDATE organizations SET pending_deletion_at = '2000-01-01T00:00:00.000000Z'`); err != nil {
		t.Fatal(err)
	}
	return ids
}

// Several purgers at once, each with its own connections (as replicas
// would have): every due organization is deleted by exactly one of them
// (the counts add up to the number due), none is missed, none fails.
func TestConcurrentPurgers(t *testing.T) {
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			url := testdb.URL(t, kind)
			st := open(t, url)
			if _, err := st.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			const due, purgers = 150, 4
			dueOrganizations(t, st, due)
			counts := make([]int, purgers)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range purgers {
				p := open(t, url)
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					res, err := p.PurgeDue(ctx, nil)
					if err != nil {
						t.Errorf("purger %d: %v", i, err)
					}
					counts[i] = res.Organizations
				}()
			}
			close(start)
			wg.Wait()
			sum := 0
			for _, n := range counts {
				sum += n
			}
			if sum != due {
				t.Fatalf("purgers report %v organizations, %d in all; %d were due", counts, sum, due)
			}
			for _, table := range []string{"organizations", "organization_members", "audit_logs"} {
				var n int
				if err := st.DB().QueryRow(`SELECT COUNT(*) FROM ` + table).Scan(&n); err != nil || n != 0 {
					t.Errorf("%s: %d rows left (%v)", table, n, err)
				}
			}
			t.Logf("%s: %d organizations purged by %d purgers as %v", kind, due, purgers, counts)
		})
	}
}

// A purger never waits for a row another purger (or a cancellation) holds:
// it purges the rest and leaves that one to whoever holds it, or to the
// next run. (PostgreSQL: SQLite has one writer at a time by design.)
func TestPurgeSkipsHeldRows(t *testing.T) {
	ctx := context.Background()
	url := testdb.URL(t, testdb.Postgres)
	st := open(t, url)
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	ids := dueOrganizations(t, st, 30)
	holder, err := st.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := holder.Exec(`SELECT id FROM organizations WHERE id = $1 FOR UPDATE`, ids[0]); err != nil {
		t.Fatal(err)
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	began := time.Now()
	res, err := open(t, url).PurgeDue(pctx, nil)
	took := time.Since(began)
	if err != nil || res.Organizations != len(ids)-1 {
		t.Fatalf("with one row held: purged %d of %d, %v (after %s)", res.Organizations, len(ids), err, took)
	}
	if took > 2*time.Second {
		t.Fatalf("the purge waited for the held row: %s", took)
	}
	if err := holder.Rollback(); err != nil {
		t.Fatal(err)
	}
	res, err = st.PurgeDue(ctx, nil)
	if err != nil || res.Organizations != 1 {
		t.Fatalf("once released: purged %d, %v", res.Organizations, err)
	}
}
