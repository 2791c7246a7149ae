package store_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kayle-id/orgs-api/internal/testdb"
	"github.com/kayle-id/orgs-api/store"
	"github.com/kayle-id/orgs-api/terms"
)

// team is an organization with an owner, an admin, a member, a suspended
// admin and an outsider, all as store actors.
type team struct {
	st                                        *store.Store
	org                                       uuid.UUID
	owner, admin, member, suspended, outsider store.Actor
}

var userSeq struct {
	sync.Mutex
	n int
}

func newUser(t *testing.T, st *store.Store, name string) store.Actor {
	t.Helper()
	userSeq.Lock()
	userSeq.n++
	n := userSeq.n
	userSeq.Unlock()
	u, err := st.CreateUser(context.Background(), fmt.Sprintf("%s-%d@example.com", name, n), name)
	if err != nil {
		t.Fatal(err)
	}
	return store.Actor{UserID: u.ID, SessionID: uuid.New()}
}

func newTeam(t *testing.T, st *store.Store, slug string) team {
	t.Helper()
	ctx := context.Background()
	tm := team{st: st, owner: newUser(t, st, "owner"), outsider: newUser(t, st, "outsider")}
	org, err := st.CreateOrganization(ctx, tm.owner, store.NewOrganization{Name: "Org " + slug, Slug: slug})
	if err != nil {
		t.Fatal(err)
	}
	tm.org = org.ID
	tm.owner.ActiveOrganizationID = &tm.org
	tm.outsider.ActiveOrganizationID = &tm.org // a session pointing at an organization it has no part in
	tm.admin = tm.join(t, "admin", store.RoleAdmin)
	tm.member = tm.join(t, "member", store.RoleMember)
	tm.suspended = tm.join(t, "suspended", store.RoleAdmin)
	if _, err := st.Leave(ctx, tm.suspended); err != nil {
		t.Fatal(err)
	}
	return tm
}

func (tm team) join(t *testing.T, name string, role store.Role) store.Actor {
	t.Helper()
	ctx := context.Background()
	a := newUser(t, tm.st, name)
	var email string
	if err := tm.st.DB().QueryRow("SELECT email FROM users WHERE id = $1", a.UserID.String()).Scan(&email); err != nil {
		t.Fatal(err)
	}
	inv, err := tm.st.Invite(ctx, tm.owner, email, role)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tm.st.AcceptInvitation(ctx, a, inv.ID); err != nil {
		t.Fatal(err)
	}
	a.ActiveOrganizationID = &tm.org
	return a
}

func (tm team) freeze(t *testing.T) {
	t.Helper()
	if _, err := tm.st.DB().Exec("UPDATE organizations SET pending_deletion_at = $1 WHERE id = $2", "2999-01-01T00:00:00.000000Z", tm.org.String()); err != nil {
		t.Fatal(err)
	}
}

func (tm team) auditCount(t *testing.T, event string) int {
	t.Helper()
	var n int
	if err := tm.st.DB().QueryRow("SELECT COUNT(*) FROM audit_logs WHERE organization_id = $1 AND event = $2", tm.org.String(), event).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func migrated(t *testing.T, kind testdb.Kind, opts store.Options) *store.Store {
	t.Helper()
	if opts.MaxOpenConns == 0 {
		opts.MaxOpenConns = 16
	}
	st, err := store.Open(context.Background(), testdb.URL(t, kind), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return st
}

func wantStoreErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got %v, want %v", what, err, want)
	}
}

var keyShape = regexp.MustCompile(`^kk_[a-z0-9]{32}$`)

