package server_test

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/google/uuid"

	"github.com/kayle-id/orgs-api/internal/testimg"
	"github.com/kayle-id/orgs-api/server"
	"github.com/kayle-id/orgs-api/terms"
)

func logoBody(data, contentType string) string {
	return `{"logo":{"data":"` + data + `","contentType":"` + contentType + `"}}`
}

type auditRow struct {
	Event string `json:"event"`
	Actor struct {
		Type       string  `json:"type"`
		APIKeyID   *string `json:"apiKeyId"`
		APIKeyName *string `json:"apiKeyName"`
	} `json:"actor"`
	TargetID   string         `json:"targetId"`
	TargetType string         `json:"targetType"`
	Metadata   map[string]any `json:"metadata"`
}

// auditEvents lists the active organization's audit rows of one event.
func (e *env) auditEvents(t *testing.T, p person, event string) []auditRow {
	t.Helper()
	a := e.call(t, "GET", "/v1/auth/orgs/audit-logs?limit=100&event="+event, p.Token, "")
	wantStatus(t, a, 200)
	var logs struct {
		Data []auditRow `json:"data"`
	}
	a.decode(t, &logs)
	for _, l := range logs.Data {
		if l.Event != event {
			t.Fatalf("event filter %s returned %s", event, l.Event)
		}
	}
	return logs.Data
}

