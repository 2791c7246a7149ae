package server_test

import (
	"context"
	"testing"

	api "github.com/kayle-id/orgs-api/gen/api"
	"github.com/kayle-id/orgs-api/store"
)

// The seed operation's five documented outcomes, in upstream's check order.
func TestLeave(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		owner := e.person("owner")
		member := e.person("member")

		t.Run("401 without a credential", func(t *testing.T) {
			r, err := e.c.LeaveOrganizationWithResponse(ctx)
			if err != nil {
				t.Fatal(err)
			}
			wantError(t, r, 401, "UNAUTHORIZED", "Unauthorized")
			if got := r.HTTPResponse.Header.Get("WWW-Authenticate"); got == "" {
				t.Error("401 without WWW-Authenticate")
			}
			r, _ = e.c.LeaveOrganizationWithResponse(ctx, bearer("kid_not-a-real-token"))
			wantError(t, r, 401, "UNAUTHORIZED", "Unauthorized")
		})

		t.Run("403 with no active organization", func(t *testing.T) {
			r, _ := e.c.LeaveOrganizationWithResponse(ctx, bearer(owner.Token))
			env := wantError(t, r, 403, "FORBIDDEN", "Select an organization to manage members.")
			if env.Error.Hint != "The active session must have an organization selected." || env.Error.Docs != "https://kayle.id/docs/api/errors#forbidden" {
				t.Errorf("hint/docs: %+v", env.Error)
			}
		})

		orgID := e.org(owner, "leave-"+string(e.kind))
		e.join(owner, member, api.MemberRoleMember)

		t.Run("409 for the last active owner", func(t *testing.T) {
			r, _ := e.c.LeaveOrganizationWithResponse(ctx, bearer(owner.Token))
			env := wantError(t, r, 409, "LAST_OWNER", "You are the only active owner of this organization. Promote another member to owner before leaving.")
			if env.Error.Hint != "Assign owner role to another active member, then retry." || env.Error.Docs != "https://kayle.id/docs/api/errors#conflict" {
				t.Errorf("hint/docs: %+v", env.Error)
			}
		})

		t.Run("200 suspends, writes member.left, and is not idempotent", func(t *testing.T) {
			r, _ := e.c.LeaveOrganizationWithResponse(ctx, bearer(member.Token))
			wantStatus(t, r, 200)
			if r.JSON200.Data.Message != "You left the organization." || r.JSON200.Data.Status != "success" || r.JSON200.Error != nil {
				t.Fatalf("body: %s", r.Body)
			}
			list, _ := e.c.ListMembersWithResponse(ctx, &api.ListMembersParams{}, bearer(owner.Token))
			wantStatus(t, list, 200)
			var found bool
			for _, m := range list.JSON200.Data {
				if m.UserId == member.User.ID {
					found = true
					if m.SuspendedAt == nil || m.SuspendedBy == nil || *m.SuspendedBy != member.User.ID {
						t.Fatalf("membership not suspended by the caller: %+v", m)
					}
				}
			}
			if !found {
				t.Fatal("membership row was deleted; suspension must keep it")
			}
			event := store.EventMemberLeft
			logs, _ := e.c.ListAuditLogsWithResponse(ctx, &api.ListAuditLogsParams{Event: &event}, bearer(owner.Token))
			wantStatus(t, logs, 200)
			if len(logs.JSON200.Data) != 1 {
				t.Fatalf("want one member.left row, got %s", logs.Body)
			}
			row := logs.JSON200.Data[0]
			if row.Actor.Type != "user" || row.Actor.Id == nil || *row.Actor.Id != member.User.ID.String() ||
				row.TargetType == nil || *row.TargetType != "member" || row.Metadata["user_id"] != member.User.ID.String() || row.Metadata["role"] != "member" {
				t.Fatalf("audit row: %+v", row)
			}

			again, _ := e.c.LeaveOrganizationWithResponse(ctx, bearer(member.Token))
			env := wantError(t, again, 403, "FORBIDDEN", "You are not a member of this organization.")
			if env.Error.Hint != "Switch to an organization where you have an active membership." {
				t.Errorf("hint: %q", env.Error.Hint)
			}
		})

		t.Run("410 when the organization is frozen, checked before membership", func(t *testing.T) {
			scheduleDeletion(t, e, owner, orgID)
			for _, p := range []person{owner, member} { // member is suspended: 410 still comes first
				r, _ := e.c.LeaveOrganizationWithResponse(ctx, bearer(p.Token))
				env := wantError(t, r, 410, "ORGANIZATION_FROZEN", "This organization is scheduled for deletion and cannot be modified.")
				if env.Error.Hint != "Cancel the pending deletion before leaving." || env.Error.Docs != "https://kayle.id/docs/api/errors#organization_frozen" {
					t.Errorf("hint/docs: %+v", env.Error)
				}
			}
		})
	})
}