func TestAPIKeys(t *testing.T) {
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := migrated(t, kind, store.Options{})
			tm := newTeam(t, st, "keys")
			other := newTeam(t, st, "keys-other")
			noOrg := newUser(t, st, "noorg")

			// Who may: owners and admins with an active membership.
			in := store.NewAPIKey{Name: "  Production\u00a0", Permissions: []string{"sessions:read", "sessions:write", "sessions:read"}, Metadata: map[string]any{"team": "payments", "tier": 2.5, "live": true}}
			_, err := st.CreateAPIKey(ctx, noOrg, in)
			wantStoreErr(t, "no organization", err, store.ErrNoActiveOrganization)
			for name, a := range map[string]store.Actor{"member": tm.member, "suspended admin": tm.suspended, "outsider": tm.outsider} {
				_, err := st.CreateAPIKey(ctx, a, in)
				wantStoreErr(t, name, err, store.ErrForbidden)
			}
			k, err := st.CreateAPIKey(ctx, tm.admin, in)
			if err != nil {
				t.Fatal(err)
			}
			if !keyShape.MatchString(k.Key) || k.Name != "Production" || len(k.Permissions) != 3 || k.KeyHash != "" {
				t.Fatalf("issued key %+v", k)
			}
			// Only the keyed hash is stored; the key is found by it.
			var stored string
			if err := st.DB().QueryRow("SELECT key_hash FROM api_keys WHERE id = $1", k.ID.String()).Scan(&stored); err != nil {
				t.Fatal(err)
			}
			if stored == k.Key || strings.Contains(stored, k.Key[3:]) || !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(stored) {
				t.Fatalf("stored %q for key %q", stored, k.Key)
			}
			found, err := st.AuthenticateAPIKey(ctx, k.Key)
			if err != nil || found.ID != k.ID || found.KeyHash != "" {
				t.Fatalf("lookup by key: %+v %v", found, err)
			}
			for _, bad := range []string{"", k.Key[:len(k.Key)-1], k.Key + "a", strings.ToUpper(k.Key), "kk_" + strings.Repeat("a", 32)} {
				_, err := st.AuthenticateAPIKey(ctx, bad)
				wantStoreErr(t, "lookup of "+bad, err, store.ErrUnauthenticated)
			}
			if n := tm.auditCount(t, store.EventAPIKeyCreated); n != 1 {
				t.Fatalf("%d api_key.created rows", n)
			}

			// Invariants hold whatever the contract check in front said.
			for name, bad := range map[string]store.NewAPIKey{
				"blank name":        {Name: " \u2028\ufeff ", Permissions: []string{"sessions:read"}},
				"long name":         {Name: strings.Repeat("😀", 61), Permissions: []string{"sessions:read"}},
				"no scopes":         {Name: "x"},
				"unknown scope":     {Name: "x", Permissions: []string{"admin"}},
				"21 metadata keys":  {Name: "x", Permissions: []string{"sessions:read"}, Metadata: manyKeys(21)},
				"bad metadata key":  {Name: "x", Permissions: []string{"sessions:read"}, Metadata: map[string]any{"a b": "x"}},
				"long metadata key": {Name: "x", Permissions: []string{"sessions:read"}, Metadata: map[string]any{strings.Repeat("k", 65): "x"}},
				"long value":        {Name: "x", Permissions: []string{"sessions:read"}, Metadata: map[string]any{"k": strings.Repeat("é", 513)}},
				"null value":        {Name: "x", Permissions: []string{"sessions:read"}, Metadata: map[string]any{"k": nil}},
				"nested value":      {Name: "x", Permissions: []string{"sessions:read"}, Metadata: map[string]any{"k": map[string]any{}}},
			} {
				_, err := st.CreateAPIKey(ctx, tm.owner, bad)
				wantStoreErr(t, name, err, store.ErrInvalidInput)
			}
			if _, err := st.CreateAPIKey(ctx, tm.owner, store.NewAPIKey{Name: strings.Repeat("😀", 60), Permissions: []string{"analytics:read"}, Metadata: manyKeys(20)}); err != nil {
				t.Fatalf("a name of 120 UTF-16 units and 20 metadata keys: %v", err)
			}

			// Update: exactly the fields sent, audited in order.
			name, off := "Renamed", false
			perms := []string{"webhooks:read"}
			meta := map[string]any{}
			err = st.UpdateAPIKey(ctx, tm.member, k.ID, store.APIKeyChange{Name: &name})
			wantStoreErr(t, "member update", err, store.ErrForbidden)
			err = st.UpdateAPIKey(ctx, tm.owner, k.ID, store.APIKeyChange{})
			wantStoreErr(t, "empty update", err, store.ErrInvalidInput)
			err = st.UpdateAPIKey(ctx, other.owner, k.ID, store.APIKeyChange{Name: &name})
			wantStoreErr(t, "another organization's key", err, store.ErrAPIKeyNotFound)
			if err := st.UpdateAPIKey(ctx, tm.owner, k.ID, store.APIKeyChange{Metadata: &meta, Enabled: &off, Permissions: &perms, Name: &name}); err != nil {
				t.Fatal(err)
			}
			_, err = st.AuthenticateAPIKey(ctx, k.Key)
			wantStoreErr(t, "disabled key", err, store.ErrUnauthenticated)
			var metaText string
			if err := st.DB().QueryRow("SELECT metadata FROM audit_logs WHERE event = $1 AND target_id = $2", store.EventAPIKeyUpdated, k.ID.String()).Scan(&metaText); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(metaText, `"updated_fields": ["name", "enabled", "permissions", "metadata"]`) && !strings.Contains(metaText, `"updated_fields":["name","enabled","permissions","metadata"]`) ||
				!strings.Contains(strings.ReplaceAll(metaText, " ", ""), `"enabled":false`) {
				t.Fatalf("api_key.updated metadata %s", metaText)
			}

			// List: by id, pages, enabled or not; owner/admin only.
			for i := range 3 {
				if _, err := st.CreateAPIKey(ctx, tm.owner, store.NewAPIKey{Name: fmt.Sprint("k", i), Permissions: []string{"sessions:read"}}); err != nil {
					t.Fatal(err)
				}
			}
			_, _, err = st.ListAPIKeys(ctx, tm.member, store.Page{Limit: 10})
			wantStoreErr(t, "member list", err, store.ErrForbidden)
			_, _, err = st.ListAPIKeys(ctx, noOrg, store.Page{Limit: 10})
			wantStoreErr(t, "list without organization", err, store.ErrNoActiveOrganization)
			all, more, err := st.ListAPIKeys(ctx, tm.admin, store.Page{Limit: 0})
			if err != nil || !more || len(all) != 1 {
				t.Fatalf("limit 0 is held to 1: %d %v %v", len(all), more, err)
			}
			all, more, err = st.ListAPIKeys(ctx, tm.admin, store.Page{Limit: 1000})
			if err != nil || more || len(all) != 5 {
				t.Fatalf("list: %d %v %v", len(all), more, err)
			}
			for i := 1; i < len(all); i++ {
				if all[i-1].ID.String() >= all[i].ID.String() {
					t.Fatalf("not in id order: %s then %s", all[i-1].ID, all[i].ID)
				}
			}
			var walked []uuid.UUID
			cursor := ""
			for {
				page, more, err := st.ListAPIKeys(ctx, tm.owner, store.Page{Limit: 2, StartingAfter: cursor})
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range page {
					walked = append(walked, r.ID)
					if r.KeyHash != "" {
						t.Fatal("a listing read the key hash")
					}
				}
				if !more {
					break
				}
				cursor = strings.ToUpper(page[len(page)-1].ID.String()) // any case, as upstream's UUID rule
			}
			if len(walked) != 5 || walked[4] != all[4].ID {
				t.Fatalf("paging walked %v", walked)
			}
			// A cursor need not exist.
			if rest, _, err := st.ListAPIKeys(ctx, tm.owner, store.Page{Limit: 10, StartingAfter: "00000000-0000-0000-0000-000000000000"}); err != nil || len(rest) != 5 {
				t.Fatalf("nil cursor: %d %v", len(rest), err)
			}

			// Delete: audit rows the key wrote stay, without the key.
			if _, err := st.DB().Exec(`INSERT INTO audit_logs (id, organization_id, actor_api_key_id, actor_type, event, metadata, created_at)
				VALUES ('aud_bykey', $1, $2, 'api_key', 'session.created', '{}', $3)`, tm.org.String(), k.ID.String(), "2026-01-01T00:00:00.000000Z"); err != nil {
				t.Fatal(err)
			}
			// Only the key's own organization's log is touched.
			if _, err := st.DB().Exec(`INSERT INTO audit_logs (id, organization_id, actor_api_key_id, actor_type, event, metadata, created_at)
				VALUES ('aud_elsewhere', $1, $2, 'api_key', 'session.created', '{}', $3)`, other.org.String(), k.ID.String(), "2026-01-01T00:00:00.000000Z"); err != nil {
				t.Fatal(err)
			}
			err = st.DeleteAPIKey(ctx, tm.member, k.ID)
			wantStoreErr(t, "member delete", err, store.ErrForbidden)
			err = st.DeleteAPIKey(ctx, other.owner, k.ID)
			wantStoreErr(t, "delete another organization's key", err, store.ErrAPIKeyNotFound)
			if err := st.DeleteAPIKey(ctx, tm.owner, k.ID); err != nil {
				t.Fatal(err)
			}
			err = st.DeleteAPIKey(ctx, tm.owner, k.ID)
			wantStoreErr(t, "second delete", err, store.ErrAPIKeyNotFound)
			var actor *string
			if err := st.DB().QueryRow("SELECT actor_api_key_id FROM audit_logs WHERE id = 'aud_bykey'").Scan(&actor); err != nil || actor != nil {
				t.Fatalf("audit row after its key's deletion: %v %v", actor, err)
			}
			if err := st.DB().QueryRow("SELECT actor_api_key_id FROM audit_logs WHERE id = 'aud_elsewhere'").Scan(&actor); err != nil || actor == nil || *actor != k.ID.String() {
				t.Fatalf("another organization's audit row after the key's deletion: %v %v", actor, err)
			}
			if n := tm.auditCount(t, store.EventAPIKeyDeleted); n != 1 {
				t.Fatalf("%d api_key.deleted rows", n)
			}

			// Frozen: changes refused (before the role for the guard), lists allowed.
			live, err := st.CreateAPIKey(ctx, tm.owner, store.NewAPIKey{Name: "live", Permissions: []string{"sessions:read"}})
			if err != nil {
				t.Fatal(err)
			}
			tm.freeze(t)
			_, err = st.AuthenticateAPIKey(ctx, live.Key)
			wantStoreErr(t, "a frozen organization's key", err, store.ErrOrganizationFrozen)
			if _, err := st.AuthenticateAPIKey(ctx, mustKey(t, st, other.owner)); err != nil {
				t.Fatalf("another organization's key while this one is frozen: %v", err)
			}
			wantStoreErr(t, "guard of a change", st.APIKeyGuard(ctx, tm.outsider, true), store.ErrOrganizationFrozen)
			if err := st.APIKeyGuard(ctx, tm.outsider, false); err != nil {
				t.Fatalf("guard of a read: %v", err)
			}
			_, err = st.CreateAPIKey(ctx, tm.owner, in)
			wantStoreErr(t, "create while frozen", err, store.ErrOrganizationFrozen)
			_, err = st.CreateAPIKey(ctx, tm.member, in)
			wantStoreErr(t, "member create while frozen: the role first", err, store.ErrForbidden)
			if _, _, err := st.ListAPIKeys(ctx, tm.owner, store.Page{Limit: 10}); err != nil {
				t.Fatalf("list while frozen: %v", err)
			}
			_, err = st.AuthenticateAPIKey(ctx, all[1].ID.String())
			wantStoreErr(t, "malformed key", err, store.ErrUnauthenticated)
		})
	}
}

