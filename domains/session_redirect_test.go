package domains_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/kayle-id/orgs-api/domains"
)

func TestParseSessionRedirect(t *testing.T) {
	const https = "Must be an https:// URL with no embedded credentials."
	const long = "Too big: expected string to have <=2048 characters"
	for _, tc := range []struct {
		raw        string
		production bool
		url, host  string
		errMessage string
	}{
		{"https://App.Acme.co", true, "https://app.acme.co/", "app.acme.co", ""},
		{"https://acme.co:443/a?b#c", true, "https://acme.co/a?b#c", "acme.co", ""},
		{" https://ac\tme.co/x\n", true, "https://acme.co/x", "acme.co", ""},
		{`https://evil.com\@acme.co/`, true, "https://evil.com/@acme.co/", "evil.com", ""},
		{"https://@acme.co/", true, "https://acme.co/", "acme.co", ""}, // empty credentials are none (new URL() agrees)
		{"https://localhost/", true, "https://localhost/", "localhost", ""},
		{"https://bücher.de/", true, "https://xn--bcher-kva.de/", "xn--bcher-kva.de", ""},
		{"http://localhost:3000/cb", false, "http://localhost:3000/cb", "localhost", ""},
		{"http://localhost./", false, "http://localhost./", "localhost.", ""},
		{"http://127.0.0.1./", false, "http://127.0.0.1/", "127.0.0.1", ""},
		{"http://localhost/", true, "", "", https},
		{"http://acme.co/", false, "", "", https},
		{"http://localhost.acme.co/", false, "", "", https},
		{"http://[::1]/", false, "", "", https},
		{"https://user@acme.co/", true, "", "", https},
		{"https://:pass@acme.co/", true, "", "", https},
		{"ftp://acme.co/", true, "", "", https},
		{"acme.co", true, "", "", https},
		{"", true, "", "", https},
		{"https://", true, "", "", https},
		{"https://acme.co:99999/", true, "", "", https},
		{"https://acme.co%2F.evil.com/", true, "", "", https},
		{"https://acme.co/" + strings.Repeat("a", 2048-16), true, "https://acme.co/" + strings.Repeat("a", 2048-16), "acme.co", ""},
		{"https://acme.co/" + strings.Repeat("a", 2048-15), true, "", "", long},
		// 1016 emoji are 2032 code units, over the limit with the prefix.
		{"https://acme.co/" + strings.Repeat("😀", 1017), true, "", "", long},
	} {
		r, err := domains.ParseSessionRedirect(tc.raw, tc.production)
		if tc.errMessage != "" {
			var pe *domains.PatternError
			if !errors.As(err, &pe) || pe.Message != tc.errMessage {
				t.Errorf("%.60q: %+v %v; want %q", tc.raw, r, err, tc.errMessage)
			}
			continue
		}
		if err != nil || r.URL != tc.url || r.Hostname != tc.host {
			t.Errorf("%.60q: %q %q %v; want %q %q", tc.raw, r.URL, r.Hostname, err, tc.url, tc.host)
		}
	}
}

// A redirect that passes is stored in a form that parses to itself.
// `go test -fuzz=FuzzParseSessionRedirect ./domains` explores further.
func FuzzParseSessionRedirect(f *testing.F) {
	for _, s := range []string{"https://app.acme.co/done", "HTTPS://App.Acme.co:443/a/../b?q#f", `https://evil.com\@acme.co/`, "https://%61cme.co/",
		"http://localhost:3000/", "https://[::ffff:1.2.3.4]/", "https://0x7f.1/", "https://bücher.de/ü?ü#ü", "https://a.co/%2e%2E/x", "https:\\\\a.co"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, in string, production bool) {
		r, err := domains.ParseSessionRedirect(in, production)
		if err != nil {
			return
		}
		again, err := domains.ParseSessionRedirect(r.URL, production)
		if err != nil || again != r {
			t.Fatalf("%q: stored form %q does not parse to itself (%+v, %v)", in, r.URL, again, err)
		}
		if !strings.HasPrefix(r.URL, "https://"+r.Hostname) && !strings.HasPrefix(r.URL, "http://"+r.Hostname) {
			t.Fatalf("%q: %q does not start with its host %q", in, r.URL, r.Hostname)
		}
	})
}
