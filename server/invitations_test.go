package server_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	api "github.com/kayle-id/orgs-api/gen/api"
)

// An invitation grants only what its sender may still grant when it is
// accepted: a sender who was suspended, or demoted below the role the
// invitation grants, no longer brings anyone in.
func TestInvitationNeedsSendersAuthority(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		owner, admin, coOwner := e.person("owner"), e.person("admin"), e.person("co-owner")
		e.org(owner, "authority-"+string(e.kind))
		adminID := e.join(owner, admin, api.MemberRoleAdmin)
		coOwnerID := e.join(owner, coOwner, api.MemberRoleOwner)
		invite := func(by person, role api.MemberRole) (person, uuid.UUID) {
			p := e.person("invitee")
			r, err := e.c.CreateInvitationWithResponse(ctx, api.CreateInvitationJSONRequestBody{Email: openapiEmail(p.User.Email), Role: role}, bearer(by.Token))
			if err != nil || r.JSON200 == nil {
				t.Fatalf("invite: %v %d %s", err, r.StatusCode(), r.Body)
			}
			return p, r.JSON200.Data.Id
		}
		accept := func(p person, id uuid.UUID) *api.AcceptInvitationResponse {
			r, err := e.c.AcceptInvitationWithResponse(ctx, id, bearer(p.Token))
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		revoked := func(r *api.AcceptInvitationResponse) {
			t.Helper()
			env := wantError(t, r, 404, "INVITATION_NOT_FOUND", "Invitation not found.")
			if env.Error.Hint != "Whoever sent it can no longer grant that role; ask an owner or admin for a new invitation." {
				t.Errorf("hint %q", env.Error.Hint)
			}
		}

		// The reported case: an admin invites an admin, then is suspended.
		asAdmin, asAdminInv := invite(admin, api.MemberRoleAdmin)
		asMember, asMemberInv := invite(admin, api.MemberRoleMember)
		s, _ := e.c.SuspendMemberWithResponse(ctx, adminID, bearer(owner.Token))
		wantStatus(t, s, 200)
		revoked(accept(asAdmin, asAdminInv))
		revoked(accept(asMember, asMemberInv))
		// Authority is judged when the invitation is used: reinstated, the
		// sender's pending invitations work again.
		rs, _ := e.c.ReinstateMemberWithResponse(ctx, adminID, bearer(owner.Token))
		wantStatus(t, rs, 200)
		wantStatus(t, accept(asMember, asMemberInv), 200)

		// Demoted to member: nothing can be granted any more.
		later, laterInv := invite(admin, api.MemberRoleMember)
		d, _ := e.c.UpdateMemberRoleWithResponse(ctx, adminID, api.UpdateMemberRoleJSONRequestBody{Role: api.MemberRoleMember}, bearer(owner.Token))
		wantStatus(t, d, 200)
		revoked(accept(later, laterInv))

		// An owner demoted to admin: owner invitations stop, others stand.
		newOwner, newOwnerInv := invite(coOwner, api.MemberRoleOwner)
		newAdmin, newAdminInv := invite(coOwner, api.MemberRoleAdmin)
		d, _ = e.c.UpdateMemberRoleWithResponse(ctx, coOwnerID, api.UpdateMemberRoleJSONRequestBody{Role: api.MemberRoleAdmin}, bearer(owner.Token))
		wantStatus(t, d, 200)
		revoked(accept(newOwner, newOwnerInv))
		wantStatus(t, accept(newAdmin, newAdminInv), 200)

		// Nobody got in through a revoked invitation.
		var n int
		if err := e.st.DB().QueryRow(`SELECT COUNT(*) FROM organization_members WHERE user_id IN ($1, $2, $3)`,
			asAdmin.User.ID.String(), later.User.ID.String(), newOwner.User.ID.String()).Scan(&n); err != nil || n != 0 {
			t.Fatalf("%d memberships from revoked invitations (%v)", n, err)
		}
	})
}

