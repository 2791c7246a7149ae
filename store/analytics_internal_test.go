package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/kayle-id/orgs-api/internal/testdb"
)

// testSession is the part of a verification_sessions row the overview
// reads.
type testSession struct {
	OrganizationID uuid.UUID
	ID             string
	Status         string
	CreatedAt      time.Time
	ExpiresAt      time.Time
	CompletedAt    *time.Time
}

func (ts testSession) terminal() bool { return ts.Status != "created" && ts.Status != "in_progress" }

// analyticsFixture is a migrated store with two organizations: the one
// under test and another whose sessions must not count.
type analyticsFixture struct {
	s          *Store
	org, other uuid.UUID
	next       int
}

func newAnalyticsFixture(tb testing.TB, kind testdb.Kind) *analyticsFixture {
	tb.Helper()
	ctx := context.Background()
	s, err := Open(ctx, testdb.URL(tb, kind), Options{MaxOpenConns: 4})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	if _, err := s.Migrate(ctx); err != nil {
		tb.Fatal(err)
	}
	u, err := s.CreateUser(ctx, "owner@example.com", "Owner")
	if err != nil {
		tb.Fatal(err)
	}
	owner := Actor{UserID: u.ID, SessionID: uuid.New()}
	f := &analyticsFixture{s: s}
	for i, id := range []*uuid.UUID{&f.org, &f.other} {
		org, err := s.CreateOrganization(ctx, owner, NewOrganization{Name: fmt.Sprintf("Org %d", i), Slug: fmt.Sprintf("org-%d", i)})
		if err != nil {
			tb.Fatal(err)
		}
		*id = org.ID
	}
	return f
}