// What PostgreSQL cannot hold (NUL, invalid UTF-8) in a key's name or a
// metadata value is refused as input on both databases, before anything
// is written, on creation and on update alike.
func TestAPIKeyInputIsText(t *testing.T) {
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := migrated(t, kind, store.Options{})
			tm := newTeam(t, st, "key-text")
			perms := []string{"sessions:read"}
			bad := map[string]store.NewAPIKey{
				"NUL in name":            {Name: "prod\x00uction", Permissions: perms},
				"invalid UTF-8 name":     {Name: "prod\xffuction", Permissions: perms},
				"NUL in metadata":        {Name: "x", Permissions: perms, Metadata: map[string]any{"team": "pay\x00ments"}},
				"invalid UTF-8 metadata": {Name: "x", Permissions: perms, Metadata: map[string]any{"team": "pay\xffments"}},
			}
			for name, in := range bad {
				_, err := st.CreateAPIKey(ctx, tm.owner, in)
				wantStoreErr(t, "create, "+name, err, store.ErrInvalidInput)
			}
			k, err := st.CreateAPIKey(ctx, tm.owner, store.NewAPIKey{Name: "kept", Permissions: perms})
			if err != nil {
				t.Fatal(err)
			}
			for name, in := range bad {
				ch := store.APIKeyChange{Name: &in.Name}
				if in.Metadata != nil {
					ch = store.APIKeyChange{Metadata: &in.Metadata}
				}
				wantStoreErr(t, "update, "+name, st.UpdateAPIKey(ctx, tm.owner, k.ID, ch), store.ErrInvalidInput)
			}
			var keys int
			var stored, meta string
			if err := st.DB().QueryRow("SELECT COUNT(*), MIN(name), MIN(CAST(metadata AS TEXT)) FROM api_keys WHERE organization_id = $1", tm.org.String()).Scan(&keys, &stored, &meta); err != nil {
				t.Fatal(err)
			}
			if keys != 1 || stored != "kept" || meta != "{}" {
				t.Fatalf("after refused input: %d keys, name %q, metadata %s", keys, stored, meta)
			}
			if n := tm.auditCount(t, store.EventAPIKeyCreated) + tm.auditCount(t, store.EventAPIKeyUpdated); n != 1 {
				t.Fatalf("%d key events audited, want the one creation", n)
			}
		})
	}
}

