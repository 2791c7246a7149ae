package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/kayle-id/orgs-api/domains"
	"github.com/kayle-id/orgs-api/internal/testdb"
	"github.com/kayle-id/orgs-api/store"
)

// fixture is a migrated store with a settable clock.
type fixture struct {
	t   *testing.T
	st  *store.Store
	mu  sync.Mutex
	off time.Duration
	n   int
}

func (f *fixture) now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return time.Now().Add(f.off)
}

func (f *fixture) advance(d time.Duration) { f.mu.Lock(); f.off += d; f.mu.Unlock() }

func newFixture(t *testing.T, kind testdb.Kind) *fixture {
	t.Helper()
	f := &fixture{t: t}
	st, err := store.Open(context.Background(), testdb.URL(t, kind), store.Options{MaxOpenConns: 16, Now: f.now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.st = st
	return f
}

func forEachKind(t *testing.T, fn func(t *testing.T, f *fixture)) {
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			fn(t, newFixture(t, kind))
		})
	}
}

// user makes a user with a session; the actor has no organization selected.
func (f *fixture) user(name string) store.Actor {
	f.t.Helper()
	f.mu.Lock()
	f.n++
	email := fmt.Sprintf("%s-%d@example.com", name, f.n)
	f.mu.Unlock()
	u, err := f.st.CreateUser(context.Background(), email, name)
	if err != nil {
		f.t.Fatal(err)
	}
	tok, err := f.st.CreateSession(context.Background(), email, nil, time.Hour*24*365)
	if err != nil {
		f.t.Fatal(err)
	}
	return store.Actor{UserID: u.ID, SessionID: tok.Session.ID}
}

// org creates an organization owned by a fresh user.
func (f *fixture) org(name string) store.Actor {
	f.t.Helper()
	a := f.user(name + "-owner")
	o, err := f.st.CreateOrganization(context.Background(), a, store.NewOrganization{Name: name, Slug: strings.ToLower(name) + uuid.NewString()[:6]})
	if err != nil {
		f.t.Fatal(err)
	}
	a.ActiveOrganizationID = &o.ID
	return a
}

// join adds a fresh user to owner's organization with role.
func (f *fixture) join(owner store.Actor, name string, role store.Role) (store.Actor, uuid.UUID) {
	f.t.Helper()
	ctx := context.Background()
	a := f.user(name)
	var email string
	if err := f.st.DB().QueryRow("SELECT email FROM users WHERE id = $1", a.UserID.String()).Scan(&email); err != nil {
		f.t.Fatal(err)
	}
	inv, err := f.st.Invite(ctx, owner, email, role)
	if err != nil {
		f.t.Fatal(err)
	}
	m, err := f.st.AcceptInvitation(ctx, a, inv.ID)
	if err != nil {
		f.t.Fatal(err)
	}
	a.ActiveOrganizationID = owner.ActiveOrganizationID
	return a, m.ID
}

// verify takes apex through a challenge to a verified domain, as if DNS
// had shown the record.
func (f *fixture) verify(a store.Actor, apex string, ack bool) store.Verification {
	f.t.Helper()
	ctx := context.Background()
	c, err := f.st.StartDNSChallenge(ctx, a, apex)
	if err != nil {
		f.t.Fatal(err)
	}
	p, err := f.st.PrepareVerification(ctx, a, c.Challenge.ID, ack)
	if err != nil {
		f.t.Fatal(err)
	}
	v, err := f.st.CompleteVerification(ctx, a, p)
	if err != nil {
		f.t.Fatal(err)
	}
	return v
}

func (f *fixture) events(a store.Actor) map[string][]store.AuditEntry {
	f.t.Helper()
	rows, _, err := f.st.ListAuditLogs(context.Background(), a, store.AuditFilter{}, store.Page{Limit: 100})
	if err != nil {
		f.t.Fatal(err)
	}
	out := map[string][]store.AuditEntry{}
	for _, r := range rows {
		out[r.Event] = append(out[r.Event], r)
	}
	return out
}

func wantErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("got %v, want %v", err, want)
	}
}

