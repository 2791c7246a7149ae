package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	api "github.com/kayle-id/orgs-api/gen/api"
	"github.com/kayle-id/orgs-api/handlers"
	"github.com/kayle-id/orgs-api/internal/testdb"
	"github.com/kayle-id/orgs-api/server"
	"github.com/kayle-id/orgs-api/store"
)

// sessionObject is the session object as answered.
type sessionObject struct {
	ID                string                     `json:"id"`
	Status            string                     `json:"status"`
	FailureCode       *string                    `json:"failure_code"`
	ContractVersion   int                        `json:"contract_version"`
	ShareFields       map[string]json.RawMessage `json:"share_fields"`
	RedirectURL       *string                    `json:"redirect_url"`
	WebhookEndpointID any                        `json:"webhook_endpoint_id"`
	VerificationURL   string                     `json:"verification_url"`
	CancelToken       *string                    `json:"cancel_token"`
	ExpiresAt         string                     `json:"expires_at"`
	CompletedAt       *string                    `json:"completed_at"`
	CreatedAt         string                     `json:"created_at"`
	UpdatedAt         string                     `json:"updated_at"`
}

type sessionPage struct {
	Data       []sessionObject `json:"data"`
	Pagination struct {
		Limit      int     `json:"limit"`
		HasMore    bool    `json:"has_more"`
		NextCursor *string `json:"next_cursor"`
	} `json:"pagination"`
}

var sessionIDPattern = regexp.MustCompile(`^vs_[a-z0-9]{64}$`)

// wantSessionError checks an error of the sessions area: status, code,
// message (when given), and a complete envelope whose docs link is one of
// upstream's (the sessions pages, or the errors page).
func wantSessionError(t *testing.T, r response, status int, code, message string) envelope {
	t.Helper()
	return wantErrorWithDocs(t, r, status, code, message, func(docs string) bool { return strings.HasPrefix(docs, "https://kayle.id/docs/") })
}

// apiKey creates a key for p's active organization with the scopes.
func (e *env) apiKey(t testing.TB, p person, scopes ...string) string {
	t.Helper()
	perms, _ := json.Marshal(scopes)
	a := e.call(t, "POST", "/v1/auth/api-keys", p.Token, `{"name":"k","permissions":`+string(perms)+`}`)
	wantStatus(t, a, 200)
	var out struct {
		Data struct{ Key string } `json:"data"`
	}
	a.decode(t, &out)
	return out.Data.Key
}

// onboardingMetadata is a public and compliance profile the gate accepts.
const onboardingMetadata = `{"website":"https://acme.example","description":"Acme","privacyPolicyUrl":"https://acme.example/privacy",` +
	`"termsOfServiceUrl":"https://acme.example/terms","legalControllerName":"Acme Ltd","controllerJurisdiction":"UK",` +
	`"supportEmail":"support@acme.example","article6Basis":"consent","article9Condition":"explicit_consent",` +
	`"usesKayleForConsequentialDecisions":false}`

// onboard takes owner's organization through the onboarding gate as a
// relying party does: business details, the profile metadata and the
// integration terms through the API, the owner check as the operator's
// command records it; only the logo is set through SQL (an upload's
// walkthrough is elsewhere).
func (e *env) onboard(t testing.TB, owner person, orgID uuid.UUID) {
	t.Helper()
	wantStatus(t, e.call(t, "POST", "/v1/auth/orgs/business-details", owner.Token,
		`{"business_type":"business","business_name":"Acme Ltd","business_jurisdiction":"UK","business_registration_number":"123456"}`), 200)
	wantStatus(t, e.call(t, "POST", "/v1/auth/organization/update", owner.Token,
		`{"organizationId":"`+orgID.String()+`","data":{"metadata":`+onboardingMetadata+`}}`), 200)
	wantStatus(t, e.call(t, "POST", "/v1/auth/orgs/rp-terms", owner.Token, ""), 200)
	if err := e.st.RecordOwnerCheck(context.Background(), orgID, time.Now(), "test"); err != nil {
		t.Fatal(err)
	}
	e.setOrg(t, orgID, "logo = ?", "https://cdn.example/logo.png")
}

// setOrg changes organization columns directly.
func (e *env) setOrg(t testing.TB, orgID uuid.UUID, set string, args ...any) {
	t.Helper()
	if _, err := e.st.DB().Exec(e.ph("UPDATE organizations SET "+set+" WHERE id = ?"), append(args, orgID.String())...); err != nil {
		t.Fatal(err)
	}
}

