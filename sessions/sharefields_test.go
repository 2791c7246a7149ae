package sessions_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/kayle-id/orgs-api/sessions"
)

// Upstream's exact wording for each share-contract code.
var shareErrors = map[string][2]string{
	"INVALID_SHARE_FIELDS":           {"Invalid share_fields payload.", "share_fields must be an object map of claim keys."},
	"REASON_REQUIRED":                {"Each share field requires a reason.", "Provide a non-empty reason for every requested claim."},
	"REASON_TOO_LONG":                {"Reason is too long.", "Reason must be 200 characters or fewer."},
	"TOO_MANY_SHARE_FIELDS":          {"Too many share fields requested.", "The maximum number of share fields is 32."},
	"INVALID_AGE_GATE_KEY":           {"Invalid age gate claim key.", "Use `age_over_<integer>` with a valid threshold, for example `age_over_18`."},
	"UNKNOWN_CLAIM_KEY":              {"Unknown claim key.", "Use a supported claim key from the share contract allowlist."},
	"MULTIPLE_AGE_GATES_NOT_ALLOWED": {"Multiple age gate claims are not allowed.", "Only one age_over_X claim can be provided per session."},
}

func entries(n int, key func(int) string) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf(`%q:{"required":true,"reason":"r"}`, key(i))
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func TestParseShareFieldsErrors(t *testing.T) {
	long := strings.Repeat("x", 201)
	for _, tc := range []struct{ name, in, code string }{
		{"not an object", `"x"`, "INVALID_SHARE_FIELDS"},
		{"array", `[]`, "INVALID_SHARE_FIELDS"},
		{"null", `null`, "INVALID_SHARE_FIELDS"},
		{"number", `12`, "INVALID_SHARE_FIELDS"},
		{"entry not an object", `{"family_name":5}`, "INVALID_SHARE_FIELDS"},
		{"entry an array", `{"family_name":[{"required":true,"reason":"x"}]}`, "INVALID_SHARE_FIELDS"},
		{"entry null", `{"family_name":null}`, "INVALID_SHARE_FIELDS"},
		{"required missing", `{"family_name":{"reason":"x"}}`, "INVALID_SHARE_FIELDS"},
		{"required not boolean", `{"family_name":{"required":"true","reason":"x"}}`, "INVALID_SHARE_FIELDS"},
		{"required wrong and reason missing", `{"a":{"required":"x"}}`, "REASON_REQUIRED"},
		{"reason missing", `{"family_name":{"required":true}}`, "REASON_REQUIRED"},
		{"reason null", `{"family_name":{"required":true,"reason":null}}`, "REASON_REQUIRED"},
		{"reason not a string", `{"family_name":{"required":true,"reason":7}}`, "REASON_REQUIRED"},
		{"reason an object", `{"family_name":{"required":true,"reason":{"a":1}}}`, "REASON_REQUIRED"},
		// The path ends in the key itself, which is "reason".
		{"non-object entry named reason", `{"reason":5}`, "REASON_REQUIRED"},
		{"reason issue in a later entry wins", `{"a":{"required":"x","reason":"ok"},"b":{"required":true}}`, "REASON_REQUIRED"},
		{"reason too long raw", `{"family_name":{"required":true,"reason":"` + long + `"}}`, "REASON_TOO_LONG"},
		{"reason too long before trimming", `{"family_name":{"required":true,"reason":"  ` + strings.Repeat("x", 199) + `"}}`, "REASON_TOO_LONG"},
		{"too long wins over required wrong", `{"family_name":{"required":1,"reason":"` + long + `"}}`, "REASON_TOO_LONG"},
		{"101 emoji are 202 code units", `{"family_name":{"required":true,"reason":"` + strings.Repeat("😀", 101) + `"}}`, "REASON_TOO_LONG"},
		{"201 lone surrogates", `{"family_name":{"required":true,"reason":"` + strings.Repeat(`\ud800`, 201) + `"}}`, "REASON_TOO_LONG"},
		{"schema issue beyond 33 entries wins", strings.TrimSuffix(entries(40, func(i int) string { return fmt.Sprint("k", i) }), "}") + `,"z":{"required":true}}`, "REASON_REQUIRED"},
		{"33 unknown keys", entries(33, func(i int) string { return fmt.Sprint("unknown_", i) }), "TOO_MANY_SHARE_FIELDS"},
		{"empty reason before unknown key", `{"foo":{"required":true,"reason":""}}`, "REASON_REQUIRED"},
		{"blank reason", `{"family_name":{"required":true,"reason":" \t\n\u00a0\ufeff\u2028\u3000"}}`, "REASON_REQUIRED"},
		{"empty gate reason without date of birth", `{"age_over_18":{"required":true,"reason":""}}`, "REASON_REQUIRED"},
		{"invalid gate", `{"age_over_":{"required":true,"reason":"x"}}`, "INVALID_AGE_GATE_KEY"},
		{"gate below range", `{"age_over_11":{"required":true,"reason":"x"}}`, "INVALID_AGE_GATE_KEY"},
		{"gate above range", `{"age_over_131":{"required":true,"reason":"x"}}`, "INVALID_AGE_GATE_KEY"},
		{"gate not digits", `{"age_over_1e1":{"required":true,"reason":"x"}}`, "INVALID_AGE_GATE_KEY"},
		{"gate signed", `{"age_over_+18":{"required":true,"reason":"x"}}`, "INVALID_AGE_GATE_KEY"},
		{"gate huge", `{"age_over_99999999999999999999999":{"required":true,"reason":"x"}}`, "INVALID_AGE_GATE_KEY"},
		{"gate with NUL", `{"age_over_18\u0000":{"required":true,"reason":"x"}}`, "INVALID_AGE_GATE_KEY"},
		{"unknown claim", `{"document_photo":{"required":true,"reason":"x"}}`, "UNKNOWN_CLAIM_KEY"},
		{"claim key case", `{"Family_Name":{"required":true,"reason":"x"}}`, "UNKNOWN_CLAIM_KEY"},
		{"two gates", `{"age_over_18":{"required":true,"reason":"x"},"age_over_21":{"required":true,"reason":"y"}}`, "MULTIPLE_AGE_GATES_NOT_ALLOWED"},
		{"18 and 018 are two gates", `{"age_over_18":{"required":true,"reason":"x"},"age_over_018":{"required":true,"reason":"y"}}`, "MULTIPLE_AGE_GATES_NOT_ALLOWED"},
		{"invalid gate checked before a second gate", `{"age_over_18":{"required":true,"reason":"x"},"age_over_abc":{"required":true,"reason":"y"}}`, "INVALID_AGE_GATE_KEY"},
		// JavaScript order: the integer-like key "5" comes first.
		{"integer keys first", `{"family_name":{"required":true,"reason":""},"5":{"required":true,"reason":"x"}}`, "UNKNOWN_CLAIM_KEY"},
		{"insertion order otherwise", `{"family_name":{"required":true,"reason":""},"05":{"required":true,"reason":"x"}}`, "REASON_REQUIRED"},
		{"duplicate key keeps the last value", `{"family_name":{"required":true,"reason":"x"},"family_name":{"required":true}}`, "REASON_REQUIRED"},
		{"duplicate key keeps the first position", `{"foo":{"required":true,"reason":"x"},"family_name":{"required":true,"reason":""},"foo":{"required":true,"reason":"y"}}`, "UNKNOWN_CLAIM_KEY"},
		{"invalid UTF-8", "{\"family_name\":{\"required\":true,\"reason\":\"a\xffb\"}}", "INVALID_SHARE_FIELDS"},
		{"invalid UTF-8 in a key", "{\"fam\xc3ily_name\":{\"required\":true,\"reason\":\"x\"}}", "INVALID_SHARE_FIELDS"},
		{"NUL in a reason", `{"family_name":{"required":true,"reason":"a\u0000b"}}`, "INVALID_SHARE_FIELDS"},
		{"deep value in an ignored key", `{"family_name":{"required":true,"reason":"x","extra":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}}`, "INVALID_SHARE_FIELDS"},
		{"syntax error", `{"family_name":`, "INVALID_SHARE_FIELDS"},
		{"trailing data", `{} {}`, "INVALID_SHARE_FIELDS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := sessions.ParseShareFields(json.RawMessage(tc.in))
			var e *sessions.Error
			if !errors.As(err, &e) {
				t.Fatalf("got %v, %v; want %s", c, err, tc.code)
			}
			want := shareErrors[tc.code]
			if e.Code != tc.code || e.Message != want[0] || e.Hint != want[1] || e.Docs != "https://kayle.id/docs/api/sessions#create" {
				t.Fatalf("got %+v; want %s %q %q", e, tc.code, want[0], want[1])
			}
		})
	}
}

