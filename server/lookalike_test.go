package server_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

	api "github.com/kayle-id/orgs-api/gen/api"
)

// A provider's verified email that only looks like someone's address
// (Unicode that strings.ToLower folds into ASCII) links to nobody and
// accepts nobody's invitation: KELVIN SIGN is not "k", U+0130 is not "i".
// ASCII case still does not matter.
func TestLookAlikeEmailsStayApart(t *testing.T) {
	forEachDBWithProvider(t, func(t *testing.T, pe *provEnv) {
		ctx := context.Background()
		op, c := pe.op, pe.c
		suffix := "-" + string(pe.kind) + "@corp.test"
		kateUser, err := pe.st.CreateUser(ctx, "kate"+suffix, "Kate")
		if err != nil {
			t.Fatal(err)
		}
		kate := person{User: kateUser, Token: pe.token(kateUser.Email, nil)}
		orgID := pe.org(kate, "kate-"+string(pe.kind))
		userOf := func(sub string) uuid.UUID {
			t.Helper()
			var id uuid.UUID
			if err := pe.st.DB().QueryRow(`SELECT user_id FROM user_identities WHERE subject = $1`, sub).Scan(&id); err != nil {
				t.Fatalf("user of %s: %v", sub, err)
			}
			return id
		}

		// KELVIN SIGN: a user of its own, who cannot select Kate's organization.
		kelvin := op.Token(op.Claims("kelvin", "\u212Aate"+suffix))
		r, err := c.SetActiveOrganizationWithResponse(ctx, api.SetActiveOrganizationJSONRequestBody{OrganizationId: orgID}, bearer(kelvin))
		if err != nil {
			t.Fatal(err)
		}
		wantError(t, r, 404, "ORGANIZATION_NOT_FOUND", "")
		if id := userOf("kelvin"); id == kate.User.ID {
			t.Fatal("a KELVIN SIGN address signed in as Kate")
		}
		owned, err := c.ListOwnedOrganizationsWithResponse(ctx, bearer(kelvin))
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, owned, 200)
		if n := len(owned.JSON200.Data.Organizations); n != 0 {
			t.Fatalf("the look-alike lists %d of Kate's organizations", n)
		}
		// Upper-case ASCII is still Kate.
		upper := op.Token(op.Claims("kate-upper", "KATE-"+string(pe.kind)+"@Corp.Test"))
		r, err = c.SetActiveOrganizationWithResponse(ctx, api.SetActiveOrganizationJSONRequestBody{OrganizationId: orgID}, bearer(upper))
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, r, 200)
		if id := userOf("kate-upper"); id != kate.User.ID {
			t.Fatalf("KATE@Corp.Test linked to %s, want Kate %s", id, kate.User.ID)
		}

		// U+0130: an admin invitation for ingrid@ is not the look-alike's.
		ingrid := "ingrid" + suffix
		inv, err := c.CreateInvitationWithResponse(ctx, api.CreateInvitationJSONRequestBody{Email: openapiEmail(ingrid), Role: api.MemberRoleAdmin}, bearer(kate.Token))
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, inv, 200)
		dotted := op.Token(op.Claims("dotted", "\u0130ngrid"+suffix))
		acc, err := c.AcceptInvitationWithResponse(ctx, inv.JSON200.Data.Id, bearer(dotted))
		if err != nil {
			t.Fatal(err)
		}
		wantError(t, acc, 404, "INVITATION_NOT_FOUND", "")
		var email string
		if err := pe.st.DB().QueryRow(`SELECT email FROM users WHERE id = $1`, userOf("dotted")).Scan(&email); err != nil || email != "\u0130ngrid"+suffix {
			t.Fatalf("the look-alike's email is stored as %q (%v), want it as verified", email, err)
		}
		// Ingrid herself accepts it, whatever the ASCII case she signs in with.
		real := op.Token(op.Claims("ingrid", "Ingrid"+suffix))
		acc, err = c.AcceptInvitationWithResponse(ctx, inv.JSON200.Data.Id, bearer(real))
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, acc, 200)
	})
}