// mustKey issues a key for a's active organization and returns it.
func mustKey(t *testing.T, st *store.Store, a store.Actor) string {
	t.Helper()
	k, err := st.CreateAPIKey(context.Background(), a, store.NewAPIKey{Name: "k", Permissions: []string{"sessions:read"}})
	if err != nil {
		t.Fatal(err)
	}
	return k.Key
}

func manyKeys(n int) map[string]any {
	m := map[string]any{}
	for i := range n {
		m[fmt.Sprintf("k%02d", i)] = i
	}
	return m
}

// An organization holds at most MaxAPIKeysPerOrganization keys, also when
// admins create them at once.
func TestAPIKeyLimit(t *testing.T) {
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := migrated(t, kind, store.Options{})
			tm := newTeam(t, st, "limit")
			for i := range store.MaxAPIKeysPerOrganization - 2 {
				if _, err := st.CreateAPIKey(ctx, tm.owner, store.NewAPIKey{Name: fmt.Sprint(i), Permissions: []string{"sessions:read"}}); err != nil {
					t.Fatal(err)
				}
			}
			var wg sync.WaitGroup
			errs := make(chan error, 8)
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := st.CreateAPIKey(ctx, tm.admin, store.NewAPIKey{Name: "race", Permissions: []string{"sessions:read"}})
					errs <- err
				}()
			}
			wg.Wait()
			close(errs)
			ok := 0
			for err := range errs {
				switch {
				case err == nil:
					ok++
				case !errors.Is(err, store.ErrAPIKeyLimit):
					t.Fatalf("racing creation: %v", err)
				}
			}
			var n int
			if err := st.DB().QueryRow("SELECT COUNT(*) FROM api_keys").Scan(&n); err != nil {
				t.Fatal(err)
			}
			if ok != 2 || n != store.MaxAPIKeysPerOrganization {
				t.Fatalf("%d racing creations succeeded, %d keys stored", ok, n)
			}
		})
	}
}

