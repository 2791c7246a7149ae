package domains_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/kayle-id/orgs-api/domains"
)

func TestParseHost(t *testing.T) {
	long := strings.Repeat("a", 64)
	for _, c := range []struct {
		in, apex, msg string
	}{
		// Upstream's examples.
		{"acme.co", "acme.co", ""},
		{"App.Acme.CO", "acme.co", ""},
		{"id.app.acme.co.uk", "acme.co.uk", ""},
		{"foo.bar.github.io", "github.io", ""},
		{"127.0.0.1", "0.1", ""},
		{"a.b", "a.b", ""},
		{"acme.co.", "acme.co", ""},
		{"  acme.co  ", "acme.co", ""},
		{"co.uk", "", "Hostname is itself a public suffix; an organization cannot own it."},
		{"com", "", "Hostname must have at least two labels."},
		{"uk", "", "Hostname must have at least two labels."},
		{"localhost", "", "Hostname must have at least two labels."},
		{"acme.co..", "", `Label "" is not a valid DNS label.`},
		{"a..co", "", `Label "" is not a valid DNS label.`},
		{".acme.co", "", `Label "" is not a valid DNS label.`},
		{"-acme.co", "", `Label "-acme" is not a valid DNS label.`},
		{"acme-.co", "", `Label "acme-" is not a valid DNS label.`},
		{long + ".co", "", `Label "` + long + `" is not a valid DNS label.`},
		{strings.Repeat("a", 63) + ".co", strings.Repeat("a", 63) + ".co", ""},
		{"xn--80ak6aa92e.com", "", "IDN (xn--) hostnames are not supported for domain verification."},
		{"app.xn--80ak6aa92e.com", "", "IDN (xn--) hostnames are not supported for domain verification."},
		{"аcme.co", "", "Hostname must be ASCII (Punycode) lowercase."}, // Cyrillic а
		{"ａｃｍｅ.co", "", "Hostname must be ASCII (Punycode) lowercase."},
		{"https://acme.co", "", "Hostname must be ASCII (Punycode) lowercase."},
		{"acme.co:443", "", "Hostname must be ASCII (Punycode) lowercase."},
		{"*.acme.co", "", "Hostname must be ASCII (Punycode) lowercase."},
		{"_dmarc.acme.co", "", "Hostname must be ASCII (Punycode) lowercase."},
		{"user@acme.co", "", "Hostname must be ASCII (Punycode) lowercase."},
		{"acme co", "", "Hostname must be ASCII (Punycode) lowercase."},
		{".", "", "Hostname must be ASCII (Punycode) lowercase."},
		{"", "", "Hostname must be ASCII (Punycode) lowercase."},
		// The real Public Suffix List, not upstream's 64 entries.
		{"shop.example.com.au", "example.com.au", ""},
		{"com.au", "", "Hostname is itself a public suffix; an organization cannot own it."},
		{"gov.uk", "", "Hostname is itself a public suffix; an organization cannot own it."},
		{"kawasaki.jp", "kawasaki.jp", ""},                                                            // only its subdomains are suffixes
		{"foo.kawasaki.jp", "", "Hostname is itself a public suffix; an organization cannot own it."}, // *.kawasaki.jp
		{"city.kawasaki.jp", "city.kawasaki.jp", ""},                                                  // !city.kawasaki.jp
		{"www.acme.co.za", "acme.co.za", ""},
		{"blog.acme.blogspot.co.uk", "blogspot.co.uk", ""}, // private entry: ICANN section only
		{"acme.test", "acme.test", ""},                     // a TLD the list does not know
		{"a.b.c.d.example.org", "example.org", ""},
	} {
		h, err := domains.ParseHost(c.in)
		if c.msg == "" {
			if err != nil || h.Apex != c.apex {
				t.Errorf("%q: got %q %v, want apex %q", c.in, h.Apex, err, c.apex)
			}
			continue
		}
		var he *domains.HostError
		if !errors.As(err, &he) || he.Message != c.msg {
			t.Errorf("%q: got %q %v, want %q", c.in, h.Apex, err, c.msg)
		}
	}
}

