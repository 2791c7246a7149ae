package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/kayle-id/orgs-api/internal/testimg"
	"github.com/kayle-id/orgs-api/logo"
	"github.com/kayle-id/orgs-api/server"
	"github.com/kayle-id/orgs-api/store"
)

// rowCounts sums the rows of every table, to prove a refused request wrote nothing.
func rowCounts(t *testing.T, e *env) string {
	t.Helper()
	var parts []string
	for _, table := range []string{"users", "organizations", "organization_members", "sessions", "invitations", "organization_deletion_codes", "audit_logs",
		"user_identities", "verified_domains", "domain_challenges", "redirect_uris", "organization_rate_windows", "mail_outbox",
		"api_keys", "organization_rp_terms_acceptances", "verification_consents", "mobile_attest_keys", "attest_challenges"} {
		var n int
		if err := e.st.DB().QueryRow("SELECT COUNT(*) FROM " + table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		parts = append(parts, fmt.Sprintf("%s=%d", table, n))
	}
	return strings.Join(parts, " ")
}

type hostile struct {
	name, method, path, ctype, body string
	header                          map[string][]string
}

func hostileCases(token string, memberID string) []hostile {
	auth := map[string][]string{"Authorization": {"Bearer " + token}}
	long := strings.Repeat("a", 5000)
	return []hostile{
		{"malformed JSON", "POST", "/v1/auth/orgs", "application/json", `{"name":"x","slug":`, auth},
		{"JSON array", "POST", "/v1/auth/orgs", "application/json", `[1,2,3]`, auth},
		{"JSON null", "POST", "/v1/auth/orgs", "application/json", `null`, auth},
		{"empty body", "POST", "/v1/auth/orgs", "application/json", ``, auth},
		{"wrong content type", "POST", "/v1/auth/orgs", "text/plain", `{"name":"x","slug":"x"}`, auth},
		{"form content type", "POST", "/v1/auth/orgs", "application/x-www-form-urlencoded", `name=x&slug=x`, auth},
		{"missing content type", "POST", "/v1/auth/orgs", "", `{"name":"x","slug":"x"}`, auth},
		{"unknown field", "POST", "/v1/auth/orgs", "application/json", `{"name":"x","slug":"x","owner":"me"}`, auth},
		{"unknown nested field", "POST", "/v1/auth/orgs", "application/json", `{"name":"x","slug":"x","logo":{"data":"aGk=","contentType":"image/png","url":"http://x"}}`, auth},
		{"name too long", "POST", "/v1/auth/orgs", "application/json", `{"name":"` + long + `","slug":"x"}`, auth},
		{"wrong types", "POST", "/v1/auth/orgs", "application/json", `{"name":12,"slug":true}`, auth},
		{"NUL in name", "POST", "/v1/auth/orgs", "application/json", `{"name":"a\u0000b","slug":"nul"}`, auth},
		{"raw NUL byte", "POST", "/v1/auth/orgs", "application/json", "{\"name\":\"a\x00b\",\"slug\":\"nul\"}", auth},
		{"SQL in slug", "POST", "/v1/auth/orgs", "application/json", `{"name":"x","slug":"x'; DROP TABLE users; --"}`, auth},
		{"unicode slug", "POST", "/v1/auth/orgs", "application/json", `{"name":"x","slug":"ａｃｍｅ"}`, auth},
		{"RTL override slug", "POST", "/v1/auth/orgs", "application/json", "{\"name\":\"x\",\"slug\":\"ac\u202eme\"}", auth},
		{"huge limit", "GET", "/v1/auth/orgs/audit-logs?limit=99999999999999999999999", "", "", auth},
		{"negative limit", "GET", "/v1/auth/orgs/members?limit=-1", "", "", auth},
		{"float limit", "GET", "/v1/auth/orgs/members?limit=1.5", "", "", auth},
		{"bad actor uuid", "GET", "/v1/auth/orgs/audit-logs?actor_user_id=1%27%20OR%201=1", "", "", auth},
		{"bad date", "GET", "/v1/auth/orgs/audit-logs?created_from=yesterday", "", "", auth},
		{"bad actor type", "GET", "/v1/auth/orgs/audit-logs?actor_type=root", "", "", auth},
		{"empty q", "GET", "/v1/auth/orgs/audit-logs?q=", "", "", auth},
		{"NUL in q", "GET", "/v1/auth/orgs/audit-logs?q=a%00b", "", "", auth},
		{"bogus cursor", "GET", "/v1/auth/orgs/members?starting_after=../../etc/passwd", "", "", auth},
		{"SQL cursor", "GET", "/v1/auth/orgs/audit-logs?starting_after=x%27%20OR%20%271%27=%271", "", "", auth},
		{"invalid uuid", "DELETE", "/v1/auth/orgs/members/not-a-uuid", "", "", auth},
		{"encoded slash", "DELETE", "/v1/auth/orgs/members/" + memberID + "%2F..", "", "", auth},
		{"dot dot", "POST", "/v1/auth/orgs/members/../leave/x", "", "", auth},
		{"uuid with SQL", "POST", "/v1/auth/orgs/members/" + memberID + "'--/reinstate", "", "", auth},
		{"very long token", "POST", "/v1/auth/orgs/members/leave", "", "", map[string][]string{"Authorization": {"Bearer kid_" + strings.Repeat("x", 100000)}}},
		{"repeated Authorization", "POST", "/v1/auth/orgs/members/leave", "", "", map[string][]string{"Authorization": {"Bearer " + token, "Bearer " + token}}},
		{"basic auth", "POST", "/v1/auth/orgs/members/leave", "", "", map[string][]string{"Authorization": {"Basic YTpi"}}},
		{"bearer without token", "POST", "/v1/auth/orgs/members/leave", "", "", map[string][]string{"Authorization": {"Bearer"}}},
		{"unknown route", "GET", "/v1/auth/orgs/nope", "", "", auth},
		{"wrong method", "PUT", "/v1/auth/orgs/members/leave", "", "", auth},
		{"huge number in body", "POST", "/v1/auth/orgs/invitations", "application/json", `{"email":1e400,"role":"member"}`, auth},
		{"email with NUL", "POST", "/v1/auth/orgs/invitations", "application/json", `{"email":"a\u0000@b.co","role":"member"}`, auth},
		{"email injection", "POST", "/v1/auth/orgs/invitations", "application/json", `{"email":"a@b.co\r\nBcc: x@y.z","role":"member"}`, auth},
		{"role not in enum", "PATCH", "/v1/auth/orgs/members/" + memberID, "application/json", `{"role":"superuser"}`, auth},
		{"confirm code SQL", "POST", "/v1/auth/orgs/confirm-delete", "application/json", `{"organizationId":"` + memberID + `","code":"' OR 1=1"}`, auth},

		// Organization administration.
		{"key without scopes", "POST", "/v1/auth/api-keys", "application/json", `{"name":"x","permissions":[]}`, auth},
		{"key with unknown scope", "POST", "/v1/auth/api-keys", "application/json", `{"name":"x","permissions":["*"]}`, auth},
		{"key name of spaces", "POST", "/v1/auth/api-keys", "application/json", "{\"name\":\" \u3000\ufeff\",\"permissions\":[\"sessions:read\"]}", auth},
		{"key name too long", "POST", "/v1/auth/api-keys", "application/json", `{"name":"` + long + `","permissions":["sessions:read"]}`, auth},
		{"key metadata 21 keys", "POST", "/v1/auth/api-keys", "application/json", `{"name":"x","permissions":["sessions:read"],"metadata":` + manyMetadata(21) + `}`, auth},
		{"key metadata key with space", "POST", "/v1/auth/api-keys", "application/json", `{"name":"x","permissions":["sessions:read"],"metadata":{"a b":1}}`, auth},
		{"key metadata nested", "POST", "/v1/auth/api-keys", "application/json", `{"name":"x","permissions":["sessions:read"],"metadata":{"a":[1]}}`, auth},
		{"key metadata huge number", "POST", "/v1/auth/api-keys", "application/json", `{"name":"x","permissions":["sessions:read"],"metadata":{"a":1e400}}`, auth},
		{"key choosing its own secret", "POST", "/v1/auth/api-keys", "application/json", `{"name":"x","permissions":["sessions:read"],"key":"kk_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}`, auth},
		{"key update empty", "PATCH", "/v1/auth/api-keys/" + memberID, "application/json", `{}`, auth},
		{"key update bad id", "PATCH", "/v1/auth/api-keys/1%20OR%201=1", "application/json", `{"name":"x"}`, auth},
		{"key delete traversal", "DELETE", "/v1/auth/api-keys/..%2F..%2Forgs", "", "", auth},
		{"key list bad cursor", "GET", "/v1/auth/api-keys?starting_after=%27--", "", "", auth},
		{"key list limit 0", "GET", "/v1/auth/api-keys?limit=0", "", "", auth},
		{"logo data URL", "POST", "/v1/auth/orgs/logo", "application/json", `{"logo":{"data":"data:image/png;base64,iVBORw0KGgo=","contentType":"image/png"}}`, auth},
		{"logo SVG", "POST", "/v1/auth/orgs/logo", "application/json", `{"logo":{"data":"PHN2Zy8+","contentType":"image/svg+xml"}}`, auth},
		{"logo HTML declared PNG", "POST", "/v1/auth/orgs/logo", "application/json", `{"logo":{"data":"PGh0bWw+PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==","contentType":"image/png"}}`, auth},
		{"logo PNG header only", "POST", "/v1/auth/orgs/logo", "application/json", `{"logo":{"data":"` + testimg.Base64(testimg.PNGHeader(1, 1)) + `","contentType":"image/png"}}`, auth},
		{"logo 65535 wide GIF", "POST", "/v1/auth/orgs/logo", "application/json", `{"logo":{"data":"R0lGODlh//8BAAAAACw=","contentType":"image/gif"}}`, auth},
		{"logo over the length", "POST", "/v1/auth/orgs/logo", "application/json", `{"logo":{"data":"` + strings.Repeat("A", 1398112) + `","contentType":"image/png"}}`, auth},
		{"logo extra field", "POST", "/v1/auth/orgs/logo", "application/json", `{"logo":{"data":"AAAA","contentType":"image/png","url":"https://x"}}`, auth},
		{"business control character", "POST", "/v1/auth/orgs/business-details", "application/json", `{"business_name":"a\u001bb"}`, auth},
		{"business type empty", "POST", "/v1/auth/orgs/business-details", "application/json", `{"business_type":""}`, auth},
		{"business nothing", "POST", "/v1/auth/orgs/business-details", "application/json", `{}`, auth},
		{"verification terms bad id", "POST", "/v1/auth/orgs/accept-verification-terms", "application/json", `{"organizationId":"' OR 1=1 --"}`, auth},
		{"update foreign logo", "POST", "/v1/auth/organization/update", "application/json", `{"data":{"logo":"https://evil.example/logos/` + memberID + `"}}`, auth},
		{"update script logo", "POST", "/v1/auth/organization/update", "application/json", `{"data":{"logo":"javascript:alert(1)"}}`, auth},
		{"update without data", "POST", "/v1/auth/organization/update", "application/json", `{"name":"x"}`, auth},
		{"update other organization", "POST", "/v1/auth/organization/update", "application/json", `{"organizationId":"` + memberID + `","data":{"name":"x"}}`, auth},
		// Organization metadata: nothing hostile is stored.
		{"update metadata NUL", "POST", orgUpdate, "application/json", `{"data":{"metadata":{"description":"a\u0000b"}}}`, auth},
		{"update metadata raw NUL", "POST", orgUpdate, "application/json", "{\"data\":{\"metadata\":{\"description\":\"a\x00b\"}}}", auth},
		{"update metadata escape character", "POST", orgUpdate, "application/json", `{"data":{"metadata":{"legalControllerName":"a\u001b[31mb"}}}`, auth},
		{"update metadata invalid UTF-8", "POST", orgUpdate, "application/json", "{\"data\":{\"metadata\":{\"description\":\"a\xff\xfeb\"}}}", auth},
		{"update metadata invalid UTF-8 key", "POST", orgUpdate, "application/json", "{\"data\":{\"metadata\":{\"desc\xffription\":\"x\"}}}", auth},
		{"update metadata lone surrogate", "POST", orgUpdate, "application/json", `{"data":{"metadata":{"description":"a\ud800b"}}}`, auth},
		{"update metadata huge string", "POST", orgUpdate, "application/json", `{"data":{"metadata":{"description":"` + strings.Repeat("a", 1<<20) + `"}}}`, auth},
		{"update metadata huge URL", "POST", orgUpdate, "application/json", `{"data":{"metadata":{"website":"https://acme.example/` + strings.Repeat("a", 1<<20) + `"}}}`, auth},
		{"update metadata huge email", "POST", orgUpdate, "application/json", `{"data":{"metadata":{"supportEmail":"` + strings.Repeat("a", 1<<20) + `@acme.example"}}}`, auth},
		{"update metadata deep nesting", "POST", orgUpdate, "application/json", `{"data":{"metadata":{"description":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}}}`, auth},
		{"update metadata nested object", "POST", orgUpdate, "application/json", `{"data":{"metadata":{"website":{"href":"https://acme.example"}}}}`, auth},
		{"update metadata many keys", "POST", orgUpdate, "application/json", `{"data":{"metadata":` + manyMetadata(5000) + `}}`, auth},
		{"update metadata null", "POST", orgUpdate, "application/json", `{"data":{"metadata":null}}`, auth},
		{"update metadata array", "POST", orgUpdate, "application/json", `{"data":{"metadata":[{"description":"x"}]}}`, auth},
		{"update metadata javascript URL", "POST", orgUpdate, "application/json", `{"data":{"metadata":{"privacyPolicyUrl":"javascript:alert(document.cookie)"}}}`, auth},
		{"update metadata URL with credentials", "POST", orgUpdate, "application/json", `{"data":{"metadata":{"appealUrl":"https://admin:hunter2@acme.example/"}}}`, auth},
		{"update metadata email header injection", "POST", orgUpdate, "application/json", `{"data":{"metadata":{"supportEmail":"a@b.co\r\nBcc: x@y.z"}}}`, auth},
		{"update metadata flag as string", "POST", orgUpdate, "application/json", `{"data":{"metadata":{"usesKayleForConsequentialDecisions":"true"}}}`, auth},
		{"update metadata huge number", "POST", orgUpdate, "application/json", `{"data":{"metadata":{"description":1e400}}}`, auth},
		{"update organizationId SQL", "POST", orgUpdate, "application/json", `{"organizationId":"' OR 1=1 --","data":{"name":"x"}}`, auth},
		{"update organizationId null", "POST", orgUpdate, "application/json", `{"organizationId":null,"data":{"name":"x"}}`, auth},
		{"update organizationId number", "POST", orgUpdate, "application/json", `{"organizationId":1,"data":{"name":"x"}}`, auth},
		{"update organizationId huge", "POST", orgUpdate, "application/json", `{"organizationId":"` + strings.Repeat("a", 100000) + `","data":{"name":"x"}}`, auth},
		{"logo path traversal", "GET", "/logos/..%2F..%2Fkayle-id.db", "", "", nil},
		{"logo not a uuid", "GET", "/logos/x.attrs", "", "", nil},
		// Domain verification: hostile names never become a challenge.
		{"IDN apex, Unicode", "POST", dnsStart, "application/json", `{"apex_domain":"ａｃｍｅ.co"}`, auth},
		{"IDN homograph apex", "POST", dnsStart, "application/json", `{"apex_domain":"аpple.com"}`, auth},
		{"IDN homograph apex, Punycode", "POST", dnsStart, "application/json", `{"apex_domain":"xn--pple-43d.com"}`, auth},
		{"apex with trailing dots", "POST", dnsStart, "application/json", `{"apex_domain":"acme.co.."}`, auth},
		{"apex with userinfo", "POST", dnsStart, "application/json", `{"apex_domain":"admin@acme.co"}`, auth},
		{"apex with port", "POST", dnsStart, "application/json", `{"apex_domain":"acme.co:443"}`, auth},
		{"apex as URL", "POST", dnsStart, "application/json", `{"apex_domain":"https://acme.co/"}`, auth},
		{"apex with very long label", "POST", dnsStart, "application/json", `{"apex_domain":"` + strings.Repeat("a", 64) + `.co"}`, auth},
		{"apex too long", "POST", dnsStart, "application/json", `{"apex_domain":"` + strings.Repeat("a.", 130) + `co"}`, auth},
		{"apex public suffix", "POST", dnsStart, "application/json", `{"apex_domain":"co.uk"}`, auth},
		{"apex wildcard", "POST", dnsStart, "application/json", `{"apex_domain":"*.acme.co"}`, auth},
		{"apex SQL", "POST", dnsStart, "application/json", `{"apex_domain":"a'); DROP TABLE verified_domains; --"}`, auth},
		{"apex newline", "POST", dnsStart, "application/json", `{"apex_domain":"acme.co\nevil.io"}`, auth},
		{"apex blank", "POST", dnsStart, "application/json", `{"apex_domain":"   \t  "}`, auth},
		{"apex not a string", "POST", dnsStart, "application/json", `{"apex_domain":["acme.co"]}`, auth},
		{"verify id not a uuid", "POST", dnsVerify, "application/json", `{"challenge_id":"../../etc"}`, auth},
		{"verify acknowledgement as string", "POST", dnsVerify, "application/json", `{"challenge_id":"` + memberID + `","acknowledge_takeover":"true"}`, auth},
		{"verify acknowledgement null", "POST", dnsVerify, "application/json", `{"challenge_id":"` + memberID + `","acknowledge_takeover":null}`, auth},
		{"verify unknown challenge", "POST", dnsVerify, "application/json", `{"challenge_id":"` + memberID + `"}`, auth},
		{"delete domain not a uuid", "DELETE", "/v1/auth/orgs/domains/not-a-uuid", "", "", auth},
		{"delete domain unknown", "DELETE", "/v1/auth/orgs/domains/" + memberID, "", "", auth},

		// Redirect URIs: hostile patterns never get stored.
		{"pattern http", "POST", redirectURIs, "application/json", `{"pattern":"http://acme.co/cb"}`, auth},
		{"pattern userinfo", "POST", redirectURIs, "application/json", `{"pattern":"https://acme.co@evil.io/cb"}`, auth},
		{"pattern credentials", "POST", redirectURIs, "application/json", `{"pattern":"https://user:pass@acme.co/cb"}`, auth},
		{"pattern query", "POST", redirectURIs, "application/json", `{"pattern":"https://acme.co/cb?next=https://evil.io"}`, auth},
		{"pattern fragment", "POST", redirectURIs, "application/json", `{"pattern":"https://acme.co/cb#access_token"}`, auth},
		{"pattern IDN homograph", "POST", redirectURIs, "application/json", `{"pattern":"https://аpple.com/cb"}`, auth},
		{"pattern Punycode", "POST", redirectURIs, "application/json", `{"pattern":"https://xn--pple-43d.com/cb"}`, auth},
		{"pattern trailing dots", "POST", redirectURIs, "application/json", `{"pattern":"https://acme.co../cb"}`, auth},
		{"pattern very long label", "POST", redirectURIs, "application/json", `{"pattern":"https://` + strings.Repeat("a", 64) + `.acme.co/"}`, auth},
		{"pattern wildcard", "POST", redirectURIs, "application/json", `{"pattern":"https://*.acme.co/"}`, auth},
		{"pattern IPv6", "POST", redirectURIs, "application/json", `{"pattern":"https://[::1]:8443/cb"}`, auth},
		{"pattern IPv4", "POST", redirectURIs, "application/json", `{"pattern":"https://127.0.0.1/cb"}`, auth},
		{"pattern localhost", "POST", redirectURIs, "application/json", `{"pattern":"https://localhost/cb"}`, auth},
		{"pattern port out of range", "POST", redirectURIs, "application/json", `{"pattern":"https://acme.co:99999/cb"}`, auth},
		{"pattern javascript", "POST", redirectURIs, "application/json", `{"pattern":"javascript:alert(document.cookie)"}`, auth},
		{"pattern backslashes", "POST", redirectURIs, "application/json", `{"pattern":"https:\\\\evil.io\\cb"}`, auth},
		{"pattern capitals and :443, no domain", "POST", redirectURIs, "application/json", `{"pattern":"HTTPS://ACME.CO:443/cb"}`, auth},
		{"pattern too long", "POST", redirectURIs, "application/json", `{"pattern":"https://acme.co/` + strings.Repeat("a", 2040) + `"}`, auth},
		{"pattern not a string", "POST", redirectURIs, "application/json", `{"pattern":{"host":"acme.co"}}`, auth},
		{"delete redirect URI not a uuid", "DELETE", "/v1/auth/orgs/redirect-uris/1%27%20OR%201=1", "", "", auth},
		{"invalid UTF-8 audit cursor", "GET", "/v1/auth/orgs/audit-logs?starting_after=%FF", "", "", auth},
		{"invalid UTF-8 member cursor", "GET", "/v1/auth/orgs/members?starting_after=%FF%FE", "", "", auth},
		{"invalid UTF-8 invitation cursor", "GET", "/v1/auth/orgs/invitations?starting_after=%C3%28", "", "", auth},
		{"invalid UTF-8 search", "GET", "/v1/auth/orgs/audit-logs?q=%FF", "", "", auth},
		{"overlong UTF-8 search", "GET", "/v1/auth/orgs/audit-logs?q=%C0%AF", "", "", auth},
		{"long audit cursor", "GET", "/v1/auth/orgs/audit-logs?starting_after=aud_" + strings.Repeat("a", 5000), "", "", auth},

		// The public verify routes: nothing is written for a hostile id,
		// token or body.
		{"verify id SQL", "GET", "/v1/verify/session/vs_%27%20OR%201=1--/status", "", "", nil},
		{"verify id traversal", "GET", "/v1/verify/session/..%2F..%2Fetc/details", "", "", nil},
		{"verify id too long", "GET", "/v1/verify/session/vs_" + strings.Repeat("a", 65) + "/status", "", "", nil},
		{"verify id invalid UTF-8", "GET", "/v1/verify/session/vs_%FF%FE/privacy-context", "", "", nil},
		{"verify unknown session", "POST", verifySession + "/handoff", "", "", nil},
		{"consent as strings", "POST", verifySession + "/consent", "application/json", strings.ReplaceAll(allConsents, "true", `"true"`), nil},
		{"consent as ones", "POST", verifySession + "/consent", "application/json", strings.ReplaceAll(allConsents, "true", "1"), nil},
		{"consent deep nesting", "POST", verifySession + "/consent", "application/json", `{"biometric_consent":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`, nil},
		{"consent malformed", "POST", verifySession + "/consent", "application/json", `{"biometric_consent":tru`, nil},
		{"cancel token SQL", "POST", verifySession + "/cancel", "application/json", `{"cancel_token":"' OR 1=1 --` + strings.Repeat("a", 37) + `"}`, nil},
		{"cancel token NUL", "POST", verifySession + "/cancel", "application/json", `{"cancel_token":"` + strings.Repeat("a", 47) + `\u0000"}`, nil},
		{"cancel token huge", "POST", verifySession + "/cancel", "application/json", `{"cancel_token":"` + strings.Repeat("a", 1<<20) + `"}`, nil},
		{"cancel unknown session", "POST", verifySession + "/cancel", "application/json", `{"cancel_token":"` + strings.Repeat("a", 48) + `"}`, nil},
		{"socket without upgrade", "GET", verifySession, "", "", nil},
		{"register unknown challenge", "POST", "/v1/verify/attest/register", "application/json", `{"key_id":"k","attestation":"Z29vZA==","challenge":"` + strings.Repeat("a", 43) + `"}`, nil},
		{"register attestation too long", "POST", "/v1/verify/attest/register", "application/json", `{"key_id":"k","attestation":"` + strings.Repeat("A", 87389) + `","challenge":"` + strings.Repeat("a", 43) + `"}`, nil},
		{"register key id too long", "POST", "/v1/verify/attest/register", "application/json", `{"key_id":"` + strings.Repeat("k", 513) + `","attestation":"Z29vZA==","challenge":"` + strings.Repeat("a", 43) + `"}`, nil},
		{"register challenge with padding", "POST", "/v1/verify/attest/register", "application/json", `{"key_id":"k","attestation":"Z29vZA==","challenge":"` + strings.Repeat("a", 42) + `="}`, nil},
	}
}

// verifySession is a well-formed verify path no session has.
var verifySession = "/v1/verify/session/vs_" + strings.Repeat("q", 64)

// hostileButValid are requests that look hostile but are valid: the answer
// is a 200, whatever the database's limits on statement parameters.
// everyEventRepeated is every known event name, again and again, in as
// much of a query string as the server's header limit (64 KiB) leaves.
func everyEventRepeated() string {
	all := strings.Join(store.KnownEvents, ",") + ","
	return strings.Repeat(all, 60000/len(all))
}

func hostileButValid(token string) []hostile {
	auth := map[string][]string{"Authorization": {"Bearer " + token}}
	return []hostile{
		// Past SQLite's 32,766 and PostgreSQL's 65,535 bound parameters, if
		// each name became one.
		{"40,000 event names", "GET", "/v1/auth/orgs/audit-logs?event=" + strings.Repeat("member.left,", 40000), "", "", auth},
		{"70,000 event names", "GET", "/v1/auth/orgs/audit-logs?event=" + strings.Repeat("member.joined,member.left,", 35000), "", "", auth},
		{"every event many times", "GET", "/v1/auth/orgs/audit-logs?event=" + everyEventRepeated(), "", "", auth},
		{"unknown event names only", "GET", "/v1/auth/orgs/audit-logs?event=" + strings.Repeat("nope,", 20000), "", "", auth},
	}
}

func manyMetadata(n int) string {
	var parts []string
	for i := range n {
		parts = append(parts, fmt.Sprintf(`"k%d":%d`, i, i))
	}
	return "{" + strings.Join(parts, ",") + "}"
}

const (
	dnsStart     = "/v1/auth/orgs/domains/challenges/dns"
	dnsVerify    = "/v1/auth/orgs/domains/challenges/dns/verify"
	redirectURIs = "/v1/auth/orgs/redirect-uris"
	orgUpdate    = "/v1/auth/organization/update"
)

func TestHostileInput(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		owner := e.person("owner")
		e.org(owner, "hostile-"+string(e.kind))
		memberID := e.memberID(owner, owner).String()
		before := rowCounts(t, e)
		for _, h := range hostileCases(owner.Token, memberID) {
			status, body, sent := sendRaw(t, e, h.method, h.path, h.ctype, h.body, h.header)
			if !sent {
				t.Fatalf("%s: the client refused to send it", h.name)
			}
			if status < 400 || status >= 500 {
				t.Errorf("%s: got %d %s, want a 4xx", h.name, status, body)
				continue
			}
			var env envelope
			if err := json.Unmarshal(body, &env); err != nil || env.Error == nil || env.Error.Code == "" || env.Error.Message == "" || env.Error.Hint == "" || env.Error.Docs == "" {
				t.Errorf("%s: %d answer is not the error envelope: %s", h.name, status, body)
			}
			if !utf8.Valid(body) {
				t.Errorf("%s: answer is not UTF-8", h.name)
			}
		}
		for _, h := range hostileButValid(owner.Token) {
			status, body, sent := sendRaw(t, e, h.method, h.path, h.ctype, h.body, h.header)
			if !sent || status != 200 {
				t.Errorf("%s: got %d %.300s, want 200", h.name, status, body)
			}
		}
		if after := rowCounts(t, e); after != before {
			t.Fatalf("refused requests wrote rows:\nbefore %s\nafter  %s", before, after)
		}
		// Still healthy, and the owner is still the owner.
		r, _ := e.c.LeaveOrganizationWithResponse(context.Background(), bearer(owner.Token))
		wantError(t, r, 409, "LAST_OWNER", "")
	})
}