// Without a configured secret, the first replica to need one makes it and
// every replica on the database uses that one; a configured secret is used
// as it is.
func TestAuthSecret(t *testing.T) {
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			url := testdb.URL(t, kind)
			open := func(secret string) *store.Store {
				st, err := store.Open(ctx, url, store.Options{AuthSecret: secret})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
				if _, err := st.Migrate(ctx); err != nil {
					t.Fatal(err)
				}
				return st
			}
			a, b := open(""), open("")
			var wg sync.WaitGroup
			gen := make([]bool, 2)
			for i, st := range []*store.Store{a, b} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					g, err := st.AuthSecret(ctx)
					if err != nil {
						t.Error(err)
					}
					gen[i] = g
				}()
			}
			wg.Wait()
			if !gen[0] || !gen[1] {
				t.Fatal("an unconfigured secret is not reported as generated")
			}
			tm := newTeam(t, a, "secret")
			k, err := a.CreateAPIKey(ctx, tm.owner, store.NewAPIKey{Name: "x", Permissions: []string{"sessions:read"}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := b.AuthenticateAPIKey(ctx, k.Key); err != nil {
				t.Fatalf("another replica does not recognise the key: %v", err)
			}
			var rows int
			if err := a.DB().QueryRow("SELECT COUNT(*) FROM server_secrets").Scan(&rows); err != nil || rows != 1 {
				t.Fatalf("%d secrets stored: %v", rows, err)
			}
			configured := open("a configured secret of thirty-two bytes or more")
			if g, err := configured.AuthSecret(ctx); err != nil || g {
				t.Fatalf("configured secret reported as generated: %v %v", g, err)
			}
			_, err = configured.AuthenticateAPIKey(ctx, k.Key)
			wantStoreErr(t, "key under another secret", err, store.ErrUnauthenticated)
		})
	}
}

func TestBusinessDetails(t *testing.T) {
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := migrated(t, kind, store.Options{})
			tm := newTeam(t, st, "business")
			s := func(v string) *string { return &v }
			set := func(v *string) store.Field { return store.Field{Set: true, Value: v} }

			_, err := st.UpdateBusinessDetails(ctx, newUser(t, st, "x"), store.BusinessDetailsChange{Name: set(s("A"))})
			wantStoreErr(t, "no organization", err, store.ErrNoActiveOrganization)
			for name, a := range map[string]store.Actor{"admin": tm.admin, "member": tm.member, "outsider": tm.outsider, "suspended": tm.suspended} {
				_, err := st.UpdateBusinessDetails(ctx, a, store.BusinessDetailsChange{Name: set(s("A"))})
				wantStoreErr(t, name, err, store.ErrForbidden)
			}
			_, err = st.UpdateBusinessDetails(ctx, tm.owner, store.BusinessDetailsChange{})
			wantStoreErr(t, "nothing sent", err, store.ErrInvalidInput)
			for field, ch := range map[string]store.BusinessDetailsChange{
				"businessName":               {Name: set(s("Acme\x07"))},
				"businessJurisdiction":       {Name: set(s("ok")), Jurisdiction: set(s("UK\u007f"))},
				"businessRegistrationNumber": {RegistrationNumber: set(s(strings.Repeat("1", 101)))},
				"businessType":               {Type: set(s("partnership"))},
			} {
				_, err := st.UpdateBusinessDetails(ctx, tm.owner, ch)
				var be *store.BusinessDetailsError
				if !errors.As(err, &be) || be.Field != field {
					t.Fatalf("%s: %v", field, err)
				}
			}
			// Upstream's lengths count before trimming, in UTF-16 units.
			_, err = st.UpdateBusinessDetails(ctx, tm.owner, store.BusinessDetailsChange{Name: set(s(strings.Repeat("😀", 100) + " "))})
			var be *store.BusinessDetailsError
			if !errors.As(err, &be) {
				t.Fatalf("201 UTF-16 units: %v", err)
			}
			got, err := st.UpdateBusinessDetails(ctx, tm.owner, store.BusinessDetailsChange{
				Type: set(s("sole")), Name: set(s("  Acme Inc.\u00a0")), Jurisdiction: set(s("\u0085C1 controls pass\u0085")), RegistrationNumber: set(s("12345678")),
			})
			if err != nil || *got.BusinessType != "sole" || *got.BusinessName != "Acme Inc." || *got.BusinessJurisdiction != "\u0085C1 controls pass\u0085" || *got.BusinessRegistrationNumber != "12345678" {
				t.Fatalf("update: %+v %v", got, err)
			}
			got, err = st.UpdateBusinessDetails(ctx, tm.owner, store.BusinessDetailsChange{Jurisdiction: set(s("   ")), RegistrationNumber: set(nil)})
			if err != nil || *got.BusinessType != "sole" || *got.BusinessName != "Acme Inc." || got.BusinessJurisdiction != nil || got.BusinessRegistrationNumber != nil {
				t.Fatalf("clearing: %+v %v", got, err)
			}
			var meta string
			if err := st.DB().QueryRow("SELECT metadata FROM audit_logs WHERE event = $1 ORDER BY created_at DESC, id DESC LIMIT 1", store.EventBusinessDetailsUpdated).Scan(&meta); err != nil {
				t.Fatal(err)
			}
			if strings.ReplaceAll(meta, " ", "") != `{"updated_fields":["business_jurisdiction","business_registration_number"]}` {
				t.Fatalf("audit metadata %s", meta)
			}
			if n := tm.auditCount(t, store.EventBusinessDetailsUpdated); n != 2 {
				t.Fatalf("%d audit rows", n)
			}
			tm.freeze(t)
			_, err = st.UpdateBusinessDetails(ctx, tm.outsider, store.BusinessDetailsChange{Name: set(s("A"))})
			wantStoreErr(t, "frozen, before membership", err, store.ErrOrganizationFrozen)
		})
	}
}