func TestDomainChallengeGates(t *testing.T) {
	forEachKind(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		owner := f.org("Acme")
		admin, _ := f.join(owner, "admin", store.RoleAdmin)
		member, _ := f.join(owner, "member", store.RoleMember)
		owner2, owner2ID := f.join(owner, "owner2", store.RoleOwner)
		noOrg := f.user("nobody")

		_, err := f.st.StartDNSChallenge(ctx, noOrg, "acme.co")
		wantErr(t, err, store.ErrNoActiveOrganization)
		for _, a := range []store.Actor{admin, member} {
			_, err = f.st.StartDNSChallenge(ctx, a, "acme.co")
			wantErr(t, err, store.ErrForbidden)
			// Not an owner: refused before the host is even looked at.
			_, err = f.st.StartDNSChallenge(ctx, a, "not a host")
			wantErr(t, err, store.ErrForbidden)
		}
		// A suspended owner is no owner.
		if _, err := f.st.Suspend(ctx, owner, owner2ID); err != nil {
			t.Fatal(err)
		}
		_, err = f.st.StartDNSChallenge(ctx, owner2, "acme.co")
		wantErr(t, err, store.ErrForbidden)

		// The host rules come after the owner check, with upstream's words.
		_, err = f.st.StartDNSChallenge(ctx, owner, "co.uk")
		var he *domains.HostError
		if !errors.As(err, &he) || he.Message != "Hostname is itself a public suffix; an organization cannot own it." {
			t.Fatalf("public suffix: %v", err)
		}

		// Subdomains are reduced to the apex; the audit row keeps the input.
		c, err := f.st.StartDNSChallenge(ctx, owner, "App.Acme.CO")
		if err != nil {
			t.Fatal(err)
		}
		if c.Challenge.ApexDomain != "acme.co" || c.Challenge.RecordName() != "_kayle-id-verification.acme.co" ||
			c.Conflict != nil || !domains.ValidToken(c.Challenge.Token) || c.Challenge.RecordValue() != "kayle-id-verification="+c.Challenge.Token {
			t.Fatalf("challenge: %+v", c)
		}
		if got := c.Challenge.ExpiresAt.Sub(c.Challenge.CreatedAt); got != 7*24*time.Hour {
			t.Fatalf("expires after %s", got)
		}
		started := f.events(owner)[store.EventDomainChallengeStarted]
		if len(started) != 1 || started[0].Metadata["apex_domain"] != "App.Acme.CO" || started[0].Metadata["has_conflict"] != false ||
			started[0].Metadata["method"] != "dns_txt" || *started[0].TargetID != c.Challenge.ID.String() {
			t.Fatalf("audit: %+v", started)
		}

		// Starting again replaces the challenge: the old id is gone.
		again, err := f.st.StartDNSChallenge(ctx, owner, "acme.co")
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.st.PrepareVerification(ctx, owner, c.Challenge.ID, false)
		wantErr(t, err, store.ErrChallengeNotFound)
		if again.Challenge.Token == c.Challenge.Token {
			t.Fatal("a new challenge reused the token")
		}
		// Another organization's challenge id looks unknown.
		other := f.org("Other")
		_, err = f.st.PrepareVerification(ctx, other, again.Challenge.ID, false)
		wantErr(t, err, store.ErrChallengeNotFound)

		// Listed until it expires; expired at expires_at + 1µs, not before.
		_, cs, err := f.st.ListDomains(ctx, member)
		if err != nil || len(cs) != 1 || cs[0].ID != again.Challenge.ID {
			t.Fatalf("list: %+v %v", cs, err)
		}
		f.advance(7*24*time.Hour - time.Minute)
		if _, err := f.st.PrepareVerification(ctx, owner, again.Challenge.ID, false); err != nil {
			t.Fatalf("before expiry: %v", err)
		}
		f.advance(2 * time.Minute)
		_, err = f.st.PrepareVerification(ctx, owner, again.Challenge.ID, false)
		wantErr(t, err, store.ErrChallengeExpired)
		_, cs, _ = f.st.ListDomains(ctx, owner)
		if len(cs) != 0 {
			t.Fatalf("expired challenge listed: %+v", cs)
		}

		// Frozen: 410 before anything else, also for a non-owner.
		freeze(t, f, owner)
		_, err = f.st.StartDNSChallenge(ctx, member, "not a host")
		wantErr(t, err, store.ErrOrganizationFrozen)
		_, err = f.st.PrepareVerification(ctx, owner, again.Challenge.ID, false)
		wantErr(t, err, store.ErrOrganizationFrozen)
		// Lists still work while frozen.
		if _, _, err := f.st.ListDomains(ctx, member); err != nil {
			t.Fatal(err)
		}
		// A suspended member does not see the lists.
		_, _, err = f.st.ListDomains(ctx, owner2)
		wantErr(t, err, store.ErrNotMember)
		_, err = f.st.ListRedirectURIs(ctx, owner2)
		wantErr(t, err, store.ErrNotMember)
		_, _, err = f.st.ListDomains(ctx, noOrg)
		wantErr(t, err, store.ErrNoActiveOrganization)
	})
}

