package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kayle-id/orgs-api/internal/dnstest"
	"github.com/kayle-id/orgs-api/internal/testdb"
	"github.com/kayle-id/orgs-api/store"
)

// `kayleid domains recheck` runs one pass of the daily re-check: a clean
// miss counts, a resolver failure does not, a hit confirms.
func TestDomainsRecheckCLI(t *testing.T) {
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			url := testdb.URL(t, kind)
			dns, err := dnstest.Start()
			if err != nil {
				t.Fatal(err)
			}
			defer dns.Close()
			// Verified two days ago, so due now.
			past := func() time.Time { return time.Now().Add(-48 * time.Hour) }
			st, err := store.Open(ctx, url, store.Options{Now: past})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if _, err := st.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			u, _ := st.CreateUser(ctx, "o@example.com", "O")
			tok, _ := st.CreateSession(ctx, "o@example.com", nil, time.Hour*100)
			a := store.Actor{UserID: u.ID, SessionID: tok.Session.ID}
			org, err := st.CreateOrganization(ctx, a, store.NewOrganization{Name: "Recheck", Slug: "recheck"})
			if err != nil {
				t.Fatal(err)
			}
			a.ActiveOrganizationID = &org.ID
			for _, apex := range []string{"recheck.io", "broken.io"} {
				c, _ := st.StartDNSChallenge(ctx, a, apex)
				p, _ := st.PrepareVerification(ctx, a, c.Challenge.ID, false)
				if _, err := st.CompleteVerification(ctx, a, p); err != nil {
					t.Fatal(err)
				}
			}
			env := map[string]string{"DATABASE_URL": url, "KAYLE_DNS_RESOLVER": dns.Addr, "KAYLE_DNS_TIMEOUT": "1s"}

			// recheck.io's record is gone: a clean miss, counted. broken.io's
			// DNS fails: nothing counted.
			dns.SetMode("_kayle-id-verification.broken.io", dnstest.ServFail)
			r := kayleid(t, env, "domains", "recheck")
			if r.code != 0 || !strings.Contains(r.stdout, "2 due: 0 confirmed, 1 missed, 0 downgraded, 0 restored, 1 lookups failed") {
				t.Fatalf("first pass: %+v", r)
			}
			// Neither is due again at once: the miss for a day, the failure
			// for an hour.
			r = kayleid(t, env, "domains", "recheck")
			if r.code != 0 || !strings.Contains(r.stdout, "0 due") {
				t.Fatalf("second pass: %+v", r)
			}
			misses := map[string]int{}
			rows, err := st.DB().Query(`SELECT apex_domain, consecutive_failed_checks FROM verified_domains`)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var apex string
				var n int
				rows.Scan(&apex, &n)
				misses[apex] = n
			}
			rows.Close()
			if misses["recheck.io"] != 1 || misses["broken.io"] != 0 {
				t.Fatalf("misses recorded: %v", misses)
			}
			// Bad flags: exit 2, nothing done.
			if r := kayleid(t, env, "domains", "recheck", "--dns-resolver", "8.8.8.8"); r.code != 2 {
				t.Fatalf("bad resolver: %+v", r)
			}
			if r := kayleid(t, env, "domains", "recheck", "--dns-timeout", "0s"); r.code != 2 {
				t.Fatalf("bad timeout: %+v", r)
			}
		})
	}
}
