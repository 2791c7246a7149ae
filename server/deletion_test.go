package server_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	api "github.com/kayle-id/orgs-api/gen/api"
)

var codeLine = regexp.MustCompile(`Confirmation code: ([A-Z0-9]{8})`)

// lastCode reads the newest deletion code mailed to email from the outbox.
func lastCode(t *testing.T, e *env, email string) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(e.outbox, "*.eml"))
	sort.Strings(files)
	for i := len(files) - 1; i >= 0; i-- {
		raw, err := os.ReadFile(files[i])
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(raw), "To: <"+email+">") {
			continue
		}
		if !strings.Contains(string(raw), "\r\n\r\n") || !strings.HasPrefix(string(raw), "From: ") {
			t.Fatalf("not an RFC 5322 message: %q", raw)
		}
		if m := codeLine.FindStringSubmatch(string(raw)); m != nil {
			return m[1]
		}
	}
	t.Fatalf("no deletion code mailed to %s in %v", email, files)
	return ""
}

func scheduleDeletion(t *testing.T, e *env, owner person, orgID uuid.UUID) time.Time {
	t.Helper()
	ctx := context.Background()
	r, _ := e.c.RequestOrganizationDeletionWithResponse(ctx, api.RequestOrganizationDeletionJSONRequestBody{OrganizationId: orgID}, bearer(owner.Token))
	wantStatus(t, r, 200)
	if r.JSON200.Data.SentToEmail != owner.User.Email {
		t.Fatalf("sentToEmail %q", r.JSON200.Data.SentToEmail)
	}
	code := lastCode(t, e, owner.User.Email)
	// Codes are trimmed and upper-cased, as typed by a person.
	c, _ := e.c.ConfirmOrganizationDeletionWithResponse(ctx, api.ConfirmOrganizationDeletionJSONRequestBody{OrganizationId: orgID, Code: "  " + strings.ToLower(code) + " "}, bearer(owner.Token))
	wantStatus(t, c, 200)
	at, err := time.Parse(time.RFC3339Nano, c.JSON200.Data.PendingDeletionAt)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(at) - e.clock.off; d < 47*time.Hour || d > 49*time.Hour {
		t.Fatalf("pendingDeletionAt %s is not 48h out", at)
	}
	return at
}