// freeze schedules the organization's deletion.
func freeze(t *testing.T, f *fixture, owner store.Actor) {
	t.Helper()
	ctx := context.Background()
	var code string
	if _, err := f.st.RequestDeletion(ctx, owner, *owner.ActiveOrganizationID, func(_ context.Context, dr store.DeletionRequest) error {
		code = dr.Code
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.ConfirmDeletion(ctx, owner, *owner.ActiveOrganizationID, code); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyAndTakeover(t *testing.T) {
	forEachKind(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		first := f.org("First")
		firstOwner2, _ := f.join(first, "second-owner", store.RoleOwner)
		_, suspendedID := f.join(first, "gone-owner", store.RoleOwner)
		if _, err := f.st.Suspend(ctx, first, suspendedID); err != nil {
			t.Fatal(err)
		}
		f.join(first, "an-admin", store.RoleAdmin)
		winner := f.org("Winner")

		v := f.verify(first, "acme.co", false)
		if v.TakeoverFrom != nil || v.Domain.ApexDomain != "acme.co" || !v.Domain.Active() || v.Domain.LastCheckedAt == nil {
			t.Fatalf("first verification: %+v", v)
		}
		// Re-verifying one's own apex refreshes the same row.
		again := f.verify(first, "www.acme.co", true)
		if again.Domain.ID != v.Domain.ID || again.TakeoverFrom != nil || again.Domain.RecheckToken == v.Domain.RecheckToken {
			t.Fatalf("re-verification: %+v", again)
		}
		uri, created, err := f.st.AddRedirectURI(ctx, first, "https://app.acme.co/cb")
		if err != nil || !created {
			t.Fatal(err)
		}
		if ok, _ := f.st.RedirectAllowed(ctx, *first.ActiveOrganizationID, "https://app.acme.co/cb?x=1"); !ok {
			t.Fatal("the holder's redirect URI does not work")
		}

		// Another organization: start reports the conflict, verify wants
		// the takeover acknowledged (before any DNS lookup).
		c, err := f.st.StartDNSChallenge(ctx, winner, "acme.co")
		if err != nil || c.Conflict == nil || c.Conflict.Name != "First" {
			t.Fatalf("conflict: %+v %v", c, err)
		}
		_, err = f.st.PrepareVerification(ctx, winner, c.Challenge.ID, false)
		var tr *store.TakeoverRequiredError
		if !errors.As(err, &tr) || tr.Holder.Name != "First" || tr.Holder.ID != *first.ActiveOrganizationID || !errors.Is(err, store.ErrTakeoverRequired) {
			t.Fatalf("takeover without acknowledgement: %v", err)
		}
		p, err := f.st.PrepareVerification(ctx, winner, c.Challenge.ID, true)
		if err != nil {
			t.Fatal(err)
		}
		w, err := f.st.CompleteVerification(ctx, winner, p)
		if err != nil {
			t.Fatal(err)
		}
		if w.TakeoverFrom == nil || w.TakeoverFrom.Name != "First" || w.Domain.OrganizationID != *winner.ActiveOrganizationID {
			t.Fatalf("takeover: %+v", w)
		}
		// The loser's row is downgraded and its redirect URIs stop at once,
		// though they stay listed.
		ds, _, _ := f.st.ListDomains(ctx, first)
		if len(ds) != 1 || ds[0].Active() {
			t.Fatalf("loser's domains: %+v", ds)
		}
		if ok, _ := f.st.RedirectAllowed(ctx, *first.ActiveOrganizationID, "https://app.acme.co/cb"); ok {
			t.Fatal("the loser's redirect URI still works")
		}
		if uris, _ := f.st.ListRedirectURIs(ctx, first); len(uris) != 1 || uris[0].ID != uri.ID {
			t.Fatalf("loser's redirect URIs: %+v", uris)
		}
		// The loser can no longer add patterns on it.
		_, _, err = f.st.AddRedirectURI(ctx, first, "https://other.acme.co/")
		wantErr(t, err, store.ErrNoVerifiedDomain)
		// The winner's domain has no patterns yet: any URL on it is allowed.
		if ok, _ := f.st.RedirectAllowed(ctx, *winner.ActiveOrganizationID, "https://app.acme.co/anything"); !ok {
			t.Fatal("the winner's domain does not allow redirects")
		}

		// The loser has an audit row, and mail for each active owner (not the
		// suspended owner, not the admin), written with the transfer.
		lost := f.events(first)[store.EventDomainTransferred]
		if len(lost) != 1 || lost[0].ActorType != "system" || lost[0].ActorUserID != nil || lost[0].Metadata["to_organization_name"] != "Winner" ||
			lost[0].Metadata["apex_domain"] != "acme.co" || *lost[0].TargetID != v.Domain.ID.String() {
			t.Fatalf("loser's audit: %+v", lost)
		}
		mail, err := f.st.PendingMail(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var to []string
		for _, m := range mail {
			if m.Kind != store.NoticeDomainTransferred || m.Data["apex_domain"] != "acme.co" || m.Data["to_organization_name"] != "Winner" {
				t.Fatalf("mail: %+v", m)
			}
			to = append(to, m.Recipient)
		}
		if len(to) != 2 || !strings.HasPrefix(to[0], "first-owner-") && !strings.HasPrefix(to[1], "first-owner-") ||
			!strings.HasPrefix(to[0], "second-owner-") && !strings.HasPrefix(to[1], "second-owner-") {
			t.Fatalf("mail recipients: %v", to)
		}
		verified := f.events(winner)[store.EventDomainVerified]
		if len(verified) != 1 || verified[0].Metadata["takeover_from_organization_id"] != first.ActiveOrganizationID.String() {
			t.Fatalf("winner's audit: %+v", verified)
		}
		firstVerified := f.events(firstOwner2)[store.EventDomainVerified]
		if len(firstVerified) != 2 || firstVerified[0].Metadata["takeover_from_organization_id"] != nil {
			t.Fatalf("first's audit: %+v", firstVerified)
		}

		// Taking it back needs the acknowledgement too, and revives the
		// same row, with its redirect URI.
		c, _ = f.st.StartDNSChallenge(ctx, first, "acme.co")
		_, err = f.st.PrepareVerification(ctx, first, c.Challenge.ID, false)
		wantErr(t, err, store.ErrTakeoverRequired)
		back := f.verify(first, "acme.co", true)
		if back.Domain.ID != v.Domain.ID || back.TakeoverFrom == nil || back.TakeoverFrom.Name != "Winner" {
			t.Fatalf("taken back: %+v", back)
		}
		if ok, _ := f.st.RedirectAllowed(ctx, *first.ActiveOrganizationID, "https://app.acme.co/cb"); !ok {
			t.Fatal("the revived domain's redirect URI does not work")
		}

		// Deleting the domain frees the apex; the winner's downgraded row is
		// not revived.
		wantErr(t, f.st.DeleteDomain(ctx, winner, back.Domain.ID), store.ErrDomainNotFound)
		if err := f.st.DeleteDomain(ctx, first, back.Domain.ID); err != nil {
			t.Fatal(err)
		}
		wantErr(t, f.st.DeleteDomain(ctx, first, back.Domain.ID), store.ErrDomainNotFound)
		if uris, _ := f.st.ListRedirectURIs(ctx, first); len(uris) != 0 {
			t.Fatalf("redirect URIs outlived their domain: %+v", uris)
		}
		ds, _, _ = f.st.ListDomains(ctx, winner)
		if len(ds) != 1 || ds[0].Active() {
			t.Fatalf("winner's row: %+v", ds)
		}
		removed := f.events(first)[store.EventDomainRemoved]
		if len(removed) != 1 || removed[0].Metadata["apex_domain"] != "acme.co" {
			t.Fatalf("removed audit: %+v", removed)
		}
	})
}

// The state may change while DNS is being asked: the final write checks
// again under the lock.
func TestVerifyRechecksAfterLookup(t *testing.T) {
	forEachKind(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		a, b := f.org("A"), f.org("B")
		ca, _ := f.st.StartDNSChallenge(ctx, a, "race.io")
		cb, _ := f.st.StartDNSChallenge(ctx, b, "race.io")

		// Replaced during the lookup: the old token proves nothing.
		pa, err := f.st.PrepareVerification(ctx, a, ca.Challenge.ID, false)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.st.StartDNSChallenge(ctx, a, "race.io"); err != nil {
			t.Fatal(err)
		}
		_, err = f.st.CompleteVerification(ctx, a, pa)
		wantErr(t, err, store.ErrChallengeNotFound)

		// Another organization verified during the lookup: the takeover
		// must be acknowledged after all.
		pb, _ := f.st.PrepareVerification(ctx, b, cb.Challenge.ID, false)
		f.verify(a, "race.io", false)
		_, err = f.st.CompleteVerification(ctx, b, pb)
		wantErr(t, err, store.ErrTakeoverRequired)

		// Demoted during the lookup.
		c := f.org("C")
		cc, _ := f.st.StartDNSChallenge(ctx, c, "cee.io")
		pc, _ := f.st.PrepareVerification(ctx, c, cc.Challenge.ID, false)
		c2, c2ID := f.join(c, "c2", store.RoleOwner)
		cm := f.memberIDOf(c, c)
		if _, err := f.st.ChangeRole(ctx, c2, cm, store.RoleMember); err != nil {
			t.Fatal(err)
		}
		_ = c2ID
		_, err = f.st.CompleteVerification(ctx, c, pc)
		wantErr(t, err, store.ErrForbidden)
	})
}

func (f *fixture) memberIDOf(caller, who store.Actor) uuid.UUID {
	f.t.Helper()
	ms, _, err := f.st.ListMembers(context.Background(), caller, store.Page{Limit: 100})
	if err != nil {
		f.t.Fatal(err)
	}
	for _, m := range ms {
		if m.UserID == who.UserID && m.Active() {
			return m.ID
		}
	}
	f.t.Fatal("no membership")
	return uuid.Nil
}

// Organizations verifying the same apex at the same moment: exactly one
// holds it; the others are asked to acknowledge a takeover. Nothing fails.
func TestConcurrentVerification(t *testing.T) {
	forEachKind(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		const n, trials = 6, 8
		var actors []store.Actor
		for i := 0; i < n; i++ {
			actors = append(actors, f.org(fmt.Sprintf("Racer%d", i)))
		}
		for trial := 0; trial < trials; trial++ {
			apex := fmt.Sprintf("contested%d.io", trial)
			pending := make([]store.PendingVerification, n)
			for i, a := range actors {
				c, err := f.st.StartDNSChallenge(ctx, a, apex)
				if err != nil {
					t.Fatal(err)
				}
				if pending[i], err = f.st.PrepareVerification(ctx, a, c.Challenge.ID, false); err != nil {
					t.Fatal(err)
				}
			}
			errs := make([]error, n)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range actors {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					<-start
					_, errs[i] = f.st.CompleteVerification(ctx, actors[i], pending[i])
				}(i)
			}
			close(start)
			wg.Wait()
			won := 0
			for i, err := range errs {
				switch {
				case err == nil:
					won++
				case errors.Is(err, store.ErrTakeoverRequired):
				default:
					t.Errorf("trial %d, racer %d: %v", trial, i, err)
				}
			}
			if won != 1 {
				t.Fatalf("trial %d: %d organizations hold the apex", trial, won)
			}
		}
	})
}

