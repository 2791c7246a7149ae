package server_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/google/uuid"

	api "github.com/kayle-id/orgs-api/gen/api"
)

// Two (and three) owners leaving, being suspended, or being demoted at the
// same moment: exactly enough succeed to leave one active owner, never
// zero, and every success has its audit row.
func TestLastOwnerUnderConcurrency(t *testing.T) {
	trials := 8
	if testing.Short() {
		trials = 2
	}
	forEachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		for trial := 0; trial < trials; trial++ {
			for _, owners := range []int{2, 3} {
				for _, action := range []string{"leave", "suspend", "demote"} {
					name := fmt.Sprintf("%s-%d-%s-%d", e.kind, owners, action, trial)
					first := e.person("first")
					orgID := e.org(first, "race-"+name)
					ps := []person{first}
					ids := []uuid.UUID{e.memberID(first, first)}
					for i := 1; i < owners; i++ {
						p := e.person("owner")
						ids = append(ids, e.join(first, p, api.MemberRoleOwner))
						ps = append(ps, p)
					}
					statuses := make([]int, owners)
					var wg sync.WaitGroup
					start := make(chan struct{})
					for i := range ps {
						wg.Add(1)
						go func(i int) {
							defer wg.Done()
							<-start
							var r interface{ StatusCode() int }
							var err error
							switch action {
							case "leave":
								r, err = e.c.LeaveOrganizationWithResponse(ctx, bearer(ps[i].Token))
							case "suspend": // each owner suspends the next one
								r, err = e.c.SuspendMemberWithResponse(ctx, ids[(i+1)%owners], bearer(ps[i].Token))
							case "demote":
								r, err = e.c.UpdateMemberRoleWithResponse(ctx, ids[(i+1)%owners], api.UpdateMemberRoleJSONRequestBody{Role: api.MemberRoleMember}, bearer(ps[i].Token))
							}
							if err != nil {
								t.Error(err)
								return
							}
							statuses[i] = r.StatusCode()
						}(i)
					}
					close(start)
					wg.Wait()
					ok := 0
					for _, s := range statuses {
						switch {
						case s == http.StatusOK:
							ok++
						case s >= 500:
							t.Fatalf("%s: a request failed with %d: %v", name, s, statuses)
						}
					}
					var activeOwners int
					if err := e.st.DB().QueryRow(`SELECT COUNT(*) FROM organization_members WHERE organization_id = $1 AND role = 'owner' AND suspended_at IS NULL`, orgID.String()).Scan(&activeOwners); err != nil {
						t.Fatal(err)
					}
					if activeOwners < 1 {
						t.Fatalf("%s: organization left with no active owner (statuses %v)", name, statuses)
					}
					if action == "leave" && ok != owners-1 {
						t.Fatalf("%s: %d of %d owners left, want %d", name, ok, owners, owners-1)
					}
					if activeOwners != owners-ok {
						t.Fatalf("%s: %d successes but %d active owners of %d", name, ok, activeOwners, owners)
					}
					event := map[string]string{"leave": "member.left", "suspend": "member.suspended", "demote": "member.role.changed"}[action]
					var rows int
					if err := e.st.DB().QueryRow(`SELECT COUNT(*) FROM audit_logs WHERE organization_id = $1 AND event = $2`, orgID.String(), event).Scan(&rows); err != nil {
						t.Fatal(err)
					}
					// Joining as owner writes role rows only for demotions, not here.
					if rows != ok {
						t.Fatalf("%s: %d successes but %d %s audit rows", name, ok, rows, event)
					}
				}
			}
		}
	})
}

// A member leaving while an admin suspends them, and a reinstate racing a
// second leave: exactly one state change wins each race, each change has
// exactly one audit row, and nothing answers 5xx.
func TestMembershipRaces(t *testing.T) {
	trials := 10
	if testing.Short() {
		trials = 2
	}
	forEachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		owner := e.person("owner")
		orgID := e.org(owner, "races-"+string(e.kind))
		count := func(event string) int {
			var n int
			if err := e.st.DB().QueryRow(`SELECT COUNT(*) FROM audit_logs WHERE organization_id = $1 AND event = $2`, orgID.String(), event).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		for trial := 0; trial < trials; trial++ {
			m := e.person("m")
			id := e.join(owner, m, api.MemberRoleMember)
			left0, sus0, rein0 := count("member.left"), count("member.suspended"), count("member.reinstated")

			// Leave vs suspend.
			var wg sync.WaitGroup
			var leave, suspend int
			wg.Add(2)
			go func() {
				defer wg.Done()
				r, err := e.c.LeaveOrganizationWithResponse(ctx, bearer(m.Token))
				if err == nil {
					leave = r.StatusCode()
				}
			}()
			go func() {
				defer wg.Done()
				r, err := e.c.SuspendMemberWithResponse(ctx, id, bearer(owner.Token))
				if err == nil {
					suspend = r.StatusCode()
				}
			}()
			wg.Wait()
			okLeave, okSuspend := leave == 200, suspend == 200
			if okLeave == okSuspend {
				t.Fatalf("leave %d vs suspend %d: exactly one must win", leave, suspend)
			}
			if (!okLeave && leave != 403) || (!okSuspend && suspend != 404) {
				t.Fatalf("loser answered leave %d / suspend %d", leave, suspend)
			}
			if count("member.left")-left0+count("member.suspended")-sus0 != 1 {
				t.Fatal("one suspension must have exactly one audit row")
			}

			// Reinstate vs leave (the leave can only win after the reinstate).
			var rein, leave2 int
			wg.Add(2)
			go func() {
				defer wg.Done()
				r, err := e.c.ReinstateMemberWithResponse(ctx, id, bearer(owner.Token))
				if err == nil {
					rein = r.StatusCode()
				}
			}()
			go func() {
				defer wg.Done()
				r, err := e.c.LeaveOrganizationWithResponse(ctx, bearer(m.Token))
				if err == nil {
					leave2 = r.StatusCode()
				}
			}()
			wg.Wait()
			if rein != 200 || (leave2 != 200 && leave2 != 403) {
				t.Fatalf("reinstate %d, leave %d", rein, leave2)
			}
			if count("member.reinstated")-rein0 != 1 {
				t.Fatal("the reinstate must have exactly one audit row")
			}
			var suspended bool
			if err := e.st.DB().QueryRow(`SELECT suspended_at IS NOT NULL FROM organization_members WHERE id = $1`, id.String()).Scan(&suspended); err != nil {
				t.Fatal(err)
			}
			if suspended != (leave2 == 200) {
				t.Fatalf("row suspended=%v but the second leave answered %d", suspended, leave2)
			}
		}
	})
}
