package server_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/uuid"
)

const (
	msgMetaGeneric = "Organization metadata may only include supported public profile and RP compliance fields."
	msgMetaEmail   = "Support email must be a valid email address."
)

// metaAnswer is the update's answer, with its metadata.
type metaAnswer struct {
	Data struct {
		ID       string          `json:"id"`
		Name     string          `json:"name"`
		Metadata json.RawMessage `json:"metadata"`
	} `json:"data"`
}

func (e *env) storedMeta(t *testing.T, org uuid.UUID) string {
	t.Helper()
	var m *string
	if err := e.st.DB().QueryRow(`SELECT metadata FROM organizations WHERE id = $1`, org.String()).Scan(&m); err != nil {
		t.Fatal(err)
	}
	if m == nil {
		return "NULL"
	}
	return *m
}

// Each metadata key's accepted and refused forms, with upstream's messages
// (and this server's for its own limits), what is stored and answered.
func TestOrganizationMetadataKeys(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		owner := e.person("owner")
		orgID := e.org(owner, "meta-keys-"+string(e.kind))
		update := func(meta string) answer {
			return e.call(t, "POST", "/v1/auth/organization/update", owner.Token, `{"data":{"metadata":`+meta+`}}`)
		}
		accept := func(meta, stored string) {
			t.Helper()
			a := update(meta)
			wantStatus(t, a, 200)
			var out metaAnswer
			a.decode(t, &out)
			if got := e.storedMeta(t, orgID); got != stored {
				t.Fatalf("%s: stored %s, want %s", meta, got, stored)
			}
			var answered, want any
			_ = json.Unmarshal(out.Data.Metadata, &answered)
			_ = json.Unmarshal([]byte(stored), &want)
			if !jsonEqual(answered, want) {
				t.Fatalf("%s: answered %s, want %s", meta, out.Data.Metadata, stored)
			}
		}
		before := e.storedMeta(t, orgID)
		if before != "NULL" {
			t.Fatalf("a new organization has metadata %s", before)
		}
		refuse := func(meta, message string) {
			t.Helper()
			was := e.storedMeta(t, orgID)
			wantError(t, update(meta), 400, "INVALID_ORGANIZATION_METADATA", message)
			if now := e.storedMeta(t, orgID); now != was {
				t.Fatalf("%s: a refusal changed the metadata from %s to %s", meta, was, now)
			}
		}

		texts := map[string]int{"article6Basis": 1000, "article9Condition": 1000, "controllerJurisdiction": 120, "description": 2000, "legalControllerName": 200}
		labels := map[string]string{"article6Basis": "Article 6 basis", "article9Condition": "Article 9 condition",
			"controllerJurisdiction": "Controller jurisdiction", "description": "Description", "legalControllerName": "Legal controller name"}
		for key, max := range texts {
			accept(`{"`+key+`":"  As <sent> & kept\n"}`, `{"`+key+`":"  As <sent> & kept\n"}`)
			accept(`{"`+key+`":""}`, `{"`+key+`":null}`)
			accept(`{"`+key+`":null}`, `{"`+key+`":null}`)
			accept(`{"`+key+`":"`+strings.Repeat("é", max)+`"}`, `{"`+key+`":"`+strings.Repeat("é", max)+`"}`)
			for _, bad := range []string{`1`, `true`, `{}`, `["x"]`} {
				refuse(`{"`+key+`":`+bad+`}`, msgMetaGeneric)
			}
			own := labels[key] + " must be at most " + itoa(max) + " characters of valid text, without control characters other than tabs and line breaks."
			refuse(`{"`+key+`":"`+strings.Repeat("a", max+1)+`"}`, own)
			// NUL is refused by the server for every string, before the store.
			wantError(t, update(`{"`+key+`":"a\u0000b"}`), 400, "BAD_REQUEST", "strings must not contain NUL characters.")
			refuse(`{"`+key+`":"a\u001bb"}`, own)
			refuse(`{"`+key+`":"a\ud800b"}`, own)   // a lone surrogate
			refuse("{\""+key+"\":\"a\xffb\"}", own) // invalid UTF-8
		}

		urls := map[string]string{
			"website":           "Organization website must be a valid http:// or https:// URL without embedded credentials.",
			"privacyPolicyUrl":  "Privacy policy link must be a valid http:// or https:// URL without embedded credentials.",
			"termsOfServiceUrl": "Terms of service link must be a valid http:// or https:// URL without embedded credentials.",
			"fallbackIdvUrl":    "Fallback IDV link must be a valid http:// or https:// URL without embedded credentials.",
			"appealUrl":         "Appeal or human review link must be a valid http:// or https:// URL without embedded credentials.",
			"complaintsUrl":     "Complaints link must be a valid http:// or https:// URL without embedded credentials.",
		}
		for key, message := range urls {
			for in, stored := range map[string]string{
				`"  HTTPS://ACME.EXAMPLE:443/a/../b?q=1#frag  "`: `"https://acme.example/b?q=1#frag"`,
				`"https://bücher.example/ä ö"`:                   `"https://xn--bcher-kva.example/%C3%A4%20%C3%B6"`,
				`"https:\\\\acme.example\\path"`:                 `"https://acme.example/path"`,
				`"http://0x7f.1:80"`:                             `"http://127.0.0.1/"`,
				`""`:                                             `null`,
				`null`:                                           `null`,
			} {
				accept(`{"`+key+`":`+in+`}`, `{"`+key+`":`+stored+`}`)
			}
			for _, bad := range []string{`"acme.example"`, `"ftp://acme.example/privacy"`, `"javascript:alert(1)"`, `"https://user:pass@example.com"`,
				`"https://user@acme.example"`, `"https://256.0.0.1"`, `"   "`, `"https://acme.example/\ud800"`} {
				refuse(`{"`+key+`":`+bad+`}`, message)
			}
			refuse(`{"`+key+`":1}`, msgMetaGeneric)
			refuse(`{"`+key+`":"https://acme.example/`+strings.Repeat("a", 2048)+`"}`, strings.TrimSuffix(message, " must be a valid http:// or https:// URL without embedded credentials.")+" must be at most 2048 characters.")
		}

		accept(`{"supportEmail":"  Support@Acme.Example "}`, `{"supportEmail":"support@acme.example"}`)
		accept(`{"supportEmail":"ÜSER@BÜCHER.example"}`, `{"supportEmail":"üser@bücher.example"}`)
		accept(`{"supportEmail":""}`, `{"supportEmail":null}`)
		for _, bad := range []string{`"not-an-email"`, `"help@acme"`, `"a@@b.c"`, `"a b@c.d"`, `"a\u00a0b@c.d"`, `"   "`, `"` + strings.Repeat("a", 250) + `@b.co"`} {
			refuse(`{"supportEmail":`+bad+`}`, msgMetaEmail)
		}
		refuse(`{"supportEmail":false}`, msgMetaGeneric)

		accept(`{"usesKayleForConsequentialDecisions":true}`, `{"usesKayleForConsequentialDecisions":true}`)
		accept(`{"usesKayleForConsequentialDecisions":false}`, `{"usesKayleForConsequentialDecisions":false}`)
		accept(`{"usesKayleForConsequentialDecisions":null}`, `{"usesKayleForConsequentialDecisions":null}`)
		for _, bad := range []string{`"false"`, `0`, `1`} {
			refuse(`{"usesKayleForConsequentialDecisions":`+bad+`}`, msgMetaGeneric)
		}

		// Unknown keys, even null or differently cased, refuse the whole
		// update first; __proto__ alone is dropped, as upstream.
		refuse(`{"Website":"https://acme.example"}`, msgMetaGeneric)
		refuse(`{"nope":null,"supportEmail":"bad"}`, msgMetaGeneric)
		refuse(`{"description":1,"website":"bad"}`, msgMetaGeneric)
		refuse(`{"complaintsUrl":"bad","privacyPolicyUrl":"bad"}`, urls["privacyPolicyUrl"])
		refuse(`{"supportEmail":"bad","appealUrl":"bad"}`, urls["appealUrl"])

		// Replaced, not merged; stored in the table's order whatever the
		// order sent.
		accept(`{"usesKayleForConsequentialDecisions":true,"website":"https://acme.example/docs","description":"Acme identity checks"}`,
			`{"description":"Acme identity checks","website":"https://acme.example/docs","usesKayleForConsequentialDecisions":true}`)
		accept(`{"website":"https://acme.example"}`, `{"website":"https://acme.example/"}`)
		accept(`{"__proto__":{"description":"x"}}`, `{}`)

		// The name is checked before the metadata, and a refusal writes
		// neither.
		wantError(t, e.call(t, "POST", "/v1/auth/organization/update", owner.Token, `{"data":{"name":"a\nb","metadata":{"nope":1}}}`),
			400, "INVALID_ORGANIZATION_NAME", "")
		wantError(t, e.call(t, "POST", "/v1/auth/organization/update", owner.Token, `{"data":{"name":"Renamed","metadata":{"nope":1}}}`),
			400, "INVALID_ORGANIZATION_METADATA", msgMetaGeneric)
		a := e.call(t, "POST", "/v1/auth/organization/update", owner.Token, `{"data":{"name":"Renamed"}}`)
		wantStatus(t, a, 200)
		var out metaAnswer
		a.decode(t, &out)
		if string(out.Data.Metadata) != `{}` {
			t.Fatalf("an update without metadata answered metadata %s", out.Data.Metadata)
		}
	})
}