func TestRedirectURIs(t *testing.T) {
	forEachKind(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		owner := f.org("Acme")
		admin, _ := f.join(owner, "admin", store.RoleAdmin)
		noOrg := f.user("nobody")

		var pe *domains.PatternError
		var he *domains.HostError
		// Pattern syntax first, even without an organization.
		_, _, err := f.st.AddRedirectURI(ctx, noOrg, "http://acme.co/")
		if !errors.As(err, &pe) || pe.Message != "Must be an https:// URL with no embedded credentials." {
			t.Fatalf("http: %v", err)
		}
		_, _, err = f.st.AddRedirectURI(ctx, noOrg, "https://acme.co/")
		wantErr(t, err, store.ErrNoActiveOrganization)
		// The host before the owner check: an admin with a bad host gets the host error.
		_, _, err = f.st.AddRedirectURI(ctx, admin, "https://localhost/")
		if !errors.As(err, &he) || he.Message != "Hostname must have at least two labels." {
			t.Fatalf("localhost: %v", err)
		}
		_, _, err = f.st.AddRedirectURI(ctx, admin, "https://app.acme.co/")
		wantErr(t, err, store.ErrForbidden)
		// No verified domain covers it.
		_, _, err = f.st.AddRedirectURI(ctx, owner, "https://app.acme.co/")
		wantErr(t, err, store.ErrNoVerifiedDomain)
		_, _, err = f.st.AddRedirectURI(ctx, owner, "https://127.0.0.1/")
		wantErr(t, err, store.ErrNoVerifiedDomain)

		d := f.verify(owner, "acme.co", false)
		first, created, err := f.st.AddRedirectURI(ctx, owner, "HTTPS://App.Acme.co:443/Callback")
		if err != nil || !created || first.Pattern != "https://app.acme.co/Callback" || first.ApexDomain != "acme.co" || first.VerifiedDomainID != d.Domain.ID {
			t.Fatalf("add: %+v %v", first, err)
		}
		// The same pattern, spelled differently: the existing one, no audit row.
		dup, created, err := f.st.AddRedirectURI(ctx, owner, " https://app.acme.co./Callback ")
		if err != nil || created || dup.ID != first.ID || !dup.CreatedAt.Equal(first.CreatedAt) {
			t.Fatalf("duplicate: %+v %v", dup, err)
		}
		if n := len(f.events(owner)[store.EventRedirectURIAdded]); n != 1 {
			t.Fatalf("%d redirect_uri.added rows", n)
		}
		// The stored pattern means what it obviously meant.
		for target, want := range map[string]bool{
			"https://app.acme.co/Callback":          true,
			"https://APP.ACME.CO:443/Callback?c=1":  true,
			"https://app.acme.co/other":             false,
			"https://app.acme.co.evil.io/Callback":  false,
			"https://evil.io/Callback":              false,
			"https://sub.app.acme.co/Callback":      false,
			"http://app.acme.co/Callback":           false,
			"https://app.acme.co/Callback/../admin": false,
		} {
			if got, err := f.st.RedirectAllowed(ctx, *owner.ActiveOrganizationID, target); err != nil || got != want {
				t.Errorf("%s: allowed %v, want %v (%v)", target, got, want, err)
			}
		}

		// At most MaxRedirectURIs per organization.
		for i := 1; i < domains.MaxRedirectURIs; i++ {
			if _, _, err := f.st.AddRedirectURI(ctx, owner, fmt.Sprintf("https://acme.co/cb%d", i)); err != nil {
				t.Fatal(err)
			}
		}
		_, _, err = f.st.AddRedirectURI(ctx, owner, "https://acme.co/one-too-many")
		wantErr(t, err, store.ErrRedirectURILimit)
		// A duplicate at the limit is still the existing one.
		if _, _, err := f.st.AddRedirectURI(ctx, owner, "https://acme.co/cb1"); err != nil {
			t.Fatal(err)
		}
		list, err := f.st.ListRedirectURIs(ctx, admin)
		if err != nil || len(list) != domains.MaxRedirectURIs || list[len(list)-1].ID != first.ID {
			t.Fatalf("list: %d %v", len(list), err)
		}

		// Removal: the organization's own only.
		other := f.org("Other")
		wantErr(t, f.st.DeleteRedirectURI(ctx, other, first.ID), store.ErrRedirectURINotFound)
		wantErr(t, f.st.DeleteRedirectURI(ctx, admin, first.ID), store.ErrForbidden)
		if err := f.st.DeleteRedirectURI(ctx, owner, first.ID); err != nil {
			t.Fatal(err)
		}
		wantErr(t, f.st.DeleteRedirectURI(ctx, owner, first.ID), store.ErrRedirectURINotFound)
		removed := f.events(owner)[store.EventRedirectURIRemoved]
		if len(removed) != 1 || removed[0].Metadata["pattern"] != "https://app.acme.co/Callback" {
			t.Fatalf("removed audit: %+v", removed)
		}

		// Frozen: refused before the host check.
		freeze(t, f, owner)
		_, _, err = f.st.AddRedirectURI(ctx, owner, "https://localhost/")
		wantErr(t, err, store.ErrOrganizationFrozen)
		wantErr(t, f.st.DeleteRedirectURI(ctx, owner, uuid.New()), store.ErrOrganizationFrozen)
	})
}