func TestRPTerms(t *testing.T) {
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := migrated(t, kind, store.Options{})
			tm := newTeam(t, st, "rp")
			second := tm.join(t, "second-owner", store.RoleOwner)
			_, err := st.RPTermsStatus(ctx, newUser(t, st, "x"))
			wantStoreErr(t, "status without organization", err, store.ErrNoActiveOrganization)
			if acc, err := st.RPTermsStatus(ctx, tm.suspended); err != nil || acc != nil {
				t.Fatalf("status before acceptance: %+v %v", acc, err)
			}
			// A row for other terms does not count.
			if _, err := st.DB().Exec(`INSERT INTO organization_rp_terms_acceptances (id, organization_id, terms_version, terms_hash, jurisdiction, accepted_by, accepted_at, created_at)
				VALUES ($1, $2, '2025-01-01', 'sha256:old', $3, NULL, $4, $4)`, uuid.NewString(), tm.org.String(), terms.Current.Jurisdiction, "2026-01-01T00:00:00.000000Z"); err != nil {
				t.Fatal(err)
			}
			if acc, _ := st.RPTermsStatus(ctx, tm.owner); acc != nil {
				t.Fatalf("an old version counts: %+v", acc)
			}
			for name, a := range map[string]store.Actor{"admin": tm.admin, "member": tm.member, "outsider": tm.outsider} {
				_, err := st.AcceptRPTerms(ctx, a)
				wantStoreErr(t, name, err, store.ErrForbidden)
			}
			first, err := st.AcceptRPTerms(ctx, tm.owner)
			if err != nil || *first.AcceptedBy != tm.owner.UserID || first.TermsHash != terms.Current.Hash {
				t.Fatalf("accept: %+v %v", first, err)
			}
			// Concurrent and repeated acceptances keep the first; each is audited.
			var wg sync.WaitGroup
			for range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					again, err := st.AcceptRPTerms(ctx, second)
					if err != nil || *again.AcceptedBy != tm.owner.UserID || !again.AcceptedAt.Equal(first.AcceptedAt) {
						t.Errorf("accepting again: %+v %v", again, err)
					}
				}()
			}
			wg.Wait()
			if n := tm.auditCount(t, store.EventRPTermsAccepted); n != 5 {
				t.Fatalf("%d audit rows for 5 acceptances", n)
			}
			var rows int
			if err := st.DB().QueryRow("SELECT COUNT(*) FROM organization_rp_terms_acceptances WHERE terms_version = $1", terms.Current.Version).Scan(&rows); err != nil || rows != 1 {
				t.Fatalf("%d current acceptance rows: %v", rows, err)
			}
			acc, err := st.RPTermsStatus(ctx, tm.member)
			if err != nil || acc == nil || acc.ID != first.ID {
				t.Fatalf("status after acceptance: %+v %v", acc, err)
			}
			tm.freeze(t)
			_, err = st.AcceptRPTerms(ctx, tm.member)
			wantStoreErr(t, "frozen before the role", err, store.ErrOrganizationFrozen)
			if acc, err := st.RPTermsStatus(ctx, tm.member); err != nil || acc == nil {
				t.Fatalf("status of a frozen organization: %v", err)
			}
		})
	}
}