// exec runs SQL with ? placeholders on either database.
func (e *env) exec(t *testing.T, q string, args ...any) {
	t.Helper()
	if _, err := e.st.DB().Exec(e.ph(q), args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func (e *env) count(t *testing.T, q string, args ...any) int {
	t.Helper()
	var n int
	if err := e.st.DB().QueryRow(e.ph(q), args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// rpOrg is an onboarded organization with an owner, an admin, a member and
// a key holding every scope.
type rpOrg struct {
	id                   uuid.UUID
	owner, admin, member person
	key                  string
}

func (e *env) rpOrg(t testing.TB, slug string) rpOrg {
	t.Helper()
	o := rpOrg{owner: e.person("owner"), admin: e.person("admin"), member: e.person("member")}
	o.id = e.org(o.owner, slug+"-"+string(e.kind))
	e.join(o.owner, o.admin, "admin")
	e.join(o.owner, o.member, "member")
	e.onboard(t, o.owner, o.id)
	o.key = e.apiKey(t, o.owner, store.Scopes...)
	return o
}

func (e *env) createSession(t *testing.T, token, body string) sessionObject {
	t.Helper()
	a := e.call(t, "POST", "/v1/sessions", token, body)
	wantStatus(t, a, 200)
	var out struct {
		Data sessionObject `json:"data"`
	}
	a.decode(t, &out)
	return out.Data
}

func (e *env) getSession(t *testing.T, token, id string) sessionObject {
	t.Helper()
	a := e.call(t, "GET", "/v1/sessions/"+id, token, "")
	wantStatus(t, a, 200)
	var out struct {
		Data sessionObject `json:"data"`
	}
	a.decode(t, &out)
	return out.Data
}

func TestSessionsHTTP(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		o := e.rpOrg(t, "rp")
		other := e.rpOrg(t, "rp-other")

		// A default session: the twelve static claims, kayle_document_id required.
		s := e.createSession(t, o.key, "")
		if !sessionIDPattern.MatchString(s.ID) || s.Status != "created" || s.ContractVersion != 1 || s.RedirectURL != nil ||
			s.WebhookEndpointID != nil || s.CompletedAt != nil || len(s.ShareFields) != 12 || s.CancelToken == nil ||
			!regexp.MustCompile(`^[a-z0-9]{48}$`).MatchString(*s.CancelToken) {
			t.Fatalf("default session: %+v", s)
		}
		if want := "http://localhost:2999/" + s.ID + "?cancel_token=" + *s.CancelToken; s.VerificationURL != want {
			t.Fatalf("verification_url %q, want %q", s.VerificationURL, want)
		}
		created, _ := time.Parse(time.RFC3339, s.CreatedAt)
		expires, _ := time.Parse(time.RFC3339, s.ExpiresAt)
		if !jsTime.MatchString(s.CreatedAt) || !jsTime.MatchString(s.ExpiresAt) || expires.Sub(created) != time.Hour {
			t.Fatalf("times %s %s", s.CreatedAt, s.ExpiresAt)
		}
		// The token is kept only as a keyed hash.
		if n := e.count(t, "SELECT COUNT(*) FROM verification_sessions WHERE cancel_token_hash = ? OR cancel_token_hash LIKE ?",
			*s.CancelToken, "%"+*s.CancelToken+"%"); n != 0 {
			t.Fatal("the cancel token is stored in the clear")
		}

		// Read back: no token, no query in the URL.
		got := e.getSession(t, o.member.Token, s.ID)
		if got.CancelToken != nil || got.VerificationURL != "http://localhost:2999/"+s.ID || got.ID != s.ID || len(got.ShareFields) != 12 {
			t.Fatalf("get: %+v", got)
		}
		// Another organization's session looks unknown.
		env := wantSessionError(t, e.call(t, "GET", "/v1/sessions/"+s.ID, other.key, ""), 404, "NOT_FOUND", "Session not found.")
		if env.Error.Docs != "https://kayle.id/docs/api/sessions#get-by-id" || env.Error.Hint != "The session with the given ID was not found." {
			t.Fatalf("404: %+v", env.Error)
		}
		env = wantSessionError(t, e.call(t, "POST", "/v1/sessions/"+s.ID+"/cancel", other.key, ""), 404, "NOT_FOUND", "Session not found.")
		if env.Error.Docs != "https://kayle.id/docs/api/sessions#cancel-by-id" {
			t.Fatalf("cancel 404 docs %q", env.Error.Docs)
		}
		wantSessionError(t, e.call(t, "GET", "/v1/sessions/vs_"+strings.Repeat("a", 64), o.key, ""), 404, "NOT_FOUND", "")

		// A contract and a loopback redirect (allowed outside production).
		s2 := e.createSession(t, o.admin.Token, `{"share_fields":{"date_of_birth":{"required":true,"reason":"Check age"}},"redirect_url":"http://localhost:3000/done?x=1"}`)
		if len(s2.ShareFields) != 2 || s2.RedirectURL == nil || *s2.RedirectURL != "http://localhost:3000/done?x=1" {
			t.Fatalf("session 2: %+v", s2)
		}
		var kdi struct {
			Required bool   `json:"required"`
			Source   string `json:"source"`
		}
		if err := json.Unmarshal(s2.ShareFields["kayle_document_id"], &kdi); err != nil || !kdi.Required || kdi.Source != "default" {
			t.Fatalf("kayle_document_id: %s", s2.ShareFields["kayle_document_id"])
		}

		// Cancel: 204, then 204 again with nothing more written.
		for range 2 {
			wantStatus(t, e.call(t, "POST", "/v1/sessions/"+s.ID+"/cancel", o.key, `{"ignored":true}`), 204)
		}
		c := e.getSession(t, o.key, s.ID)
		if c.Status != "cancelled" || c.CompletedAt == nil {
			t.Fatalf("cancelled: %+v", c)
		}
		if n := e.count(t, "SELECT COUNT(*) FROM events WHERE trigger_id = ? AND type = 'verification.session.cancelled'", s.ID); n != 1 {
			t.Fatalf("%d cancel events", n)
		}

		// The list: newest first, scoped to the organization, filterable.
		a := e.call(t, "GET", "/v1/sessions", o.key, "")
		wantStatus(t, a, 200)
		var page sessionPage
		a.decode(t, &page)
		if len(page.Data) != 2 || page.Data[0].ID != s2.ID || page.Data[1].ID != s.ID || page.Pagination.Limit != 10 || page.Pagination.HasMore {
			t.Fatalf("list: %s", a.body)
		}
		a = e.call(t, "GET", "/v1/sessions?status=cancelled", o.member.Token, "")
		wantStatus(t, a, 200)
		a.decode(t, &page)
		if len(page.Data) != 1 || page.Data[0].ID != s.ID || page.Data[0].CancelToken != nil {
			t.Fatalf("status filter: %s", a.body)
		}
		from := url.QueryEscape(created.Add(-time.Minute).Format(time.RFC3339))
		to := url.QueryEscape(created.Add(-time.Second).Format(time.RFC3339))
		a = e.call(t, "GET", "/v1/sessions?created_from="+from+"&created_to="+to, o.key, "")
		wantStatus(t, a, 200)
		a.decode(t, &page)
		if len(page.Data) != 0 {
			t.Fatalf("created range: %s", a.body)
		}
		// 400s of the query, in the envelope with a pagination object.
		for _, q := range []string{"limit=0", "limit=101", "limit=abc", "status=completed", "created_from=yesterday", "starting_after=vs_short",
			"starting_after=vs_" + strings.Repeat("b", 64)} {
			env := wantSessionError(t, e.call(t, "GET", "/v1/sessions?"+q, o.key, ""), 400, map[bool]string{true: "INVALID_CURSOR", false: "BAD_REQUEST"}[strings.HasSuffix(q, "bbbb")], "")
			if env.Pagination == nil {
				t.Errorf("%s: no pagination", q)
			}
		}

		// Audit rows name who acted: the key, or the user.
		rows := e.auditEvents(t, o.owner, "session.created")
		if len(rows) != 2 {
			t.Fatalf("session.created rows: %+v", rows)
		}
		if n := e.count(t, "SELECT COUNT(*) FROM audit_logs WHERE event = 'session.created' AND actor_type = 'api_key' AND actor_api_key_id IS NOT NULL AND actor_user_id IS NULL AND organization_id = ?", o.id.String()); n != 1 {
			t.Fatalf("%d session.created rows by the key", n)
		}
		// The listing names the key that acted, as it names a user.
		named := 0
		for _, r := range rows {
			if r.Actor.Type == "api_key" && r.Actor.APIKeyID != nil && r.Actor.APIKeyName != nil && *r.Actor.APIKeyName == "k" {
				named++
			}
		}
		if named != 1 {
			t.Fatalf("session.created rows naming the key: %d, rows %+v", named, rows)
		}
		if n := e.count(t, "SELECT COUNT(*) FROM audit_logs WHERE event = 'session.created' AND actor_type = 'user' AND actor_user_id = ?", o.admin.User.ID.String()); n != 1 {
			t.Fatalf("%d session.created rows by the admin", n)
		}
		if n := len(e.auditEvents(t, o.owner, "session.cancelled")); n != 1 {
			t.Fatalf("%d session.cancelled rows", n)
		}
	})
}

func TestSessionGatesHTTP(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		o := e.rpOrg(t, "gates")
		noOrg := e.person("noorg")
		s := e.createSession(t, o.key, "")
		keys := map[string]string{}
		for _, scope := range store.Scopes {
			keys[scope] = e.apiKey(t, o.owner, scope)
		}
		ops := []struct {
			method, path, body, scope string
			member                    bool // a member may
		}{
			{"GET", "/v1/sessions", "", store.ScopeSessionsRead, true},
			{"GET", "/v1/sessions/" + s.ID, "", store.ScopeSessionsRead, true},
			{"POST", "/v1/sessions", "{}", store.ScopeSessionsWrite, false},
			{"POST", "/v1/sessions/" + s.ID + "/cancel", "", store.ScopeSessionsWrite, false},
			{"GET", "/v1/analytics/sessions/overview", "", store.ScopeAnalyticsRead, true},
		}
		// The scope table: write implies read in its area; analytics:read only itself.
		for _, op := range ops {
			for scope, key := range keys {
				want := scope == op.scope || op.scope == store.ScopeSessionsRead && scope == store.ScopeSessionsWrite
				a := e.call(t, op.method, op.path, key, op.body)
				if want != (a.status < 300) {
					t.Errorf("%s %s with %s: %d %s", op.method, op.path, scope, a.status, a.body)
				}
				if !want {
					wantSessionError(t, a, 403, "FORBIDDEN", "Forbidden")
				}
			}
			// Roles: members read, owners and admins write.
			if a := e.call(t, op.method, op.path, o.member.Token, op.body); op.member != (a.status < 300) {
				t.Errorf("%s %s as member: %d %s", op.method, op.path, a.status, a.body)
			}
			if a := e.call(t, op.method, op.path, o.admin.Token, op.body); a.status >= 300 {
				t.Errorf("%s %s as admin: %d %s", op.method, op.path, a.status, a.body)
			}
			wantSessionError(t, e.call(t, op.method, op.path, noOrg.Token, op.body), 403, "FORBIDDEN", "Forbidden")
			// 401: none, an unknown key, a key that was never a key.
			wantSessionError(t, e.call(t, op.method, op.path, "", op.body), 401, "UNAUTHORIZED", "")
			wantSessionError(t, e.call(t, op.method, op.path, "kk_"+strings.Repeat("x", 32), op.body), 401, "UNAUTHORIZED", "")
		}
		// The scope check comes before validation: 403, not 400.
		wantSessionError(t, e.call(t, "GET", "/v1/sessions?limit=abc", keys[store.ScopeAnalyticsRead], ""), 403, "FORBIDDEN", "")
		wantSessionError(t, e.call(t, "POST", "/v1/sessions", keys[store.ScopeSessionsRead], `{"redirect_url":5}`), 403, "FORBIDDEN", "")
		wantSessionError(t, e.call(t, "GET", "/v1/sessions/nope", o.member.Token+"x", ""), 401, "UNAUTHORIZED", "")
		wantSessionError(t, e.call(t, "POST", "/v1/sessions/nope/cancel", o.member.Token, ""), 403, "FORBIDDEN", "")
		// API keys reach the relying-party API only.
		wantSessionError(t, e.call(t, "GET", "/v1/auth/orgs/members", o.key, ""), 401, "UNAUTHORIZED", "")

		// A disabled key is unknown.
		var listed struct {
			Data []struct{ ID, Name string } `json:"data"`
		}
		a := e.call(t, "GET", "/v1/auth/api-keys?limit=100", o.owner.Token, "")
		a.decode(t, &listed)
		for _, k := range listed.Data {
			wantStatus(t, e.call(t, "PATCH", "/v1/auth/api-keys/"+k.ID, o.owner.Token, `{"enabled":false}`), 200)
			break
		}
		disabled := 0
		for _, k := range append([]string{o.key}, mapValues(keys)...) {
			if e.call(t, "GET", "/v1/analytics/sessions/overview", k, "").status == 401 {
				disabled++
			}
		}
		if disabled != 1 {
			t.Fatalf("%d keys answered 401 after one was disabled", disabled)
		}

		// A key with analytics:read still enabled (the one disabled above is
		// whichever the list named first).
		analytics := keys[store.ScopeAnalyticsRead]
		if e.call(t, "GET", "/v1/analytics/sessions/overview", analytics, "").status == 401 {
			analytics = o.key
		}

		// Frozen: every key answers 410 on every method, before scopes and validation.
		scheduleDeletion(t, e, o.owner, o.id)
		for _, op := range ops {
			for _, key := range keys {
				if a := e.call(t, op.method, op.path, key, op.body); a.status != 401 {
					wantFrozenForKeys(t, a)
				}
			}
		}
		wantFrozenForKeys(t, e.call(t, "GET", "/v1/sessions?limit=abc", analytics, ""))
		// Dashboard callers: the create refuses (after validation); reads and cancel go on.
		wantFrozenForKeys(t, e.call(t, "POST", "/v1/sessions", o.admin.Token, "{}"))
		wantSessionError(t, e.call(t, "POST", "/v1/sessions", o.admin.Token, `{"redirect_url":5}`), 400, "BAD_REQUEST", "")
		wantStatus(t, e.call(t, "GET", "/v1/sessions", o.member.Token, ""), 200)
		wantStatus(t, e.call(t, "POST", "/v1/sessions/"+s.ID+"/cancel", o.admin.Token, ""), 204)
	})
}