func TestDomainRateLimits(t *testing.T) {
	forEachKind(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		a := f.org("Busy")
		var last store.StartedChallenge
		for i := 0; i < store.ChallengeStartLimit.Max; i++ {
			c, err := f.st.StartDNSChallenge(ctx, a, fmt.Sprintf("d%d.io", i))
			if err != nil {
				t.Fatalf("start %d: %v", i, err)
			}
			last = c
		}
		_, err := f.st.StartDNSChallenge(ctx, a, "one-more.io")
		var rl *store.RateLimitedError
		if !errors.As(err, &rl) || !errors.Is(err, store.ErrRateLimited) || rl.RetryAfter <= 0 || rl.RetryAfter > time.Hour {
			t.Fatalf("over the limit: %v", err)
		}
		// Another organization has its own allowance.
		if _, err := f.st.StartDNSChallenge(ctx, f.org("Calm"), "calm.io"); err != nil {
			t.Fatal(err)
		}
		// Verification attempts are counted apart, and a refused one
		// changes nothing.
		for i := 0; i < store.VerifyAttemptLimit.Max; i++ {
			if _, err := f.st.PrepareVerification(ctx, a, last.Challenge.ID, false); err != nil {
				t.Fatalf("attempt %d: %v", i, err)
			}
		}
		_, err = f.st.PrepareVerification(ctx, a, last.Challenge.ID, false)
		wantErr(t, err, store.ErrRateLimited)
		// A new window, a new allowance.
		f.advance(time.Hour)
		if _, err := f.st.PrepareVerification(ctx, a, last.Challenge.ID, false); err != nil {
			t.Fatal(err)
		}
		if _, err := f.st.StartDNSChallenge(ctx, a, "one-more.io"); err != nil {
			t.Fatal(err)
		}
	})
}

