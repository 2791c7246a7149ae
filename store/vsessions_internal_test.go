package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/kayle-id/orgs-api/internal/testdb"
	"github.com/kayle-id/orgs-api/sessions"
)

// newSessionRow is a session as CreateVerificationSession builds it.
func newSessionRow(org uuid.UUID, n int, now time.Time) VerificationSession {
	redirect := "https://example.com/back"
	return VerificationSession{
		ID: fmt.Sprintf("vs_%064d", n), OrganizationID: org, Status: StatusCreated, ContractVersion: 1,
		ShareFields:     ShareContract(sessions.Contract{"given_name": {Required: true, Reason: "greeting", Source: sessions.SourceCaller}}),
		RedirectURL:     &redirect,
		CancelTokenHash: fmt.Sprintf("%064x", n), ExpiresAt: now.Add(SessionTTL), CreatedAt: now, UpdatedAt: now,
	}
}

// writeAsCreate writes v the way CreateVerificationSession does on the
// store's database: on PostgreSQL on the pool (the limit's path opening its
// own transaction), on SQLite in one write transaction.
func writeAsCreate(ctx context.Context, s *Store, c RPCaller, v VerificationSession, limited bool) error {
	if s.dialect != Postgres {
		return s.tx(ctx, func(tx *gorm.DB) error { return s.writeNewSession(tx, true, limited, &c, v, len(v.ShareFields)) })
	}
	return s.retry(ctx, func(events *[]string) error {
		if err := s.enter(ctx); err != nil {
			return err
		}
		defer s.exit(ctx)
		return s.writeNewSession(s.db.WithContext(context.WithValue(ctx, eventsKey{}, events)), false, limited, &c, v, len(v.ShareFields))
	})
}

// TestWriteNewSession: the raw-SQL insert stores what GORM's Create did (the
// row reads back as written, its audit row names the key with the
// metadata, its day count is bumped), and under the unverified-organization
// limit concurrent creations cannot pass it together, on the pool's path
// too.
func TestWriteNewSession(t *testing.T) {
	for _, kind := range []testdb.Kind{testdb.SQLite, testdb.Postgres} {
		t.Run(string(kind), func(t *testing.T) {
			f := newAnalyticsFixture(t, kind)
			s, ctx := f.s, context.Background()
			key := uuid.New()
			c := RPCaller{OrganizationID: f.org, APIKeyID: &key}
			now := s.clock()

			v := newSessionRow(f.org, 1, now)
			if err := writeAsCreate(ctx, s, c, v, false); err != nil {
				t.Fatal(err)
			}
			got, err := s.GetVerificationSession(ctx, c, v.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != StatusCreated || got.ContractVersion != 1 || got.CancelTokenHash != v.CancelTokenHash ||
				got.RedirectURL == nil || *got.RedirectURL != *v.RedirectURL || got.WebhookEndpointIDs != nil ||
				got.IsAgeOnly || got.FailureCode != nil || got.CompletedAt != nil || got.SelectedShareFieldKeys != nil ||
				!got.CreatedAt.Equal(now) || !got.ExpiresAt.Equal(v.ExpiresAt) || !got.UpdatedAt.Equal(now) {
				t.Fatalf("read back %+v, wrote %+v", got, v)
			}
			if gb, _ := json.Marshal(got.ShareFields); string(gb) != `{"given_name":{"required":true,"reason":"greeting","source":"rc"}}` {
				t.Fatalf("share fields read back as %s", gb)
			}
			var audit struct {
				ActorType, Event, TargetType, Metadata string
				ActorAPIKeyID                          *string
				ActorUserID                            *string
			}
			if err := s.db.Raw("SELECT actor_type, event, target_type, actor_api_key_id, actor_user_id, metadata FROM audit_logs WHERE target_id = ?", v.ID).
				Row().Scan(&audit.ActorType, &audit.Event, &audit.TargetType, &audit.ActorAPIKeyID, &audit.ActorUserID, &audit.Metadata); err != nil {
				t.Fatal(err)
			}
			var meta map[string]any
			if err := json.Unmarshal([]byte(audit.Metadata), &meta); err != nil {
				t.Fatal(err)
			}
			if audit.ActorType != ActorAPIKey || audit.Event != EventSessionCreated || audit.TargetType != TriggerTypeSession ||
				audit.ActorAPIKeyID == nil || *audit.ActorAPIKeyID != key.String() || audit.ActorUserID != nil ||
				meta["is_age_only"] != false || meta["share_field_count"] != float64(1) || len(meta) != 2 {
				t.Fatalf("audit row %+v, metadata %v", audit, meta)
			}
			var created int
			if err := s.db.Raw("SELECT created FROM session_day_counts WHERE organization_id = ? AND day = ?", f.org, countDay(now)).Scan(&created).Error; err != nil || created != 1 {
				t.Fatalf("day count %d, %v", created, err)
			}

			// Ten at once for an organization already holding one
			// identity-revealing session: four more pass the limit of five.
			var wg sync.WaitGroup
			errs := make([]error, 10)
			for i := range errs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs[i] = writeAsCreate(ctx, s, c, newSessionRow(f.org, 2+i, now), true)
				}()
			}
			wg.Wait()
			passed := 0
			for _, err := range errs {
				switch {
				case err == nil:
					passed++
				case !errors.Is(err, ErrUnverifiedOrgLimit):
					t.Fatal(err)
				}
			}
			if passed != unverifiedOrgLimit-1 {
				t.Fatalf("%d passed the limit, want %d", passed, unverifiedOrgLimit-1)
			}
			if err := s.db.Raw("SELECT created FROM session_day_counts WHERE organization_id = ? AND day = ?", f.org, countDay(now)).Scan(&created).Error; err != nil || created != unverifiedOrgLimit {
				t.Fatalf("day count %d, %v", created, err)
			}
		})
	}
}