// seed writes sessions as the sessions code does: the row and its
// creation's count, then for a terminal one its outcome's count, in the
// same transaction (keyed by the day of creation).
func (f *analyticsFixture) seed(tb testing.TB, sessions ...testSession) {
	tb.Helper()
	outcome := map[string]string{"succeeded": CountSucceeded, "failed": CountFailed, "expired": CountExpired, "cancelled": CountCancelled}
	err := f.s.db.Transaction(func(tx *gorm.DB) error {
		for _, ts := range sessions {
			f.next++
			if ts.ID == "" {
				ts.ID = fmt.Sprintf("vs_%064d", f.next)
			}
			row := map[string]any{
				"id": ts.ID, "organization_id": ts.OrganizationID, "status": ts.Status,
				"share_fields": "{}", "cancel_token_hash": "00",
				"expires_at": ts.ExpiresAt.UTC(), "completed_at": nil,
				"created_at": ts.CreatedAt.UTC(), "updated_at": ts.CreatedAt.UTC(),
			}
			if ts.CompletedAt != nil {
				row["completed_at"] = ts.CompletedAt.UTC()
			}
			if err := tx.Table("verification_sessions").Create(row).Error; err != nil {
				return err
			}
			if err := bumpSessionDay(tx, ts.OrganizationID, ts.CreatedAt, CountCreated, 1); err != nil {
				return err
			}
			if ts.terminal() {
				if err := bumpSessionDay(tx, ts.OrganizationID, ts.CreatedAt, outcome[ts.Status], 1); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
}

// expire is the expiry job's move of one session, as the sessions code
// makes it: conditional on the status, with its count in the transaction.
func (f *analyticsFixture) expire(id string, at time.Time) error {
	return f.s.tx(context.Background(), func(tx *gorm.DB) error {
		var created time.Time
		var org uuid.UUID
		if err := tx.Table("verification_sessions").Select("created_at, organization_id").Where("id = ?", id).Row().Scan(&created, &org); err != nil {
			return err
		}
		res := tx.Exec("UPDATE verification_sessions SET status = 'expired', completed_at = ?, updated_at = ? WHERE id = ? AND status IN ('created', 'in_progress')",
			at.UTC(), at.UTC(), id)
		if res.Error != nil || res.RowsAffected == 0 {
			return res.Error
		}
		return bumpSessionDay(tx, org, created, CountExpired, 1)
	})
}

// allSessions reads every session row as the reference wants them.
func (f *analyticsFixture) allSessions(tb testing.TB) []testSession {
	tb.Helper()
	var rows []testSession
	if err := f.s.db.Raw("SELECT * FROM verification_sessions").Scan(&rows).Error; err != nil {
		tb.Fatal(err)
	}
	return rows
}

// referenceOverview is section 11 of behaviour-sessions.md read literally,
// over every row: the definition SessionOverview's counters must agree with.
func referenceOverview(rows []testSession, orgID uuid.UUID, now time.Time) SessionOverview {
	y, m, d := now.UTC().Date()
	today := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	start, end := today.AddDate(0, 0, -13), today.AddDate(0, 0, 1)
	var out SessionOverview
	created := make([]int, 14)
	for i := range 14 {
		out.Trend = append(out.Trend, TrendPoint{Date: start.AddDate(0, 0, i).Format("2006-01-02")})
	}
	for _, r := range rows {
		if r.OrganizationID != orgID || !r.CreatedAt.Before(end) {
			continue
		}
		outcome, at := "active", (*time.Time)(nil)
		switch {
		case r.Status == "cancelled":
			outcome, at = "cancelled", r.CompletedAt
		case r.Status == "expired":
			outcome, at = "expired", r.CompletedAt
			if at == nil {
				at = &r.ExpiresAt
			}
		case (r.Status == "created" || r.Status == "in_progress") && !r.ExpiresAt.After(now):
			outcome, at = "expired", &r.ExpiresAt
		case r.Status == "succeeded":
			outcome, at = "success", r.CompletedAt
		case r.Status == "failed":
			outcome, at = "failure", r.CompletedAt
		}
		if at == nil {
			outcome = "active"
		}
		var p *TrendPoint
		i := int(r.CreatedAt.UTC().Sub(start) / (24 * time.Hour))
		if !r.CreatedAt.Before(start) {
			p = &out.Trend[i]
			created[i]++
		} else {
			p = &TrendPoint{}
		}
		out.Summary.Total++
		switch outcome {
		case "success":
			out.Summary.Success++
			p.Success++
		case "failure":
			out.Summary.Failure++
			p.Failure++
		case "expired":
			out.Summary.Expired++
			p.Expired++
		case "cancelled":
			out.Summary.Cancelled++
			p.Cancelled++
		default:
			out.Summary.Active++
		}
	}
	var run SessionCounts
	for i, p := range out.Trend {
		run.Total += created[i]
		run.Success += p.Success
		run.Failure += p.Failure
		run.Expired += p.Expired
		run.Cancelled += p.Cancelled
		run.Active = run.Total - run.Success - run.Failure - run.Expired - run.Cancelled
		out.Timeline = append(out.Timeline, TimelinePoint{Date: p.Date, SessionCounts: run})
	}
	return out
}

func (f *analyticsFixture) overview(tb testing.TB, org uuid.UUID, now time.Time) SessionOverview {
	tb.Helper()
	ov, err := f.s.SessionOverview(context.Background(), org, now)
	if err != nil {
		tb.Fatal(err)
	}
	return ov
}

// checkReference fails unless the overview at now equals the reference
// computed from every row.
func (f *analyticsFixture) checkReference(tb testing.TB, org uuid.UUID, now time.Time) SessionOverview {
	tb.Helper()
	got := f.overview(tb, org, now)
	want := referenceOverview(f.allSessions(tb), org, now)
	if !reflect.DeepEqual(got, want) {
		tb.Fatalf("overview at %s differs from the reference:\n got  %+v\n want %+v", now.Format(time.RFC3339Nano), got, want)
	}
	return got
}

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

// Every outcome, overdue active sessions, sessions before the window and
// another organization's, with the numbers worked out by hand.
func TestSessionOverviewOutcomes(t *testing.T) {
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			f := newAnalyticsFixture(t, kind)
			now := at("2026-03-21T15:00:00Z")
			today := at("2026-03-21T09:00:00Z")
			yesterday := at("2026-03-20T09:00:00Z")
			old := at("2026-03-01T09:00:00Z") // 20 days ago: before the window
			hour := time.Hour
			sess := func(org uuid.UUID, status string, created time.Time, expires time.Duration, done *time.Time) testSession {
				return testSession{OrganizationID: org, Status: status, CreatedAt: created, ExpiresAt: created.Add(expires), CompletedAt: done}
			}
			f.seed(t,
				sess(f.org, "succeeded", today, hour, ptr(today.Add(10*time.Minute))),
				sess(f.org, "succeeded", today, hour, ptr(today.Add(20*time.Minute))),
				sess(f.org, "failed", today, hour, ptr(today.Add(5*time.Minute))),
				sess(f.org, "cancelled", today, hour, ptr(today.Add(time.Minute))),
				sess(f.org, "expired", today, hour, ptr(today.Add(hour+3*time.Minute))),
				sess(f.org, "created", now.Add(-10*time.Minute), hour, nil),     // active
				sess(f.org, "in_progress", now.Add(-30*time.Minute), hour, nil), // active
				sess(f.org, "created", today, hour, nil),                        // overdue: expired
				sess(f.org, "in_progress", yesterday, 2*hour, nil),              // overdue, yesterday
				sess(f.org, "created", now.Add(-hour), hour, nil),               // expires_at == now: expired
				sess(f.org, "succeeded", yesterday, hour, ptr(today)),           // ended today, counts yesterday
				sess(f.org, "succeeded", old, hour, ptr(old.Add(time.Minute))),  // summary only
				sess(f.org, "created", old, hour, nil),                          // overdue, summary only
				sess(f.other, "succeeded", today, hour, ptr(today.Add(time.Minute))),
				sess(f.other, "created", today, hour, nil),
				sess(f.other, "created", now.Add(-5*time.Minute), hour, nil),
			)
			got := f.checkReference(t, f.org, now)
			if want := (SessionCounts{Total: 13, Active: 2, Success: 4, Failure: 1, Expired: 5, Cancelled: 1}); got.Summary != want {
				t.Fatalf("summary %+v, want %+v", got.Summary, want)
			}
			last, prev := got.Trend[13], got.Trend[12]
			if last != (TrendPoint{Date: "2026-03-21", Success: 2, Failure: 1, Expired: 3, Cancelled: 1}) ||
				prev != (TrendPoint{Date: "2026-03-20", Success: 1, Expired: 1}) {
				t.Fatalf("trend ends %+v, %+v", prev, last)
			}
			if got.Trend[0].Date != "2026-03-08" {
				t.Fatalf("trend starts %s, want 2026-03-08 (13 days before today)", got.Trend[0].Date)
			}
			// The timeline counts the 11 sessions created in the window, not
			// the two before it.
			if tl := got.Timeline[13]; tl.SessionCounts != (SessionCounts{Total: 11, Active: 2, Success: 3, Failure: 1, Expired: 4, Cancelled: 1}) {
				t.Fatalf("last timeline point %+v", tl)
			}
			if tl := got.Timeline[12]; tl.SessionCounts != (SessionCounts{Total: 2, Success: 1, Expired: 1}) {
				t.Fatalf("yesterday's timeline point %+v", tl)
			}

			// The expiry job changes nothing the overview shows.
			for _, r := range f.allSessions(t) {
				if !r.terminal() && !r.ExpiresAt.After(now) {
					if err := f.expire(r.ID, now); err != nil {
						t.Fatal(err)
					}
				}
			}
			if again := f.checkReference(t, f.org, now); !reflect.DeepEqual(again, got) {
				t.Fatalf("after the expiry job:\n %+v\nbefore:\n %+v", again, got)
			}
			// Another organization sees its own.
			if o := f.checkReference(t, f.other, now); o.Summary != (SessionCounts{Total: 3, Active: 1, Success: 1, Expired: 1}) {
				t.Fatalf("other organization's summary %+v", o.Summary)
			}
		})
	}
}

// An organization without sessions: all zeros and 14 consecutive dated
// points ending today (UTC).
func TestSessionOverviewEmpty(t *testing.T) {
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			f := newAnalyticsFixture(t, kind)
			f.seed(t, testSession{OrganizationID: f.other, Status: "succeeded", CreatedAt: at("2026-01-05T10:00:00Z"),
				ExpiresAt: at("2026-01-05T11:00:00Z"), CompletedAt: ptr(at("2026-01-05T10:30:00Z"))})
			got := f.overview(t, f.org, at("2026-01-05T12:00:00Z"))
			if got.Summary != (SessionCounts{}) || len(got.Trend) != 14 || len(got.Timeline) != 14 {
				t.Fatalf("empty overview %+v", got)
			}
			day := at("2025-12-23T00:00:00Z")
			for i := range 14 {
				d := day.AddDate(0, 0, i).Format(time.DateOnly)
				if got.Trend[i] != (TrendPoint{Date: d}) || got.Timeline[i] != (TimelinePoint{Date: d}) {
					t.Fatalf("point %d: %+v %+v, want zeros on %s", i, got.Trend[i], got.Timeline[i], d)
				}
			}
		})
	}
}