func TestRecheck(t *testing.T) {
	forEachKind(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		a := f.org("Acme")
		keep := f.verify(a, "keep.io", false)
		lose := f.verify(a, "lose.io", false)
		due := func() map[string]store.RecheckItem {
			t.Helper()
			items, err := f.st.DueRechecks(ctx, store.RecheckBatchSize)
			if err != nil {
				t.Fatal(err)
			}
			out := map[string]store.RecheckItem{}
			for _, it := range items {
				out[it.ApexDomain] = it
			}
			return out
		}
		if len(due()) != 0 {
			t.Fatal("just-verified domains are due")
		}
		record := func(it store.RecheckItem, p domains.Proof, want store.RecheckOutcome) {
			t.Helper()
			got, err := f.st.RecordRecheck(ctx, it, p)
			if err != nil || got != want {
				t.Fatalf("%s: outcome %d %v, want %d", it.ApexDomain, got, err, want)
			}
		}
		for day := 1; day <= 3; day++ {
			f.advance(24 * time.Hour)
			items := due()
			if len(items) != 2 {
				t.Fatalf("day %d: %d due", day, len(items))
			}
			record(items["keep.io"], domains.Match, store.RecheckUnchanged)
			want := store.RecheckMissed
			if day == 3 {
				want = store.RecheckDowngraded
			}
			// The first day's miss is a wrong value, the next ones no record.
			proof := domains.NoRecord
			if day == 1 {
				proof = domains.Mismatch
			}
			record(items["lose.io"], proof, want)
			// The same listing recorded twice (another replica) counts once.
			record(items["lose.io"], proof, store.RecheckStale)
		}
		ds, _, _ := f.st.ListDomains(ctx, a)
		for _, d := range ds {
			if (d.ID == keep.Domain.ID) != d.Active() {
				t.Fatalf("after three days: %+v", d)
			}
			if d.ID == lose.Domain.ID && d.ConsecutiveFailedChecks != 3 {
				t.Fatalf("misses: %d", d.ConsecutiveFailedChecks)
			}
		}
		ev := f.events(a)[store.EventDomainDowngraded]
		if len(ev) != 1 || ev[0].ActorType != "system" || ev[0].Metadata["apex_domain"] != "lose.io" ||
			ev[0].Metadata["consecutive_failed_checks"] != float64(3) {
			t.Fatalf("downgrade audit: %+v", ev)
		}
		mail, _ := f.st.PendingMail(ctx)
		if len(mail) != 1 || mail[0].Kind != store.NoticeDomainDowngraded || mail[0].Data["record_name"] != "_kayle-id-verification.lose.io" ||
			mail[0].Data["record_value"] != "kayle-id-verification="+lose.Domain.RecheckToken {
			t.Fatalf("downgrade mail: %+v", mail)
		}

		// A downgraded domain is checked again; a further miss changes nothing
		// but the count, and the record coming back restores it.
		f.advance(24 * time.Hour)
		record(due()["lose.io"], domains.NoRecord, store.RecheckMissed)
		f.advance(24 * time.Hour)
		record(due()["lose.io"], domains.Match, store.RecheckRestored)
		ds, _, _ = f.st.ListDomains(ctx, a)
		for _, d := range ds {
			if !d.Active() || d.ConsecutiveFailedChecks != 0 {
				t.Fatalf("restored: %+v", d)
			}
		}
		if n := len(f.events(a)[store.EventDomainRestored]); n != 1 {
			t.Fatalf("%d restore rows", n)
		}

		// A lookup that got no answer changes nothing but sends the domain
		// to the back of the queue, to be tried again an hour later.
		f.advance(24 * time.Hour)
		items := due()
		if len(items) != 2 {
			t.Fatalf("%d due", len(items))
		}
		if err := f.st.RecordRecheckFailure(ctx, items["keep.io"]); err != nil {
			t.Fatal(err)
		}
		if _, ok := due()["keep.io"]; ok {
			t.Fatal("a failed lookup is retried at once")
		}
		f.advance(time.Hour)
		list, _ := f.st.DueRechecks(ctx, store.RecheckBatchSize)
		if len(list) != 2 || list[0].ApexDomain != "lose.io" || list[1].ApexDomain != "keep.io" {
			t.Fatalf("after a failed lookup, the queue is %+v", list)
		}
		record(list[1], domains.Match, store.RecheckUnchanged) // the failure did not make it stale
		record(list[0], domains.Match, store.RecheckUnchanged)

		// Restored only while nobody else holds the apex.
		f.advance(24 * time.Hour)
		for i := 0; i < 3; i++ {
			record(due()["lose.io"], domains.NoRecord, []store.RecheckOutcome{store.RecheckMissed, store.RecheckMissed, store.RecheckDowngraded}[i])
			f.advance(24 * time.Hour)
		}
		f.verify(f.org("Taker"), "lose.io", false)
		f.advance(24 * time.Hour)
		record(due()["lose.io"], domains.Match, store.RecheckUnchanged)
		ds, _, _ = f.st.ListDomains(ctx, a)
		for _, d := range ds {
			if d.ApexDomain == "lose.io" && d.Active() {
				t.Fatal("restored over another organization's active hold")
			}
		}

		// A domain re-verified since it was listed is left alone.
		f.advance(24 * time.Hour)
		it := due()["keep.io"]
		f.verify(a, "keep.io", false)
		record(it, domains.NoRecord, store.RecheckStale)
	})
}

