package server_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/uuid"

	api "github.com/kayle-id/orgs-api/gen/api"
	"github.com/kayle-id/orgs-api/internal/testimg"
)

func TestSuspendReinstateAndRoles(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		owner, admin, member, other := e.person("owner"), e.person("admin"), e.person("member"), e.person("other")
		noOrg := e.person("noorg")
		orgID := e.org(owner, "roles-"+string(e.kind))
		adminID := e.join(owner, admin, api.MemberRoleAdmin)
		memberID := e.join(owner, member, api.MemberRoleMember)
		ownerID := e.memberID(owner, owner)
		e.org(other, "other-"+string(e.kind))
		otherID := e.memberID(other, other)

		suspend := func(p person, id uuid.UUID) *api.SuspendMemberResponse {
			r, err := e.c.SuspendMemberWithResponse(ctx, id, bearer(p.Token))
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		reinstate := func(p person, id uuid.UUID) *api.ReinstateMemberResponse {
			r, err := e.c.ReinstateMemberWithResponse(ctx, id, bearer(p.Token))
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		setRole := func(p person, id uuid.UUID, role api.MemberRole) *api.UpdateMemberRoleResponse {
			r, err := e.c.UpdateMemberRoleWithResponse(ctx, id, api.UpdateMemberRoleJSONRequestBody{Role: role}, bearer(p.Token))
			if err != nil {
				t.Fatal(err)
			}
			return r
		}

		// 401 and 403 (no organization, wrong role).
		wantError(t, suspend(person{Token: ""}, memberID), 401, "UNAUTHORIZED", "")
		wantError(t, reinstate(person{Token: "x"}, memberID), 401, "UNAUTHORIZED", "")
		wantError(t, setRole(person{Token: "kid_x"}, memberID, api.MemberRoleAdmin), 401, "UNAUTHORIZED", "")
		wantError(t, suspend(noOrg, memberID), 403, "FORBIDDEN", "Select an organization to manage members.")
		wantError(t, suspend(member, adminID), 403, "FORBIDDEN", "Only an owner or admin can suspend members.")
		wantError(t, reinstate(member, adminID), 403, "FORBIDDEN", "Only an owner or admin can reinstate members.")
		wantError(t, setRole(member, adminID, api.MemberRoleMember), 403, "FORBIDDEN", "Only an owner or admin can change member roles.")
		wantError(t, setRole(admin, memberID, api.MemberRoleOwner), 403, "FORBIDDEN", "Only an owner can grant or remove the owner role.")
		wantError(t, setRole(admin, ownerID, api.MemberRoleMember), 403, "FORBIDDEN", "Only an owner can grant or remove the owner role.")

		// 404: unknown ids and other organizations' members look alike.
		for _, id := range []uuid.UUID{uuid.New(), otherID} {
			wantError(t, suspend(owner, id), 404, "MEMBER_NOT_FOUND", "Member not found in this organization.")
			wantError(t, reinstate(owner, id), 404, "MEMBER_NOT_FOUND", "Member not found in this organization.")
			wantError(t, setRole(owner, id, api.MemberRoleAdmin), 404, "MEMBER_NOT_FOUND", "")
		}
		wantError(t, reinstate(owner, memberID), 404, "MEMBER_NOT_FOUND", "Member is not currently suspended.")

		// 409: the last active owner can be neither suspended nor demoted.
		wantError(t, suspend(admin, ownerID), 409, "LAST_OWNER", "This member is the only active owner. Promote another member to owner before suspending them.")
		wantError(t, setRole(owner, ownerID, api.MemberRoleAdmin), 409, "LAST_OWNER", "")

		// 200: promote the admin to owner; now an admin... there is none left,
		// so demote back through an owner and check the audit trail.
		r := setRole(owner, adminID, api.MemberRoleOwner)
		wantStatus(t, r, 200)
		if r.JSON200.Data.Role != api.MemberRoleOwner || r.JSON200.Data.Id != adminID || r.JSON200.Data.Email != admin.User.Email {
			t.Fatalf("role change body: %s", r.Body)
		}
		// With two owners, an owner may suspend the other; the rule then holds again.
		wantStatus(t, suspend(admin, ownerID), 200)
		wantError(t, suspend(admin, adminID), 409, "LAST_OWNER", "")
		// Suspended members are non-members everywhere.
		wantError(t, suspend(owner, memberID), 403, "FORBIDDEN", "Only an owner or admin can suspend members.")
		// Reinstate needs an owner for an owner's row; admin is now owner.
		wantStatus(t, reinstate(admin, ownerID), 200)
		wantError(t, reinstate(admin, ownerID), 404, "MEMBER_NOT_FOUND", "Member is not currently suspended.")

		// Self-suspension is recorded as leaving.
		wantStatus(t, setRole(owner, adminID, api.MemberRoleAdmin), 200)
		wantStatus(t, suspend(admin, adminID), 200)
		wantError(t, reinstate(member, adminID), 403, "FORBIDDEN", "")

		// 409 ACTIVE_MEMBERSHIP_CONFLICT: the user rejoined while the old row is suspended.
		newAdminID := e.join(owner, admin, api.MemberRoleAdmin)
		env := wantError(t, reinstate(owner, adminID), 409, "ACTIVE_MEMBERSHIP_CONFLICT", "This user already has another active membership in this organization.")
		if env.Error.Hint != "Suspend or remove the conflicting active membership before reinstating this one." {
			t.Errorf("hint %q", env.Error.Hint)
		}
		if newAdminID == adminID {
			t.Fatal("rejoining reused the suspended row")
		}

		// Audit trail: every change above has exactly one row.
		logs, _ := e.c.ListAuditLogsWithResponse(ctx, &api.ListAuditLogsParams{}, bearer(owner.Token))
		wantStatus(t, logs, 200)
		counts := map[string]int{}
		for _, l := range logs.JSON200.Data {
			counts[l.Event]++
		}
		want := map[string]int{
			"organization.created": 1, "organization.ownership.assigned": 2, "member.invited": 3, "member.joined": 3,
			"member.role.changed": 2, "member.suspended": 1, "member.left": 1, "member.reinstated": 1,
		}
		for ev, n := range want {
			if counts[ev] != n {
				t.Errorf("%s: %d audit rows, want %d (all: %v)", ev, counts[ev], n, counts)
			}
		}

		// 410 once frozen, with each operation's hint.
		scheduleDeletion(t, e, owner, orgID)
		env = wantError(t, suspend(owner, newAdminID), 410, "ORGANIZATION_FROZEN", "")
		if env.Error.Hint != "Cancel the pending deletion before suspending members." {
			t.Errorf("hint %q", env.Error.Hint)
		}
		env = wantError(t, reinstate(owner, adminID), 410, "ORGANIZATION_FROZEN", "")
		if env.Error.Hint != "Cancel the pending deletion before reinstating members." {
			t.Errorf("hint %q", env.Error.Hint)
		}
		wantError(t, setRole(owner, newAdminID, api.MemberRoleMember), 410, "ORGANIZATION_FROZEN", "")
	})
}

