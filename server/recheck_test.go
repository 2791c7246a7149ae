package server_test

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	api "github.com/kayle-id/orgs-api/gen/api"
	"github.com/kayle-id/orgs-api/internal/dnstest"
	"github.com/kayle-id/orgs-api/mail"
	"github.com/kayle-id/orgs-api/server"
)

// The daily re-check over real DNS: records still there are confirmed; a
// record gone for three daily checks downgrades its domain (audit row,
// mail to the owners) and its redirect URIs stop working; a resolver that
// cannot answer counts for nothing; the record coming back restores the
// domain, as the mail promises.
func TestDomainRecheckOverDNS(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		owner := e.person("owner")
		orgID := e.org(owner, "recheck-"+string(e.kind))
		var records []string
		for _, apex := range []string{"kept.io", "lost.io"} {
			s := e.start(owner, apex)
			wantStatus(t, s, 200)
			e.dns.AddTXT(s.JSON200.Data.RecordName, s.JSON200.Data.RecordValue)
			wantStatus(t, e.verifyChallenge(owner, s.JSON200.Data.ChallengeId, nil), 200)
			records = append(records, s.JSON200.Data.RecordName)
		}
		add, _ := e.c.AddRedirectUriWithResponse(ctx, api.AddRedirectUriJSONRequestBody{Pattern: "https://app.lost.io/cb"}, bearer(owner.Token))
		wantStatus(t, add, 200)
		metrics := server.NewMetrics()
		pass := func() server.RecheckReport {
			t.Helper()
			rep, err := server.RecheckDomains(ctx, e.st, metrics.CountDNS(e.resolver), server.RecheckOptions{Concurrency: 2, Metrics: metrics})
			if err != nil {
				t.Fatal(err)
			}
			return rep
		}
		if rep := pass(); rep.Due != 0 {
			t.Fatalf("freshly verified domains were due: %s", rep)
		}

		e.dns.RemoveTXT(records[1])
		e.clock.Advance(24 * time.Hour)
		if rep := pass(); rep.Due != 2 || rep.Confirmed != 1 || rep.Missed != 1 {
			t.Fatalf("day 1: %s", rep)
		}
		// A resolver failure the next day is not a miss.
		e.clock.Advance(24 * time.Hour)
		e.dns.SetModeAll(dnstest.ServFail)
		if rep := pass(); rep.LookupFailed != 2 || rep.Missed != 0 {
			t.Fatalf("resolver down: %s", rep)
		}
		e.dns.SetModeAll(dnstest.Normal)
		// Tried again an hour later, not at once.
		if rep := pass(); rep.Due != 0 {
			t.Fatalf("retried at once: %s", rep)
		}
		e.clock.Advance(time.Hour)
		if rep := pass(); rep.Missed != 1 || rep.Downgraded != 0 {
			t.Fatalf("day 2: %s", rep)
		}
		e.clock.Advance(24 * time.Hour)
		if rep := pass(); rep.Downgraded != 1 || rep.Confirmed != 1 {
			t.Fatalf("day 3: %s", rep)
		}
		if ok, _ := e.st.RedirectAllowed(ctx, orgID, "https://app.lost.io/cb"); ok {
			t.Fatal("a downgraded domain's redirect URI still works")
		}
		l, _ := e.c.ListDomainsWithResponse(ctx, bearer(owner.Token))
		downgraded := 0
		for _, d := range l.JSON200.Data.Domains {
			if d.DowngradedAt != nil {
				downgraded++
				if d.ApexDomain != "lost.io" {
					t.Fatalf("wrong domain downgraded: %s", l.Body)
				}
			}
		}
		if downgraded != 1 {
			t.Fatalf("list after downgrade: %s", l.Body)
		}
		ev := "domain.downgraded"
		logs, _ := e.c.ListAuditLogsWithResponse(ctx, &api.ListAuditLogsParams{Event: &ev}, bearer(owner.Token))
		if len(logs.JSON200.Data) != 1 || logs.JSON200.Data[0].Actor.Type != "system" {
			t.Fatalf("audit: %s", logs.Body)
		}
		if n, err := server.DeliverMail(ctx, e.st, outboxMailer(e), nil, nil); err != nil || n != 1 {
			t.Fatalf("mail: %d %v", n, err)
		}
		body := findMail(t, e, owner.User.Email, "Verification of lost.io was removed")
		if !strings.Contains(body, "_kayle-id-verification.lost.io") || !strings.Contains(body, "kayle-id-verification=") {
			t.Fatalf("mail lacks the record: %s", body)
		}

		// Published again: restored at the next check.
		e.clock.Advance(24 * time.Hour)
		var token string
		e.st.DB().QueryRow(`SELECT recheck_token FROM verified_domains WHERE apex_domain = 'lost.io'`).Scan(&token)
		e.dns.AddTXT(records[1], "kayle-id-verification="+token)
		if rep := pass(); rep.Restored != 1 {
			t.Fatalf("restore: %s", rep)
		}
		if ok, _ := e.st.RedirectAllowed(ctx, orgID, "https://app.lost.io/cb"); !ok {
			t.Fatal("the restored domain's redirect URI does not work")
		}
		ev = "domain.restored"
		logs, _ = e.c.ListAuditLogsWithResponse(ctx, &api.ListAuditLogsParams{Event: &ev}, bearer(owner.Token))
		if len(logs.JSON200.Data) != 1 || logs.JSON200.Data[0].Metadata["apex_domain"] != "lost.io" {
			t.Fatalf("restore audit: %s", logs.Body)
		}

		// The outcomes are in the metrics.
		rec := httptest.NewRecorder()
		metrics.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		for _, series := range []string{`kayle_domain_rechecks_total{outcome="downgraded"} 1`, `kayle_domain_rechecks_total{outcome="restored"} 1`,
			`kayle_dns_lookups_seconds_count{result="unavailable"} 2`} {
			if !strings.Contains(rec.Body.String(), series) {
				t.Errorf("metrics lack %s", series)
			}
		}
	})
}