func TestMailOutbox(t *testing.T) {
	forEachKind(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		first := f.org("First")
		f.verify(first, "acme.co", false)
		f.verify(f.org("Second"), "acme.co", true) // mails First's owner
		got, err := f.st.ClaimMail(ctx, 10)
		if err != nil || len(got) != 1 || got[0].Attempts != 1 {
			t.Fatalf("claim: %+v %v", got, err)
		}
		// Leased: another sender gets nothing meanwhile.
		if again, err := f.st.ClaimMail(ctx, 10); err != nil || len(again) != 0 {
			t.Fatalf("claimed twice: %+v %v", again, err)
		}
		// A failure comes back after a backoff, until it gives up.
		m := got[0]
		for attempt := 1; ; attempt++ {
			gaveUp, err := f.st.MailFailed(ctx, m, errors.New("smtp: 451 try later"))
			if err != nil {
				t.Fatal(err)
			}
			if gaveUp {
				if attempt != store.MailMaxAttempts {
					t.Fatalf("gave up after %d attempts", attempt)
				}
				break
			}
			if now, _ := f.st.ClaimMail(ctx, 10); len(now) != 0 {
				t.Fatalf("retried before its backoff (attempt %d)", attempt)
			}
			f.advance(time.Minute << (attempt - 1))
			next, err := f.st.ClaimMail(ctx, 10)
			if err != nil || len(next) != 1 || next[0].Attempts != attempt+1 {
				t.Fatalf("attempt %d: %+v %v", attempt+1, next, err)
			}
			m = next[0]
		}
		f.advance(48 * time.Hour)
		if now, _ := f.st.ClaimMail(ctx, 10); len(now) != 0 {
			t.Fatal("a failed notice was claimed again")
		}
		pending, _ := f.st.PendingMail(ctx)
		if len(pending) != 1 || pending[0].FailedAt == nil || pending[0].LastError == nil || *pending[0].LastError != "smtp: 451 try later" {
			t.Fatalf("failed notice: %+v", pending)
		}

		// Delivered notices are removed.
		f.verify(first, "acme.co", true)
		claimed, _ := f.st.ClaimMail(ctx, 10)
		if len(claimed) != 1 {
			t.Fatalf("claimed %d", len(claimed))
		}
		if err := f.st.MailDelivered(ctx, claimed[0].ID); err != nil {
			t.Fatal(err)
		}
		if pending, _ := f.st.PendingMail(ctx); len(pending) != 1 {
			t.Fatalf("%d notices left", len(pending))
		}
		// A lease that ran out (a sender that died) frees the notice.
		f.verify(f.org("Third"), "acme.co", true)
		if c, _ := f.st.ClaimMail(ctx, 10); len(c) != 1 {
			t.Fatal("no notice for the second loser")
		}
		f.advance(3 * time.Minute)
		if c, _ := f.st.ClaimMail(ctx, 10); len(c) != 1 || c[0].Attempts != 2 {
			t.Fatalf("expired lease: %+v", c)
		}
	})
}

