package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/kayle-id/orgs-api/domains"
	"github.com/kayle-id/orgs-api/sessions"
)

const redirectHint = "Verify a domain on the Domains page that covers this redirect host. Any subdomain of a verified apex is accepted by default; add explicit redirect URI patterns to narrow further."

func TestCheckSessionRedirect(t *testing.T) {
	forEachKind(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		owner := f.org("Acme")
		org := *owner.ActiveOrganizationID
		f.verify(owner, "acme.co", false)
		f.verify(owner, "acme-shop.co.uk", false)
		if _, _, err := f.st.AddRedirectURI(ctx, owner, "https://app.acme-shop.co.uk/cb"); err != nil {
			t.Fatal(err)
		}
		old := f.verify(owner, "old-acme.io", false)
		if _, err := f.st.DB().Exec("UPDATE verified_domains SET downgraded_at = created_at WHERE id = $1", old.Domain.ID.String()); err != nil {
			t.Fatal(err)
		}
		other := f.org("Other")
		f.verify(other, "other.co", false)

		const (
			invalid    = "INVALID_REDIRECT_URL"
			notVerif   = "REDIRECT_URL_DOMAIN_NOT_VERIFIED"
			noPattern  = "REDIRECT_URL_PATTERN_NOT_REGISTERED"
			msgNotVer  = "Redirect URL host is not on a verified domain for this organization."
			msgPattern = "Redirect URL host is on a verified domain but does not match any registered redirect URI pattern."
		)
		for _, tc := range []struct {
			raw        string
			production bool
			want       string // stored URL when code is ""
			code, msg  string
		}{
			{"https://App.Acme.co", true, "https://app.acme.co/", "", ""},
			{"https://acme.co:443/done?x=1#frag", true, "https://acme.co/done?x=1#frag", "", ""},
			{"https://deep.sub.acme.co:8443/a/../b", true, "https://deep.sub.acme.co:8443/b", "", ""},
			{"https://%61pp.acme.co/", true, "https://app.acme.co/", "", ""},
			{"https://app.acme-shop.co.uk/cb/done", true, "https://app.acme-shop.co.uk/cb/done", "", ""},
			{"https://APP.acme-shop.co.uk/cb?x", true, "https://app.acme-shop.co.uk/cb?x", "", ""},
			{"https://app.acme-shop.co.uk/other", true, "", noPattern, msgPattern},
			{"https://shop.acme-shop.co.uk/cb", true, "", noPattern, msgPattern},
			{"https://acme-shop.co.uk/", true, "", noPattern, msgPattern},
			// WHATWG reads the backslash as a slash: the host is evil.com.
			{`https://evil.com\@acme.co/`, true, "", notVerif, msgNotVer},
			{"https://evil-acme.co/", true, "", notVerif, msgNotVer},
			{"https://acme.co.evil.io/", true, "", notVerif, msgNotVer},
			{"https://app.acme.co./", true, "", notVerif, msgNotVer},
			{"https://old-acme.io/", true, "", notVerif, msgNotVer},
			{"https://other.co/", true, "", notVerif, msgNotVer},
			{"https://1.2.3.4/", true, "", notVerif, msgNotVer},
			{"https://127.0.0.1/", true, "", notVerif, msgNotVer},
			{"https://localhost/", true, "", invalid, "Hostname must have at least two labels."},
			{"https://localhost./", false, "", invalid, "Hostname must have at least two labels."},
			{"https://intranet/", true, "", invalid, "Hostname must have at least two labels."},
			{"https://[::1]/", true, "", invalid, "Hostname must be ASCII (Punycode) lowercase."},
			{"https://a_b.acme.co/", true, "", invalid, "Hostname must be ASCII (Punycode) lowercase."},
			{"https://bücher.acme.co/", true, "", invalid, "IDN (xn--) hostnames are not supported for domain verification."},
			{"https://co.uk/", true, "", invalid, "Hostname is itself a public suffix; an organization cannot own it."},
			{"https://-a.acme.co/", true, "", invalid, `Label "-a" is not a valid DNS label.`},
			{"http://acme.co/", false, "", invalid, "Redirect URL is not a valid https:// URL."},
			{"http://localhost:3000/cb", true, "", invalid, "Redirect URL is not a valid https:// URL."},
			// Outside production only, loopback hosts need no domain.
			{"http://localhost:3000/cb", false, "http://localhost:3000/cb", "", ""},
			{"https://127.0.0.1/x", false, "https://127.0.0.1/x", "", ""},
			{"http://127.1:80/", false, "http://127.0.0.1/", "", ""},
		} {
			// Built by hand from the raw text, so CheckSessionRedirect's
			// own schema check is exercised too.
			r := domains.Redirect{URL: tc.raw}
			got, err := f.st.CheckSessionRedirect(ctx, org, r, tc.production)
			if tc.code == "" {
				if err != nil || got != tc.want {
					t.Errorf("%s (production %v): %q %v; want %q", tc.raw, tc.production, got, err, tc.want)
				}
				continue
			}
			var e *sessions.Error
			if !errors.As(err, &e) || e.Code != tc.code || e.Message != tc.msg || e.Hint != redirectHint || e.Docs != "https://kayle.id/docs/api/sessions#create" {
				t.Errorf("%s (production %v): %q %+v; want %s %q", tc.raw, tc.production, got, err, tc.code, tc.msg)
			}
		}

		// An organization with no domains; RedirectAllowed is the same rule.
		r, err := domains.ParseSessionRedirect("https://acme.co/", true)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.st.CheckSessionRedirect(ctx, uuid.New(), r, true); !isCode(err, "REDIRECT_URL_DOMAIN_NOT_VERIFIED") {
			t.Fatalf("unknown org: %v", err)
		}
		if ok, err := f.st.RedirectAllowed(ctx, org, "https://app.acme.co/"); !ok || err != nil {
			t.Fatalf("RedirectAllowed: %v %v", ok, err)
		}
	})
}

func isCode(err error, code string) bool {
	var e *sessions.Error
	return errors.As(err, &e) && e.Code == code
}