func TestTokenAndRecord(t *testing.T) {
	seen := map[string]bool{}
	letters := map[byte]int{}
	for i := 0; i < 2000; i++ {
		tok := domains.NewToken()
		if !domains.ValidToken(tok) {
			t.Fatalf("token %q has the wrong shape", tok)
		}
		if seen[tok] {
			t.Fatalf("token %q repeated", tok)
		}
		seen[tok] = true
		for j := 0; j < len(tok); j++ {
			letters[tok[j]]++
		}
	}
	// 64,000 letters over 52: each about 1,230; a biased draw would show.
	if len(letters) != 52 {
		t.Fatalf("%d distinct letters", len(letters))
	}
	for c, n := range letters {
		if n < 1000 || n > 1500 {
			t.Errorf("letter %c drawn %d times", c, n)
		}
	}
	for _, bad := range []string{"", "abc", strings.Repeat("a", 31) + "1", strings.Repeat("a", 33)} {
		if domains.ValidToken(bad) {
			t.Errorf("%q accepted as a token", bad)
		}
	}
	if got := domains.RecordName("acme.co"); got != "_kayle-id-verification.acme.co" {
		t.Fatal(got)
	}
	if got := domains.RecordValue("QxTb"); got != "kayle-id-verification=QxTb" {
		t.Fatal(got)
	}
}

func TestCheck(t *testing.T) {
	tok := "QxTbLrVnMpZaKwYeHsDcFgJuNiOtRlEq"
	want := "kayle-id-verification=" + tok
	for _, c := range []struct {
		values []string
		proof  domains.Proof
	}{
		{nil, domains.NoRecord},
		{[]string{}, domains.NoRecord},
		{[]string{want}, domains.Match},
		{[]string{"v=spf1 -all", want, "google-site-verification=x"}, domains.Match},
		{[]string{`"` + want + `"`}, domains.Match},
		{[]string{"  " + want + " "}, domains.Match},
		{[]string{strings.ToLower(want)}, domains.Mismatch},
		{[]string{want + "x"}, domains.Mismatch},
		{[]string{"x" + want}, domains.Mismatch},
		{[]string{"kayle-id-verification=" + tok[:31]}, domains.Mismatch},
		{[]string{"kayle-id-verification=OTHERTOKEN"}, domains.Mismatch},
		{[]string{`"` + want}, domains.Mismatch},
	} {
		if got := domains.Check(c.values, tok); got != c.proof {
			t.Errorf("%q: got %d, want %d", c.values, got, c.proof)
		}
	}
}

