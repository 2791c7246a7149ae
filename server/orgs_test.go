package server_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	api "github.com/kayle-id/orgs-api/gen/api"
	"github.com/kayle-id/orgs-api/internal/testdb"
	"github.com/kayle-id/orgs-api/store"
)

// A user may own a bounded number of organizations; beyond it creating one
// answers the documented 403 and writes nothing, also when the requests
// arrive at once. Handing one over makes room again.
func TestOrganizationLimit(t *testing.T) {
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			e := newEnvWithStore(t, kind, func(o *store.Options) { o.MaxOwnedOrganizations = 3 })
			ctx := context.Background()
			owner := e.person("owner")
			var ok, refused atomic.Int32
			var wg sync.WaitGroup
			for i := range 10 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r, err := e.c.CreateOrganizationWithResponse(ctx, api.CreateOrganizationJSONRequestBody{Name: "O", Slug: fmt.Sprintf("limit-%s-%d", kind, i)}, bearer(owner.Token))
					switch {
					case err != nil:
						t.Error(err)
					case r.StatusCode() == 200:
						ok.Add(1)
					case r.StatusCode() == 403 && strings.Contains(string(r.Body), `"ORGANIZATION_LIMIT_REACHED"`):
						refused.Add(1)
					default:
						t.Errorf("create: %d %s", r.StatusCode(), r.Body)
					}
				}()
			}
			wg.Wait()
			if ok.Load() != 3 || refused.Load() != 7 {
				t.Fatalf("10 creations at once with room for 3: %d created, %d refused", ok.Load(), refused.Load())
			}
			before := rowCounts(t, e)
			r, _ := e.c.CreateOrganizationWithResponse(ctx, api.CreateOrganizationJSONRequestBody{Name: "O", Slug: "limit-one-more-" + string(kind)}, bearer(owner.Token))
			wantError(t, r, 403, "ORGANIZATION_LIMIT_REACHED", "You own as many organizations as one account may.")
			if after := rowCounts(t, e); after != before {
				t.Fatalf("a refused creation wrote rows:\n%s\n%s", before, after)
			}
			// Hand the active organization to someone else and leave it.
			heir := e.person("heir")
			e.join(owner, heir, api.MemberRoleOwner)
			l, _ := e.c.LeaveOrganizationWithResponse(ctx, bearer(owner.Token))
			wantStatus(t, l, 200)
			r, _ = e.c.CreateOrganizationWithResponse(ctx, api.CreateOrganizationJSONRequestBody{Name: "O", Slug: "limit-after-" + string(kind)}, bearer(owner.Token))
			wantStatus(t, r, 200)
		})
	}
}

// The owned-organizations list reads what it shows, not the logos: the
// memory one answer takes does not grow with the logos of the organizations
// it lists. (Not parallel: it measures the process's allocations.)
func TestOwnedOrganizationsLeaveLogosAlone(t *testing.T) {
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			e := newEnv(t, kind)
			ctx := context.Background()
			owner := e.person("owner")
			p, err := e.st.Authenticate(ctx, owner.Token)
			if err != nil {
				t.Fatal(err)
			}
			const orgs = 20
			for i := range orgs {
				if _, err := e.st.CreateOrganization(ctx, p.Actor(), store.NewOrganization{Name: "Logo", Slug: fmt.Sprintf("logo-%d", i)}); err != nil {
					t.Fatal(err)
				}
			}
			// Logos as versions before object storage kept them: the image in the row.
			if _, err := e.st.DB().Exec(`UPDATE organizations SET logo = $1, logo_content_type = 'image/png'`, strings.Repeat("A", 1398108)); err != nil {
				t.Fatal(err)
			}
			list := func() {
				r, err := e.c.ListOwnedOrganizationsWithResponse(ctx, bearer(owner.Token))
				if err != nil || r.JSON200 == nil || len(r.JSON200.Data.Organizations) != orgs {
					t.Fatalf("owned organizations: %v %d %.200s", err, r.StatusCode(), r.Body)
				}
			}
			list() // warm up
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			const calls = 5
			for range calls {
				list()
			}
			runtime.ReadMemStats(&after)
			perCall := (after.TotalAlloc - before.TotalAlloc) / calls
			// The logos alone are 20 x 1.4 MB = 28 MB.
			if perCall > 2<<20 {
				t.Fatalf("one owned-organizations answer allocated %d KiB; it reads the logos", perCall>>10)
			}
			t.Logf("%s: %d KiB allocated per answer listing %d organizations with maximal logos", kind, perCall>>10, orgs)
		})
	}
}
