package store

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

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
