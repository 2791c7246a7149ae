package main

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/kayle-id/orgs-api/store"
	"github.com/kayle-id/orgs-api/terms"
)

// fixture is what the workloads act on.
type fixture struct {
	bigOwners  []string    // sessions of owners and admins of the organization with the large audit log, one user each
	deepCursor string      // an audit id deep in that log
	owners     []string    // owner tokens, one per organization, active org selected
	members    []memberRef // members whose tokens select their organization
	apiKeys    []string    // one sessions:write key per onboarded organization
}

// bigOwnerSessions is how many users (its owner and admins) read the
// large audit log: the per-user limits count every session of a user
// together, so the load is spread over users.
const bigOwnerSessions = 128

type memberRef struct {
	token      string
	ownerToken string
	id         uuid.UUID
}

// seed creates orgs organizations of membersPer members each (one owner,
// the rest members), and an audit log of auditRows rows in the first one,
// with bulk SQL where the API would take hours.
func seed(ctx context.Context, st *store.Store, orgs, membersPer, auditRows int, logf func(string, ...any)) (*fixture, error) {
	db := st.DB()
	pg := st.Dialect() == store.Postgres
	ts := func(t time.Time) any {
		if pg {
			return t
		}
		return t.UTC().Format("2006-01-02T15:04:05.000000Z07:00")
	}
	ph := func(i int) string {
		if pg {
			return fmt.Sprintf("$%d", i)
		}
		return "?"
	}
	start := time.Now()
	now := time.Now().UTC().Add(-time.Hour)
	fx := &fixture{}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	insUser := fmt.Sprintf("INSERT INTO users (id, email, name, created_at, updated_at) VALUES (%s,%s,%s,%s,%s)", ph(1), ph(2), ph(3), ph(4), ph(5))
	insOrg := fmt.Sprintf("INSERT INTO organizations (id, name, slug, created_at) VALUES (%s,%s,%s,%s)", ph(1), ph(2), ph(3), ph(4))
	insMember := fmt.Sprintf("INSERT INTO organization_members (id, organization_id, user_id, role, created_at) VALUES (%s,%s,%s,%s,%s)", ph(1), ph(2), ph(3), ph(4), ph(5))
	type pending struct {
		email  string
		org    uuid.UUID
		member uuid.UUID
		owner  bool
	}
	var people []pending
	var bigOrg, bigOwner uuid.UUID
	var bigAdmins []string // their emails
	for o := 0; o < orgs; o++ {
		orgID := uuid.New()
		if _, err := tx.ExecContext(ctx, insOrg, orgID.String(), fmt.Sprintf("Org %d", o), fmt.Sprintf("org-%d", o), ts(now)); err != nil {
			return nil, err
		}
		for m := 0; m < membersPer; m++ {
			userID, memberID := uuid.New(), uuid.New()
			email := fmt.Sprintf("u%d-%d@example.com", o, m)
			role := "member"
			if m == 0 {
				role = "owner"
			}
			if _, err := tx.ExecContext(ctx, insUser, userID.String(), email, fmt.Sprintf("User %d-%d", o, m), ts(now), ts(now)); err != nil {
				return nil, err
			}
			if _, err := tx.ExecContext(ctx, insMember, memberID.String(), orgID.String(), userID.String(), role, ts(now.Add(time.Duration(m)*time.Second))); err != nil {
				return nil, err
			}
			if o == 0 && m == 0 {
				bigOrg, bigOwner = orgID, userID
			}
			if m < 4 { // tokens for the owner and a few members per organization
				people = append(people, pending{email, orgID, memberID, m == 0})
			}
		}
		if o == 0 {
			for a := 1; a < bigOwnerSessions; a++ {
				userID, memberID := uuid.New(), uuid.New()
				email := fmt.Sprintf("admin%d@example.com", a)
				if _, err := tx.ExecContext(ctx, insUser, userID.String(), email, fmt.Sprintf("Admin %d", a), ts(now), ts(now)); err != nil {
					return nil, err
				}
				if _, err := tx.ExecContext(ctx, insMember, memberID.String(), orgID.String(), userID.String(), "admin", ts(now.Add(-time.Duration(a)*time.Second))); err != nil {
					return nil, err
				}
				bigAdmins = append(bigAdmins, email)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	logf("seeded %d organizations, %d users and memberships in %s", orgs, orgs*membersPer, time.Since(start).Round(time.Millisecond))

	start = time.Now()
	if pg {
		_, err = db.ExecContext(ctx, `INSERT INTO audit_logs (id, organization_id, actor_user_id, actor_type, event, target_id, target_type, metadata, created_at)
			SELECT 'aud_' || lpad(g::text, 24, '0'), $1, $2, 'user',
			       (ARRAY['member.left','member.reinstated','member.joined','member.invited'])[1 + g % 4],
			       $3, 'member', '{"role":"member"}'::jsonb, $4::timestamptz - g * interval '1 millisecond'
			FROM generate_series(1, $5) AS g`, bigOrg.String(), bigOwner.String(), uuid.NewString(), now, auditRows)
	} else {
		_, err = db.ExecContext(ctx, `WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < ?)
			INSERT INTO audit_logs (id, organization_id, actor_user_id, actor_type, event, target_id, target_type, metadata, created_at)
			SELECT printf('aud_%024d', n), ?, ?, 'user',
			       CASE n % 4 WHEN 0 THEN 'member.left' WHEN 1 THEN 'member.reinstated' WHEN 2 THEN 'member.joined' ELSE 'member.invited' END,
			       ?, 'member', '{"role":"member"}',
			       strftime('%Y-%m-%dT%H:%M:%S', ? - n / 1000, 'unixepoch') || printf('.%06dZ', (1000 - n % 1000) % 1000 * 1000)
			FROM g`, auditRows, bigOrg.String(), bigOwner.String(), uuid.NewString(), now.Unix())
	}
	if err != nil {
		return nil, fmt.Errorf("seeding the audit log: %w", err)
	}
	if pg {
		if _, err := db.ExecContext(ctx, "ANALYZE"); err != nil {
			return nil, err
		}
	}
	logf("seeded %d audit rows in %s", auditRows, time.Since(start).Round(time.Millisecond))

	// A cursor 90% of the way into the log, newest first.
	q := "SELECT id FROM audit_logs WHERE organization_id = " + ph(1) + " ORDER BY created_at DESC, id DESC LIMIT 1 OFFSET " + ph(2)
	if err := db.QueryRowContext(ctx, q, bigOrg.String(), auditRows*9/10).Scan(&fx.deepCursor); err != nil {
		return nil, fmt.Errorf("finding a deep cursor: %w", err)
	}

	if err := onboardAll(ctx, st, ph, ts(now)); err != nil {
		return nil, fmt.Errorf("onboarding: %w", err)
	}

	ownerOf := map[uuid.UUID]string{}
	for _, p := range people {
		org := p.org
		tok, err := st.CreateSession(ctx, p.email, &org, 24*time.Hour)
		if err != nil {
			return nil, err
		}
		if p.owner {
			ownerOf[p.org] = tok.Token
			fx.owners = append(fx.owners, tok.Token)
			// A key per organization: the per-key write limit (10/s by
			// default) is then far above what the session workload asks of
			// each.
			k, err := st.CreateAPIKey(ctx, store.Actor{UserID: tok.Session.UserID, SessionID: tok.Session.ID, ActiveOrganizationID: &org}, store.NewAPIKey{Name: "bench", Permissions: []string{"sessions:write"}})
			if err != nil {
				return nil, err
			}
			fx.apiKeys = append(fx.apiKeys, k.Key)
			if p.org == bigOrg {
				// Users enough that the audit-log workload, thousands of
				// requests a second, keeps each under the per-user read
				// limit (KAYLE_RATE_LIMIT_READ, 50/s by default).
				fx.bigOwners = append(fx.bigOwners, tok.Token)
				for _, email := range bigAdmins {
					tok, err := st.CreateSession(ctx, email, &org, 24*time.Hour)
					if err != nil {
						return nil, err
					}
					fx.bigOwners = append(fx.bigOwners, tok.Token)
				}
			}
			continue
		}
		fx.members = append(fx.members, memberRef{token: tok.Token, ownerToken: ownerOf[p.org], id: p.member})
	}
	return fx, nil
}

// onboardAll takes every organization through the onboarding gate of POST
// /v1/sessions with bulk SQL: business details, logo, profile metadata, the
// owner check and the current integration terms.
func onboardAll(ctx context.Context, st *store.Store, ph func(int) string, now any) error {
	db := st.DB()
	meta := `{"website":"https://acme.example","description":"Acme","privacyPolicyUrl":"https://acme.example/privacy",` +
		`"termsOfServiceUrl":"https://acme.example/terms","legalControllerName":"Acme Ltd","controllerJurisdiction":"UK",` +
		`"supportEmail":"support@acme.example","article6Basis":"consent","article9Condition":"explicit_consent",` +
		`"usesKayleForConsequentialDecisions":false}`
	_, err := db.ExecContext(ctx, fmt.Sprintf(`UPDATE organizations SET business_type = 'business', business_name = 'Acme Ltd',
		business_jurisdiction = 'UK', business_registration_number = '1', logo = 'https://cdn.example/logo.png',
		metadata = %s, owner_id_checked_at = %s`, ph(1), ph(2)), meta, now)
	if err != nil {
		return err
	}
	rows, err := db.QueryContext(ctx, "SELECT id FROM organizations")
	if err != nil {
		return err
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		ids = append(ids, id)
	}
	rows.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	ins := fmt.Sprintf(`INSERT INTO organization_rp_terms_acceptances (id, organization_id, terms_version, terms_hash, jurisdiction, accepted_at, created_at)
		VALUES (%s,%s,%s,%s,%s,%s,%s)`, ph(1), ph(2), ph(3), ph(4), ph(5), ph(6), ph(7))
	c := terms.Current
	for _, id := range ids {
		if _, err := tx.ExecContext(ctx, ins, uuid.NewString(), id, c.Version, c.Hash, c.Jurisdiction, now, now); err != nil {
			return err
		}
	}
	return tx.Commit()
}
