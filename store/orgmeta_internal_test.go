package store

import (
	"errors"
	"strings"
	"testing"
)

// The URL rule's outcomes, as upstream's policy gives them under WHATWG URL
// (behaviour-org-update.md, "URL rule").
func TestMetadataURLNormalisation(t *testing.T) {
	for in, want := range map[string]string{
		"https://acme.example":                "https://acme.example/",
		"https://acme.example/docs":           "https://acme.example/docs",
		"  https://Acme.Example/Path  ":       "https://acme.example/Path",
		"\u3000https://acme.example\ufeff":    "https://acme.example/",
		"HTTP://Acme.Example":                 "http://acme.example/",
		"HTTPS://ACME.EXAMPLE:443/a?q=1#frag": "https://acme.example/a?q=1#frag",
		"http://acme.example:80":              "http://acme.example/",
		"https://acme.example:8443":           "https://acme.example:8443/",
		"https://acme.example:080/x":          "https://acme.example:80/x",
		"https://bücher.example/ä ö":          "https://xn--bcher-kva.example/%C3%A4%20%C3%B6",
		"https://ａｃｍｅ.example":                "https://acme.example/",
		"https://acme.example/a/../b/./c":     "https://acme.example/b/c",
		"https://acme.example/?a=b c":         "https://acme.example/?a=b%20c",
		"https:acme.example":                  "https://acme.example/",
		"https:/acme.example":                 "https://acme.example/",
		`https:\\acme.example\path`:           "https://acme.example/path",
		"https://ac\nme.exa\tmple/":           "https://acme.example/",
		"https://0x7f.1/":                     "https://127.0.0.1/",
		"https://a%41.example":                "https://aa.example/",
		"https://acme.example?":               "https://acme.example/?",
		"https://acme.example#":               "https://acme.example/#",
		"https://@acme.example":               "https://acme.example/",
		"https://:@acme.example":              "https://acme.example/",
		"https://ACME.example./":              "https://acme.example./",
		"https://localhost":                   "https://localhost/",
		"https://acme":                        "https://acme/",
		"http://127.0.0.1:3000/x":             "http://127.0.0.1:3000/x",
		"https://[::1]:8443/":                 "https://[::1]:8443/",
		"https://acme..example":               "https://acme..example/",
		"https://-acme.example":               "https://-acme.example/",
		"https://acme_x.example":              "https://acme_x.example/",
	} {
		got, ok := normalizeMetadataURL(in)
		if !ok || got != want {
			t.Errorf("%q: got %q %v, want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{"acme.example", "www.acme.example/privacy", "//acme.example", "https://", "https://a b.example",
		"https://acme.example:65536", "https://256.0.0.1", "ftp://acme.example/privacy", "wss://acme.example", "javascript:alert(1)",
		"mailto:a@b.c", "data:text/plain,x", "https://user:pass@example.com", "https://user@acme.example", "https://:pw@acme.example",
		"https://user:@acme.example", "   ", "https://a\x00b.example", "https://xn--a.example"} {
		if got, ok := normalizeMetadataURL(in); ok {
			t.Errorf("%q: accepted as %q", in, got)
		}
	}
}

// The support-email rule: JavaScript trim and toLowerCase, 254 UTF-16
// units, JavaScript's \s in the pattern.
func TestSupportEmailRule(t *testing.T) {
	for in, want := range map[string]string{
		"Support@Acme.Example":             "support@acme.example",
		"  help@acme.example  ":            "help@acme.example",
		"ÜSER@BÜCHER.example":              "üser@bücher.example",
		"İ@x.io":                           "i\u0307@x.io",
		"ΟΔΟΣ@X.IO":                        "οδος@x.io", // final sigma, as JavaScript
		"a@b..c":                           "a@b..c",
		"a@.b.c":                           "a@.b.c",
		"a.@b.c":                           "a.@b.c",
		"a@b.c.":                           "a@b.c.",
		"<a@b.c>":                          "<a@b.c>",
		`"quoted"@acme.example`:            `"quoted"@acme.example`,
		"mailto:a@b.c":                     "mailto:a@b.c",
		"a@[127.0.0.1]":                    "a@[127.0.0.1]",
		"a@b.c\u200b":                      "a@b.c\u200b",
		strings.Repeat("a", 249) + "@b.co": strings.Repeat("a", 249) + "@b.co",
	} {
		got, ok := normalizeSupportEmail(in)
		if !ok || got != want {
			t.Errorf("%q: got %q %v, want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{"not-an-email", "help@acme", "a@@b.c", "a b@c.d", "a\u00a0b@c.d", "a\tb@c.d", "a\vb@c.d",
		"a\u2028b@c.d", "a\ufeffb@c.d", "a@b.c,d@e.f", "   ", strings.Repeat("a", 250) + "@b.co",
		// 253 units before lower-casing, 255 after: U+0130 lengthens.
		strings.Repeat("İ", 2) + strings.Repeat("a", 246) + "@b.co"} {
		if got, ok := normalizeSupportEmail(in); ok {
			t.Errorf("%q: accepted as %q", in, got)
		}
	}
}

func TestNormalizeMetadata(t *testing.T) {
	generic := &MetadataError{}
	for _, c := range []struct {
		name string
		in   map[string]any
		want string
		err  *MetadataError
	}{
		{"empty wipes", map[string]any{}, `{}`, nil},
		{"proto alone is empty", map[string]any{"__proto__": map[string]any{"x": 1}}, `{}`, nil},
		{"table order, nulls kept", map[string]any{"usesKayleForConsequentialDecisions": false, "website": "https://Acme.example", "description": "",
			"supportEmail": nil, "article6Basis": "  consent  <b>&</b>"},
			`{"article6Basis":"  consent  <b>&</b>","description":null,"website":"https://acme.example/","supportEmail":null,"usesKayleForConsequentialDecisions":false}`, nil},
		{"tested example", map[string]any{"website": "https://acme.example/docs", "description": "Acme identity checks"},
			`{"description":"Acme identity checks","website":"https://acme.example/docs"}`, nil},
		{"whitespace-only text kept", map[string]any{"description": "   "}, `{"description":"   "}`, nil},
		{"line breaks kept", map[string]any{"description": "a\r\n\tb"}, `{"description":"a\r\n\tb"}`, nil},
		{"unknown key", map[string]any{"Website": "https://acme.example"}, "", generic},
		{"unknown key with null", map[string]any{"nope": nil}, "", generic},
		{"unknown key beats a bad URL", map[string]any{"website": "x", "nope": 1}, "", generic},
		{"number in text", map[string]any{"description": 1.0}, "", generic},
		{"object in URL", map[string]any{"website": map[string]any{}}, "", generic},
		{"array in email", map[string]any{"supportEmail": []any{"a@b.c"}}, "", generic},
		{"bool in text", map[string]any{"legalControllerName": true}, "", generic},
		{"string flag", map[string]any{"usesKayleForConsequentialDecisions": "false"}, "", generic},
		{"number flag", map[string]any{"usesKayleForConsequentialDecisions": 0.0}, "", generic},
		{"text before URLs", map[string]any{"website": "x", "description": 1.0}, "", generic},
		{"URLs in order", map[string]any{"complaintsUrl": "x", "privacyPolicyUrl": "y"}, "", &MetadataError{Field: "privacyPolicyUrl"}},
		{"URLs before email", map[string]any{"supportEmail": "x", "appealUrl": "y"}, "", &MetadataError{Field: "appealUrl"}},
		{"email before flag", map[string]any{"supportEmail": "x", "usesKayleForConsequentialDecisions": "y"}, "", &MetadataError{Field: "supportEmail"}},
		{"blank URL", map[string]any{"website": "   "}, "", &MetadataError{Field: "website"}},
		{"NUL in text", map[string]any{"description": "a\x00b"}, "", &MetadataError{Field: "description", TooLong: true}},
		{"escape in text", map[string]any{"article9Condition": "a\x1bb"}, "", &MetadataError{Field: "article9Condition", TooLong: true}},
		{"U+FFFD in text", map[string]any{"description": "a\ufffdb"}, "", &MetadataError{Field: "description", TooLong: true}},
		{"U+FFFD in a URL", map[string]any{"website": "https://acme.example/\ufffd"}, "", &MetadataError{Field: "website"}},
		{"U+FFFD in the email", map[string]any{"supportEmail": "a\ufffd@acme.example"}, "", &MetadataError{Field: "supportEmail"}},
		{"DEL in text", map[string]any{"legalControllerName": "a\x7f"}, "", &MetadataError{Field: "legalControllerName", TooLong: true}},
		{"text at its limit", map[string]any{"controllerJurisdiction": strings.Repeat("😀", 60)}, `{"controllerJurisdiction":"` + strings.Repeat("😀", 60) + `"}`, nil},
		{"text over its limit", map[string]any{"controllerJurisdiction": strings.Repeat("😀", 60) + "a"}, "", &MetadataError{Field: "controllerJurisdiction", TooLong: true}},
		{"URL over the limit", map[string]any{"website": "https://acme.example/" + strings.Repeat("a", 2028)}, "", &MetadataError{Field: "website", TooLong: true}},
		{"URL at the limit", map[string]any{"website": "https://acme.example/" + strings.Repeat("a", 2027)}, `{"website":"https://acme.example/` + strings.Repeat("a", 2027) + `"}`, nil},
	} {
		got, err := normalizeMetadata(c.in)
		var me *MetadataError
		switch {
		case c.err == nil && (err != nil || got != c.want):
			t.Errorf("%s: got %s %v, want %s", c.name, got, err, c.want)
		case c.err != nil && (!errors.As(err, &me) || *me != *c.err):
			t.Errorf("%s: got %s %v, want %+v", c.name, got, err, *c.err)
		}
	}
}

func TestChangedMetadataKeys(t *testing.T) {
	before := `{"description":"a","website":"https://acme.example/","supportEmail":null}`
	got := changedMetadataKeys(&before, `{"description":"a","website":"https://b.example/","usesKayleForConsequentialDecisions":true}`)
	if strings.Join(got, ",") != "website,supportEmail,usesKayleForConsequentialDecisions" {
		t.Fatalf("changed keys %v", got)
	}
	if got := changedMetadataKeys(nil, `{"description":null}`); strings.Join(got, ",") != "description" {
		t.Fatalf("from none: %v", got)
	}
}
