package store_test

import (
	"testing"

	"github.com/kayle-id/orgs-api/store"
)

// NormalizeEmail folds ASCII case and trims ASCII white space, nothing
// else: addresses that differ in any other character stay different.
func TestNormalizeEmailFoldsOnlyASCII(t *testing.T) {
	same := map[string]string{
		"Kate@Corp.Test":        "kate@corp.test",
		" kate@corp.test\t\r\n": "kate@corp.test",
		"ÜSER@bücher.example":   "Üser@bücher.example",
		"\u212Aate@corp.test":   "\u212Aate@corp.test",
	}
	for in, want := range same {
		if got := store.NormalizeEmail(in); got != want {
			t.Errorf("NormalizeEmail(%q) = %q, want %q", in, got, want)
		}
	}
	apart := [][2]string{
		{"\u212Aate@corp.test", "kate@corp.test"},     // KELVIN SIGN
		{"\u0130ngrid@corp.test", "ingrid@corp.test"}, // LATIN CAPITAL I WITH DOT ABOVE
		{"\u017Fam@corp.test", "sam@corp.test"},       // LONG S (upper-cases to S)
		{"ÜSER@x.io", "üser@x.io"},
		{"\u00A0kate@corp.test", "kate@corp.test"}, // no-break space is not trimmed
		{"kate@corp.test\u2028", "kate@corp.test"},
	}
	for _, p := range apart {
		if store.NormalizeEmail(p[0]) == store.NormalizeEmail(p[1]) {
			t.Errorf("%q and %q compare equal", p[0], p[1])
		}
	}
}