func TestListAndCancelInvitations(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		owner, admin, member, outsider := e.person("owner"), e.person("admin"), e.person("member"), e.person("outsider")
		orgID := e.org(owner, "invitations-"+string(e.kind))
		e.join(owner, admin, api.MemberRoleAdmin)
		e.join(owner, member, api.MemberRoleMember)
		e.org(outsider, "invitations-other-"+string(e.kind))
		invite := func(by person, email string, role api.MemberRole) uuid.UUID {
			r, err := e.c.CreateInvitationWithResponse(ctx, api.CreateInvitationJSONRequestBody{Email: openapiEmail(email), Role: role}, bearer(by.Token))
			if err != nil || r.JSON200 == nil {
				t.Fatalf("invite %s: %v %d %s", email, err, r.StatusCode(), r.Body)
			}
			return r.JSON200.Data.Id
		}
		list := func(by person, params *api.ListInvitationsParams) *api.ListInvitationsResponse {
			r, err := e.c.ListInvitationsWithResponse(ctx, params, bearer(by.Token))
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		cancel := func(by person, id uuid.UUID) *api.CancelInvitationResponse {
			r, err := e.c.CancelInvitationWithResponse(ctx, id, bearer(by.Token))
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		x, y, z := e.person("x"), e.person("y"), e.person("z")
		xInv := invite(owner, x.User.Email, api.MemberRoleMember)
		yInv := invite(owner, y.User.Email, api.MemberRoleAdmin)
		zInv := invite(admin, z.User.Email, api.MemberRoleMember)
		otherInv := invite(outsider, x.User.Email, api.MemberRoleMember)

		wantError(t, list(person{Token: "kid_nope"}, &api.ListInvitationsParams{}), 401, "UNAUTHORIZED", "")
		wantError(t, list(member, &api.ListInvitationsParams{}), 403, "FORBIDDEN", "Only an owner or admin can view invitations.")
		wantError(t, list(e.person("nobody"), &api.ListInvitationsParams{}), 403, "FORBIDDEN", "Select an organization to view invitations.")

		// Newest first, two to a page, the other organization's not among them.
		limit := 2
		p1 := list(admin, &api.ListInvitationsParams{Limit: &limit})
		wantStatus(t, p1, 200)
		if len(p1.JSON200.Data) != 2 || !p1.JSON200.Pagination.HasMore || p1.JSON200.Data[0].Id != zInv || p1.JSON200.Data[1].Id != yInv {
			t.Fatalf("first page: %s", p1.Body)
		}
		if got := p1.JSON200.Data[1]; got.InvitedBy != owner.User.ID || got.Role != api.MemberRoleAdmin || string(got.Email) != y.User.Email || !got.ExpiresAt.After(got.CreatedAt) {
			t.Fatalf("invitation fields: %+v", got)
		}
		p2 := list(admin, &api.ListInvitationsParams{Limit: &limit, StartingAfter: p1.JSON200.Pagination.NextCursor})
		wantStatus(t, p2, 200)
		if len(p2.JSON200.Data) != 1 || p2.JSON200.Data[0].Id != xInv || p2.JSON200.Pagination.HasMore {
			t.Fatalf("second page: %s", p2.Body)
		}
		bogus := uuid.NewString()
		wantError(t, list(admin, &api.ListInvitationsParams{StartingAfter: &bogus}), 400, "INVALID_CURSOR", "")

		// Cancelling: owner/admin, pending invitations of this organization only.
		wantError(t, cancel(person{Token: "kid_nope"}, yInv), 401, "UNAUTHORIZED", "")
		wantError(t, cancel(member, yInv), 403, "FORBIDDEN", "Only an owner or admin can cancel invitations.")
		wantError(t, cancel(admin, uuid.New()), 404, "INVITATION_NOT_FOUND", "")
		wantError(t, cancel(admin, otherInv), 404, "INVITATION_NOT_FOUND", "")
		wantStatus(t, cancel(admin, yInv), 200)
		wantError(t, cancel(owner, yInv), 404, "INVITATION_NOT_FOUND", "")
		acc, _ := e.c.AcceptInvitationWithResponse(ctx, yInv, bearer(y.Token))
		wantError(t, acc, 404, "INVITATION_NOT_FOUND", "")
		acc, _ = e.c.AcceptInvitationWithResponse(ctx, xInv, bearer(x.Token))
		wantStatus(t, acc, 200)
		wantError(t, cancel(owner, xInv), 404, "INVITATION_NOT_FOUND", "") // accepted
		if l := list(owner, &api.ListInvitationsParams{}); len(l.JSON200.Data) != 1 || l.JSON200.Data[0].Id != zInv {
			t.Fatalf("pending after a cancel and an accept: %s", l.Body)
		}
		// A cancelled invitation does not block a new one.
		invite(owner, y.User.Email, api.MemberRoleMember)

		// The cancellation is audited.
		event := "member.invitation.cancelled"
		al, _ := e.c.ListAuditLogsWithResponse(ctx, &api.ListAuditLogsParams{Event: &event}, bearer(owner.Token))
		wantStatus(t, al, 200)
		if len(al.JSON200.Data) != 1 || *al.JSON200.Data[0].TargetId != yInv.String() || *al.JSON200.Data[0].Actor.Id != admin.User.ID.String() ||
			al.JSON200.Data[0].Metadata["email"] != y.User.Email || al.JSON200.Data[0].Metadata["role"] != "admin" {
			t.Fatalf("audit of the cancellation: %s", al.Body)
		}

		// Frozen: nothing can be cancelled, the list still reads.
		scheduleDeletion(t, e, owner, orgID)
		wantError(t, cancel(owner, zInv), 410, "ORGANIZATION_FROZEN", "")
		wantStatus(t, list(owner, &api.ListInvitationsParams{}), 200)

		// Expired invitations are not pending.
		e.clock.Advance(8 * 24 * time.Hour)
		if l := list(owner, &api.ListInvitationsParams{}); l.StatusCode() != 200 || len(l.JSON200.Data) != 0 {
			t.Fatalf("expired invitations listed: %s", l.Body)
		}
	})
}