func mapValues(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func TestSessionCreateRulesHTTP(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		o := e.rpOrg(t, "rules")
		create := func(body string) answer { return e.call(t, "POST", "/v1/sessions", o.key, body) }

		// The share contract's own codes, through HTTP.
		for body, code := range map[string]string{
			`{"share_fields":[]}`:   "INVALID_SHARE_FIELDS",
			`{"share_fields":null}`: "INVALID_SHARE_FIELDS",
			`{"share_fields":{"family_name":{"required":true,"reason":"  "}}}`:     "REASON_REQUIRED",
			`{"share_fields":{"favourite_colour":{"required":true,"reason":"x"}}}`: "UNKNOWN_CLAIM_KEY",
		} {
			wantSessionError(t, create(body), 400, code, "")
		}
		// A share-field shape error answers over any other schema error in
		// the body, and before the redirect is looked at (upstream's step 2).
		long := strings.Repeat("x", 201)
		for body, code := range map[string]string{
			`{"redirect_url":5,"share_fields":{"given_names":{"required":"x"}}}`:                                                        "REASON_REQUIRED",
			`{"webhook_endpoint_id":[],"share_fields":{"given_names":{"required":true}}}`:                                               "REASON_REQUIRED",
			`{"redirect_url":"ftp://x.example/","share_fields":{"given_names":{"required":1,"reason":"x"}}}`:                            "INVALID_SHARE_FIELDS",
			`{"redirect_url":5,"share\u005ffields":{"given_names":{"required":"x"}}}`:                                                   "REASON_REQUIRED",
			`{"redirect_url":"https://not-verified.example/","share_fields":{"given_names":{"required":true,"reason":"` + long + `"}}}`: "REASON_TOO_LONG",
			// A semantic refusal waits for the redirect check (step 4 before 5).
			`{"redirect_url":"https://not-verified.example/","share_fields":{"family_name":{"required":true,"reason":"  "}}}`: "REDIRECT_URL_DOMAIN_NOT_VERIFIED",
		} {
			wantSessionError(t, create(body), 400, code, "")
		}
		// A body that is not declared JSON is refused, not ignored into a
		// default session as upstream does.
		before := e.count(t, "SELECT COUNT(*) FROM verification_sessions WHERE organization_id = ?", o.id.String())
		status, raw, _ := sendRaw(t, e, "POST", "/v1/sessions", "text/plain", `{"share_fields":{}}`, http.Header{"Authorization": {"Bearer " + o.key}})
		if status != 415 || !strings.Contains(string(raw), `"UNSUPPORTED_MEDIA_TYPE"`) {
			t.Fatalf("text/plain body: %d %s", status, raw)
		}
		if after := e.count(t, "SELECT COUNT(*) FROM verification_sessions WHERE organization_id = ?", o.id.String()); after != before {
			t.Fatalf("a refused body made a session (%d, then %d)", before, after)
		}
		// {} is only kayle_document_id.
		if s := e.createSession(t, o.key, `{"share_fields":{}}`); len(s.ShareFields) != 1 || s.ShareFields["kayle_document_id"] == nil {
			t.Fatalf("{}: %+v", s.ShareFields)
		}
		// Schema: redirect URL shape, webhook ids.
		for _, body := range []string{`{"redirect_url":"ftp://acme.example/"}`, `{"redirect_url":"https://u:p@acme.example/"}`,
			`{"redirect_url":""}`, `{"webhook_endpoint_id":[]}`, `{"webhook_endpoint_id":"bad id"}`} {
			wantSessionError(t, create(body), 400, "BAD_REQUEST", "")
		}
		// Webhook targets: there are no endpoints yet.
		env := wantSessionError(t, create(`{"webhook_endpoint_id":["whe_1","whe_1"]}`), 400, "WEBHOOK_ENDPOINT_UNAVAILABLE", "Webhook endpoint is unavailable.")
		if env.Error.Docs != "https://kayle.id/docs/api/sessions#create" {
			t.Fatalf("docs %q", env.Error.Docs)
		}

		// Redirects against verified domains: a verified apex and its
		// subdomains; with a pattern registered, only what it covers.
		wantSessionError(t, create(`{"redirect_url":"https://app.acme-rp.co/done"}`), 400, "REDIRECT_URL_DOMAIN_NOT_VERIFIED", "")
		e.verifyDomain(o.owner, "acme-rp.co", false)
		s := e.createSession(t, o.key, `{"redirect_url":"https://App.Acme-RP.co/done"}`)
		if s.RedirectURL == nil || *s.RedirectURL != "https://app.acme-rp.co/done" {
			t.Fatalf("redirect %v", s.RedirectURL)
		}
		wantSessionError(t, create(`{"redirect_url":"https://evil-acme-rp.co/"}`), 400, "REDIRECT_URL_DOMAIN_NOT_VERIFIED", "")
		wantStatus(t, e.call(t, "POST", "/v1/auth/orgs/redirect-uris", o.owner.Token, `{"pattern":"https://app.acme-rp.co/cb"}`), 200)
		wantSessionError(t, create(`{"redirect_url":"https://app.acme-rp.co/done"}`), 400, "REDIRECT_URL_PATTERN_NOT_REGISTERED", "")
		e.createSession(t, o.key, `{"redirect_url":"https://app.acme-rp.co/cb/1"}`)
		// The redirect is checked before the share fields (upstream's order).
		wantSessionError(t, create(`{"redirect_url":"https://nowhere.example/","share_fields":{"x":{"required":true,"reason":"x"}}}`), 400, "REDIRECT_URL_DOMAIN_NOT_VERIFIED", "")
	})
}