func TestVerificationTerms(t *testing.T) {
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := migrated(t, kind, store.Options{})
			tm := newTeam(t, st, "verify")
			second := tm.join(t, "second-owner", store.RoleOwner)
			_, err := st.AcceptVerificationTerms(ctx, tm.owner.UserID, nil)
			wantStoreErr(t, "no organization named", err, store.ErrOrganizationNotFound)
			missing := uuid.New()
			_, err = st.AcceptVerificationTerms(ctx, tm.owner.UserID, &missing)
			wantStoreErr(t, "unknown organization", err, store.ErrOrganizationNotFound)
			for name, a := range map[string]store.Actor{"admin": tm.admin, "member": tm.member, "suspended": tm.suspended} {
				_, err := st.AcceptVerificationTerms(ctx, a.UserID, &tm.org)
				wantStoreErr(t, name, err, store.ErrForbidden)
			}
			// Someone who never belonged to it cannot tell it exists.
			_, err = st.AcceptVerificationTerms(ctx, tm.outsider.UserID, &tm.org)
			wantStoreErr(t, "outsider", err, store.ErrOrganizationNotFound)
			if n := tm.auditCount(t, store.EventVerificationTermsAccepted); n != 0 {
				t.Fatalf("refused acceptances wrote %d audit rows", n)
			}
			first, err := st.AcceptVerificationTerms(ctx, tm.owner.UserID, &tm.org)
			if err != nil || first.AcceptedBy != tm.owner.UserID {
				t.Fatalf("accept: %+v %v", first, err)
			}
			// Recording the acceptance writes one audit row, by its acceptor.
			var actor, target string
			if err := st.DB().QueryRow("SELECT actor_user_id, target_id FROM audit_logs WHERE organization_id = $1 AND event = $2",
				tm.org.String(), store.EventVerificationTermsAccepted).Scan(&actor, &target); err != nil || actor != tm.owner.UserID.String() || target != tm.org.String() {
				t.Fatalf("the acceptance's audit row: actor %s target %s, %v", actor, target, err)
			}
			again, err := st.AcceptVerificationTerms(ctx, second.UserID, &tm.org)
			if err != nil || again.AcceptedBy != tm.owner.UserID || !again.AcceptedAt.Equal(first.AcceptedAt) {
				t.Fatalf("the acceptance on file is not kept: %+v %v", again, err)
			}
			if n := tm.auditCount(t, store.EventVerificationTermsAccepted); n != 1 {
				t.Fatalf("returning the acceptance on file was audited: %d rows", n)
			}
			// An acceptance whose acceptor is gone no longer counts.
			if _, err := st.DB().Exec("UPDATE organizations SET verification_terms_accepted_by = NULL WHERE id = $1", tm.org.String()); err != nil {
				t.Fatal(err)
			}
			if re, err := st.AcceptVerificationTerms(ctx, second.UserID, &tm.org); err != nil || re.AcceptedBy != second.UserID {
				t.Fatalf("re-recording: %+v %v", re, err)
			}
			if n := tm.auditCount(t, store.EventVerificationTermsAccepted); n != 2 {
				t.Fatalf("re-recording wrote %d audit rows in all, want 2", n)
			}
			if _, err := st.DB().Exec("UPDATE organizations SET owner_id_checked_at = $1 WHERE id = $2", "2026-01-01T00:00:00.000000Z", tm.org.String()); err != nil {
				t.Fatal(err)
			}
			_, err = st.AcceptVerificationTerms(ctx, tm.member.UserID, &tm.org)
			wantStoreErr(t, "verified, before the role", err, store.ErrAlreadyVerified)
			_, err = st.AcceptVerificationTerms(ctx, tm.outsider.UserID, &tm.org)
			wantStoreErr(t, "verified, to an outsider", err, store.ErrOrganizationNotFound)
			tm.freeze(t)
			_, err = st.AcceptVerificationTerms(ctx, tm.suspended.UserID, &tm.org)
			wantStoreErr(t, "frozen, first", err, store.ErrOrganizationFrozen)
			_, err = st.AcceptVerificationTerms(ctx, tm.outsider.UserID, &tm.org)
			wantStoreErr(t, "frozen, to an outsider", err, store.ErrOrganizationNotFound)
		})
	}
}

// Whether the caller may see the organization named in the body is asked
// before its row is locked: a stranger neither waits for the lock nor
// takes it. (PostgreSQL: on SQLite the write transaction is the lock.)
func TestVerificationTermsLockAfterVisibility(t *testing.T) {
	ctx := context.Background()
	st := migrated(t, testdb.Postgres, store.Options{})
	tm := newTeam(t, st, "verify-lock")
	holder, err := st.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback()
	if _, err := holder.Exec("SELECT id FROM organizations WHERE id = $1 FOR UPDATE", tm.org.String()); err != nil {
		t.Fatal(err)
	}
	actx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	began := time.Now()
	_, err = st.AcceptVerificationTerms(actx, tm.outsider.UserID, &tm.org)
	wantStoreErr(t, "outsider while the row is held", err, store.ErrOrganizationNotFound)
	if took := time.Since(began); took > time.Second {
		t.Fatalf("the outsider waited for the organization's lock: %s", took)
	}
}