func TestParsePattern(t *testing.T) {
	const (
		https  = "Must be an https:// URL with no embedded credentials."
		query  = "Redirect URI pattern must not contain query strings or fragments."
		ascii  = "Hostname must be ASCII (Punycode) lowercase."
		labels = "Hostname must have at least two labels."
		idn    = "IDN (xn--) hostnames are not supported for domain verification."
	)
	for _, c := range []struct {
		in, url, apex string
		pattern, host string // the expected error, of either kind
	}{
		{in: "https://app.acme.co/callback", url: "https://app.acme.co/callback", apex: "acme.co"},
		{in: "HTTPS://App.ACME.co:443/Callback", url: "https://app.acme.co/Callback", apex: "acme.co"},
		{in: "https://app.acme.co", url: "https://app.acme.co/", apex: "acme.co"},
		{in: "https://app.acme.co:8443/cb", url: "https://app.acme.co:8443/cb", apex: "acme.co"},
		{in: "https://app.acme.co:08443/cb", url: "https://app.acme.co:8443/cb", apex: "acme.co"},
		{in: "https://app.acme.co./cb", url: "https://app.acme.co/cb", apex: "acme.co"},
		{in: "  https://acme.co/cb  ", url: "https://acme.co/cb", apex: "acme.co"},
		{in: "https://acme.co/a/./b/../c", url: "https://acme.co/a/c", apex: "acme.co"},
		{in: "https://acme.co/a/%2e%2E/c", url: "https://acme.co/c", apex: "acme.co"},
		{in: `https://acme.co\cb\..\admin`, url: "https://acme.co/admin", apex: "acme.co"},
		{in: "https://acme.co/a%20b", url: "https://acme.co/a%20b", apex: "acme.co"},
		{in: "https://ａｐｐ.acme.co/", url: "https://app.acme.co/", apex: "acme.co"}, // full-width letters: what the browser visits
		{in: "https://app。acme。co/", url: "https://app.acme.co/", apex: "acme.co"}, // ideographic full stops
		{in: "http://acme.co/", pattern: https},
		{in: "http://localhost/", pattern: https},
		{in: "ftp://acme.co/", pattern: https},
		{in: "acme.co/cb", pattern: https},
		{in: "//acme.co/cb", pattern: https},
		{in: "https:acme.co", pattern: https},
		{in: "https://user:pass@acme.co/", pattern: https},
		{in: "https://user@acme.co/", pattern: https},
		{in: "https://@acme.co/", pattern: https},
		{in: "https://acme.co:99999/", pattern: https},
		{in: "https://acme.co:0/", pattern: https},
		{in: "https://acme.co:x/", pattern: https},
		{in: "https:///cb", pattern: https},
		{in: "https://acme.co/cb?next=/", pattern: query},
		{in: "https://acme.co/cb#frag", pattern: query},
		{in: "https://localhost/?x", pattern: query},
		{in: "https://" + strings.Repeat("a", 2050) + ".co/", pattern: "Redirect URI pattern must be at most 2048 characters."},
		{in: "https://*.acme.co/", host: ascii},
		{in: "https://[::1]/", host: ascii},
		{in: "https://a_b.acme.co/", host: ascii},
		{in: "https://localhost/", host: labels},
		{in: "https://xn--80ak6aa92e.com/", host: idn},
		{in: "https://аpple.com/", host: idn}, // Cyrillic а: a homograph
		{in: "https://ex😀.com/", host: idn},   // emoji become Punycode too
		{in: "https://co.uk/", host: "Hostname is itself a public suffix; an organization cannot own it."},
		{in: "https://" + strings.Repeat("a", 64) + ".acme.co/", host: `Label "` + strings.Repeat("a", 64) + `" is not a valid DNS label.`},
		{in: "https://127.0.0.1/cb", url: "https://127.0.0.1/cb", apex: "0.1"}, // never a verified apex
	} {
		r, err := domains.ParsePattern(c.in)
		var pe *domains.PatternError
		var he *domains.HostError
		switch {
		case c.pattern != "":
			if !errors.As(err, &pe) || pe.Message != c.pattern {
				t.Errorf("%q: got %+v %v, want pattern error %q", c.in, r, err, c.pattern)
			}
		case c.host != "":
			if !errors.As(err, &he) || he.Message != c.host {
				t.Errorf("%q: got %+v %v, want host error %q", c.in, r, err, c.host)
			}
		default:
			if err != nil || r.URL != c.url || r.Host.Apex != c.apex {
				t.Errorf("%q: got %+v %v, want %q on %q", c.in, r, err, c.url, c.apex)
			}
		}
	}
}

func TestCovers(t *testing.T) {
	pattern := func(s string) string {
		r, err := domains.ParsePattern(s)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		return r.URL
	}
	covers := func(p, target string) bool {
		r, err := domains.ParseTarget(target)
		if err != nil {
			t.Fatalf("%q: %v", target, err)
		}
		return domains.Covers(p, r)
	}
	p := pattern("HTTPS://App.Acme.CO:443/Callback")
	for target, want := range map[string]bool{
		"https://app.acme.co/Callback":           true,
		"https://APP.acme.co/Callback?code=1":    true,
		"https://app.acme.co:443/Callback/x":     true,
		"https://app.acme.co/callback":           false, // paths keep their case
		"https://app.acme.co:8443/Callback":      false,
		"https://app.acme.co.evil.io/Callback":   false,
		"https://app.acme.co/Callback/../admin":  false,
		`https://app.acme.co/Callback\..\admin`:  false,
		"https://app.acme.co/x/../Callback/done": true,
	} {
		if got := covers(p, target); got != want {
			t.Errorf("%q covers %q: %v, want %v", p, target, got, want)
		}
	}
	// A bare origin covers its own paths, not longer hosts or other ports.
	origin := pattern("https://app.acme.co")
	for target, want := range map[string]bool{
		"https://app.acme.co":          true,
		"https://app.acme.co/any/path": true,
		"https://app.acme.co.acme.co/": false,
		"https://app.acme.co:8443/":    false,
		"https://app.acme.co@evil.io/": false,
	} {
		r, err := domains.ParseTarget(target)
		if err != nil {
			if want {
				t.Errorf("%q: %v", target, err)
			}
			continue
		}
		if got := domains.Covers(origin, r); got != want {
			t.Errorf("%q covers %q: %v, want %v", origin, target, got, want)
		}
	}
}