func TestSessionOnboardingGateHTTP(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		owner := e.person("owner")
		orgID := e.org(owner, "onboard-"+string(e.kind))
		key := e.apiKey(t, owner, "sessions:write")
		env := wantSessionError(t, e.call(t, "POST", "/v1/sessions", key, ""), 400, "ONBOARDING_INCOMPLETE",
			"Finish onboarding the organization before creating verification sessions.")
		if env.Error.Docs != "https://kayle.id/docs/api/sessions#create" {
			t.Fatalf("docs %q", env.Error.Docs)
		}
		// Everything but the terms: RP_TERMS_ACCEPTANCE_REQUIRED.
		wantStatus(t, e.call(t, "POST", "/v1/auth/orgs/business-details", owner.Token,
			`{"business_type":"sole","business_name":"Ada","business_jurisdiction":"UK","business_registration_number":"1"}`), 200)
		e.setOrg(t, orgID, "logo = ?, metadata = ?, owner_id_checked_at = ?", "https://cdn.example/l.png", onboardingMetadata, time.Now().UTC())
		wantSessionError(t, e.call(t, "POST", "/v1/sessions", key, ""), 400, "RP_TERMS_ACCEPTANCE_REQUIRED", "")
		wantStatus(t, e.call(t, "POST", "/v1/auth/orgs/rp-terms", owner.Token, ""), 200)
		e.createSession(t, key, "")
		// Without the owner check, the gate closes again (and the
		// unverified-organization limit behind it stays unreachable).
		e.setOrg(t, orgID, "owner_id_checked_at = NULL")
		wantSessionError(t, e.call(t, "POST", "/v1/sessions", key, ""), 400, "ONBOARDING_INCOMPLETE", "")
		if n := e.count(t, "SELECT COUNT(*) FROM verification_sessions WHERE organization_id = ?", orgID.String()); n != 1 {
			t.Fatalf("%d sessions", n)
		}
	})
}