func TestInvitationsAndActiveOrganization(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		owner, admin, member, newcomer, stranger := e.person("owner"), e.person("admin"), e.person("member"), e.person("newcomer"), e.person("stranger")
		orgID := e.org(owner, "inv-"+string(e.kind))
		e.join(owner, admin, api.MemberRoleAdmin)
		memberID := e.join(owner, member, api.MemberRoleMember)
		invite := func(p person, email string, role api.MemberRole) *api.CreateInvitationResponse {
			r, err := e.c.CreateInvitationWithResponse(ctx, api.CreateInvitationJSONRequestBody{Email: openapiEmail(email), Role: role}, bearer(p.Token))
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		accept := func(p person, id uuid.UUID) *api.AcceptInvitationResponse {
			r, err := e.c.AcceptInvitationWithResponse(ctx, id, bearer(p.Token))
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		setActive := func(p person, id uuid.UUID) *api.SetActiveOrganizationResponse {
			r, err := e.c.SetActiveOrganizationWithResponse(ctx, api.SetActiveOrganizationJSONRequestBody{OrganizationId: id}, bearer(p.Token))
			if err != nil {
				t.Fatal(err)
			}
			return r
		}

		wantError(t, invite(person{}, newcomer.User.Email, api.MemberRoleMember), 401, "UNAUTHORIZED", "")
		wantError(t, invite(stranger, newcomer.User.Email, api.MemberRoleMember), 403, "FORBIDDEN", "Select an organization to manage members.")
		wantError(t, invite(member, newcomer.User.Email, api.MemberRoleMember), 403, "FORBIDDEN", "Only an owner or admin can invite members.")
		wantError(t, invite(admin, newcomer.User.Email, api.MemberRoleOwner), 403, "FORBIDDEN", "Only an owner can invite an owner.")
		wantError(t, invite(admin, member.User.Email, api.MemberRoleMember), 409, "ALREADY_MEMBER", "")
		bad, _ := e.c.CreateInvitationWithBodyWithResponse(ctx, "application/json", strings.NewReader(`{"email":"not-an-email","role":"member"}`), bearer(owner.Token))
		wantError(t, bad, 400, "BAD_REQUEST", "")
		badRole, _ := e.c.CreateInvitationWithBodyWithResponse(ctx, "application/json", strings.NewReader(`{"email":"a@b.co","role":"king"}`), bearer(owner.Token))
		wantError(t, badRole, 400, "BAD_REQUEST", "")

		inv := invite(admin, strings.ToUpper(newcomer.User.Email), api.MemberRoleMember)
		wantStatus(t, inv, 200)
		if string(inv.JSON200.Data.Email) != newcomer.User.Email || inv.JSON200.Data.Role != api.MemberRoleMember {
			t.Fatalf("invitation body %s", inv.Body)
		}
		wantError(t, invite(owner, newcomer.User.Email, api.MemberRoleAdmin), 409, "INVITATION_PENDING", "")

		// Accept: only the addressee; others (and unknown ids) get 404.
		wantError(t, accept(person{}, inv.JSON200.Data.Id), 401, "UNAUTHORIZED", "")
		wantError(t, accept(stranger, inv.JSON200.Data.Id), 404, "INVITATION_NOT_FOUND", "")
		wantError(t, accept(newcomer, uuid.New()), 404, "INVITATION_NOT_FOUND", "")
		acc := accept(newcomer, inv.JSON200.Data.Id)
		wantStatus(t, acc, 200)
		if acc.JSON200.Data.OrganizationId != orgID {
			t.Fatalf("accept body %s", acc.Body)
		}
		wantError(t, accept(newcomer, inv.JSON200.Data.Id), 404, "INVITATION_NOT_FOUND", "")
		// The newcomer's session now selects the organization.
		list, _ := e.c.ListMembersWithResponse(ctx, &api.ListMembersParams{}, bearer(newcomer.Token))
		wantStatus(t, list, 200)
		if len(list.JSON200.Data) != 4 {
			t.Fatalf("want 4 members, got %s", list.Body)
		}

		// 409 on accept: already an active member through another invitation.
		inv2 := invite(owner, stranger.User.Email, api.MemberRoleMember)
		wantStatus(t, inv2, 200)
		inv3 := invite(owner, stranger.User.Email, api.MemberRoleAdmin)
		wantError(t, inv3, 409, "INVITATION_PENDING", "")

		// Active organization.
		wantError(t, setActive(person{}, orgID), 401, "UNAUTHORIZED", "")
		wantError(t, setActive(stranger, orgID), 404, "ORGANIZATION_NOT_FOUND", "")
		wantError(t, setActive(stranger, uuid.New()), 404, "ORGANIZATION_NOT_FOUND", "")
		wantStatus(t, setActive(member, orgID), 200)
		sus, _ := e.c.SuspendMemberWithResponse(ctx, memberID, bearer(owner.Token))
		wantStatus(t, sus, 200)
		wantError(t, setActive(member, orgID), 403, "FORBIDDEN", "You are not a member of this organization.")
		ml, _ := e.c.ListMembersWithResponse(ctx, &api.ListMembersParams{}, bearer(member.Token))
		env := wantError(t, ml, 403, "FORBIDDEN", "You are not a member of this organization.")
		if env.Pagination == nil || env.Pagination.HasMore || env.Pagination.NextCursor != nil {
			t.Errorf("list errors carry an empty pagination: %s", ml.Body)
		}
		ml, _ = e.c.ListMembersWithResponse(ctx, &api.ListMembersParams{}, bearer(stranger.Token))
		wantError(t, ml, 403, "FORBIDDEN", "Select an organization to view members.")
		ml, _ = e.c.ListMembersWithResponse(ctx, &api.ListMembersParams{})
		wantError(t, ml, 401, "UNAUTHORIZED", "")

		// 410 on invite and accept once frozen.
		scheduleDeletion(t, e, owner, orgID)
		wantError(t, invite(owner, "late@example.com", api.MemberRoleMember), 410, "ORGANIZATION_FROZEN", "")
		wantError(t, accept(stranger, inv2.JSON200.Data.Id), 410, "ORGANIZATION_FROZEN", "")
	})
}