// The logo upload and the organization update: upload an image, then make
// its URL the organization's logo.
func TestLogoUploadAndOrganizationUpdate(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		owner, admin, member, noOrg := e.person("owner"), e.person("admin"), e.person("member"), e.person("noorg")
		orgID := e.org(owner, "logo-"+string(e.kind))
		e.org(e.person("other"), "logo-taken-"+string(e.kind))
		e.join(owner, admin, "admin")
		e.join(owner, member, "member")
		img := testimg.PNG(64, 32)
		good := logoBody(testimg.Base64(img), "image/png")

		wantError(t, e.call(t, "POST", "/v1/auth/orgs/logo", "", good), 401, "UNAUTHORIZED", "")
		for _, p := range []person{noOrg, member} {
			env := wantError(t, e.call(t, "POST", "/v1/auth/orgs/logo", p.Token, good), 403, "FORBIDDEN", "Only an owner or admin can upload an organization logo.")
			if env.Error.Hint != "Sign in as an organization owner or admin." {
				t.Errorf("hint %q", env.Error.Hint)
			}
		}
		for _, bad := range []string{logoBody("x", "image/svg+xml"), logoBody("x", "image/jpg"), `{"logo":{"data":""}}`, `{}`, logoBody(strings.Repeat("A", 1398109), "image/png")} {
			wantError(t, e.call(t, "POST", "/v1/auth/orgs/logo", admin.Token, bad), 400, "BAD_REQUEST", "")
		}
		wantError(t, e.call(t, "POST", "/v1/auth/orgs/logo", admin.Token, logoBody(testimg.Base64(img), "image/webp")), 400, "INVALID_LOGO",
			"Organization logo content type does not match the file contents.")
		wantError(t, e.call(t, "POST", "/v1/auth/orgs/logo", admin.Token, logoBody("data:image/png;base64,"+testimg.Base64(img), "image/png")), 400, "INVALID_LOGO",
			"Organization logo data must be base64 encoded.")
		if n := len(e.auditEvents(t, owner, "organization.logo.updated")); n != 0 || objectCount(t, e.bucketDir()) != 0 {
			t.Fatalf("refused uploads left %d audit rows, %d objects", n, objectCount(t, e.bucketDir()))
		}

		a := e.call(t, "POST", "/v1/auth/orgs/logo", admin.Token, good)
		wantStatus(t, a, 200)
		var up struct {
			Data struct{ Logo string } `json:"data"`
		}
		a.decode(t, &up)
		if _, ok := e.logos.Parse(up.Data.Logo); !ok {
			t.Fatalf("upload answered %s", a.body)
		}
		resp, err := http.Get(up.Data.Logo)
		if err != nil {
			t.Fatal(err)
		}
		served, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !samePixels(t, served, img) || resp.Header.Get("Content-Type") != "image/png" {
			t.Fatalf("the uploaded logo is served as %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		// The upload alone does not change the organization, and writes
		// no audit row: the update that sets the logo does.
		if rows := e.auditEvents(t, owner, "organization.logo.updated"); len(rows) != 0 {
			t.Fatalf("the upload wrote audit rows %+v", rows)
		}
		var logo *string
		if err := e.st.DB().QueryRow(`SELECT logo FROM organizations WHERE id = $1`, orgID.String()).Scan(&logo); err != nil || logo != nil {
			t.Fatalf("the upload set the logo: %v %v", logo, err)
		}

		// The update: only this server's upload URLs become a logo.
		update := func(p person, body string) answer {
			return e.call(t, "POST", "/v1/auth/organization/update", p.Token, body)
		}
		wantError(t, update(person{}, `{"data":{"logo":null}}`), 401, "UNAUTHORIZED", "")
		wantError(t, update(noOrg, `{"data":{"name":"X"}}`), 403, "FORBIDDEN", "Select an organization to update it.")
		wantError(t, update(member, `{"data":{"name":"X"}}`), 403, "FORBIDDEN", "Only an owner or admin can update the organization.")
		for _, foreign := range []string{"https://evil.example/logos/" + uuid.NewString(), e.srv.URL + "/logos/" + strings.ToUpper(uuid.NewString()),
			up.Data.Logo + "?x=1", up.Data.Logo + "#f", "javascript:alert(1)", "data:image/png;base64,AAAA"} {
			env := wantError(t, update(admin, `{"data":{"logo":"`+foreign+`"}}`), 400, "INVALID_ORGANIZATION_LOGO", "Organization logo must be uploaded through the logo endpoint.")
			_ = env
		}
		for _, bad := range []string{`{}`, `{"data":{}}`, `{"data":{"slug":"Not A Slug"}}`, `{"data":{"name":""}}`, `{"data":{"owner":"me"}}`, `{"data":{"metadata":null}}`, `{"data":{"metadata":[]}}`, `{"data":{"name":"x"},"organizationId":null}`} {
			wantError(t, update(admin, bad), 400, "BAD_REQUEST", "")
		}
		wantError(t, update(admin, `{"data":{"slug":"logo-taken-`+string(e.kind)+`"}}`), 400, "SLUG_TAKEN", "")
		a = update(admin, `{"data":{"logo":"`+up.Data.Logo+`"}}`)
		wantStatus(t, a, 200)
		var org struct {
			Data struct {
				ID, Name, Slug, CreatedAt string
				Logo                      *string
			} `json:"data"`
		}
		a.decode(t, &org)
		if org.Data.Logo == nil || *org.Data.Logo != up.Data.Logo || org.Data.ID != orgID.String() || !jsTime.MatchString(org.Data.CreatedAt) {
			t.Fatalf("update answered %s", a.body)
		}
		rows := e.auditEvents(t, owner, "organization.public_details.updated")
		if len(rows) != 1 || strings.Join(toStrings(rows[0].Metadata["updated_fields"]), ",") != "logo" ||
			rows[0].TargetID != orgID.String() || rows[0].TargetType != "organization" {
			t.Fatalf("a logo-only update: audit rows %+v", rows)
		}
		a = update(owner, `{"data":{"name":" Renamed ","slug":"renamed-`+string(e.kind)+`","logo":""}}`)
		wantStatus(t, a, 200)
		a.decode(t, &org)
		if org.Data.Logo != nil || org.Data.Name != "Renamed" {
			t.Fatalf("update answered %s", a.body)
		}
		rows = e.auditEvents(t, owner, "organization.public_details.updated")
		if len(rows) != 2 || strings.Join(toStrings(rows[0].Metadata["updated_fields"]), ",") != "name,slug,logo" {
			t.Fatalf("public details audit rows %+v", rows)
		}
		// Clearing a logo that is already clear changes nothing: no row.
		wantStatus(t, update(admin, `{"data":{"logo":null}}`), 200)
		if rows = e.auditEvents(t, owner, "organization.public_details.updated"); len(rows) != 2 {
			t.Fatalf("an update that changed nothing was audited: %+v", rows)
		}

		// Frozen: the upload (after the permission check) and the update refuse.
		scheduleDeletion(t, e, owner, orgID)
		wantFrozenForKeys(t, e.call(t, "POST", "/v1/auth/orgs/logo", admin.Token, good))
		wantError(t, e.call(t, "POST", "/v1/auth/orgs/logo", member.Token, good), 403, "FORBIDDEN", "")
		env := wantError(t, update(admin, `{"data":{"name":"X"}}`), 410, "ORGANIZATION_FROZEN", "This organization is scheduled for deletion and cannot be modified.")
		if env.Error.Hint != "Cancel the pending deletion before updating the organization." {
			t.Errorf("hint %q", env.Error.Hint)
		}
	})
}