// organizationId names the organization to update: an active owner or
// admin of it may, whatever the session's active organization; a member is
// forbidden; a suspended admin, a stranger, an unknown or malformed id get
// the same 404; a frozen organization 410 (but a stranger still 404). One
// audit row per update, naming the changed fields and metadata keys only.
func TestOrganizationUpdateByID(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		owner, admin, member, suspended, outsider := e.person("owner"), e.person("admin"), e.person("member"), e.person("suspended"), e.person("outsider")
		orgID := e.org(owner, "by-id-"+string(e.kind))
		e.join(owner, admin, "admin")
		e.join(owner, member, "member")
		e.join(owner, suspended, "admin")
		wantStatus(t, e.call(t, "DELETE", "/v1/auth/orgs/members/"+e.memberID(owner, suspended).String(), owner.Token, ""), 200)
		e.org(outsider, "by-id-outsider-"+string(e.kind))
		// The owner's session now selects another organization of theirs.
		otherID := e.org(owner, "by-id-other-"+string(e.kind))

		named := func(p person, id, data string) answer {
			return e.call(t, "POST", "/v1/auth/organization/update", p.Token, `{"organizationId":"`+id+`","data":`+data+`}`)
		}
		meta := `{"metadata":{"description":"Top secret","supportEmail":"Help@Acme.Example"}}`
		for name, p := range map[string]person{"suspended admin": suspended, "outsider": outsider} {
			env := wantError(t, named(p, orgID.String(), meta), 404, "ORGANIZATION_NOT_FOUND", "Organization not found.")
			if !strings.Contains(env.Error.Hint, "organizationId") {
				t.Errorf("%s: hint %q", name, env.Error.Hint)
			}
		}
		wantError(t, named(owner, uuid.NewString(), meta), 404, "ORGANIZATION_NOT_FOUND", "Organization not found.")
		wantError(t, named(owner, "not-a-uuid", meta), 404, "ORGANIZATION_NOT_FOUND", "Organization not found.")
		wantError(t, named(member, orgID.String(), meta), 403, "FORBIDDEN", "Only an owner or admin can update the organization.")
		if m := e.storedMeta(t, orgID); m != "NULL" {
			t.Fatalf("refused updates stored %s", m)
		}

		a := named(owner, orgID.String(), meta)
		wantStatus(t, a, 200)
		var out metaAnswer
		a.decode(t, &out)
		if out.Data.ID != orgID.String() || string(out.Data.Metadata) != `{"description":"Top secret","supportEmail":"help@acme.example"}` {
			t.Fatalf("named update answered %s", a.body)
		}
		if m := e.storedMeta(t, otherID); m != "NULL" {
			t.Fatalf("the active organization changed: %s", m)
		}
		// "" is the active organization, as upstream.
		wantStatus(t, named(owner, "", `{"metadata":{}}`), 200)
		if m := e.storedMeta(t, otherID); m != `{}` {
			t.Fatalf(`organizationId "" updated %s`, m)
		}
		// An admin replaces the metadata of the organization named.
		wantStatus(t, named(admin, orgID.String(), `{"name":"By id","metadata":{"supportEmail":"help@acme.example","website":"https://acme.example"}}`), 200)
		if m := e.storedMeta(t, orgID); m != `{"website":"https://acme.example/","supportEmail":"help@acme.example"}` {
			t.Fatalf("after the admin's update: %s", m)
		}

		rows := e.auditEvents(t, admin, "organization.public_details.updated")
		if len(rows) != 2 {
			t.Fatalf("audit rows %+v", rows)
		}
		for _, r := range rows {
			if r.TargetID != orgID.String() || r.TargetType != "organization" {
				t.Fatalf("audit row %+v", r)
			}
			raw, _ := json.Marshal(r.Metadata)
			if strings.Contains(string(raw), "secret") || strings.Contains(string(raw), "acme") {
				t.Fatalf("audit row leaks values: %s", raw)
			}
		}
		if f, k := strings.Join(toStrings(rows[0].Metadata["updated_fields"]), ","), strings.Join(toStrings(rows[0].Metadata["updated_metadata_keys"]), ","); f != "name,metadata" || k != "description,website" {
			t.Fatalf("latest row: fields %s, keys %s", f, k)
		}
		if f, k := strings.Join(toStrings(rows[1].Metadata["updated_fields"]), ","), strings.Join(toStrings(rows[1].Metadata["updated_metadata_keys"]), ","); f != "metadata" || k != "description,supportEmail" {
			t.Fatalf("first row: fields %s, keys %s", f, k)
		}
		// The same metadata again changes nothing: no row.
		wantStatus(t, named(admin, orgID.String(), `{"metadata":{"supportEmail":"HELP@acme.example","website":"https://acme.example/"}}`), 200)
		if rows := e.auditEvents(t, admin, "organization.public_details.updated"); len(rows) != 2 {
			t.Fatalf("an update that changed nothing was audited: %+v", rows)
		}

		scheduleDeletion(t, e, owner, orgID)
		wantError(t, named(admin, orgID.String(), meta), 410, "ORGANIZATION_FROZEN", "This organization is scheduled for deletion and cannot be modified.")
		wantError(t, named(outsider, orgID.String(), meta), 404, "ORGANIZATION_NOT_FOUND", "")
		wantError(t, named(suspended, orgID.String(), meta), 404, "ORGANIZATION_NOT_FOUND", "")
	})
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