func TestAcceptWhenAlreadyMember(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		owner, p := e.person("owner"), e.person("p")
		e.org(owner, "dup-"+string(e.kind))
		inv, _ := e.c.CreateInvitationWithResponse(ctx, api.CreateInvitationJSONRequestBody{Email: openapiEmail(p.User.Email), Role: api.MemberRoleMember}, bearer(owner.Token))
		wantStatus(t, inv, 200)
		// p joins by a second route before accepting: an owner's role grant
		// is not possible without membership, so accept once, leave the
		// invitation row accepted, and invite again after joining.
		acc, _ := e.c.AcceptInvitationWithResponse(ctx, inv.JSON200.Data.Id, bearer(p.Token))
		wantStatus(t, acc, 200)
		// Forge a second pending invitation for the same, now active, email.
		if _, err := e.st.DB().Exec(`INSERT INTO invitations (id, organization_id, email, role, invited_by, created_at, expires_at)
			SELECT $1, organization_id, email, role, invited_by, created_at, expires_at FROM invitations WHERE id = $2`,
			uuid.New().String(), inv.JSON200.Data.Id.String()); err != nil {
			t.Fatal(err)
		}
		var second string
		if err := e.st.DB().QueryRow(`SELECT id FROM invitations WHERE accepted_at IS NULL`).Scan(&second); err != nil {
			t.Fatal(err)
		}
		r, _ := e.c.AcceptInvitationWithResponse(ctx, uuid.MustParse(second), bearer(p.Token))
		wantError(t, r, 409, "ALREADY_MEMBER", "")
	})
}

