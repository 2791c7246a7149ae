package server_test

import (
	"encoding/json"
	"strings"
	"testing"
)

// A POST with no body and no Content-Type is judged as {}, as upstream
// does: 400 in the envelope naming the missing field (and within the
// contract, which the full validation of these tests holds every answer
// to). A body sent without a type, or with another type, is still 415.
func TestEmptyBodyIsAnEmptyObject(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		owner := e.person("owner")
		e.org(owner, "empty-"+string(e.kind))
		auth := map[string][]string{"Authorization": {"Bearer " + owner.Token}}
		for path, field := range map[string]string{
			"/v1/auth/orgs":                        "name",
			"/v1/auth/orgs/domains/challenges/dns": "apex_domain",
		} {
			status, raw, _ := sendRaw(t, e, "POST", path, "", "", auth)
			var env envelope
			if err := json.Unmarshal(raw, &env); err != nil || status != 400 || env.Error == nil || env.Error.Code != "BAD_REQUEST" {
				t.Fatalf("%s with no body: %d %s", path, status, raw)
			}
			if !strings.Contains(env.Error.Message, `"`+field+`"`) || env.Error.Hint == "" || !docsLink.MatchString(env.Error.Docs) {
				t.Errorf("%s with no body: %+v, want the missing %s named", path, env.Error, field)
			}
			// The same as an explicit {}.
			if s2, raw2, _ := sendRaw(t, e, "POST", path, "application/json", "{}", auth); s2 != status || string(raw2) != string(raw) {
				t.Errorf("%s: no body %d %s, {} %d %s", path, status, raw, s2, raw2)
			}
			for _, ct := range []string{"", "text/plain"} {
				if s, raw, _ := sendRaw(t, e, "POST", path, ct, `{"name":"x","slug":"x","apex_domain":"x.io"}`, auth); s != 415 || !strings.Contains(string(raw), "UNSUPPORTED_MEDIA_TYPE") {
					t.Errorf("%s, a body typed %q: %d %s", path, ct, s, raw)
				}
			}
		}
		// Unauthenticated, the empty body is still not looked at.
		if s, raw, _ := sendRaw(t, e, "POST", "/v1/auth/orgs", "", "", nil); s != 401 {
			t.Errorf("anonymous, no body: %d %s", s, raw)
		}
	})
}