func toStrings(v any) []string {
	var out []string
	if l, ok := v.([]any); ok {
		for _, x := range l {
			s, _ := x.(string)
			out = append(out, s)
		}
	}
	return out
}

func TestBusinessDetailsHTTP(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		owner, admin, noOrg, outsider := e.person("owner"), e.person("admin"), e.person("noorg"), e.person("outsider")
		orgID := e.org(owner, "biz-"+string(e.kind))
		e.join(owner, admin, "admin")
		post := func(p person, body string) answer {
			return e.call(t, "POST", "/v1/auth/orgs/business-details", p.Token, body)
		}

		env := wantError(t, post(person{}, `{"business_name":"A"}`), 401, "UNAUTHORIZED", "Sign in to update business details.")
		_ = env
		wantError(t, post(noOrg, `{"business_name":"A"}`), 403, "FORBIDDEN", "Select an organization to update business details.")
		env = wantError(t, post(admin, `{"business_name":"A"}`), 403, "FORBIDDEN", "Only an owner can update business details.")
		if env.Error.Hint != "Ask an owner of this organization to update them." {
			t.Errorf("hint %q", env.Error.Hint)
		}
		for _, bad := range []string{`{"business_type":""}`, `{"business_type":"partnership"}`, `{"business_name":12}`,
			`{"business_name":"` + strings.Repeat("a", 201) + `"}`, `{"business_jurisdiction":"` + strings.Repeat("a", 121) + `"}`,
			`{"business_registration_number":"` + strings.Repeat("1", 101) + `"}`, `{}`, `{"website":"x"}`} {
			wantError(t, post(owner, bad), 400, "BAD_REQUEST", "")
		}
		for field, c := range map[string]struct{ body, message string }{
			"businessName":               {`{"business_name":"Acme\u0007"}`, "Legal name must be between 1 and 200 characters and cannot contain control characters."},
			"businessJurisdiction":       {`{"business_jurisdiction":"UK\u007f"}`, "Jurisdiction must be between 1 and 120 characters and cannot contain control characters."},
			"businessRegistrationNumber": {`{"business_registration_number":"1\n2"}`, "Registration number must be between 1 and 100 characters and cannot contain control characters."},
		} {
			env := wantError(t, post(owner, c.body), 400, "INVALID_BUSINESS_DETAILS", c.message)
			if env.Error.Hint != "Check the "+field+" value and resubmit." || env.Error.Docs != "https://kayle.id/docs/api/errors#bad_request" {
				t.Errorf("%s: %+v", field, env.Error)
			}
		}
		a := post(owner, `{"business_type":"sole","business_name":"  Acme Inc.  ","business_jurisdiction":"","business_registration_number":null}`)
		wantStatus(t, a, 200)
		if strings.TrimSpace(string(a.body)) != `{"data":{"businessJurisdiction":null,"businessName":"Acme Inc.","businessRegistrationNumber":null,"businessType":"sole"},"error":null}` {
			t.Fatalf("answer %s", a.body)
		}
		a = post(owner, `{"business_type":null,"business_registration_number":"12345678"}`)
		wantStatus(t, a, 200)
		if strings.TrimSpace(string(a.body)) != `{"data":{"businessJurisdiction":null,"businessName":"Acme Inc.","businessRegistrationNumber":"12345678","businessType":null},"error":null}` {
			t.Fatalf("answer %s", a.body)
		}
		rows := e.auditEvents(t, owner, "organization.business_details.updated")
		if len(rows) != 2 || strings.Join(toStrings(rows[1].Metadata["updated_fields"]), ",") != "business_type,business_name,business_jurisdiction,business_registration_number" ||
			strings.Join(toStrings(rows[0].Metadata["updated_fields"]), ",") != "business_type,business_registration_number" {
			t.Fatalf("audit rows %+v", rows)
		}
		scheduleDeletion(t, e, owner, orgID)
		outsider.Token = e.token(owner.User.Email, &orgID) // a fresh session of the owner's, selecting it
		env = wantError(t, post(outsider, `{"business_name":"A"}`), 410, "ORGANIZATION_FROZEN", "This organization is scheduled for deletion and cannot be modified.")
		if env.Error.Hint != "Cancel the pending deletion before updating business details." || env.Error.Docs != "https://kayle.id/docs/api/errors#organization_frozen" {
			t.Errorf("410: %+v", env.Error)
		}
		// Checked before membership: an admin hears 410 too.
		wantError(t, post(admin, `{"business_name":"A"}`), 410, "ORGANIZATION_FROZEN", "")
	})
}

