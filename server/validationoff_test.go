package server_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kayle-id/orgs-api/mail"
	"github.com/kayle-id/orgs-api/server"
	"github.com/kayle-id/orgs-api/validator"
)

// KAYLE_VALIDATION=off changes how answers are checked, not what the server
// accepts as data: the store keeps its rules itself. Limits are clamped,
// slugs, roles, emails, search text and cursors are checked, and nothing
// hostile gets a 5xx.
func TestValidationOffKeepsInvariants(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		owner := e.person("owner")
		e.org(owner, "off-"+string(e.kind))
		memberID := e.memberID(owner, owner).String()
		app, err := server.New(server.Config{Validation: validator.Off, Metrics: conformance, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))},
			e.st, &mail.Outbox{Dir: t.TempDir(), From: "x@kayle.id"})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(app)
		defer srv.Close()
		off := &env{t: t, kind: e.kind, st: e.st, srv: srv}
		auth := http.Header{"Authorization": {"Bearer " + owner.Token}}
		send := func(method, path, body string) (int, envelope) {
			t.Helper()
			ctype := ""
			if body != "" {
				ctype = "application/json"
			}
			status, raw, _ := sendRaw(t, off, method, path, ctype, body, auth)
			var env envelope
			if err := json.Unmarshal(raw, &env); err != nil {
				t.Fatalf("%s %s: %d answer is not JSON: %s", method, path, status, raw)
			}
			return status, env
		}

		before := rowCounts(t, e)
		for _, c := range []struct{ name, method, path, body string }{
			{"Cyrillic slug", "POST", "/v1/auth/orgs", `{"name":"x","slug":"асme"}`},
			{"upper-case slug", "POST", "/v1/auth/orgs", `{"name":"x","slug":"ACME"}`},
			{"long slug", "POST", "/v1/auth/orgs", `{"name":"x","slug":"` + strings.Repeat("a", 65) + `"}`},
			{"long name", "POST", "/v1/auth/orgs", `{"name":"` + strings.Repeat("n", 121) + `","slug":"long-name"}`},
			{"logo type", "POST", "/v1/auth/orgs", `{"name":"x","slug":"logo-type","logo":{"data":"aGk=","contentType":"text/html"}}`},
			{"unknown role", "POST", "/v1/auth/orgs/invitations", `{"email":"a@example.com","role":"superuser"}`},
			{"not an email", "POST", "/v1/auth/orgs/invitations", `{"email":"not an email","role":"member"}`},
			{"unknown role change", "PATCH", "/v1/auth/orgs/members/" + memberID, `{"role":"superuser"}`},
			{"unknown actor type", "GET", "/v1/auth/orgs/audit-logs?actor_type=root", ""},
			{"long search", "GET", "/v1/auth/orgs/audit-logs?q=" + strings.Repeat("q", 201), ""},
			{"invalid UTF-8 search", "GET", "/v1/auth/orgs/audit-logs?q=%FF", ""},
			{"invalid UTF-8 cursor", "GET", "/v1/auth/orgs/audit-logs?starting_after=%FF", ""},
			{"member cursor", "GET", "/v1/auth/orgs/members?starting_after=nope", ""},
			{"21 key metadata entries", "POST", "/v1/auth/api-keys", `{"name":"x","permissions":["sessions:read"],"metadata":` + manyMetadata(21) + `}`},
			{"key metadata name", "POST", "/v1/auth/api-keys", `{"name":"x","permissions":["sessions:read"],"metadata":{"a b":1}}`},
			{"key metadata value", "POST", "/v1/auth/api-keys", `{"name":"x","permissions":["sessions:read"],"metadata":{"a":"` + strings.Repeat("v", 513) + `"}}`},
			{"blank key name", "POST", "/v1/auth/api-keys", `{"name":"   ","permissions":["sessions:read"]}`},
			{"long key name", "POST", "/v1/auth/api-keys", `{"name":"` + strings.Repeat("k", 121) + `","permissions":["sessions:read"]}`},
			{"unknown scope", "POST", "/v1/auth/api-keys", `{"name":"x","permissions":["root"]}`},
			{"no scope", "POST", "/v1/auth/api-keys", `{"name":"x","permissions":[]}`},
			{"empty key update", "PATCH", "/v1/auth/api-keys/" + memberID, `{}`},
			{"business type", "POST", "/v1/auth/orgs/business-details", `{"business_type":""}`},
			{"business name length", "POST", "/v1/auth/orgs/business-details", `{"business_name":"` + strings.Repeat("b", 201) + `"}`},
			{"empty business details", "POST", "/v1/auth/orgs/business-details", `{}`},
			{"empty organization update", "POST", "/v1/auth/organization/update", `{"data":{}}`},
			{"slug update", "POST", "/v1/auth/organization/update", `{"data":{"slug":"A B"}}`},
		} {
			if status, env := send(c.method, c.path, c.body); status != 400 || env.Error == nil {
				t.Errorf("%s: %d %+v, want 400", c.name, status, env.Error)
			}
		}
		if after := rowCounts(t, e); after != before {
			t.Fatalf("refused input was stored:\nbefore %s\nafter  %s", before, after)
		}

		for _, c := range []struct {
			path  string
			limit float32
		}{
			{"/v1/auth/orgs/members?limit=-3", 1},
			{"/v1/auth/orgs/members?limit=0", 1},
			{"/v1/auth/orgs/members?limit=100000", 100},
			{"/v1/auth/orgs/audit-logs?limit=-3", 1},
			{"/v1/auth/orgs/invitations?limit=-3", 1},
			{"/v1/auth/api-keys?limit=0", 1},
			{"/v1/auth/api-keys?limit=100000", 100},
			{"/v1/auth/orgs/audit-logs?event=" + strings.Repeat("member.left,", 40000), 50},
		} {
			status, env := send("GET", c.path, "")
			if status != 200 || env.Pagination == nil || env.Pagination.Limit != c.limit {
				t.Errorf("%.60s: %d %+v, want 200 with limit %v", c.path, status, env.Pagination, c.limit)
			}
		}

		// And the hostile-input table: never a 5xx, errors in the envelope.
		for _, h := range hostileCases(owner.Token, memberID) {
			status, raw, sent := sendRaw(t, off, h.method, h.path, h.ctype, h.body, h.header)
			if !sent {
				continue
			}
			var env envelope
			if status >= 500 || (status >= 400 && (json.Unmarshal(raw, &env) != nil || env.Error == nil)) {
				t.Errorf("%s with validation off: %d %s", h.name, status, raw)
			}
		}
	})
}