func TestOwnedOrganizationsAndLegacy(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		a, b := e.person("a"), e.person("b")
		solo := e.org(a, "solo-"+string(e.kind))
		e.org(a, "shared-"+string(e.kind))
		bID := e.join(a, b, api.MemberRoleMember)
		r, _ := e.c.UpdateMemberRoleWithResponse(ctx, bID, api.UpdateMemberRoleJSONRequestBody{Role: api.MemberRoleOwner}, bearer(a.Token))
		wantStatus(t, r, 200)

		owned, _ := e.c.ListOwnedOrganizationsWithResponse(ctx, bearer(a.Token))
		wantStatus(t, owned, 200)
		if len(owned.JSON200.Data.Organizations) != 1 || owned.JSON200.Data.Organizations[0].Id != solo.String() {
			t.Fatalf("owned: %s", owned.Body)
		}
		o2, _ := e.c.ListOwnedOrganizationsWithResponse(ctx)
		wantError(t, o2, 401, "UNAUTHORIZED", "")

		l1, _ := e.c.LegacyLeaveOrganizationWithResponse(ctx, bearer(a.Token))
		env := wantError(t, l1, 410, "MEMBERSHIP_HARD_DELETE_BLOCKED", "This endpoint has been replaced by the suspension flow. Membership rows are preserved so audit-log entries keep attributing past actions to the user.")
		if env.Error.Docs != "https://kayle.id/docs/api/errors#gone" || env.Error.Hint != "Use DELETE /v1/auth/orgs/members/{id} (admin/owner) or POST /v1/auth/orgs/members/leave (self)." {
			t.Errorf("legacy hint/docs: %+v", env.Error)
		}
		l2, _ := e.c.LegacyRemoveMemberWithResponse(ctx, bearer(a.Token))
		wantError(t, l2, 410, "MEMBERSHIP_HARD_DELETE_BLOCKED", "")
		l3, _ := e.c.LegacyRemoveMemberWithResponse(ctx)
		wantError(t, l3, 401, "UNAUTHORIZED", "")
		l4, _ := e.c.LegacyLeaveOrganizationWithResponse(ctx)
		wantError(t, l4, 401, "UNAUTHORIZED", "")
	})
}

func TestCreateOrganization(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		a := e.person("a")
		create := func(body string, tok string) *api.CreateOrganizationResponse {
			r, err := e.c.CreateOrganizationWithBodyWithResponse(ctx, "application/json", strings.NewReader(body), bearer(tok))
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		wantError(t, create(`{"name":"A","slug":"a"}`, ""), 401, "UNAUTHORIZED", "")
		wantStatus(t, create(`{"name":"A","slug":"taken-`+string(e.kind)+`","logo":{"data":"`+testimg.Base64(testimg.PNG(3, 3))+`","contentType":"image/png"}}`, a.Token), 200)
		wantError(t, create(`{"name":"B","slug":"taken-`+string(e.kind)+`"}`, a.Token), 400, "SLUG_TAKEN", "")
		for _, body := range []string{
			`{"name":"A","slug":"Upper"}`, `{"name":"","slug":"x"}`, `{"slug":"x"}`, `{"name":"A","slug":"a b"}`,
			`{"name":"   ","slug":"blank"}`, `{"name":"A","slug":"x","logo":{"data":"***","contentType":"image/png"}}`,
			`{"name":"A","slug":"x","logo":{"data":"aGk=","contentType":"image/tiff"}}`, `not json`, `[]`,
		} {
			r := create(body, a.Token)
			if r.StatusCode() != 400 {
				t.Errorf("%s: got %d %s, want 400", body, r.StatusCode(), r.Body)
			}
		}
		// Nothing half-written: only the one organization exists.
		var n int
		if err := e.st.DB().QueryRow(`SELECT COUNT(*) FROM organizations`).Scan(&n); err != nil || n != 1 {
			t.Fatalf("organizations: %d %v", n, err)
		}
	})
}