func TestParseShareFieldsNormalises(t *testing.T) {
	rc := func(req bool, reason string) sessions.Field {
		return sessions.Field{Required: req, Reason: reason, Source: "rc"}
	}
	docID := sessions.Field{Required: true, Reason: `Sharing "Kayle Document ID"`, Source: "default"}
	for _, tc := range []struct {
		name string
		in   string
		want sessions.Contract
	}{
		{"empty object", `{}`, sessions.Contract{"kayle_document_id": docID}},
		{"one claim", `{"date_of_birth":{"required":true,"reason":"Check age eligibility"}}`,
			sessions.Contract{"date_of_birth": rc(true, "Check age eligibility"), "kayle_document_id": docID}},
		{"caller's document id is forced required", `{"kayle_document_id":{"required":false,"reason":"Mine"}}`,
			sessions.Contract{"kayle_document_id": rc(true, "Mine")}},
		{"reason trimmed and collapsed", `{"family_name":{"required":false,"reason":"\ufeff  a \t\n b\u00a0\u2003c\u3000 "}}`,
			sessions.Contract{"family_name": rc(false, "a b c"), "kayle_document_id": docID}},
		// U+0085 and U+200B are not JavaScript whitespace.
		{"not whitespace", `{"family_name":{"required":false,"reason":"\u0085a\u200bb\u180e"}}`,
			sessions.Contract{"family_name": rc(false, "\u0085a\u200bb\u180e"), "kayle_document_id": docID}},
		{"200 code units", `{"family_name":{"required":false,"reason":"` + strings.Repeat("😀", 100) + `"}}`,
			sessions.Contract{"family_name": rc(false, strings.Repeat("😀", 100)), "kayle_document_id": docID}},
		{"gate with date of birth may have no reason", `{"date_of_birth":{"required":false,"reason":"dob"},"age_over_018":{"required":true,"reason":"  "}}`,
			sessions.Contract{"date_of_birth": rc(true, "dob"), "age_over_018": rc(true, ""), "kayle_document_id": docID}},
		{"both optional stay optional", `{"date_of_birth":{"required":false,"reason":"dob"},"age_over_21":{"required":false,"reason":"age"}}`,
			sessions.Contract{"date_of_birth": rc(false, "dob"), "age_over_21": rc(false, "age"), "kayle_document_id": docID}},
		{"date of birth required makes the gate required", `{"date_of_birth":{"required":true,"reason":"dob"},"age_over_21":{"required":false,"reason":"age"}}`,
			sessions.Contract{"date_of_birth": rc(true, "dob"), "age_over_21": rc(true, "age"), "kayle_document_id": docID}},
		{"unknown keys inside an entry are ignored", `{"family_name":{"required":true,"reason":"x","extra":{"a":[1,{"b":null}]},"source":"default"}}`,
			sessions.Contract{"family_name": rc(true, "x"), "kayle_document_id": docID}},
		{"duplicate field inside an entry keeps the last", `{"family_name":{"required":"x","reason":"a","required":true,"reason":"b"}}`,
			sessions.Contract{"family_name": rc(true, "b"), "kayle_document_id": docID}},
		// Upstream's validator skips the key entirely, whatever it holds.
		{"__proto__ is ignored", `{"__proto__":5,"family_name":{"required":true,"reason":"x"}}`,
			sessions.Contract{"family_name": rc(true, "x"), "kayle_document_id": docID}},
		{"32 entries", entries(32, func(i int) string {
			if i < 12 {
				return sessions.ClaimKeys()[i]
			}
			return sessions.ClaimKeys()[0] // repeated keys count once
		}), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := sessions.ParseShareFields(json.RawMessage(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if tc.want != nil && !reflect.DeepEqual(c, tc.want) {
				t.Fatalf("got %+v\nwant %+v", c, tc.want)
			}
			if tc.want == nil && len(c) != 12 {
				t.Fatalf("got %d entries", len(c))
			}
		})
	}
}

func TestParseShareFieldsDefaults(t *testing.T) {
	c, err := sessions.ParseShareFields(nil)
	if err != nil {
		t.Fatal(err)
	}
	labels := []string{"Document Type Code", "Issuing Country Code", "Family Name", "Given Names", "Document Number",
		"Nationality Code", "Date of Birth", "Sex Marker", "Document Expiry Date", "MRZ Optional Data", "Kayle Document ID", "Kayle Human ID"}
	keys := sessions.ClaimKeys()
	if len(c) != 12 || len(keys) != 12 {
		t.Fatalf("%d defaults, %d keys", len(c), len(keys))
	}
	for i, k := range keys {
		want := sessions.Field{Required: k == "kayle_document_id", Reason: `Sharing "` + labels[i] + `"`, Source: "default"}
		if c[k] != want {
			t.Errorf("%s: %+v, want %+v", k, c[k], want)
		}
	}
	if keys[0] != "document_type_code" || keys[11] != "kayle_human_id" {
		t.Fatalf("catalog order: %v", keys)
	}
	if c.AgeOnly() {
		t.Fatal("defaults are age-only")
	}
	if l, _ := sessions.Label("age_over_018"); l != "Age Over 18" {
		t.Fatalf("label %q", l)
	}
}

func TestAgeOnlyAndGate(t *testing.T) {
	for _, tc := range []struct {
		in      string
		ageOnly bool
		gate    string
		years   int
	}{
		{`{}`, false, "", 0},
		{`{"age_over_18":{"required":true,"reason":"x"}}`, true, "age_over_18", 18},
		{`{"age_over_018":{"required":true,"reason":"x"},"kayle_human_id":{"required":false,"reason":"h"}}`, true, "age_over_018", 18},
		{`{"age_over_130":{"required":true,"reason":"x"},"kayle_document_id":{"required":true,"reason":"d"}}`, true, "age_over_130", 130},
		{`{"age_over_12":{"required":true,"reason":"x"},"date_of_birth":{"required":true,"reason":"d"}}`, false, "age_over_12", 12},
		{`{"kayle_human_id":{"required":true,"reason":"x"}}`, false, "", 0},
	} {
		c, err := sessions.ParseShareFields(json.RawMessage(tc.in))
		if err != nil {
			t.Fatal(tc.in, err)
		}
		key, years, ok := c.AgeGate()
		if c.AgeOnly() != tc.ageOnly || key != tc.gate || years != tc.years || ok != (tc.gate != "") {
			t.Errorf("%s: age-only %v, gate %q %d %v", tc.in, c.AgeOnly(), key, years, ok)
		}
	}
}

// A refusal says which step made it: the schema's answers before the
// body's other checks, a semantic rule's after the redirect URL's.
func TestShareFieldsErrorStep(t *testing.T) {
	for raw, schema := range map[string]bool{
		`{"a":{"required":"x"}}`: true, // REASON_REQUIRED, by the schema
		`{"a":{"required":true,"reason":"` + strings.Repeat("x", 201) + `"}}`: true, // REASON_TOO_LONG
		`[]`: true, // INVALID_SHARE_FIELDS
		`{"family_name":{"required":true,"reason":"  "}}`:     false, // REASON_REQUIRED, by the semantic rule
		`{"favourite_colour":{"required":true,"reason":"x"}}`: false,
	} {
		_, err := sessions.ParseShareFields(json.RawMessage(raw))
		e, ok := err.(*sessions.Error)
		if !ok || e.Schema() != schema {
			t.Errorf("%s: %v, schema step %v, want %v", raw, err, ok && e.Schema(), schema)
		}
		if shape := sessions.CheckShareFieldsShape(json.RawMessage(raw)); (shape != nil) != schema {
			t.Errorf("%s: CheckShareFieldsShape %v", raw, shape)
		}
	}
}
