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

func storedMetadata(t *testing.T, st *store.Store, org uuid.UUID) *string {
	t.Helper()
	var m *string
	if err := st.DB().QueryRow("SELECT metadata FROM organizations WHERE id = $1", org.String()).Scan(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// The update names another organization by id: an active owner or admin of
// it may; a member is forbidden; a suspended admin, a stranger and an
// unknown id all get ErrOrganizationNotFound. Metadata replaces, and the
// audit row names the changed keys, never their values.
func TestUpdateNamedOrganizationMetadata(t *testing.T) {
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := migrated(t, kind, store.Options{})
			tm := newTeam(t, st, "named-meta")
			other := newTeam(t, st, "named-other") // the team's owner's sessions point elsewhere
			named := func(a store.Actor, id uuid.UUID, meta map[string]any) (store.Organization, error) {
				a.ActiveOrganizationID = &other.org // the active organization is not the one named
				return st.UpdateOrganization(ctx, a, store.OrganizationChange{OrganizationID: &id, Metadata: meta})
			}
			meta := map[string]any{"description": "Secret plans", "website": "HTTPS://Acme.Example:443"}
			for name, a := range map[string]store.Actor{"suspended admin": tm.suspended, "outsider": tm.outsider} {
				_, err := named(a, tm.org, meta)
				wantStoreErr(t, name, err, store.ErrOrganizationNotFound)
			}
			_, err := named(tm.admin, uuid.New(), meta)
			wantStoreErr(t, "unknown id", err, store.ErrOrganizationNotFound)
			_, err = named(tm.member, tm.org, meta)
			wantStoreErr(t, "member", err, store.ErrForbidden)
			if m := storedMetadata(t, st, tm.org); m != nil {
				t.Fatalf("a refused update stored %s", *m)
			}

			org, err := named(tm.admin, tm.org, meta)
			if err != nil || org.ID != tm.org || org.Metadata == nil || *org.Metadata != `{"description":"Secret plans","website":"https://acme.example/"}` {
				t.Fatalf("admin: %+v %v", org, err)
			}
			if m := storedMetadata(t, st, other.org); m != nil {
				t.Fatalf("the active organization changed: %s", *m)
			}
			var row string
			if err := st.DB().QueryRow("SELECT metadata FROM audit_logs WHERE organization_id = $1 AND event = $2", tm.org.String(), store.EventPublicDetailsUpdated).Scan(&row); err != nil {
				t.Fatal(err)
			}
			row = strings.ReplaceAll(row, " ", "")
			if row != `{"updated_fields":["metadata"],"updated_metadata_keys":["description","website"]}` || strings.Contains(row, "Secret") {
				t.Fatalf("audit metadata %s", row)
			}

			// Replaced, not merged: the key left out is gone.
			if _, err := named(tm.owner, tm.org, map[string]any{"website": "https://acme.example/"}); err != nil {
				t.Fatal(err)
			}
			if m := storedMetadata(t, st, tm.org); m == nil || *m != `{"website":"https://acme.example/"}` {
				t.Fatalf("after the second update: %v", m)
			}
			// The same again changes nothing: no row.
			if _, err := named(tm.owner, tm.org, map[string]any{"website": "https://Acme.example"}); err != nil {
				t.Fatal(err)
			}
			if n := tm.auditCount(t, store.EventPublicDetailsUpdated); n != 2 {
				t.Fatalf("%d audit rows, want 2", n)
			}
			// A refusal writes nothing, even with a good name beside it.
			good := "Renamed"
			_, err = st.UpdateOrganization(ctx, tm.owner, store.OrganizationChange{Name: &good, Metadata: map[string]any{"supportEmail": "nope"}})
			var bad *store.MetadataError
			if !errors.As(err, &bad) || bad.Field != "supportEmail" {
				t.Fatalf("bad email: %v", err)
			}
			// {} wipes every key.
			if _, err := named(tm.owner, tm.org, map[string]any{}); err != nil {
				t.Fatal(err)
			}
			if m := storedMetadata(t, st, tm.org); m == nil || *m != `{}` {
				t.Fatalf("after {}: %v", m)
			}
			tm.freeze(t)
			_, err = named(tm.owner, tm.org, meta)
			wantStoreErr(t, "frozen", err, store.ErrOrganizationFrozen)
			_, err = named(tm.outsider, tm.org, meta)
			wantStoreErr(t, "frozen, outsider", err, store.ErrOrganizationNotFound)
		})
	}
}

func TestRecordOwnerCheck(t *testing.T) {
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := migrated(t, kind, store.Options{})
			tm := newTeam(t, st, "owner-check")
			checkedAt := func() *time.Time {
				t.Helper()
				org, err := st.Organization(ctx, tm.org)
				if err != nil {
					t.Fatal(err)
				}
				return org.OwnerIDCheckedAt
			}
			err := st.RecordOwnerCheck(ctx, uuid.New(), time.Now(), "cli")
			if !errors.Is(err, store.ErrNotFound) || !errors.Is(err, store.ErrOrganizationNotFound) {
				t.Fatalf("unknown organization: %v", err)
			}
			for _, by := range []string{"", "   ", "a\x00b", strings.Repeat("a", store.MaxOwnerCheckNote+1)} {
				wantStoreErr(t, "by "+by, st.RecordOwnerCheck(ctx, tm.org, time.Now(), by), store.ErrInvalidInput)
			}
			wantStoreErr(t, "zero time", st.RecordOwnerCheck(ctx, tm.org, time.Time{}, "cli"), store.ErrInvalidInput)
			if n := tm.auditCount(t, store.EventOwnerIDChecked); n != 0 || checkedAt() != nil {
				t.Fatalf("refused calls wrote: %d rows, %v", n, checkedAt())
			}

			first := time.Date(2026, 5, 20, 9, 30, 0, 123000000, time.FixedZone("x", 3600))
			if err := st.RecordOwnerCheck(ctx, tm.org, first, " cli "); err != nil {
				t.Fatal(err)
			}
			if at := checkedAt(); at == nil || !at.Equal(first) {
				t.Fatalf("checked at %v, want %v", at, first)
			}
			second := first.Add(time.Hour)
			if err := st.RecordOwnerCheck(ctx, tm.org, second, "cli: re-check"); err != nil {
				t.Fatal(err)
			}
			if at := checkedAt(); at == nil || !at.Equal(second) {
				t.Fatalf("checked at %v, want %v", at, second)
			}
			rows, _, err := st.ListAuditLogs(ctx, tm.owner, store.AuditFilter{Events: []string{store.EventOwnerIDChecked}}, store.Page{Limit: 10})
			if err != nil || len(rows) != 2 {
				t.Fatalf("audit rows %+v %v", rows, err)
			}
			last, firstRow := rows[0], rows[1]
			if last.ActorType != store.ActorSystem || last.ActorUserID != nil || *last.TargetID != tm.org.String() || *last.TargetType != "organization" ||
				last.Metadata["by"] != "cli: re-check" || last.Metadata["checked_at"] != "2026-05-20T09:30:00.123Z" ||
				last.Metadata["previous_checked_at"] != "2026-05-20T08:30:00.123Z" {
				t.Fatalf("second row %+v", last)
			}
			if firstRow.Metadata["by"] != "cli" || firstRow.Metadata["previous_checked_at"] != nil {
				t.Fatalf("first row %+v", firstRow)
			}
			tm.freeze(t)
			wantStoreErr(t, "frozen", st.RecordOwnerCheck(ctx, tm.org, time.Now(), "cli"), store.ErrOrganizationFrozen)
		})
	}
}
