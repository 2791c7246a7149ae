package store

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/kayle-id/orgs-api/internal/testdb"
)

// After the first request of an identity, the next ones are one read:
// readExternal finds identity, user and session and asks for no write.
func TestExternalFastPath(t *testing.T) {
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s, err := Open(ctx, testdb.URL(t, kind), Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if _, err := s.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			exp := time.Now().Add(time.Hour)
			id := ExternalIdentity{Issuer: "https://id.example.com", Subject: "fast", Email: "Fast@Example.com", EmailVerified: true,
				Name: "Fast", ProviderSession: "sid-1", ExpiresAt: exp}
			first, err := s.AuthenticateExternal(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if first.User.Email != "fast@example.com" || first.User.Name != "Fast" || !first.EmailVerified {
				t.Fatalf("first sight: %+v", first)
			}
			cleaned, _ := id.clean()
			p, done, err := s.readExternal(ctx, cleaned, providerSessionKey(cleaned))
			if err != nil || !done {
				t.Fatalf("second request: done=%v err=%v, want the one-read path", done, err)
			}
			if p.User.ID != first.User.ID || p.Session.ID != first.Session.ID || !strings.HasPrefix(p.Session.TokenHash, providerSessionPrefix) {
				t.Fatalf("fast path found %+v, first sight made %+v", p, first)
			}
			// A later token extends the session, in place.
			later := id
			later.ExpiresAt = exp.Add(time.Hour)
			p, err = s.AuthenticateExternal(ctx, later)
			if err != nil || p.Session.ID != first.Session.ID || !p.Session.ExpiresAt.Equal(later.ExpiresAt.UTC().Truncate(time.Microsecond)) {
				t.Fatalf("later token: %+v %v", p.Session, err)
			}
			// An issuer or subject the store cannot keep is refused.
			for _, bad := range []ExternalIdentity{
				{Issuer: "https://id.example.com", Subject: "", ExpiresAt: exp},
				{Issuer: "https://id.example.com", Subject: strings.Repeat("x", 256), ExpiresAt: exp},
				{Issuer: "https://id.example.com", Subject: "tab\there", ExpiresAt: exp},
				{Issuer: "https://id.example.com", Subject: "bad-utf8-\xff", ExpiresAt: exp},
				{Issuer: "https://id.example.com", Subject: "no-expiry"},
			} {
				if _, err := s.AuthenticateExternal(ctx, bad); !errors.Is(err, ErrInvalidIdentity) {
					t.Errorf("%q: %v, want ErrInvalidIdentity", bad.Subject, err)
				}
			}
			// Users without a verified email have none, and are not found by it.
			if _, err := s.AuthenticateExternal(ctx, ExternalIdentity{Issuer: "https://id.example.com", Subject: "nomail", ExpiresAt: exp}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.UserByEmail(ctx, ""); !errors.Is(err, ErrNotFound) {
				t.Fatalf("UserByEmail(\"\"): %v", err)
			}
			if _, err := s.CreateSession(ctx, " ", nil, time.Hour); !errors.Is(err, ErrNotFound) {
				t.Fatalf("CreateSession for no email: %v", err)
			}
		})
	}
}

// What the store keeps of a provider's claims: an email it would refuse
// from anyone else (or one holding a control character, C1 included) is
// dropped and no longer verified; a name loses its control characters and
// is cut to MaxUserName characters.
func TestIdentityClean(t *testing.T) {
	base := ExternalIdentity{Issuer: "https://id.example.com", Subject: "s", EmailVerified: true, ExpiresAt: time.Now()}
	for email, kept := range map[string]string{
		" Ada@Example.com ":                 "ada@example.com",
		"":                                  "",
		"not an address":                    "",
		"Ada <ada@example.com>":             "",
		"a\u0085b@example.com":              "",
		"a\x00b@example.com":                "",
		strings.Repeat("a", 248) + "@x.com": strings.Repeat("a", 248) + "@x.com",
		strings.Repeat("a", 249) + "@x.com": "",
	} {
		id := base
		id.Email = email
		got, err := id.clean()
		if err != nil || got.Email != kept || got.EmailVerified != (kept != "") {
			t.Errorf("email %q: kept %q (verified %v), %v; want %q", email, got.Email, got.EmailVerified, err, kept)
		}
	}
	id := base
	id.Name = " Ada\x07 " + strings.Repeat("é", MaxUserName)
	got, _ := id.clean()
	if n := utf8.RuneCountInString(got.Name); n != MaxUserName || !strings.HasPrefix(got.Name, "Ada é") {
		t.Errorf("name cleaned to %d characters: %.20q", n, got.Name)
	}
}
