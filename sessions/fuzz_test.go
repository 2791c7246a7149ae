package sessions_test

import (
	"encoding/json"
	"testing"

	"github.com/kayle-id/orgs-api/sessions"
)

// A contract that passes, sent back as share_fields, is accepted and
// yields the same claims, requirements and reasons (the normalisation is
// idempotent). `go test -fuzz=FuzzParseShareFields ./sessions` explores
// further.
func FuzzParseShareFields(f *testing.F) {
	for _, s := range []string{`{}`, `{"date_of_birth":{"required":false,"reason":" a \u3000 b "},"age_over_018":{"required":true,"reason":""}}`,
		`{"5":{"required":true,"reason":"x"},"family_name":{"required":true,"reason":"y"}}`, `{"a":{"required":"x"}}`, `{"reason":5}`,
		`{"__proto__":1,"kayle_document_id":{"required":false,"reason":"\ufeffz"}}`, `[`, `{"a":[[[[{}]]]]}`, "{\"a\xff\":1}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		c, err := sessions.ParseShareFields(in)
		if err != nil {
			if _, ok := err.(*sessions.Error); !ok {
				t.Fatalf("%q: error %T", in, err)
			}
			return
		}
		if len(c) > sessions.MaxShareFields+1 {
			t.Fatalf("%q: %d entries", in, len(c))
		}
		type sent struct {
			Required bool   `json:"required"`
			Reason   string `json:"reason"`
		}
		back := map[string]sent{}
		for k, v := range c {
			back[k] = sent{v.Required, v.Reason}
		}
		raw, _ := json.Marshal(back)
		again, err := sessions.ParseShareFields(raw)
		if err != nil || len(again) != len(c) {
			t.Fatalf("%q: normalised %s does not parse back (%v)", in, raw, err)
		}
		for k, v := range c {
			if a := again[k]; a.Required != v.Required || a.Reason != v.Reason {
				t.Fatalf("%q: %s changed from %+v to %+v", in, k, v, a)
			}
		}
	})
}