// Pages chain across rows created at the same instant: the order is
// created_at then id, both descending, and no row is skipped or repeated.
func TestSessionListPagingHTTP(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		o := e.rpOrg(t, "paging")
		var ids []string
		for range 7 {
			ids = append(ids, e.createSession(t, o.key, `{"share_fields":{}}`).ID)
		}
		// Five of them at one instant, one before and one after.
		same := time.Now().UTC().Truncate(time.Millisecond)
		for i, id := range ids {
			at := same
			switch i {
			case 0:
				at = same.Add(-time.Second)
			case 6:
				at = same.Add(time.Second)
			}
			e.exec(t, "UPDATE verification_sessions SET created_at = ? WHERE id = ?", at, id)
		}
		seen := map[string]bool{}
		var order []sessionObject
		cursor := ""
		for pages := 0; ; pages++ {
			q := "/v1/sessions?limit=2"
			if cursor != "" {
				q += "&starting_after=" + cursor
			}
			a := e.call(t, "GET", q, o.key, "")
			wantStatus(t, a, 200)
			var p sessionPage
			a.decode(t, &p)
			for _, s := range p.Data {
				if seen[s.ID] {
					t.Fatalf("%s twice", s.ID)
				}
				seen[s.ID] = true
				order = append(order, s)
			}
			if !p.Pagination.HasMore {
				if p.Pagination.NextCursor != nil {
					t.Fatal("next_cursor on the last page")
				}
				break
			}
			cursor = *p.Pagination.NextCursor
			if cursor != p.Data[len(p.Data)-1].ID || pages > 10 {
				t.Fatalf("cursor %s", cursor)
			}
		}
		if len(order) != 7 || order[0].ID != ids[6] || order[6].ID != ids[0] {
			t.Fatalf("%d rows over the pages", len(order))
		}
		for i := 1; i < len(order); i++ {
			a, b := order[i-1], order[i]
			if a.CreatedAt < b.CreatedAt || a.CreatedAt == b.CreatedAt && a.ID < b.ID {
				t.Fatalf("out of order at %d: %s/%s then %s/%s", i, a.CreatedAt, a.ID, b.CreatedAt, b.ID)
			}
		}
	})
}

// Expiry: an overdue session is never shown active (expired on touch), the
// job drains a backlog larger than a batch, and each session gets exactly
// one terminal event.
func TestSessionExpiryHTTP(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		o := e.rpOrg(t, "expiry")
		touched := e.createSession(t, o.key, "")
		cancelled := e.createSession(t, o.key, "")
		wantStatus(t, e.call(t, "POST", "/v1/sessions/"+cancelled.ID+"/cancel", o.key, ""), 204)
		e.clock.Advance(61 * time.Minute)
		if s := e.getSession(t, o.member.Token, touched.ID); s.Status != "expired" || s.CompletedAt == nil {
			t.Fatalf("overdue session reads %s", s.Status)
		}
		// Cancel of an expired session: 204, still expired.
		wantStatus(t, e.call(t, "POST", "/v1/sessions/"+touched.ID+"/cancel", o.key, ""), 204)
		if s := e.getSession(t, o.key, touched.ID); s.Status != "expired" {
			t.Fatalf("after cancel: %s", s.Status)
		}
		if s := e.getSession(t, o.key, cancelled.ID); s.Status != "cancelled" {
			t.Fatalf("cancelled became %s", s.Status)
		}
		// A backlog for the job: 250 overdue sessions, inserted as the store would.
		for i := range 250 {
			id := fmt.Sprintf("vs_%064d", i)
			now := e.clock.Now().UTC().Add(-2 * time.Hour)
			e.exec(t, `INSERT INTO verification_sessions (id, organization_id, status, contract_version, share_fields, cancel_token_hash, expires_at, created_at, updated_at)
				VALUES (?, ?, 'created', 1, '{}', 'h', ?, ?, ?)`, id, o.id.String(), now.Add(time.Hour), now, now)
		}
		// The job's pass (batches of 100) drains it.
		n, err := server.SessionExpiryJob(e.st, time.Minute).Run(ctx, func(int) {})
		if err != nil || n != 250 {
			t.Fatalf("the expiry job: %d %v", n, err)
		}
		if n, _ := e.st.ExpireDue(ctx, 100, 10_000, nil); n != 0 {
			t.Fatalf("second pass expired %d", n)
		}
		if n := e.count(t, "SELECT COUNT(*) FROM events WHERE organization_id = ? AND type = 'verification.session.expired'", o.id.String()); n != 251 {
			t.Fatalf("%d expiry events", n)
		}
		if n := e.count(t, "SELECT COUNT(*) FROM verification_sessions WHERE status IN ('created','in_progress')"); n != 0 {
			t.Fatalf("%d still active", n)
		}
	})
}

// Racing cancel, expiry and sandbox completion, many goroutines per
// session: exactly one terminal event, one audit row and one count each.
func TestSessionEndingRace(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		o := e.rpOrg(t, "race")
		const sessions = 8
		var ids []string
		for range sessions {
			ids = append(ids, e.createSession(t, o.key, `{"share_fields":{}}`).ID)
		}
		rc := store.RPCaller{OrganizationID: o.id}
		e.clock.Advance(61 * time.Minute) // due: expiry competes too
		var wg sync.WaitGroup
		for _, id := range ids {
			for g := range 6 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var err error
					switch g % 3 {
					case 0:
						err = e.st.CancelVerificationSession(ctx, rc, id)
					case 1:
						_, err = e.st.ExpireDue(ctx, 100, 1000, nil)
					case 2:
						_, err = e.st.CompleteSandboxSession(ctx, rc, id, store.SandboxCompletion{FailureCode: "liveness_failed"})
						if errors.Is(err, store.ErrSessionNotActive) {
							err = nil
						}
					}
					if err != nil {
						t.Error(err)
					}
				}()
			}
		}
		wg.Wait()
		for _, id := range ids {
			if n := e.count(t, "SELECT COUNT(*) FROM events WHERE trigger_id = ?", id); n != 1 {
				t.Fatalf("%s: %d events", id, n)
			}
			if n := e.count(t, "SELECT COUNT(*) FROM audit_logs WHERE target_id = ? AND event <> 'session.created'", id); n != 1 {
				t.Fatalf("%s: %d ending audit rows", id, n)
			}
		}
		if n := e.count(t, "SELECT COALESCE(SUM(succeeded + failed + expired + cancelled), 0) FROM session_day_counts WHERE organization_id = ?", o.id.String()); n != sessions {
			t.Fatalf("outcome counts sum to %d", n)
		}
	})
}