func TestDeletion(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		owner, admin, member, outsider := e.person("owner"), e.person("admin"), e.person("member"), e.person("outsider")
		orgID := e.org(owner, "del-"+string(e.kind))
		e.join(owner, admin, api.MemberRoleAdmin)
		e.join(owner, member, api.MemberRoleMember)
		req := func(p person, id uuid.UUID) *api.RequestOrganizationDeletionResponse {
			r, err := e.c.RequestOrganizationDeletionWithResponse(ctx, api.RequestOrganizationDeletionJSONRequestBody{OrganizationId: id}, bearer(p.Token))
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		confirm := func(p person, id uuid.UUID, code string) *api.ConfirmOrganizationDeletionResponse {
			r, err := e.c.ConfirmOrganizationDeletionWithResponse(ctx, api.ConfirmOrganizationDeletionJSONRequestBody{OrganizationId: id, Code: code}, bearer(p.Token))
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		cancel := func(p person, id uuid.UUID) *api.CancelOrganizationDeletionResponse {
			r, err := e.c.CancelOrganizationDeletionWithResponse(ctx, api.CancelOrganizationDeletionJSONRequestBody{OrganizationId: id}, bearer(p.Token))
			if err != nil {
				t.Fatal(err)
			}
			return r
		}

		wantError(t, req(person{Token: "kid_nope"}, orgID), 401, "UNAUTHORIZED", "")
		wantError(t, confirm(person{Token: "kid_nope"}, orgID, "AAAAAAAA"), 401, "UNAUTHORIZED", "")
		wantError(t, cancel(person{Token: "kid_nope"}, orgID), 401, "UNAUTHORIZED", "")

		// Unknown organizations and organizations the caller never belonged
		// to look the same: existence is not revealed.
		for _, id := range []uuid.UUID{uuid.New(), orgID} {
			env := wantError(t, req(outsider, id), 404, "ORGANIZATION_NOT_FOUND", "Organization not found.")
			if env.Error.Docs != "https://kayle.id/docs/api/errors#organization_deletion" || env.Error.Hint != "See the docs for the recovery path for this error." {
				t.Errorf("deletion error docs/hint: %+v", env.Error)
			}
			wantError(t, confirm(outsider, id, "AAAAAAAA"), 404, "ORGANIZATION_NOT_FOUND", "Organization not found.")
			wantError(t, cancel(outsider, id), 404, "ORGANIZATION_NOT_FOUND", "Organization not found.")
			// A malformed code is refused before the organization is looked
			// up, as upstream's schema does: it reveals nothing.
			wantError(t, confirm(outsider, id, "TOO-LONG-CODE"), 400, "INVALID_CODE", "Confirmation code does not match.")
		}
		for _, p := range []person{admin, member} {
			wantError(t, req(p, orgID), 403, "FORBIDDEN", "Only an owner can request organization deletion.")
			wantError(t, confirm(p, orgID, "AAAAAAAA"), 403, "FORBIDDEN", "Only an owner can confirm organization deletion.")
		}
		wantError(t, cancel(member, orgID), 403, "FORBIDDEN", "Only owners or admins can cancel a scheduled deletion.")
		wantError(t, cancel(owner, orgID), 404, "NOT_SCHEDULED", "This organization is not scheduled for deletion.")
		// No code requested yet.
		env := wantError(t, confirm(owner, orgID, "AAAAAAAA"), 400, "INVALID_CODE", "No pending confirmation code for this organization. Request a new code.")
		if env.Error.Hint != "Request a new code to try again." {
			t.Errorf("code hint %q", env.Error.Hint)
		}

		// Bad input: a body that breaks the contract.
		bad, _ := e.c.RequestOrganizationDeletionWithBodyWithResponse(ctx, "application/json", strings.NewReader(`{"organizationId":"nope"}`), bearer(owner.Token))
		wantError(t, bad, 400, "BAD_REQUEST", "")
		badCancel, _ := e.c.CancelOrganizationDeletionWithBodyWithResponse(ctx, "application/json", strings.NewReader(`{}`), bearer(owner.Token))
		wantError(t, badCancel, 400, "BAD_REQUEST", "")

		// Codes: malformed, wrong, expired.
		wantStatus(t, req(owner, orgID), 200)
		code := lastCode(t, e, owner.User.Email)
		env = wantError(t, confirm(owner, orgID, "short"), 400, "INVALID_CODE", "Confirmation code does not match.")
		if env.Error.Hint != "Request a new code to try again." {
			t.Errorf("code hint %q", env.Error.Hint)
		}
		wrong := "ZZZZZZZZ"
		if code == wrong {
			wrong = "YYYYYYYY"
		}
		wantError(t, confirm(owner, orgID, wrong), 400, "INVALID_CODE", "Confirmation code does not match.")
		e.clock.Advance(25 * time.Hour)
		env = wantError(t, confirm(owner, orgID, code), 400, "CODE_EXPIRED", "Confirmation code has expired. Request a new code.")
		if env.Error.Hint != "Request a new code to try again." || env.Error.Docs != "https://kayle.id/docs/api/errors#organization_deletion" {
			t.Errorf("expired: %+v", env.Error)
		}

		// A fresh code works; then everything is frozen.
		scheduleDeletion(t, e, owner, orgID)
		wantError(t, req(owner, orgID), 409, "ALREADY_SCHEDULED", "This organization is already scheduled for deletion. Cancel it first to start over.")
		wantError(t, confirm(owner, orgID, "AAAAAAAA"), 409, "ALREADY_SCHEDULED", "This organization is already scheduled for deletion.")

		// Suspended members are told they are not members.
		e.clock.Advance(-25 * time.Hour)
		c := cancel(admin, orgID)
		wantStatus(t, c, 200)
		if !bool(c.JSON200.Data.Ok) {
			t.Fatalf("cancel body %s", c.Body)
		}
		r, _ := e.c.LeaveOrganizationWithResponse(ctx, bearer(member.Token))
		wantStatus(t, r, 200)
		env = wantError(t, req(member, orgID), 403, "NOT_A_MEMBER", "You are not a member of this organization.")
		if env.Error.Hint != "See the docs for the recovery path for this error." {
			t.Errorf("not a member: %+v", env.Error)
		}
		wantError(t, confirm(member, orgID, "AAAAAAAA"), 403, "NOT_A_MEMBER", "You are not a member of this organization.")
		wantError(t, cancel(member, orgID), 403, "NOT_A_MEMBER", "You are not a member of this organization.")

		// Purge: once the time has passed, the organization and its rows go.
		scheduleDeletion(t, e, owner, orgID)
		res, err := e.st.PurgeDue(ctx, nil)
		if err != nil || res.Organizations != 0 {
			t.Fatalf("purged early: %+v %v", res, err)
		}
		e.clock.Advance(49 * time.Hour)
		res, err = e.st.PurgeDue(ctx, nil)
		if err != nil || res.Organizations != 1 {
			t.Fatalf("purge: %+v %v", res, err)
		}
		for _, table := range []string{"organizations", "organization_members", "invitations", "audit_logs", "organization_deletion_codes"} {
			col := "organization_id"
			if table == "organizations" {
				col = "id"
			}
			var n int
			if err := e.st.DB().QueryRow("SELECT COUNT(*) FROM "+table+" WHERE "+col+" = $1", orgID.String()).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 0 {
				t.Errorf("%s still has %d rows of the purged organization", table, n)
			}
		}
		// The owner's session no longer has an active organization.
		lr, _ := e.c.LeaveOrganizationWithResponse(ctx, bearer(owner.Token))
		wantError(t, lr, 403, "FORBIDDEN", "Select an organization to manage members.")
	})
}