// A notice that cannot be delivered is retried later, not lost, and never
// holds a transaction while it is being sent.
func TestMailRetries(t *testing.T) {
	e := newEnv(t, "sqlite")
	ctx := context.Background()
	first, second := e.person("first"), e.person("second")
	e.org(first, "mail-first")
	e.org(second, "mail-second")
	e.verifyDomain(first, "mail.io", false)
	e.verifyDomain(second, "mail.io", true)

	// A mailer that cannot write (its folder is a file): a real failure.
	blocked := filepath.Join(t.TempDir(), "not-a-folder")
	if err := os.WriteFile(blocked, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	metrics := server.NewMetrics()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if n, err := server.DeliverMail(ctx, e.st, &mail.Outbox{Dir: blocked, From: "x@kayle.id"}, log, metrics); err != nil || n != 0 {
		t.Fatalf("blocked: %d %v", n, err)
	}
	pending, _ := e.st.PendingMail(ctx)
	if len(pending) != 1 || pending[0].Attempts != 1 || pending[0].LastError == nil {
		t.Fatalf("after a failure: %+v", pending)
	}
	// Not retried before its backoff, delivered after it.
	if n, _ := server.DeliverMail(ctx, e.st, outboxMailer(e), log, metrics); n != 0 {
		t.Fatal("retried at once")
	}
	e.clock.Advance(time.Minute)
	if n, err := server.DeliverMail(ctx, e.st, outboxMailer(e), log, metrics); err != nil || n != 1 {
		t.Fatalf("retry: %d %v", n, err)
	}
	findMail(t, e, first.User.Email, "Verification of mail.io was transferred")
	if pending, _ := e.st.PendingMail(ctx); len(pending) != 0 {
		t.Fatalf("left in the outbox: %+v", pending)
	}
}

// The running server delivers the outbox by itself, on the job runner.
func TestMailSenderRuns(t *testing.T) {
	e := newEnv(t, "sqlite")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first, second := e.person("first"), e.person("second")
	e.org(first, "sender-first")
	e.org(second, "sender-second")
	e.verifyDomain(first, "sender.io", false)
	done := make(chan struct{})
	go func() {
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		server.RunJobs(ctx, e.st, log, nil, server.MailJob(e.st, outboxMailer(e), 20*time.Millisecond, log, nil))
		close(done)
	}()
	e.verifyDomain(second, "sender.io", true)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if files, _ := filepath.Glob(filepath.Join(e.outbox, "*.eml")); len(files) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the sender did not deliver the notice")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
}

// The re-check runs on the job runner: one pass at start, under the
// job's lock, counted in the job metrics.
func TestRecheckJob(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		owner := e.person("owner")
		e.org(owner, "recheck-job-"+string(e.kind))
		s := e.start(owner, "job.io")
		wantStatus(t, s, 200)
		e.dns.AddTXT(s.JSON200.Data.RecordName, s.JSON200.Data.RecordValue)
		wantStatus(t, e.verifyChallenge(owner, s.JSON200.Data.ChallengeId, nil), 200)
		e.dns.RemoveTXT(s.JSON200.Data.RecordName)
		e.clock.Advance(24 * time.Hour)

		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		metrics := server.NewMetrics()
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		done := make(chan struct{})
		go func() {
			server.RunJobs(ctx, e.st, log, metrics, server.RecheckJob(e.st, e.resolver, time.Hour, log, metrics))
			close(done)
		}()
		scrape := func() string {
			rec := httptest.NewRecorder()
			metrics.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
			return rec.Body.String()
		}
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(scrape(), `kayle_job_runs_total{job="domain-recheck",outcome="ok"} 1`) {
			if time.Now().After(deadline) {
				t.Fatalf("the job's pass did not finish:\n%s", scrape())
			}
			time.Sleep(20 * time.Millisecond)
		}
		cancel()
		<-done
		var misses int
		e.st.DB().QueryRow(`SELECT consecutive_failed_checks FROM verified_domains`).Scan(&misses)
		if misses != 1 || !strings.Contains(scrape(), `kayle_domain_rechecks_total{outcome="missed"} 1`) {
			t.Fatalf("after the pass: %d misses", misses)
		}
	})
}