// UTC day boundaries: the last microsecond of a day and the first of the
// next, sessions created exactly at midnight, and a now given in another
// time zone.
func TestSessionOverviewDayBoundaries(t *testing.T) {
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			f := newAnalyticsFixture(t, kind)
			done := func(t time.Time) *time.Time { return ptr(t.Add(time.Second)) }
			first := at("2026-03-08T00:00:00Z") // the window's first day when today is 03-21
			midnight := at("2026-03-21T00:00:00Z")
			next := at("2026-03-22T00:00:00Z")
			f.seed(t,
				testSession{OrganizationID: f.org, Status: "succeeded", CreatedAt: first, ExpiresAt: first.Add(time.Hour), CompletedAt: done(first)},
				testSession{OrganizationID: f.org, Status: "failed", CreatedAt: first.Add(-time.Microsecond), ExpiresAt: first.Add(time.Hour), CompletedAt: done(first)},
				testSession{OrganizationID: f.org, Status: "cancelled", CreatedAt: midnight, ExpiresAt: midnight.Add(time.Hour), CompletedAt: done(midnight)},
				testSession{OrganizationID: f.org, Status: "succeeded", CreatedAt: midnight.Add(-time.Microsecond), ExpiresAt: midnight.Add(time.Hour), CompletedAt: done(midnight)},
				// Created exactly at the end of 03-21: nowhere then, today on 03-22.
				testSession{OrganizationID: f.org, Status: "cancelled", CreatedAt: next, ExpiresAt: next.Add(time.Hour), CompletedAt: done(next)},
				// Overdue exactly at 03-21 23:59:59.999, active a microsecond before.
				testSession{OrganizationID: f.org, Status: "created", CreatedAt: at("2026-03-21T22:59:59.999Z"), ExpiresAt: at("2026-03-21T23:59:59.999Z")},
				testSession{OrganizationID: f.org, Status: "in_progress", CreatedAt: at("2026-03-21T23:00:00Z"), ExpiresAt: at("2026-03-21T23:59:59.999001Z")},
			)

			late := at("2026-03-21T23:59:59.999Z")
			got := f.checkReference(t, f.org, late)
			if got.Summary != (SessionCounts{Total: 6, Active: 1, Success: 2, Failure: 1, Expired: 1, Cancelled: 1}) {
				t.Fatalf("summary at 23:59:59.999: %+v", got.Summary)
			}
			if got.Trend[0] != (TrendPoint{Date: "2026-03-08", Success: 1}) ||
				got.Trend[12] != (TrendPoint{Date: "2026-03-20", Success: 1}) ||
				got.Trend[13] != (TrendPoint{Date: "2026-03-21", Cancelled: 1, Expired: 1}) {
				t.Fatalf("trend at 23:59:59.999: %+v", got.Trend)
			}
			if tl := got.Timeline[13]; tl.SessionCounts != (SessionCounts{Total: 5, Active: 1, Success: 2, Expired: 1, Cancelled: 1}) {
				t.Fatalf("timeline at 23:59:59.999 ends %+v", tl)
			}

			// The next microsecond-or-so is the next day: the window moves one
			// day, the midnight session is in, 03-08's is out of the timeline.
			got = f.checkReference(t, f.org, next)
			if got.Trend[0].Date != "2026-03-09" || got.Trend[13] != (TrendPoint{Date: "2026-03-22", Cancelled: 1}) {
				t.Fatalf("trend at 00:00:00: starts %+v, ends %+v", got.Trend[0], got.Trend[13])
			}
			if got.Summary != (SessionCounts{Total: 7, Success: 2, Failure: 1, Expired: 2, Cancelled: 2}) {
				t.Fatalf("summary at 00:00:00: %+v", got.Summary)
			}
			if tl := got.Timeline[13]; tl.Total != 5 || tl.Active != 0 {
				t.Fatalf("timeline at 00:00:00 ends %+v: 03-08's session must have left the window", tl)
			}

			// A now in UTC+9 whose local date is already 03-22 is still 03-21
			// in UTC; one in UTC-8 whose local date is 03-21 is 03-22 in UTC.
			tokyo := late.In(time.FixedZone("JST", 9*3600))
			if !reflect.DeepEqual(f.checkReference(t, f.org, tokyo), f.overview(t, f.org, late)) || f.overview(t, f.org, tokyo).Trend[13].Date != "2026-03-21" {
				t.Fatalf("a now in UTC+9 (%s) must give the UTC day's overview", tokyo)
			}
			pacific := next.In(time.FixedZone("PST", -8*3600))
			if ov := f.checkReference(t, f.org, pacific); ov.Trend[13].Date != "2026-03-22" {
				t.Fatalf("a now in UTC-8 (%s) ends the trend on %s", pacific, ov.Trend[13].Date)
			}
		})
	}
}

