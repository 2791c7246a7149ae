package server_test

import (
	"strings"
	"testing"
)

// Unexpected failures of the administration operations answer upstream's
// 500 wording in the envelope, write nothing, and are logged with their
// cause. The failures are real ones: the database refuses the write.
func TestAdminInternalErrors(t *testing.T) {
	e := newEnv(t, "sqlite")
	owner := e.person("owner")
	orgID := e.org(owner, "admin-internal")
	var key struct {
		Data struct{ ID string } `json:"data"`
	}
	a := e.call(t, "POST", "/v1/auth/api-keys", owner.Token, `{"name":"Kept","permissions":["sessions:read"]}`)
	wantStatus(t, a, 200)
	a.decode(t, &key)
	exec := func(q string) {
		t.Helper()
		if _, err := e.st.DB().Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	count := func(q string) int {
		t.Helper()
		var n int
		if err := e.st.DB().QueryRow(q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	exec(`CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_logs BEGIN SELECT RAISE(ABORT, 'injected failure'); END`)

	for _, c := range []struct {
		name, method, path, body, message, hint string
	}{
		{"create key", "POST", "/v1/auth/api-keys", `{"name":"Lost","permissions":["sessions:read"]}`, "An unexpected error occurred", "Please try again in a few moments."},
		{"update key", "PATCH", "/v1/auth/api-keys/" + key.Data.ID, `{"name":"Lost"}`, "An unexpected error occurred", "Please try again in a few moments."},
		{"delete key", "DELETE", "/v1/auth/api-keys/" + key.Data.ID, "", "An unexpected error occurred", "Please try again in a few moments."},
		{"business details", "POST", "/v1/auth/orgs/business-details", `{"business_name":"Lost"}`, "Failed to update business details.", "Please try again in a few moments."},
		{"integration terms", "POST", "/v1/auth/orgs/rp-terms", "", "Failed to record Kayle ID Integration Terms acceptance.", "Please try again in a few moments."},
	} {
		env := wantError(t, e.call(t, c.method, c.path, owner.Token, c.body), 500, "INTERNAL_SERVER_ERROR", c.message)
		if env.Error.Hint != c.hint || env.Error.Docs != "https://kayle.id/docs/api/errors#internal_server_error" {
			t.Errorf("%s: %+v", c.name, env.Error)
		}
	}
	if n := count(`SELECT COUNT(*) FROM api_keys WHERE name = 'Kept'`); n != 1 {
		t.Fatal("a failed update or delete changed the key")
	}
	if count(`SELECT COUNT(*) FROM api_keys`)+count(`SELECT COUNT(*) FROM organization_rp_terms_acceptances`)+
		count(`SELECT COUNT(*) FROM organizations WHERE business_name IS NOT NULL`) != 1 {
		t.Fatal("a failed change was not rolled back")
	}

	exec(`CREATE TRIGGER refuse_terms BEFORE UPDATE OF verification_terms_accepted_at ON organizations BEGIN SELECT RAISE(ABORT, 'injected failure'); END`)
	env := wantError(t, e.call(t, "POST", "/v1/auth/orgs/accept-verification-terms", owner.Token, `{"organizationId":"`+orgID.String()+`"}`),
		500, "INTERNAL_SERVER_ERROR", "Failed to record verification terms acceptance.")
	if env.Error.Hint != "Please try again in a few moments." {
		t.Errorf("hint %q", env.Error.Hint)
	}

	exec(`ALTER TABLE api_keys RENAME TO api_keys_gone`)
	env = wantError(t, e.call(t, "GET", "/v1/auth/api-keys", owner.Token, ""), 500, "INTERNAL_SERVER_ERROR", "An unexpected error occurred")
	if env.Error.Hint != "Please try again later." || env.Pagination == nil || env.Pagination.Limit != 10 || env.Pagination.HasMore || env.Pagination.NextCursor != nil {
		t.Errorf("list 500: %+v %+v", env.Error, env.Pagination)
	}
	logs := e.logs.String()
	if strings.Count(logs, "injected failure") < 6 || !strings.Contains(logs, "api_keys") {
		t.Fatalf("the failures were not logged with their causes:\n%s", logs)
	}
	if strings.Contains(string(e.call(t, "GET", "/v1/auth/api-keys", owner.Token, "").body), "api_keys") {
		t.Fatal("a 500 leaked internals")
	}
}
