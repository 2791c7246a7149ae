package server_test

import (
	"context"
	"testing"
	"time"

	api "github.com/kayle-id/orgs-api/gen/api"
)

func TestAuditLog(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		owner, admin, member := e.person("owner"), e.person("Admin Person"), e.person("member")
		noOrg := e.person("noorg")
		e.org(owner, "audit-"+string(e.kind))
		e.join(owner, admin, api.MemberRoleAdmin)
		e.join(admin, member, api.MemberRoleMember)
		list := func(p person, params api.ListAuditLogsParams) *api.ListAuditLogsResponse {
			r, err := e.c.ListAuditLogsWithResponse(ctx, &params, bearer(p.Token))
			if err != nil {
				t.Fatal(err)
			}
			return r
		}

		r, _ := e.c.ListAuditLogsWithResponse(ctx, &api.ListAuditLogsParams{})
		env := wantError(t, r, 401, "UNAUTHORIZED", "Sign in to view audit logs.")
		if env.Pagination == nil {
			t.Error("401 of a list carries pagination")
		}
		wantError(t, list(noOrg, api.ListAuditLogsParams{}), 403, "FORBIDDEN", "Select an organization to view audit logs.")
		env = wantError(t, list(member, api.ListAuditLogsParams{}), 403, "FORBIDDEN", "Only an owner or admin can view audit logs.")
		if env.Error.Hint != "Ask an owner or admin of this organization to share the log." {
			t.Errorf("hint %q", env.Error.Hint)
		}

		all := list(admin, api.ListAuditLogsParams{})
		wantStatus(t, all, 200)
		// created, ownership, 2x invited, 2x joined
		if n := len(all.JSON200.Data); n != 6 {
			t.Fatalf("want 6 rows, got %d: %s", n, all.Body)
		}
		for i := 1; i < len(all.JSON200.Data); i++ {
			if all.JSON200.Data[i-1].CreatedAt < all.JSON200.Data[i].CreatedAt {
				t.Fatalf("not newest first: %s", all.Body)
			}
		}

		// Keyset pages of 4 then 2 walk the same rows in the same order.
		lim := 4
		p1 := list(admin, api.ListAuditLogsParams{Limit: &lim})
		wantStatus(t, p1, 200)
		if !p1.JSON200.Pagination.HasMore || p1.JSON200.Pagination.NextCursor == nil || len(p1.JSON200.Data) != 4 || p1.JSON200.Pagination.Limit != 4 {
			t.Fatalf("page 1: %s", p1.Body)
		}
		p2 := list(admin, api.ListAuditLogsParams{Limit: &lim, StartingAfter: p1.JSON200.Pagination.NextCursor})
		wantStatus(t, p2, 200)
		if p2.JSON200.Pagination.HasMore || p2.JSON200.Pagination.NextCursor != nil || len(p2.JSON200.Data) != 2 {
			t.Fatalf("page 2: %s", p2.Body)
		}
		for i, row := range append(p1.JSON200.Data, p2.JSON200.Data...) {
			if row.Id != all.JSON200.Data[i].Id {
				t.Fatalf("pages disagree with the full list at %d", i)
			}
		}
		bogus := "aud_doesnotexist"
		wantError(t, list(admin, api.ListAuditLogsParams{StartingAfter: &bogus}), 400, "INVALID_CURSOR", "")

		// Filters.
		ev := "member.joined,no.such.event"
		if got := list(admin, api.ListAuditLogsParams{Event: &ev}); len(got.JSON200.Data) != 2 {
			t.Fatalf("event filter: %s", got.Body)
		}
		actor := admin.User.ID
		if got := list(admin, api.ListAuditLogsParams{ActorUserId: &actor}); len(got.JSON200.Data) != 2 { // admin invited member, admin joined
			t.Fatalf("actor filter: %s", got.Body)
		}
		q := "ADMIN PERSON"
		if got := list(admin, api.ListAuditLogsParams{Q: &q}); len(got.JSON200.Data) != 2 {
			t.Fatalf("q over actor name: %s", got.Body)
		}
		pct := "%"
		if got := list(admin, api.ListAuditLogsParams{Q: &pct}); len(got.JSON200.Data) != 0 {
			t.Fatalf("q must be literal, %% matched: %s", got.Body)
		}
		sys := api.ListAuditLogsParamsActorType("system")
		if got := list(admin, api.ListAuditLogsParams{ActorType: &sys}); len(got.JSON200.Data) != 0 {
			t.Fatalf("actor_type filter: %s", got.Body)
		}
		future := time.Now().Add(time.Hour)
		if got := list(admin, api.ListAuditLogsParams{CreatedFrom: &future}); len(got.JSON200.Data) != 0 {
			t.Fatalf("created_from filter: %s", got.Body)
		}
		if got := list(admin, api.ListAuditLogsParams{CreatedTo: &future}); len(got.JSON200.Data) != 6 {
			t.Fatalf("created_to filter: %s", got.Body)
		}
		big := 101
		wantError(t, list(admin, api.ListAuditLogsParams{Limit: &big}), 400, "BAD_REQUEST", "")
	})
}