// The counters agree with the definition: a few thousand random sessions
// over 40 days in two organizations, every status, ended or not, expired
// with and without completed_at, read at several moments including both
// sides of midnight. Then the recount rebuilds exactly the counts the
// writes kept, and after a manual change that bypassed the counts (a
// terminal row losing its completed_at, statuses edited) the overview is
// wrong until RecountSessionDays, and right after it.
func TestSessionOverviewMatchesReference(t *testing.T) {
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			f := newAnalyticsFixture(t, kind)
			rng := rand.New(rand.NewPCG(20, uint64(len(kind))))
			base := at("2026-02-10T00:00:00Z")
			statuses := []string{"created", "in_progress", "succeeded", "failed", "expired", "cancelled"}
			var rows []testSession
			for range 3000 {
				org := f.org
				if rng.IntN(5) == 0 {
					org = f.other
				}
				created := base.Add(time.Duration(rng.Int64N(int64(40 * 24 * time.Hour)))).Truncate(time.Microsecond)
				ts := testSession{OrganizationID: org, Status: statuses[rng.IntN(len(statuses))], CreatedAt: created,
					ExpiresAt: created.Add(time.Duration(1+rng.IntN(180)) * time.Minute)}
				if ts.terminal() && (ts.Status != "expired" || rng.IntN(3) > 0) {
					ts.CompletedAt = ptr(created.Add(time.Duration(rng.Int64N(int64(3 * time.Hour)))).Truncate(time.Microsecond))
				}
				rows = append(rows, ts)
			}
			// Some at the exact midnights, to land on the boundaries.
			for d := range 40 {
				day := base.AddDate(0, 0, d)
				rows = append(rows, testSession{OrganizationID: f.org, Status: statuses[d%len(statuses)], CreatedAt: day,
					ExpiresAt: day.Add(time.Hour), CompletedAt: ptr(day.Add(time.Minute))})
			}
			for i := range rows {
				if !rows[i].terminal() {
					rows[i].CompletedAt = nil
				}
			}
			f.seed(t, rows...)

			moments := []time.Time{
				at("2026-03-01T12:00:00Z"), at("2026-03-10T23:59:59.999Z"), at("2026-03-11T00:00:00Z"),
				at("2026-03-21T23:59:59.999999Z"), at("2026-03-22T00:00:00Z"), at("2026-04-15T08:00:00Z"),
			}
			for range 6 {
				moments = append(moments, base.Add(time.Duration(rng.Int64N(int64(45*24*time.Hour)))))
			}
			check := func(stage string) {
				t.Helper()
				for _, now := range moments {
					for _, org := range []uuid.UUID{f.org, f.other} {
						if got, want := f.overview(t, org, now), referenceOverview(f.allSessions(t), org, now); !reflect.DeepEqual(got, want) {
							t.Fatalf("%s: overview at %s differs from the reference:\n got  %+v\n want %+v", stage, now.Format(time.RFC3339Nano), got, want)
						}
					}
				}
			}
			check("as written")
			if got := f.checkReference(t, f.org, moments[3]); got.Summary.Total < 2000 || got.Summary.Success == 0 || got.Summary.Expired == 0 {
				t.Fatalf("the dataset is too thin to test anything: %+v", got.Summary)
			}

			kept := f.dayCounts(t)
			if err := f.s.RecountSessionDays(context.Background()); err != nil {
				t.Fatal(err)
			}
			if rebuilt := f.dayCounts(t); !reflect.DeepEqual(rebuilt, kept) {
				t.Fatalf("recount differs from the kept counts:\n rebuilt %v\n kept    %v", rebuilt, kept)
			}

			// A manual change the counts do not see.
			if err := f.s.db.Exec("UPDATE verification_sessions SET completed_at = NULL WHERE status IN ('succeeded', 'failed') AND organization_id = ? AND id IN (SELECT id FROM verification_sessions WHERE status IN ('succeeded', 'failed') ORDER BY id LIMIT 50)", f.org).Error; err != nil {
				t.Fatal(err)
			}
			if err := f.s.db.Exec("UPDATE verification_sessions SET status = 'cancelled' WHERE status = 'expired' AND completed_at IS NOT NULL AND organization_id = ?", f.other).Error; err != nil {
				t.Fatal(err)
			}
			now := moments[3]
			if got, want := f.overview(t, f.org, now), referenceOverview(f.allSessions(t), f.org, now); reflect.DeepEqual(got, want) {
				t.Fatal("the manual change did not change the reference: the check below proves nothing")
			}
			if err := f.s.RecountSessionDays(context.Background()); err != nil {
				t.Fatal(err)
			}
			check("after the manual change and the recount")
		})
	}
}