// Retention drains a backlog larger than one batch, decrementing the day
// counts, and keeps what is younger or not a session's.
func TestSessionRetention(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		o := e.rpOrg(t, "retention")
		young := e.createSession(t, o.key, "")
		old := e.createSession(t, o.key, "")
		wantStatus(t, e.call(t, "POST", "/v1/sessions/"+old.ID+"/cancel", o.key, ""), 204)
		const backlog = 130
		long := e.clock.Now().UTC().Add(-40 * 24 * time.Hour)
		for i := range backlog {
			id := fmt.Sprintf("vs_%064d", i)
			e.exec(t, `INSERT INTO verification_sessions (id, organization_id, status, contract_version, share_fields, cancel_token_hash, risk_score, expires_at, completed_at, created_at, updated_at)
				VALUES (?, ?, 'succeeded', 1, '{}', 'h', 0.5, ?, ?, ?, ?)`, id, o.id.String(), long.Add(time.Hour), long, long, long)
			e.exec(t, `INSERT INTO events (id, organization_id, type, trigger_id, trigger_type, data, created_at) VALUES (?, ?, 'verification.session.succeeded', ?, 'verification_session', '{}', ?)`,
				fmt.Sprintf("evt_%064d", i), o.id.String(), id, long)
		}
		e.exec(t, `INSERT INTO session_day_counts (organization_id, day, created, succeeded) VALUES (?, ?, ?, ?)`, o.id.String(), long.Format(time.DateOnly), backlog, backlog)
		e.exec(t, `UPDATE audit_logs SET created_at = ? WHERE target_id = ?`, long.AddDate(-1, 0, 0), old.ID)
		res, err := e.st.SweepRetention(ctx, store.RetentionOptions{Batch: 50, Max: 10_000}, nil)
		if err != nil || res.SessionsDeleted != backlog || res.EventsDeleted != backlog || res.AuditRowsDeleted != 2 {
			t.Fatalf("sweep: %+v %v", res, err)
		}
		if n := e.count(t, "SELECT COUNT(*) FROM verification_sessions WHERE organization_id = ?", o.id.String()); n != 2 {
			t.Fatalf("%d sessions left", n)
		}
		if n := e.count(t, "SELECT created + succeeded FROM session_day_counts WHERE organization_id = ? AND day = ?", o.id.String(), long.Format(time.DateOnly)); n != 0 {
			t.Fatalf("the deleted rows are still counted: %d", n)
		}
		e.getSession(t, o.key, young.ID)
		e.getSession(t, o.key, old.ID)
		// Thirty days after it ended, the cancelled session goes too.
		e.clock.Advance(31 * 24 * time.Hour)
		if res, err := e.st.SweepRetention(ctx, store.RetentionOptions{Batch: 50}, nil); err != nil || res.SessionsDeleted != 1 {
			t.Fatalf("second sweep: %+v %v", res, err)
		}
		wantSessionError(t, e.call(t, "GET", "/v1/sessions/"+old.ID, o.key, ""), 404, "NOT_FOUND", "")
		if n, err := server.RetentionJob(e.st, time.Hour).Run(ctx, func(int) {}); err != nil || n != 0 {
			t.Fatalf("the retention job after the sweeps: %d %v", n, err)
		}
		// The young one never ended: it is expired now, kept for 30 days more.
		if s := e.getSession(t, o.key, young.ID); s.Status != "expired" {
			t.Fatalf("young: %s", s.Status)
		}
	})
}

func TestSessionsOverviewHTTP(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		o := e.rpOrg(t, "overview")
		a := e.createSession(t, o.key, "")
		e.createSession(t, o.key, "")
		wantStatus(t, e.call(t, "POST", "/v1/sessions/"+a.ID+"/cancel", o.key, ""), 204)
		r := e.call(t, "GET", "/v1/analytics/sessions/overview?ignored=1", o.key, "")
		wantStatus(t, r, 200)
		var out struct {
			Data struct {
				Summary  map[string]int   `json:"summary"`
				Trend    []map[string]any `json:"trend"`
				Timeline []map[string]any `json:"timeline"`
			} `json:"data"`
		}
		r.decode(t, &out)
		s := out.Data.Summary
		if s["total"] != 2 || s["active"] != 1 || s["cancelled"] != 1 || len(out.Data.Trend) != 14 || len(out.Data.Timeline) != 14 {
			t.Fatalf("overview: %s", r.body)
		}
		if last := out.Data.Trend[13]; last["date"] != time.Now().UTC().Format(time.DateOnly) || last["cancelled"] != 1.0 {
			t.Fatalf("today: %v", last)
		}
		// An overdue session counts as expired.
		e.clock.Advance(2 * time.Hour)
		r = e.call(t, "GET", "/v1/analytics/sessions/overview", o.member.Token, "")
		r.decode(t, &out)
		if out.Data.Summary["active"] != 0 || out.Data.Summary["expired"] != 1 {
			t.Fatalf("after expiry: %s", r.body)
		}
	})
}

