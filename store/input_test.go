package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kayle-id/orgs-api/internal/testdb"
	"github.com/kayle-id/orgs-api/store"
)

// The store keeps its own rules, whatever its caller checked: malformed
// input is ErrInvalidInput and writes nothing, page sizes are clamped, and
// an event filter is its known names once each, however long the list.
func TestStoreKeepsItsRules(t *testing.T) {
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := open(t, testdb.URL(t, kind))
			if _, err := st.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := st.CreateUser(ctx, "rules@example.com", "Rules"); err != nil {
				t.Fatal(err)
			}
			tok, _ := st.CreateSession(ctx, "rules@example.com", nil, time.Hour)
			p, _ := st.Authenticate(ctx, tok.Token)
			org, err := st.CreateOrganization(ctx, p.Actor(), store.NewOrganization{Name: "Rules", Slug: "rules"})
			if err != nil {
				t.Fatal(err)
			}
			a := p.Actor()
			a.ActiveOrganizationID = &org.ID
			logo := "https://cdn.example/logos/\x00"
			for name, err := range map[string]error{
				"Cyrillic slug": func() error {
					_, err := st.CreateOrganization(ctx, a, store.NewOrganization{Name: "x", Slug: "асme"})
					return err
				}(),
				"NUL in name": func() error {
					_, err := st.CreateOrganization(ctx, a, store.NewOrganization{Name: "a\x00b", Slug: "nul"})
					return err
				}(),
				"invalid UTF-8 name": func() error {
					_, err := st.CreateOrganization(ctx, a, store.NewOrganization{Name: "a\xffb", Slug: "utf"})
					return err
				}(),
				"logo URL": func() error {
					_, err := st.CreateOrganization(ctx, a, store.NewOrganization{Name: "x", Slug: "logo", Logo: &logo})
					return err
				}(),
				"role": func() error { _, err := st.Invite(ctx, a, "x@example.com", "root"); return err }(),
				"email": func() error {
					_, err := st.Invite(ctx, a, "x@example.com\r\nBcc: y@example.com", store.RoleMember)
					return err
				}(),
				"role change": func() error { _, err := st.ChangeRole(ctx, a, uuid.New(), "root"); return err }(),
				"user email":  func() error { _, err := st.CreateUser(ctx, "nobody", "N"); return err }(),
				"search": func() error {
					_, _, err := st.ListAuditLogs(ctx, a, store.AuditFilter{Query: "\xff"}, store.Page{Limit: 10})
					return err
				}(),
				"actor type": func() error {
					_, _, err := st.ListAuditLogs(ctx, a, store.AuditFilter{ActorType: "root"}, store.Page{Limit: 10})
					return err
				}(),
			} {
				var bad *store.InvalidInputError
				if !errors.Is(err, store.ErrInvalidInput) || !errors.As(err, &bad) || bad.Reason == "" {
					t.Errorf("%s: %v, want ErrInvalidInput with a reason", name, err)
				}
			}
			if _, _, err := st.ListAuditLogs(ctx, a, store.AuditFilter{}, store.Page{Limit: 10, StartingAfter: "\xff"}); !errors.Is(err, store.ErrInvalidCursor) {
				t.Errorf("invalid UTF-8 cursor: %v", err)
			}
			for _, limit := range []int{-3, 0, 1 << 30} {
				if _, _, err := st.ListMembers(ctx, a, store.Page{Limit: limit}); err != nil {
					t.Errorf("members, limit %d: %v", limit, err)
				}
				if _, _, err := st.ListAuditLogs(ctx, a, store.AuditFilter{}, store.Page{Limit: limit}); err != nil {
					t.Errorf("audit log, limit %d: %v", limit, err)
				}
				if _, _, err := st.ListInvitations(ctx, a, store.Page{Limit: limit}); err != nil {
					t.Errorf("invitations, limit %d: %v", limit, err)
				}
			}
			events := strings.Split(strings.Repeat("organization.created,member.left,", 40000), ",")
			rows, _, err := st.ListAuditLogs(ctx, a, store.AuditFilter{Events: events}, store.Page{Limit: 10})
			if err != nil || len(rows) != 1 || rows[0].Event != store.EventOrganizationCreated {
				t.Fatalf("80,000 event names: %d rows, %v", len(rows), err)
			}
			if got := store.ParseEvents(strings.Repeat("member.left, nope,member.joined,", 30000)); len(got) != 2 {
				t.Fatalf("ParseEvents kept %v", got)
			}
		})
	}
}
