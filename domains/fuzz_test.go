package domains_test

import (
	"strings"
	"testing"

	"github.com/kayle-id/orgs-api/domains"
)

// A host that passes is reduced to an apex that is its own apex and a
// suffix of the host. The seed corpus runs in every `make test`;
// `go test -fuzz=FuzzParseHost ./domains` explores further.
func FuzzParseHost(f *testing.F) {
	for _, s := range []string{"acme.co", "App.Acme.CO.", "id.app.acme.co.uk", "co.uk", "127.0.0.1", "xn--80ak6aa92e.com", "аpple.com", "a..b", "-a.b", strings.Repeat("a", 64) + ".co"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		h, err := domains.ParseHost(in)
		if err != nil {
			return
		}
		again, err := domains.ParseHost(h.Apex)
		if err != nil || again.Apex != h.Apex {
			t.Fatalf("%q: apex %q is not stable (%q, %v)", in, h.Apex, again.Apex, err)
		}
		if h.Name != h.Apex && !strings.HasSuffix(h.Name, "."+h.Apex) {
			t.Fatalf("%q: apex %q is not a suffix of %q", in, h.Apex, h.Name)
		}
	})
}

// A pattern that passes is stored in a form that parses to itself, fits
// the length limit, and covers itself as a redirect target.
func FuzzParsePattern(f *testing.F) {
	for _, s := range []string{"https://app.acme.co/cb", "HTTPS://App.ACME.co:443/Callback", "https://acme.co", `https://acme.co\a\..\b`,
		"https://acme.co/a/%2e%2e/b", "https://ａｐｐ.acme.co/", "https://user@acme.co/", "https://acme.co:8443/x?y", "https://[::1]/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		r, err := domains.ParsePattern(in)
		if err != nil {
			return
		}
		if len(r.URL) > domains.MaxPatternChars {
			t.Fatalf("%q: stored form is %d long", in, len(r.URL))
		}
		again, err := domains.ParsePattern(r.URL)
		if err != nil || again.URL != r.URL || again.Host != r.Host {
			t.Fatalf("%q: stored form %q does not parse to itself (%q, %v)", in, r.URL, again.URL, err)
		}
		target, err := domains.ParseTarget(r.URL)
		if err != nil || !domains.Covers(r.URL, target) {
			t.Fatalf("%q: %q does not cover itself", in, r.URL)
		}
	})
}