// The sandbox: off, the completion is neither routed nor advertised; on,
// every answer says so and sessions can be driven to succeeded and failed.
func TestSandboxHTTP(t *testing.T) {
	off := newEnv(t, "sqlite")
	o := off.rpOrg(t, "sandbox-off")
	s := off.createSession(t, o.key, "")
	a := off.call(t, "POST", "/v1/sessions/"+s.ID+"/complete", o.key, `{"outcome":"failed","failure_code":"liveness_failed"}`)
	wantStatus(t, a, 404)
	if a := off.call(t, "GET", "/openapi.json", "", ""); strings.Contains(string(a.body), "/complete") || strings.Contains(string(a.body), "SANDBOX") {
		t.Fatal("the sandbox operation is advertised with the sandbox off")
	}
	if h := get(t, off, "/readyz").Header.Get(server.SandboxHeader); h != "" {
		t.Fatalf("header %q with the sandbox off", h)
	}

	if _, err := server.New(server.Config{Sandbox: true, Sessions: handlers.SessionOptions{Production: true}}, off.st, nil); err == nil {
		t.Fatal("the sandbox started in production")
	}

	forEachDBWith(t, func(c *server.Config) { c.Sandbox = true }, func(t *testing.T, e *env) {
		o := e.rpOrg(t, "sandbox")
		r := get(t, e, "/readyz")
		var ready struct{ Sandbox bool }
		json.NewDecoder(r.Body).Decode(&ready)
		r.Body.Close()
		if !ready.Sandbox || r.Header.Get(server.SandboxHeader) != "true" {
			t.Fatalf("readyz: %+v %v", ready, r.Header)
		}
		// On every answer, errors included.
		for _, path := range []string{"/v1/sessions", "/nope", "/openapi.json"} {
			r := get(t, e, path)
			r.Body.Close()
			if r.Header.Get(server.SandboxHeader) != "true" {
				t.Fatalf("%s: %d without %s", path, r.StatusCode, server.SandboxHeader)
			}
		}
		doc := e.call(t, "GET", "/openapi.json", "", "")
		if !strings.Contains(string(doc.body), "/v1/sessions/{id}/complete") || !strings.Contains(string(doc.body), "SANDBOX") {
			t.Fatal("the sandbox document does not say so")
		}
		complete := func(id, body string) answer {
			return e.call(t, "POST", "/v1/sessions/"+id+"/complete", o.key, body)
		}
		s := e.createSession(t, o.key, `{"share_fields":{"date_of_birth":{"required":true,"reason":"age"},"age_over_18":{"required":false,"reason":""},"family_name":{"required":false,"reason":"name"}}}`)
		for _, bad := range []string{
			`{"outcome":"succeeded","claims":{"nationality_code":"GB","date_of_birth":"1990-01-01","kayle_document_id":"d"}}`, // not in the contract
			`{"outcome":"succeeded","claims":{"family_name":"Lovelace"}}`,                                                     // required ones missing
			`{"outcome":"succeeded","claims":{"date_of_birth":"1990-01-01","kayle_document_id":"d","age_over_18":"yes"}}`,     // the gate is a boolean
			`{"outcome":"succeeded","claims":{"date_of_birth":19900101,"kayle_document_id":"d"}}`,                             // strings
			`{"outcome":"failed"}`,
			`{"outcome":"succeeded","failure_code":"liveness_failed","claims":{}}`,
			`{"outcome":"maybe"}`,
		} {
			wantSessionError(t, complete(s.ID, bad), 400, "BAD_REQUEST", "")
		}
		a := complete(s.ID, `{"outcome":"succeeded","claims":{"date_of_birth":"1990-01-01","kayle_document_id":"doc-1","age_over_18":true,"family_name":"Lovelace"}}`)
		wantStatus(t, a, 200)
		if got := e.getSession(t, o.key, s.ID); got.Status != "succeeded" || got.CompletedAt == nil {
			t.Fatalf("after completion: %+v", got)
		}
		var data string
		e.st.DB().QueryRow(e.ph("SELECT data FROM events WHERE trigger_id = ?"), s.ID).Scan(&data)
		data = strings.ReplaceAll(data, " ", "")
		if !strings.Contains(data, `"selected_field_keys":["age_over_18","date_of_birth","family_name","kayle_document_id"]`) || strings.Contains(data, "Lovelace") {
			t.Fatalf("event data %s", data)
		}
		wantSessionError(t, complete(s.ID, `{"outcome":"failed","failure_code":"liveness_failed"}`), 409, "SESSION_NOT_ACTIVE", "")
		f := e.createSession(t, o.key, "")
		wantStatus(t, complete(f.ID, `{"outcome":"failed","failure_code":"selfie_face_mismatch"}`), 200)
		if got := e.getSession(t, o.key, f.ID); got.Status != "failed" || got.FailureCode == nil || *got.FailureCode != "selfie_face_mismatch" {
			t.Fatalf("failed: %+v", got)
		}
		wantSessionError(t, complete("vs_"+strings.Repeat("c", 64), `{"outcome":"failed","failure_code":"liveness_failed"}`), 404, "NOT_FOUND", "")
		member := e.call(t, "POST", "/v1/sessions/"+f.ID+"/complete", o.member.Token, `{"outcome":"failed","failure_code":"liveness_failed"}`)
		wantSessionError(t, member, 403, "FORBIDDEN", "")
		if n := len(e.auditEvents(t, o.owner, "session.succeeded")) + len(e.auditEvents(t, o.owner, "session.failed")); n != 2 {
			t.Fatalf("%d ending audit rows", n)
		}
		wantSessionError(t, e.call(t, "POST", "/v1/sessions/"+f.ID+"/complete", "", `{"outcome":"failed"}`), 401, "UNAUTHORIZED", "")
		scheduleDeletion(t, e, o.owner, o.id)
		wantFrozenForKeys(t, complete(f.ID, `{"outcome":"failed","failure_code":"liveness_failed"}`))
	})
}

func get(t *testing.T, e *env, path string) *http.Response {
	t.Helper()
	r, err := http.Get(e.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// ph rewrites ? placeholders for PostgreSQL.
func (e *env) ph(q string) string {
	if e.kind != "postgres" {
		return q
	}
	n := 0
	return regexp.MustCompile(`\?`).ReplaceAllStringFunc(q, func(string) string { n++; return fmt.Sprintf("$%d", n) })
}

// forEachDBWith is forEachDB with the server's configuration adjusted.
func forEachDBWith(t *testing.T, opt func(*server.Config), fn func(t *testing.T, e *env)) {
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			fn(t, newEnv(t, kind, opt))
		})
	}
}

var _ = api.VerificationSession{}

// A database failure is upstream's documented 500 (fixed strings, a
// pagination object on the list), never a leak of internals.
func TestSessionInternalErrors(t *testing.T) {
	e := newEnv(t, "sqlite")
	o := e.rpOrg(t, "internal")
	s := e.createSession(t, o.key, "")
	e.exec(t, "ALTER TABLE verification_sessions RENAME TO gone_sessions")
	check := func(a answer) envelope {
		t.Helper()
		env := wantSessionError(t, a, 500, "INTERNAL_SERVER_ERROR", "Internal server error.")
		if env.Error.Hint != "The server encountered an error." || env.Error.Docs != "https://kayle.id/docs/api/errors" || strings.Contains(string(a.body), "sessions") {
			t.Fatalf("500: %s", a.body)
		}
		return env
	}
	if env := check(e.call(t, "GET", "/v1/sessions", o.key, "")); env.Pagination == nil || env.Pagination.HasMore {
		t.Fatalf("list 500 pagination %+v", env.Pagination)
	}
	check(e.call(t, "POST", "/v1/sessions", o.key, "{}"))
	check(e.call(t, "GET", "/v1/sessions/"+s.ID, o.key, ""))
	check(e.call(t, "POST", "/v1/sessions/"+s.ID+"/cancel", o.key, ""))
	check(e.call(t, "GET", "/v1/analytics/sessions/overview", o.key, ""))
}