func TestUpdateOrganization(t *testing.T) {
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := migrated(t, kind, store.Options{})
			tm := newTeam(t, st, "update-org")
			newTeam(t, st, "taken")
			s := func(v string) *string { return &v }
			_, err := st.UpdateOrganization(ctx, tm.member, store.OrganizationChange{Name: s("X")})
			wantStoreErr(t, "member", err, store.ErrForbidden)
			_, err = st.UpdateOrganization(ctx, tm.owner, store.OrganizationChange{})
			wantStoreErr(t, "nothing sent", err, store.ErrInvalidInput)
			_, err = st.UpdateOrganization(ctx, tm.owner, store.OrganizationChange{Name: s(" \t ")})
			wantStoreErr(t, "blank name", err, store.ErrInvalidOrganizationName)
			_, err = st.UpdateOrganization(ctx, tm.owner, store.OrganizationChange{Name: s("Acme\nInc")})
			wantStoreErr(t, "line break in the name", err, store.ErrInvalidOrganizationName)
			_, err = st.UpdateOrganization(ctx, tm.member, store.OrganizationChange{Name: s("Acme\nInc")})
			wantStoreErr(t, "member, bad name", err, store.ErrForbidden)
			_, err = st.UpdateOrganization(ctx, tm.owner, store.OrganizationChange{Slug: s("Not A Slug")})
			wantStoreErr(t, "bad slug", err, store.ErrInvalidInput)
			_, err = st.UpdateOrganization(ctx, tm.admin, store.OrganizationChange{Slug: s("taken")})
			wantStoreErr(t, "taken slug", err, store.ErrSlugTaken)
			logoURL := "https://cdn.example/logos/" + uuid.NewString()
			org, err := st.UpdateOrganization(ctx, tm.admin, store.OrganizationChange{Logo: store.Field{Set: true, Value: &logoURL}})
			if err != nil || *org.Logo != logoURL || org.Name != "Org update-org" {
				t.Fatalf("logo: %+v %v", org, err)
			}
			// One audit row per update that changes something, naming the
			// fields that changed; none for one that changes nothing.
			lastFields := func() string {
				t.Helper()
				var meta string
				if err := st.DB().QueryRow("SELECT metadata FROM audit_logs WHERE organization_id = $1 AND event = $2 ORDER BY created_at DESC, id DESC LIMIT 1",
					tm.org.String(), store.EventPublicDetailsUpdated).Scan(&meta); err != nil {
					t.Fatal(err)
				}
				return strings.ReplaceAll(meta, " ", "")
			}
			if n, f := tm.auditCount(t, store.EventPublicDetailsUpdated), lastFields(); n != 1 || f != `{"updated_fields":["logo"]}` {
				t.Fatalf("setting the logo: %d rows, last %s", n, f)
			}
			org, err = st.UpdateOrganization(ctx, tm.owner, store.OrganizationChange{Name: s("  New name "), Slug: s("new-slug"), Logo: store.Field{Set: true, Value: s("")}})
			if err != nil || org.Name != "New name" || org.Slug != "new-slug" || org.Logo != nil {
				t.Fatalf("update: %+v %v", org, err)
			}
			if n, f := tm.auditCount(t, store.EventPublicDetailsUpdated), lastFields(); n != 2 || f != `{"updated_fields":["name","slug","logo"]}` {
				t.Fatalf("name, slug and logo: %d rows, last %s", n, f)
			}
			// The same values again (the name trimmed to the same), and a
			// logo cleared that is clear: nothing changes, nothing is written.
			org, err = st.UpdateOrganization(ctx, tm.owner, store.OrganizationChange{Name: s("New name\n"), Slug: s("new-slug"), Logo: store.Field{Set: true}})
			if err != nil || org.Name != "New name" || org.Slug != "new-slug" || org.Logo != nil {
				t.Fatalf("same values: %+v %v", org, err)
			}
			if n := tm.auditCount(t, store.EventPublicDetailsUpdated); n != 2 {
				t.Fatalf("an update that changed nothing was audited: %d rows", n)
			}
			// Only what changed is named.
			if _, err = st.UpdateOrganization(ctx, tm.owner, store.OrganizationChange{Name: s("Newer name"), Slug: s("new-slug")}); err != nil {
				t.Fatal(err)
			}
			if n, f := tm.auditCount(t, store.EventPublicDetailsUpdated), lastFields(); n != 3 || f != `{"updated_fields":["name"]}` {
				t.Fatalf("name only changed: %d rows, last %s", n, f)
			}
			tm.freeze(t)
			_, err = st.UpdateOrganization(ctx, tm.outsider, store.OrganizationChange{Name: s("X")})
			wantStoreErr(t, "frozen", err, store.ErrOrganizationFrozen)
		})
	}
}