// A body over the limit is refused before it is read or validated.
func TestBodyLimit(t *testing.T) {
	e := newEnv(t, "sqlite")
	owner := e.person("owner")
	big := `{"name":"x","slug":"x","logo":{"contentType":"image/png","data":"` + strings.Repeat("A", 2<<20) + `"}}`
	r, err := e.c.CreateOrganizationWithBodyWithResponse(context.Background(), "application/json", strings.NewReader(big), bearer(owner.Token))
	if err != nil {
		t.Fatal(err)
	}
	wantError(t, r, 413, "PAYLOAD_TOO_LARGE", "")
	// Chunked (no Content-Length) is cut off the same way.
	req, _ := http.NewRequest("POST", e.srv.URL+"/v1/auth/orgs", io.MultiReader(strings.NewReader(big)))
	req.ContentLength = -1
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+owner.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Fatalf("chunked oversize body: %d", resp.StatusCode)
	}
}

// The largest body the contract allows (a logo of 1 MiB, its base64 near
// the maxLength) fits under the default body limit.
func TestLargestValidBodyFits(t *testing.T) {
	e := newEnv(t, "sqlite")
	owner := e.person("owner")
	data := testimg.Base64(testimg.PaddedPNG(logo.MaxBytes))
	spec, err := server.Spec()
	if err != nil {
		t.Fatal(err)
	}
	maxLength := spec.Paths.Value("/v1/auth/orgs").Post.RequestBody.Value.Content.Get("application/json").Schema.Value.
		Properties["logo"].Value.Properties["data"].Value.MaxLength
	if maxLength == nil {
		t.Fatal("the contract sets no maxLength on a logo's data")
	}
	if max := int(*maxLength); len(data) < max-4 || len(data) > max {
		t.Fatalf("the largest logo is %d base64 characters", len(data))
	}
	body := `{"name":"Big","slug":"big","logo":{"contentType":"image/png","data":"` + data + `"}}`
	r, err := e.c.CreateOrganizationWithBodyWithResponse(context.Background(), "application/json", strings.NewReader(body), bearer(owner.Token))
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, r, 200)
}