// Hostile input to the relying-party API never makes a session, and is
// always a 4xx in the envelope.
func TestHostileSessionInput(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		o := e.rpOrg(t, "hostile-rp")
		s := e.createSession(t, o.key, "")
		auth := map[string][]string{"Authorization": {"Bearer " + o.key}}
		deep := strings.Repeat(`{"a":`, 500) + "1" + strings.Repeat("}", 500)
		var huge strings.Builder
		huge.WriteString(`{"share_fields":{`)
		for i := range 5000 {
			if i > 0 {
				huge.WriteString(",")
			}
			fmt.Fprintf(&huge, `"k%d":{"required":true,"reason":"r"}`, i)
		}
		huge.WriteString("}}")
		sf := func(v string) string { return `{"share_fields":` + v + `}` }
		cases := []hostile{
			{"share field name with NUL", "POST", "/v1/sessions", "application/json", sf(`{"family\u0000name":{"required":true,"reason":"x"}}`), auth},
			{"share field reason with NUL", "POST", "/v1/sessions", "application/json", sf(`{"family_name":{"required":true,"reason":"a\u0000b"}}`), auth},
			{"share field name invalid UTF-8", "POST", "/v1/sessions", "application/json", "{\"share_fields\":{\"fam\xffily\":{\"required\":true,\"reason\":\"x\"}}}", auth},
			{"share field reason invalid UTF-8", "POST", "/v1/sessions", "application/json", "{\"share_fields\":{\"family_name\":{\"required\":true,\"reason\":\"\xc3\x28\"}}}", auth},
			{"share fields huge map", "POST", "/v1/sessions", "application/json", huge.String(), auth},
			{"share fields deep nesting", "POST", "/v1/sessions", "application/json", sf(`{"family_name":` + deep + `}`), auth},
			{"share field reason 201 emoji halves", "POST", "/v1/sessions", "application/json", sf(`{"family_name":{"required":true,"reason":"` + strings.Repeat("😀", 101) + `"}}`), auth},
			{"share field age gate leading sign", "POST", "/v1/sessions", "application/json", sf(`{"age_over_+18":{"required":true,"reason":"x"}}`), auth},
			{"share field age gate huge", "POST", "/v1/sessions", "application/json", sf(`{"age_over_99999999999999999999":{"required":true,"reason":"x"}}`), auth},
			{"share fields string", "POST", "/v1/sessions", "application/json", sf(`"family_name"`), auth},
			{"redirect userinfo", "POST", "/v1/sessions", "application/json", `{"redirect_url":"https://app.acme.co@evil.io/"}`, auth},
			{"redirect credentials", "POST", "/v1/sessions", "application/json", `{"redirect_url":"https://u:p@acme.co/"}`, auth},
			{"redirect IDN homograph", "POST", "/v1/sessions", "application/json", `{"redirect_url":"https://аpple.com/cb"}`, auth},
			{"redirect backslashes", "POST", "/v1/sessions", "application/json", `{"redirect_url":"https:\\\\evil.io\\cb"}`, auth},
			{"redirect javascript", "POST", "/v1/sessions", "application/json", `{"redirect_url":"javascript:alert(1)"}`, auth},
			{"redirect too long", "POST", "/v1/sessions", "application/json", `{"redirect_url":"https://acme.co/` + strings.Repeat("a", 2100) + `"}`, auth},
			{"redirect NUL", "POST", "/v1/sessions", "application/json", `{"redirect_url":"https://acme.co/\u0000"}`, auth},
			{"webhook id SQL", "POST", "/v1/sessions", "application/json", `{"webhook_endpoint_id":"x' OR 1=1 --"}`, auth},
			{"webhook ids 26", "POST", "/v1/sessions", "application/json", `{"webhook_endpoint_id":[` + strings.TrimSuffix(strings.Repeat(`"a",`, 26), ",") + `]}`, auth},
			{"malformed JSON", "POST", "/v1/sessions", "application/json", `{"share_fields":`, auth},
			{"session id SQL", "GET", "/v1/sessions/vs_x'%20OR%201=1", "", "", auth},
			{"session id traversal", "GET", "/v1/sessions/..%2F..%2Fanalytics", "", "", auth},
			{"session id upper overlong", "GET", "/v1/sessions/vs_" + strings.Repeat("A", 65), "", "", auth},
			{"cancel id invalid UTF-8", "POST", "/v1/sessions/vs_%FF/cancel", "", "", auth},
			{"list cursor SQL", "GET", "/v1/sessions?starting_after=vs_%27--", "", "", auth},
			{"list date offset garbage", "GET", "/v1/sessions?created_from=2026-01-01T00:00:00%2B99:99", "", "", auth},
			{"list limit huge", "GET", "/v1/sessions?limit=99999999999999999999", "", "", auth},
			{"list status injection", "GET", "/v1/sessions?status=created'--", "", "", auth},
			{"key of another length", "GET", "/v1/sessions", "", "", map[string][]string{"Authorization": {"Bearer kk_" + strings.Repeat("a", 5000)}}},
			{"key with NUL", "GET", "/v1/sessions", "", "", map[string][]string{"Authorization": {"Bearer kk_aaaa\x00"}}},
		}
		before := e.count(t, "SELECT COUNT(*) FROM verification_sessions")
		for _, h := range cases {
			status, body, sent := sendRaw(t, e, h.method, h.path, h.ctype, h.body, h.header)
			if !sent {
				continue // the client refused it: nothing reached the server
			}
			if status < 400 || status >= 500 {
				t.Errorf("%s: got %d %.300s, want a 4xx", h.name, status, body)
				continue
			}
			var env envelope
			if err := json.Unmarshal(body, &env); err != nil || env.Error == nil || env.Error.Code == "" || env.Error.Hint == "" || env.Error.Docs == "" {
				t.Errorf("%s: %d answer is not the error envelope: %.300s", h.name, status, body)
			}
		}
		if after := e.count(t, "SELECT COUNT(*) FROM verification_sessions"); after != before {
			t.Fatalf("hostile requests made %d sessions", after-before)
		}
		e.getSession(t, o.key, s.ID)
		// __proto__ is skipped, as upstream's validator skips it: neither
		// checked nor kept.
		if p := e.createSession(t, o.key, sf(`{"__proto__":{"required":true,"reason":"x"}}`)); len(p.ShareFields) != 1 || p.ShareFields["__proto__"] != nil {
			t.Fatalf("__proto__: %+v", p.ShareFields)
		}
	})
}

// An API key has its own rate limit, apart from its organization's other
// keys and from the users of its organization.
func TestSessionRateLimitsPerKey(t *testing.T) {
	e := newEnv(t, "sqlite")
	o := e.rpOrg(t, "limits")
	other := e.apiKey(t, o.owner, store.Scopes...)
	base := limitedServer(t, e, server.RateLimit{PerCredentialRead: 1, PerCredential: 1, Burst: 3})
	limited := 0
	for range 6 {
		if status, _ := call(t, base, "GET", "/v1/sessions", "Bearer "+o.key, ""); status == 429 {
			limited++
		} else if status != 200 {
			t.Fatalf("status %d", status)
		}
	}
	if limited < 2 {
		t.Fatalf("the key was limited %d times in 6 calls at a burst of 3", limited)
	}
	if status, _ := call(t, base, "GET", "/v1/sessions", "Bearer "+other, ""); status != 200 {
		t.Fatalf("another key of the organization: %d", status)
	}
	if status, _ := call(t, base, "GET", "/v1/sessions", "Bearer "+o.member.Token, ""); status != 200 {
		t.Fatalf("a member of the organization: %d", status)
	}
	// Writes count apart from reads.
	if status, _ := call(t, base, "POST", "/v1/sessions/vs_"+strings.Repeat("d", 64)+"/cancel", "Bearer "+o.key, ""); status != 404 {
		t.Fatalf("a write after the reads ran out: %d", status)
	}
}