// A deletion code stops working after five wrong attempts, whatever comes
// after (the right code included), and says so; the count holds when the
// guesses arrive at once. A new code starts a new count.
func TestDeletionCodeAttempts(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		owner := e.person("owner")
		orgID := e.org(owner, "attempts-"+string(e.kind))
		confirm := func(code string) *api.ConfirmOrganizationDeletionResponse {
			r, err := e.c.ConfirmOrganizationDeletionWithResponse(ctx, api.ConfirmOrganizationDeletionJSONRequestBody{OrganizationId: orgID, Code: code}, bearer(owner.Token))
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		request := func() string {
			r, _ := e.c.RequestOrganizationDeletionWithResponse(ctx, api.RequestOrganizationDeletionJSONRequestBody{OrganizationId: orgID}, bearer(owner.Token))
			wantStatus(t, r, 200)
			return lastCode(t, e, owner.User.Email)
		}
		wrongFor := func(code string, i int) string {
			w := fmt.Sprintf("WRONG%03d", i)
			if w == code {
				w = fmt.Sprintf("WRONX%03d", i)
			}
			return w
		}
		const (
			spent    = "After 5 wrong attempts this confirmation code no longer works. Request a new code."
			mismatch = "Confirmation code does not match."
		)

		code := request()
		for i := range 4 {
			wantError(t, confirm(wrongFor(code, i)), 400, "INVALID_CODE", mismatch)
		}
		// Malformed codes are refused before they are compared: they do not count.
		wantError(t, confirm("short"), 400, "INVALID_CODE", mismatch)
		wantError(t, confirm(wrongFor(code, 4)), 400, "INVALID_CODE", spent)
		env := wantError(t, confirm(code), 400, "INVALID_CODE", spent)
		if env.Error.Hint != "Request a new code to try again." {
			t.Errorf("hint %q", env.Error.Hint)
		}

		// Twenty guesses at once: five are counted, and the code is spent.
		code = request()
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := confirm(wrongFor(code, i))
				if r.StatusCode() != 400 {
					t.Errorf("concurrent guess: %d %s", r.StatusCode(), r.Body)
				}
			}()
		}
		wg.Wait()
		var n int
		if err := e.st.DB().QueryRow(`SELECT failed_attempts FROM organization_deletion_codes`).Scan(&n); err != nil || n != 5 {
			t.Fatalf("failed attempts after 20 concurrent guesses: %d %v, want 5", n, err)
		}
		wantError(t, confirm(code), 400, "INVALID_CODE", spent)

		// A fresh code survives four wrong attempts.
		code = request()
		for i := range 4 {
			wantError(t, confirm(wrongFor(code, i)), 400, "INVALID_CODE", mismatch)
		}
		wantStatus(t, confirm(code), 200)
	})
}