// A delivery error is kept as text PostgreSQL can hold, whatever the mail
// server answered: a long error is cut on a character boundary, NUL and
// bytes that are not UTF-8 go, so the failure is recorded and the notice
// backs off instead of being tried again at once, forever. A notice never
// claimed (no attempt counted) backs off as after one.
func TestMailFailedKeepsText(t *testing.T) {
	forEachKind(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		f.verify(f.org("Loser"), "text.co", false)
		f.verify(f.org("Winner"), "text.co", true)
		got, err := f.st.ClaimMail(ctx, 10)
		if err != nil || len(got) != 1 {
			t.Fatalf("claim: %+v %v", got, err)
		}
		// "x" puts every 2-byte character across an even offset: byte 1000
		// is the middle of one.
		answer := "smtp: 554 \x00\xff x" + strings.Repeat("é", 600)
		if _, err := f.st.MailFailed(ctx, got[0], errors.New(answer)); err != nil {
			t.Fatalf("recording a long multi-byte error: %v", err)
		}
		pending, err := f.st.PendingMail(ctx)
		if err != nil || len(pending) != 1 || pending[0].LastError == nil {
			t.Fatalf("pending: %+v %v", pending, err)
		}
		kept := *pending[0].LastError
		want := "smtp: 554 \uFFFD x" + strings.Repeat("é", 600)
		if !utf8.ValidString(kept) || len(kept) > 1000 || len(kept) < 999 || !strings.HasPrefix(want, kept) {
			t.Fatalf("kept %d bytes: %.40q…", len(kept), kept)
		}
		if again, _ := f.st.ClaimMail(ctx, 10); len(again) != 0 {
			t.Fatal("the failed notice was due again at once")
		}

		m := pending[0]
		m.Attempts = 0
		if gaveUp, err := f.st.MailFailed(ctx, m, errors.New("smtp: 451")); err != nil || gaveUp {
			t.Fatalf("a failure with no attempt counted: gave up %v, %v", gaveUp, err)
		}
		f.advance(time.Minute - time.Second)
		if early, _ := f.st.ClaimMail(ctx, 10); len(early) != 0 {
			t.Fatal("claimed before a minute's backoff")
		}
		f.advance(time.Second)
		if due, _ := f.st.ClaimMail(ctx, 10); len(due) != 1 {
			t.Fatalf("not due after a minute: %d", len(due))
		}
	})
}

// Purging an organization takes its domains, challenges and redirect URIs.
func TestPurgeTakesDomains(t *testing.T) {
	forEachKind(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		a := f.org("Doomed")
		f.verify(a, "doomed.io", false)
		if _, _, err := f.st.AddRedirectURI(ctx, a, "https://doomed.io/cb"); err != nil {
			t.Fatal(err)
		}
		if _, err := f.st.StartDNSChallenge(ctx, a, "pending.io"); err != nil {
			t.Fatal(err)
		}
		freeze(t, f, a)
		f.advance(49 * time.Hour)
		if res, err := f.st.PurgeDue(ctx, nil); err != nil || res.Organizations != 1 {
			t.Fatalf("purge: %+v %v", res, err)
		}
		for _, table := range []string{"verified_domains", "domain_challenges", "redirect_uris", "organization_rate_windows"} {
			var n int
			if err := f.st.DB().QueryRow("SELECT COUNT(*) FROM " + table).Scan(&n); err != nil || n != 0 {
				t.Errorf("%s: %d rows left (%v)", table, n, err)
			}
		}
		// The apex is free for anyone.
		f.verify(f.org("Heir"), "doomed.io", false)
	})
}