func TestVerificationTermsHTTP(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		owner, second, admin, stranger := e.person("owner"), e.person("second"), e.person("admin"), e.person("stranger")
		orgID := e.org(owner, "vt-"+string(e.kind))
		e.join(owner, admin, "admin")
		e.join(owner, second, "owner")
		accept := func(p person, body string) answer {
			return e.call(t, "POST", "/v1/auth/orgs/accept-verification-terms", p.Token, body)
		}
		body := `{"organizationId":"` + orgID.String() + `"}`
		wantError(t, accept(person{}, body), 401, "UNAUTHORIZED", "Sign in to accept verification terms.")
		for _, bad := range []string{`{"organizationId":"nope"}`, `{"organizationId":12}`, `{}`, `{"organizationId":"` + orgID.String() + `","x":1}`} {
			wantError(t, accept(owner, bad), 400, "BAD_REQUEST", "")
		}
		env := wantError(t, accept(owner, `{"organizationId":"`+uuid.NewString()+`"}`), 404, "ORGANIZATION_NOT_FOUND", "Organization not found.")
		if env.Error.Hint != "Provide an existing organization ID." {
			t.Errorf("hint %q", env.Error.Hint)
		}
		// No body at all names no organization.
		wantError(t, accept(owner, ""), 404, "ORGANIZATION_NOT_FOUND", "")
		env = wantError(t, accept(admin, body), 403, "FORBIDDEN", "Only an owner can accept verification terms.")
		if env.Error.Hint != "Ask an owner of this organization to accept the terms." {
			t.Errorf("hint %q", env.Error.Hint)
		}
		// Someone who never belonged to it cannot tell it exists.
		wantError(t, accept(stranger, body), 404, "ORGANIZATION_NOT_FOUND", "Organization not found.")
		a := accept(owner, body)
		wantStatus(t, a, 200)
		var first, again struct {
			Data struct {
				At string `json:"verificationTermsAcceptedAt"`
				By string `json:"verificationTermsAcceptedBy"`
			} `json:"data"`
		}
		a.decode(t, &first)
		if first.Data.By != owner.User.ID.String() || !jsTime.MatchString(first.Data.At) {
			t.Fatalf("answer %s", a.body)
		}
		a = accept(second, body)
		wantStatus(t, a, 200)
		a.decode(t, &again)
		if again != first {
			t.Fatalf("a second owner replaced the acceptance on file: %s", a.body)
		}
		// Verified organizations answer 409, to any member.
		if _, err := e.st.DB().Exec(`UPDATE organizations SET owner_id_checked_at = $1 WHERE id = $2`, "2026-05-01T00:00:00.000000Z", orgID.String()); err != nil {
			t.Fatal(err)
		}
		wantError(t, accept(stranger, body), 404, "ORGANIZATION_NOT_FOUND", "")
		env = wantError(t, accept(admin, body), 409, "ORGANIZATION_ALREADY_VERIFIED", "Organization is already verified.")
		if env.Error.Hint != "Verified organizations do not need to re-accept the verification terms." || env.Error.Docs != "https://kayle.id/docs/api/errors#conflict" {
			t.Errorf("409: %+v", env.Error)
		}
		scheduleDeletion(t, e, owner, orgID)
		env = wantError(t, accept(admin, body), 410, "ORGANIZATION_FROZEN", "This organization is scheduled for deletion and cannot be modified.")
		if env.Error.Hint != "Cancel the pending deletion before accepting verification terms." {
			t.Errorf("hint %q", env.Error.Hint)
		}
		wantError(t, accept(stranger, body), 404, "ORGANIZATION_NOT_FOUND", "")
	})
}