// dayCounts is session_day_counts in key order, zero rows left out.
func (f *analyticsFixture) dayCounts(tb testing.TB) []string {
	tb.Helper()
	var rows []struct {
		OrganizationID                                 uuid.UUID
		Day                                            string
		Created, Succeeded, Failed, Expired, Cancelled int
	}
	if err := f.s.db.Raw("SELECT * FROM session_day_counts WHERE created <> 0 OR succeeded <> 0 OR failed <> 0 OR expired <> 0 OR cancelled <> 0 ORDER BY organization_id, day").Scan(&rows).Error; err != nil {
		tb.Fatal(err)
	}
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = fmt.Sprintf("%+v", r)
	}
	return out
}

// The overview reads one snapshot: while the expiry job moves overdue
// sessions to expired (a count bump and a status change committed
// together), no read sees a session both as overdue and as expired, or as
// neither, so every read shows the same numbers.
func TestSessionOverviewSnapshotDuringExpiry(t *testing.T) {
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			f := newAnalyticsFixture(t, kind)
			now := at("2026-03-21T15:00:00Z")
			var rows []testSession
			for i := range 200 {
				c := now.Add(-time.Duration(2+i%48) * time.Hour)
				rows = append(rows, testSession{OrganizationID: f.org, Status: "created", CreatedAt: c, ExpiresAt: c.Add(time.Hour)})
			}
			f.seed(t, rows...)
			want := f.checkReference(t, f.org, now)
			if want.Summary.Expired != 200 {
				t.Fatalf("overdue sessions not counted as expired: %+v", want.Summary)
			}
			ids := f.allSessions(t)
			var stop, quit atomic.Bool
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer stop.Store(true)
				for _, r := range ids {
					if quit.Load() {
						return
					}
					if err := f.expire(r.ID, now); err != nil {
						t.Error(err)
						return
					}
				}
			}()
			// Before the store closes (cleanups run last first), if a read fails.
			t.Cleanup(func() { quit.Store(true); wg.Wait() })
			reads := 0
			for !stop.Load() || reads == 0 {
				got, err := f.s.SessionOverview(context.Background(), f.org, now)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("read %d during expiry:\n got  %+v\n want %+v", reads, got, want)
				}
				reads++
			}
			wg.Wait()
			f.checkReference(t, f.org, now)
			t.Logf("%d reads during 200 expiries", reads)
		})
	}
}