func TestRPTermsHTTP(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		owner, second, admin, noOrg := e.person("owner"), e.person("second"), e.person("admin"), e.person("noorg")
		orgID := e.org(owner, "rp-"+string(e.kind))
		e.join(owner, admin, "admin")
		e.join(owner, second, "owner")
		get := func(p person) answer { return e.call(t, "GET", "/v1/auth/orgs/rp-terms", p.Token, "") }
		post := func(p person) answer { return e.call(t, "POST", "/v1/auth/orgs/rp-terms", p.Token, "") }
		c := terms.Current
		current := `"current":{"jurisdiction":"` + c.Jurisdiction + `","terms_hash":"` + c.Hash + `","terms_version":"` + c.Version + `"}`

		wantError(t, get(person{}), 401, "UNAUTHORIZED", "Sign in to manage Kayle ID Integration Terms.")
		wantError(t, post(person{}), 401, "UNAUTHORIZED", "Sign in to manage Kayle ID Integration Terms.")
		for _, a := range []answer{get(noOrg), post(noOrg)} {
			env := wantError(t, a, 403, "FORBIDDEN", "Select an organization to manage Kayle ID Integration Terms.")
			if env.Error.Hint != "The active session must have an organization selected." {
				t.Errorf("hint %q", env.Error.Hint)
			}
		}
		a := get(admin)
		wantStatus(t, a, 200)
		if strings.TrimSpace(string(a.body)) != `{"data":{"acceptance":null,`+current+`,"current_accepted":false},"error":null}` {
			t.Fatalf("status before: %s", a.body)
		}
		env := wantError(t, post(admin), 403, "FORBIDDEN", "Only an owner can accept Kayle ID Integration Terms.")
		if env.Error.Hint != "Ask an owner of this organization to accept the current Kayle ID Integration Terms." {
			t.Errorf("hint %q", env.Error.Hint)
		}
		// Anything sent is ignored.
		a = e.call(t, "POST", "/v1/auth/orgs/rp-terms", owner.Token, `{"terms_version":"1999-01-01"}`)
		wantStatus(t, a, 200)
		var st struct {
			Data struct {
				Acceptance *struct {
					AcceptedAt   string  `json:"accepted_at"`
					AcceptedBy   *string `json:"accepted_by"`
					TermsVersion string  `json:"terms_version"`
				} `json:"acceptance"`
				CurrentAccepted bool `json:"current_accepted"`
			} `json:"data"`
		}
		a.decode(t, &st)
		if !st.Data.CurrentAccepted || st.Data.Acceptance == nil || *st.Data.Acceptance.AcceptedBy != owner.User.ID.String() ||
			st.Data.Acceptance.TermsVersion != c.Version || !jsTime.MatchString(st.Data.Acceptance.AcceptedAt) {
			t.Fatalf("accept: %s", a.body)
		}
		firstAt := st.Data.Acceptance.AcceptedAt
		// Again, by another owner: the first acceptance stands, a second audit row.
		a = post(second)
		wantStatus(t, a, 200)
		a.decode(t, &st)
		if *st.Data.Acceptance.AcceptedBy != owner.User.ID.String() || st.Data.Acceptance.AcceptedAt != firstAt {
			t.Fatalf("accepting again: %s", a.body)
		}
		a = get(admin)
		wantStatus(t, a, 200)
		if !strings.Contains(string(a.body), `"current_accepted":true`) || !strings.Contains(string(a.body), current) {
			t.Fatalf("status after: %s", a.body)
		}
		rows := e.auditEvents(t, owner, "organization.rp_terms.accepted")
		if len(rows) != 2 || rows[0].TargetID != orgID.String() || rows[0].Metadata["terms_hash"] != c.Hash ||
			rows[0].Metadata["terms_version"] != c.Version || rows[0].Metadata["jurisdiction"] != c.Jurisdiction {
			t.Fatalf("audit rows %+v", rows)
		}
		// Frozen: accepting refuses (before the role), reading works.
		scheduleDeletion(t, e, owner, orgID)
		env = wantError(t, post(admin), 410, "ORGANIZATION_FROZEN", "This organization is scheduled for deletion and cannot be modified.")
		if env.Error.Hint != "Cancel the pending deletion before accepting Kayle ID Integration Terms." {
			t.Errorf("hint %q", env.Error.Hint)
		}
		wantStatus(t, get(admin), 200)
	})
}

// The terms the server records are the ones the contract pins.
func TestTermsMatchContract(t *testing.T) {
	spec, err := server.Spec()
	if err != nil {
		t.Fatal(err)
	}
	item := spec.Paths.Find("/v1/auth/orgs/rp-terms")
	for method, op := range map[string]*openapi3.Operation{"get": item.Get, "post": item.Post} {
		data := op.Responses.Status(200).Value.Content.Get("application/json").Schema.Value.Properties["data"].Value
		cur := data.Properties["current"].Value.Properties
		for field, want := range map[string]string{"terms_version": terms.Current.Version, "terms_hash": terms.Current.Hash, "jurisdiction": terms.Current.Jurisdiction} {
			if got := cur[field].Value.Enum; len(got) != 1 || got[0] != want {
				t.Errorf("%s %s: the contract pins %v, the server records %q", method, field, got, want)
			}
		}
	}
	if !regexp.MustCompile(`^sha256:[0-9a-f]{64}$`).MatchString(terms.Current.Hash) {
		t.Errorf("hash %q is not sha256:<hex>", terms.Current.Hash)
	}
}
