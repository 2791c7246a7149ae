package server_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"mime"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	api "github.com/kayle-id/orgs-api/gen/api"
	"github.com/kayle-id/orgs-api/internal/dnstest"
	"github.com/kayle-id/orgs-api/internal/testdb"
	"github.com/kayle-id/orgs-api/mail"
	"github.com/kayle-id/orgs-api/server"
	"github.com/kayle-id/orgs-api/store"
	"github.com/kayle-id/orgs-api/validator"
)

// The hints and links of upstream's domain errors.
const (
	docsPlain       = "https://kayle.id/docs/api/errors"
	hintOwner       = "Ask an owner of this organization to perform this action."
	hintApex        = "Provide a registrable domain such as `acme.co`. Subdomains and bare public suffixes are not accepted."
	hintChallenge   = "Start a new challenge from the Domains page."
	hintPropagation = "Wait for DNS to propagate (typically a few minutes) and verify again."
	hintTakeover    = "Another organization currently holds an active verification for this domain. Re-submit with `acknowledge_takeover: true` to transfer it."
	hintRefresh     = "Refresh the Domains page and try again."
	hintCover       = "Verify a domain that covers this URL's host first."
	hintPattern     = "Provide a fully-qualified https:// URL whose host is one of your verified domains or a subdomain of one."
	msgNotFound     = "We couldn't find the verification TXT record yet. DNS may take a few minutes to propagate."
	msgMismatch     = "Verification TXT record value does not match. Check the record and try again."
)

type fullError struct {
	Data  json.RawMessage `json:"data"`
	Error struct {
		Code    string          `json:"code"`
		Message string          `json:"message"`
		Hint    string          `json:"hint"`
		Docs    string          `json:"docs"`
		Details *map[string]any `json:"details"`
	} `json:"error"`
}

// wantServiceError checks an error of upstream's domain or redirect-URI
// service exactly: status, code, message, hint, the anchorless docs link,
// and a details object on domain operations only.
func wantServiceError(t *testing.T, r response, status int, code, message, hint string, details bool) map[string]any {
	t.Helper()
	var env fullError
	if err := json.Unmarshal(r.GetBody(), &env); err != nil {
		t.Fatalf("body is not the envelope: %v: %s", err, r.GetBody())
	}
	e := env.Error
	if r.StatusCode() != status || e.Code != code || e.Message != message || e.Hint != hint || e.Docs != docsPlain || string(env.Data) != "null" {
		t.Fatalf("got %d %s\nwant %d %s %q %q", r.StatusCode(), r.GetBody(), status, code, message, hint)
	}
	if (e.Details != nil) != details {
		t.Fatalf("details present: %v, want %v: %s", e.Details != nil, details, r.GetBody())
	}
	if e.Details != nil {
		return *e.Details
	}
	return nil
}

func wantDomainError(t *testing.T, r response, status int, code, message, hint string) map[string]any {
	t.Helper()
	return wantServiceError(t, r, status, code, message, hint, true)
}

func wantHint(t *testing.T, r response, hint string) {
	t.Helper()
	var env fullError
	_ = json.Unmarshal(r.GetBody(), &env)
	if env.Error.Hint != hint {
		t.Fatalf("hint %q, want %q", env.Error.Hint, hint)
	}
}

var millisecondTime = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)

func (e *env) start(p person, apex string) *api.StartDnsChallengeResponse {
	e.t.Helper()
	r, err := e.c.StartDnsChallengeWithResponse(context.Background(), api.StartDnsChallengeJSONRequestBody{ApexDomain: apex}, bearer(p.Token))
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

func (e *env) verifyChallenge(p person, id uuid.UUID, ack *bool) *api.VerifyDnsChallengeResponse {
	e.t.Helper()
	r, err := e.c.VerifyDnsChallengeWithResponse(context.Background(), api.VerifyDnsChallengeJSONRequestBody{ChallengeId: id, AcknowledgeTakeover: ack}, bearer(p.Token))
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// verifyDomain takes apex to verified through the API and the test DNS
// server, and returns the domain id.
func (e *env) verifyDomain(p person, apex string, ack bool) uuid.UUID {
	e.t.Helper()
	s := e.start(p, apex)
	if s.JSON200 == nil {
		e.t.Fatalf("start %s: %d %s", apex, s.StatusCode(), s.Body)
	}
	e.dns.AddTXT(s.JSON200.Data.RecordName, s.JSON200.Data.RecordValue)
	v := e.verifyChallenge(p, s.JSON200.Data.ChallengeId, &ack)
	if v.JSON200 == nil {
		e.t.Fatalf("verify %s: %d %s", apex, v.StatusCode(), v.Body)
	}
	return v.JSON200.Data.DomainId
}

func TestDomainVerificationOverDNS(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		owner, admin, member := e.person("owner"), e.person("admin"), e.person("member")
		e.org(owner, "acme-"+string(e.kind))
		e.join(owner, admin, api.MemberRoleAdmin)
		e.join(owner, member, api.MemberRoleMember)

		// Only owners start challenges.
		wantDomainError(t, e.start(admin, "acme.co"), 403, "FORBIDDEN", "Only an owner can manage verified domains.", hintOwner)
		wantDomainError(t, e.start(member, "acme.co"), 403, "FORBIDDEN", "Only an owner can manage verified domains.", hintOwner)

		s := e.start(owner, "App.Acme.CO")
		wantStatus(t, s, 200)
		d := s.JSON200.Data
		if d.RecordName != "_kayle-id-verification.acme.co" || !regexp.MustCompile(`^kayle-id-verification=[A-Za-z]{32}$`).MatchString(d.RecordValue) ||
			d.Conflict != nil || !millisecondTime.MatchString(d.ExpiresAt) {
			t.Fatalf("challenge: %s", s.Body)
		}
		expires, _ := time.Parse(time.RFC3339, d.ExpiresAt)
		if until := time.Until(expires); until < 7*24*time.Hour-time.Minute || until > 7*24*time.Hour+time.Minute {
			t.Fatalf("expires in %s", until)
		}
		id := d.ChallengeId

		// Not published yet: NXDOMAIN.
		wantDomainError(t, e.verifyChallenge(owner, id, nil), 409, "DNS_NOT_PROPAGATED", msgNotFound, hintPropagation)
		// The name exists, but only with other records.
		e.dns.SetTXT(d.RecordName, "v=spf1 -all")
		wantDomainError(t, e.verifyChallenge(owner, id, nil), 409, "DNS_NOT_PROPAGATED", msgMismatch, hintPropagation)
		// A wrong value, and a right one in the wrong case.
		e.dns.SetTXT(d.RecordName, "kayle-id-verification=wrong")
		wantDomainError(t, e.verifyChallenge(owner, id, nil), 409, "DNS_NOT_PROPAGATED", msgMismatch, hintPropagation)
		e.dns.SetTXT(d.RecordName, strings.ToUpper(d.RecordValue))
		wantDomainError(t, e.verifyChallenge(owner, id, nil), 409, "DNS_NOT_PROPAGATED", msgMismatch, hintPropagation)
		// Resolver faults are not "missing": 503 with Retry-After, and 502
		// for an answer that cannot be read.
		for _, m := range []dnstest.Mode{dnstest.ServFail, dnstest.Refused} {
			e.dns.SetMode(d.RecordName, m)
			r := e.verifyChallenge(owner, id, nil)
			wantDomainError(t, r, 503, "DNS_LOOKUP_FAILED", "DNS lookup failed. Please try again in a moment.", "Network error reaching the DNS resolver. Try again shortly.")
			if s, err := strconv.Atoi(r.HTTPResponse.Header.Get("Retry-After")); err != nil || s < 1 {
				t.Fatalf("Retry-After %q", r.HTTPResponse.Header.Get("Retry-After"))
			}
		}
		e.dns.SetMode(d.RecordName, dnstest.Silent)
		began := time.Now()
		wantDomainError(t, e.verifyChallenge(owner, id, nil), 503, "DNS_LOOKUP_FAILED", "DNS lookup failed. Please try again in a moment.", "Network error reaching the DNS resolver. Try again shortly.")
		if took := time.Since(began); took > 3*time.Second {
			t.Fatalf("a silent resolver held the request %s", took)
		}
		e.dns.SetMode(d.RecordName, dnstest.Garbage)
		wantDomainError(t, e.verifyChallenge(owner, id, nil), 502, "DNS_BAD_RESPONSE", "The DNS resolver sent an answer that could not be read.",
			"The resolver this server uses is misbehaving. Try again later; if it persists, tell the operator.")
		e.dns.SetMode(d.RecordName, dnstest.NXDomain)
		wantDomainError(t, e.verifyChallenge(owner, id, nil), 409, "DNS_NOT_PROPAGATED", msgNotFound, hintPropagation)
		e.dns.SetMode(d.RecordName, dnstest.Normal)
		// Nothing failed above consumed the challenge. Published among other
		// records, split into two strings: verified.
		e.dns.SetTXT(d.RecordName, "v=spf1 -all")
		e.dns.AddTXT(d.RecordName, d.RecordValue[:20], d.RecordValue[20:])
		v := e.verifyChallenge(owner, id, nil)
		wantStatus(t, v, 200)
		if v.JSON200.Data.ApexDomain != "acme.co" || v.JSON200.Data.TakeoverFrom != nil || !strings.Contains(string(v.Body), `"takeover_from":null`) {
			t.Fatalf("verified: %s", v.Body)
		}
		domainID := v.JSON200.Data.DomainId
		// The challenge is used up.
		wantDomainError(t, e.verifyChallenge(owner, id, nil), 404, "CHALLENGE_NOT_FOUND", "Challenge not found. Start a new DNS challenge.", hintChallenge)

		// Any active member lists domains.
		l, err := e.c.ListDomainsWithResponse(ctx, bearer(member.Token))
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, l, 200)
		if len(l.JSON200.Data.Domains) != 1 || len(l.JSON200.Data.Challenges) != 0 {
			t.Fatalf("list: %s", l.Body)
		}
		got := l.JSON200.Data.Domains[0]
		if got.Id != domainID || got.ApexDomain != "acme.co" || got.VerifiedVia != "dns_txt" || got.DowngradedAt != nil ||
			got.LastCheckedAt == nil || !millisecondTime.MatchString(got.VerifiedAt) || !millisecondTime.MatchString(*got.LastCheckedAt) {
			t.Fatalf("listed domain: %s", l.Body)
		}

		// An expired challenge stays until replaced, refused.
		old := e.start(owner, "beta.io")
		wantStatus(t, old, 200)
		e.clock.Advance(7*24*time.Hour + time.Minute)
		wantDomainError(t, e.verifyChallenge(owner, old.JSON200.Data.ChallengeId, nil), 400, "CHALLENGE_EXPIRED",
			"Challenge has expired. Start a new DNS challenge.", hintChallenge)
		// Unknown ids and another organization's look the same.
		stranger := e.person("stranger")
		e.org(stranger, "stranger-"+string(e.kind))
		other := e.start(stranger, "stranger.io")
		wantStatus(t, other, 200)
		for _, unknown := range []uuid.UUID{uuid.New(), other.JSON200.Data.ChallengeId} {
			wantDomainError(t, e.verifyChallenge(owner, unknown, nil), 404, "CHALLENGE_NOT_FOUND", "Challenge not found. Start a new DNS challenge.", hintChallenge)
		}

		// Removing: owners only, this organization's only.
		del := func(p person, id uuid.UUID) *api.DeleteDomainResponse {
			r, err := e.c.DeleteDomainWithResponse(ctx, id, bearer(p.Token))
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		wantDomainError(t, del(admin, domainID), 403, "FORBIDDEN", "Only an owner can manage verified domains.", hintOwner)
		wantDomainError(t, del(stranger, domainID), 404, "DOMAIN_NOT_FOUND", "Verified domain not found.", hintRefresh)
		wantStatus(t, del(owner, domainID), 204)
		wantDomainError(t, del(owner, domainID), 404, "DOMAIN_NOT_FOUND", "Verified domain not found.", hintRefresh)

		// The audit log has each change, filterable by its event.
		want := map[string]int{"domain.challenge.started": 2, "domain.verified": 1, "domain.removed": 1}
		for ev, n := range want {
			logs, err := e.c.ListAuditLogsWithResponse(ctx, &api.ListAuditLogsParams{Event: &ev}, bearer(owner.Token))
			if err != nil {
				t.Fatal(err)
			}
			wantStatus(t, logs, 200)
			if len(logs.JSON200.Data) != n {
				t.Errorf("%s: %d audit rows, want %d", ev, len(logs.JSON200.Data), n)
			}
		}
	})
}

// Hostile names in apex_domain: each refused with upstream's words.
func TestApexNormalisation(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		owner := e.person("owner")
		e.org(owner, "apex-"+string(e.kind))
		for _, c := range []struct{ in, msg string }{
			{"ａｃｍｅ.co", "Hostname must be ASCII (Punycode) lowercase."},                             // full-width letters
			{"аpple.com", "Hostname must be ASCII (Punycode) lowercase."},                           // Cyrillic а, a homograph
			{"xn--pple-43d.com", "IDN (xn--) hostnames are not supported for domain verification."}, // the same, in Punycode
			{"acme.co..", `Label "" is not a valid DNS label.`},
			{"user@acme.co", "Hostname must be ASCII (Punycode) lowercase."},
			{"acme.co:443", "Hostname must be ASCII (Punycode) lowercase."},
			{"https://acme.co", "Hostname must be ASCII (Punycode) lowercase."},
			{strings.Repeat("a", 64) + ".co", `Label "` + strings.Repeat("a", 64) + `" is not a valid DNS label.`},
			{"-acme.co", `Label "-acme" is not a valid DNS label.`},
			{"localhost", "Hostname must have at least two labels."},
			{"co.uk", "Hostname is itself a public suffix; an organization cannot own it."},
			{"com.au", "Hostname is itself a public suffix; an organization cannot own it."},
		} {
			wantDomainError(t, e.start(owner, c.in), 400, "APEX_INVALID", c.msg, hintApex)
		}
		// Accepted and reduced to the apex.
		for in, apex := range map[string]string{"acme.co.": "acme.co", "WWW.Example.COM": "example.com", "id.app.acme.co.uk": "acme.co.uk", " padded.io ": "padded.io"} {
			r := e.start(owner, in)
			wantStatus(t, r, 200)
			if r.JSON200.Data.RecordName != "_kayle-id-verification."+apex {
				t.Errorf("%q: %s", in, r.Body)
			}
		}
		// Upstream's schema trims before measuring.
		wantError(t, e.start(owner, "  a  "), 400, "BAD_REQUEST", "apex_domain must be 3 to 253 characters once trimmed.")
	})
}

func TestDomainTakeover(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		first, firstAdmin := e.person("first"), e.person("first admin")
		firstOrg := e.org(first, "first-"+string(e.kind))
		e.join(first, firstAdmin, api.MemberRoleAdmin)
		firstDomain := e.verifyDomain(first, "shared.io", false)
		add, err := e.c.AddRedirectUriWithResponse(ctx, api.AddRedirectUriJSONRequestBody{Pattern: "https://app.shared.io/cb"}, bearer(first.Token))
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, add, 200)

		second := e.person("second")
		secondOrg := e.org(second, "second-"+string(e.kind))
		s := e.start(second, "shared.io")
		wantStatus(t, s, 200)
		if s.JSON200.Data.Conflict == nil || s.JSON200.Data.Conflict.OrganizationName != "Org first-"+string(e.kind) {
			t.Fatalf("conflict: %s", s.Body)
		}
		// Refused before DNS is asked, naming the holder.
		details := wantDomainError(t, e.verifyChallenge(second, s.JSON200.Data.ChallengeId, nil), 409, "APEX_TAKEOVER_REQUIRED",
			"Org first-"+string(e.kind)+" currently has an active verification for this domain. Acknowledge the takeover to continue.", hintTakeover)
		if details["conflictingOrganizationName"] != "Org first-"+string(e.kind) {
			t.Fatalf("details: %v", details)
		}
		ack := true
		// Acknowledged, but the first organization's record is not the
		// second's proof.
		wantDomainError(t, e.verifyChallenge(second, s.JSON200.Data.ChallengeId, &ack), 409, "DNS_NOT_PROPAGATED", msgMismatch, hintPropagation)
		e.dns.AddTXT(s.JSON200.Data.RecordName, s.JSON200.Data.RecordValue)
		v := e.verifyChallenge(second, s.JSON200.Data.ChallengeId, &ack)
		wantStatus(t, v, 200)
		if tf := v.JSON200.Data.TakeoverFrom; tf == nil || tf.OrganizationName != "Org first-"+string(e.kind) {
			t.Fatalf("takeover: %s", v.Body)
		}

		// The loser sees its row downgraded and its redirect URI listed.
		l, _ := e.c.ListDomainsWithResponse(ctx, bearer(firstAdmin.Token))
		wantStatus(t, l, 200)
		if len(l.JSON200.Data.Domains) != 1 || l.JSON200.Data.Domains[0].Id != firstDomain || l.JSON200.Data.Domains[0].DowngradedAt == nil {
			t.Fatalf("loser's domains: %s", l.Body)
		}
		ru, _ := e.c.ListRedirectUrisWithResponse(ctx, bearer(firstAdmin.Token))
		wantStatus(t, ru, 200)
		if len(ru.JSON200.Data) != 1 {
			t.Fatalf("loser's redirect URIs: %s", ru.Body)
		}
		// ... which no longer works.
		if ok, _ := e.st.RedirectAllowed(ctx, firstOrg, "https://app.shared.io/cb"); ok {
			t.Fatal("the loser's redirect URI still works")
		}
		// The loser's audit log says so, and its owner is mailed once the
		// outbox is delivered.
		ev := "domain.transferred"
		logs, _ := e.c.ListAuditLogsWithResponse(ctx, &api.ListAuditLogsParams{Event: &ev}, bearer(first.Token))
		wantStatus(t, logs, 200)
		if len(logs.JSON200.Data) != 1 || logs.JSON200.Data[0].Actor.Type != "system" || logs.JSON200.Data[0].Metadata["to_organization_id"] != secondOrg.String() {
			t.Fatalf("loser's audit: %s", logs.Body)
		}
		sent, err := server.DeliverMail(ctx, e.st, outboxMailer(e), nil, nil)
		if err != nil || sent != 1 {
			t.Fatalf("delivered %d: %v", sent, err)
		}
		eml := findMail(t, e, first.User.Email, "Verification of shared.io was transferred")
		if !strings.Contains(eml, "Org second-"+string(e.kind)) {
			t.Fatalf("mail: %s", eml)
		}
		if sent, _ := server.DeliverMail(ctx, e.st, outboxMailer(e), nil, nil); sent != 0 {
			t.Fatal("a notice was delivered twice")
		}
	})
}

func outboxMailer(e *env) mail.Mailer {
	return &mail.Outbox{Dir: e.outbox, From: "Kayle ID <no-reply@kayle.id>"}
}

// decodeSubject reads the Subject header of a raw message.
func decodeSubject(raw string) string {
	for _, line := range strings.Split(raw, "\r\n") {
		if v, ok := strings.CutPrefix(line, "Subject: "); ok {
			d, err := new(mime.WordDecoder).DecodeHeader(v)
			if err != nil {
				return v
			}
			return d
		}
	}
	return ""
}

// findMail returns the .eml sent to `to` whose subject contains subject.
func findMail(t *testing.T, e *env, to, subject string) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(e.outbox, "*.eml"))
	for _, f := range files {
		raw, _ := os.ReadFile(f)
		if strings.Contains(string(raw), "<"+to+">") && strings.Contains(decodeSubject(string(raw)), subject) {
			return string(raw)
		}
	}
	t.Fatalf("no mail to %s about %q among %d", to, subject, len(files))
	return ""
}

func TestDomainGatesAndFreeze(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		owner, member, leaver, nobody := e.person("owner"), e.person("member"), e.person("leaver"), e.person("nobody")
		orgID := e.org(owner, "gates-"+string(e.kind))
		e.join(owner, member, api.MemberRoleMember)
		e.join(owner, leaver, api.MemberRoleMember)
		domainID := e.verifyDomain(owner, "gates.io", false)
		ch := e.start(owner, "pending.io")
		wantStatus(t, ch, 200)
		add, _ := e.c.AddRedirectUriWithResponse(ctx, api.AddRedirectUriJSONRequestBody{Pattern: "https://gates.io/cb"}, bearer(owner.Token))
		wantStatus(t, add, 200)
		uriID := add.JSON200.Data.Id

		type call struct {
			name string
			do   func(p person) response
		}
		calls := []call{
			{"start", func(p person) response { return e.start(p, "gates.io") }},
			{"verify", func(p person) response { return e.verifyChallenge(p, ch.JSON200.Data.ChallengeId, nil) }},
			{"list domains", func(p person) response { r, _ := e.c.ListDomainsWithResponse(ctx, bearer(p.Token)); return r }},
			{"delete domain", func(p person) response {
				r, _ := e.c.DeleteDomainWithResponse(ctx, domainID, bearer(p.Token))
				return r
			}},
			{"list redirect URIs", func(p person) response { r, _ := e.c.ListRedirectUrisWithResponse(ctx, bearer(p.Token)); return r }},
			{"add redirect URI", func(p person) response {
				r, _ := e.c.AddRedirectUriWithResponse(ctx, api.AddRedirectUriJSONRequestBody{Pattern: "https://gates.io/x"}, bearer(p.Token))
				return r
			}},
			{"delete redirect URI", func(p person) response {
				r, _ := e.c.DeleteRedirectUriWithResponse(ctx, uriID, bearer(p.Token))
				return r
			}},
		}
		isDomain := func(name string) bool { return !strings.Contains(name, "redirect") }
		for _, c := range calls {
			wantError(t, c.do(person{Token: "kid_nobody"}), 401, "UNAUTHORIZED", "Unauthorized")
			msg := "Select an organization to manage redirect URIs."
			if isDomain(c.name) {
				msg = "Select an organization to manage verified domains."
			}
			r := wantError(t, c.do(nobody), 403, "FORBIDDEN", msg)
			if r.Error.Hint != "The active session must have an organization selected." {
				t.Errorf("%s: hint %q", c.name, r.Error.Hint)
			}
		}
		// A suspended member is a non-member: no lists either.
		lv, _ := e.c.LeaveOrganizationWithResponse(ctx, bearer(leaver.Token))
		wantStatus(t, lv, 200)
		for _, c := range calls[:] {
			if strings.HasPrefix(c.name, "list") {
				wantError(t, c.do(leaver), 403, "FORBIDDEN", "You are not a member of this organization.")
			}
		}

		// Frozen: every change answers 410 (even to a non-owner), the lists still answer.
		scheduleDeletion(t, e, owner, orgID)
		for _, c := range calls {
			for _, p := range []person{owner, member} {
				r := c.do(p)
				if strings.HasPrefix(c.name, "list") {
					wantStatus(t, r, 200)
					continue
				}
				wantError(t, r, 410, "ORGANIZATION_FROZEN", "This organization is scheduled for deletion and cannot be modified.")
				hint := "Cancel the pending deletion before managing redirect URIs."
				if isDomain(c.name) {
					hint = "Cancel the pending deletion before managing verified domains."
				}
				wantHint(t, r, hint)
			}
		}
	})
}

func TestRedirectURIsHTTP(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		owner, admin := e.person("owner"), e.person("admin")
		e.org(owner, "uris-"+string(e.kind))
		e.join(owner, admin, api.MemberRoleAdmin)
		add := func(p person, pattern string) *api.AddRedirectUriResponse {
			r, err := e.c.AddRedirectUriWithResponse(ctx, api.AddRedirectUriJSONRequestBody{Pattern: pattern}, bearer(p.Token))
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		const uncovered = "Pattern host does not match any of your verified domains."
		wantServiceError(t, add(owner, "https://app.acme.co/cb"), 422, "DOMAIN_NOT_FOUND", uncovered, hintCover, false)

		// What upstream's schema refuses, in the envelope.
		for pattern, msg := range map[string]string{
			"http://app.acme.co/cb":              "Must be an https:// URL with no embedded credentials.",
			"https://user:pass@app.acme.co/cb":   "Must be an https:// URL with no embedded credentials.",
			"javascript:alert(1)":                "Must be an https:// URL with no embedded credentials.",
			"https://app.acme.co/cb?next=/admin": "Redirect URI pattern must not contain query strings or fragments.",
			"https://app.acme.co/cb#token":       "Redirect URI pattern must not contain query strings or fragments.",
		} {
			wantError(t, add(admin, pattern), 400, "BAD_REQUEST", msg)
		}
		// Hosts that can never be verified: 400 INVALID_PATTERN, before the
		// owner check (an admin hears about the host).
		for pattern, msg := range map[string]string{
			"https://*.acme.co/":                               "Hostname must be ASCII (Punycode) lowercase.",
			"https://[::1]/cb":                                 "Hostname must be ASCII (Punycode) lowercase.",
			"https://localhost/cb":                             "Hostname must have at least two labels.",
			"https://аpple.com/":                               "IDN (xn--) hostnames are not supported for domain verification.",
			"https://xn--pple-43d.com/":                        "IDN (xn--) hostnames are not supported for domain verification.",
			"https://co.uk/":                                   "Hostname is itself a public suffix; an organization cannot own it.",
			"https://acme.co../":                               `Label "" is not a valid DNS label.`,
			"https://" + strings.Repeat("x", 64) + ".acme.co/": `Label "` + strings.Repeat("x", 64) + `" is not a valid DNS label.`,
		} {
			r := add(admin, pattern)
			env := wantError(t, r, 400, "INVALID_PATTERN", msg)
			if env.Error.Hint != hintPattern || env.Error.Docs != "https://kayle.id/docs/api/errors#bad_request" {
				t.Fatalf("%s: %s", pattern, r.Body)
			}
		}
		wantServiceError(t, add(admin, "https://app.acme.co/cb"), 403, "FORBIDDEN", "Only an owner can manage verified domains.", hintRefresh, false)

		domainID := e.verifyDomain(owner, "acme.co", false)
		r := add(owner, "HTTPS://App.ACME.co:443/Callback")
		wantStatus(t, r, 200)
		if r.JSON200.Data.Pattern != "https://app.acme.co/Callback" || r.JSON200.Data.ApexDomain != "acme.co" ||
			r.JSON200.Data.VerifiedDomainId != domainID || !millisecondTime.MatchString(r.JSON200.Data.CreatedAt) {
			t.Fatalf("add: %s", r.Body)
		}
		// The same pattern spelled otherwise: the existing entry.
		dup := add(owner, "https://app.acme.co./Callback")
		wantStatus(t, dup, 200)
		if dup.JSON200.Data.Id != r.JSON200.Data.Id || dup.JSON200.Data.CreatedAt != r.JSON200.Data.CreatedAt {
			t.Fatalf("duplicate: %s vs %s", dup.Body, r.Body)
		}
		// IPv4 hosts reduce to an apex no one verifies.
		wantServiceError(t, add(owner, "https://127.0.0.1/cb"), 422, "DOMAIN_NOT_FOUND", uncovered, hintCover, false)
		wantServiceError(t, add(owner, "https://acme.co.evil.io/cb"), 422, "DOMAIN_NOT_FOUND", uncovered, hintCover, false)

		l, _ := e.c.ListRedirectUrisWithResponse(ctx, bearer(admin.Token))
		wantStatus(t, l, 200)
		if len(l.JSON200.Data) != 1 || l.JSON200.Data[0].Id != r.JSON200.Data.Id || l.JSON200.Data[0].Pattern != "https://app.acme.co/Callback" {
			t.Fatalf("list: %s", l.Body)
		}

		// The count limit.
		for i := 1; i < 100; i++ {
			wantStatus(t, add(owner, "https://acme.co/cb"+strconv.Itoa(i)), 200)
		}
		wantServiceError(t, add(owner, "https://acme.co/one-more"), 400, "REDIRECT_URI_LIMIT",
			"This organization already has the most redirect URIs allowed (100).", "Remove a redirect URI you no longer use, then add this one.", false)

		del := func(p person, id uuid.UUID) *api.DeleteRedirectUriResponse {
			r, err := e.c.DeleteRedirectUriWithResponse(ctx, id, bearer(p.Token))
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		wantServiceError(t, del(admin, r.JSON200.Data.Id), 403, "FORBIDDEN", "Only an owner can manage verified domains.", hintRefresh, false)
		wantStatus(t, del(owner, r.JSON200.Data.Id), 204)
		wantServiceError(t, del(owner, r.JSON200.Data.Id), 404, "DOMAIN_NOT_FOUND", "Redirect URI not found.", hintCover, false)
		// One audit row per change: the duplicate added none.
		limit := 100
		for ev, n := range map[string]int{"redirect_uri.added": 100, "redirect_uri.removed": 1} {
			logs, _ := e.c.ListAuditLogsWithResponse(ctx, &api.ListAuditLogsParams{Event: &ev, Limit: &limit}, bearer(owner.Token))
			wantStatus(t, logs, 200)
			if len(logs.JSON200.Data) != n || logs.JSON200.Pagination.HasMore {
				t.Fatalf("%s: %d audit rows (more: %v), want %d", ev, len(logs.JSON200.Data), logs.JSON200.Pagination.HasMore, n)
			}
		}
	})
}

// Challenges and verification attempts are limited per organization,
// counted in the database: 429 with Retry-After.
func TestDomainRateLimitsHTTP(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		owner := e.person("owner")
		e.org(owner, "busy-"+string(e.kind))
		var last *api.StartDnsChallengeResponse
		for i := 0; i < 20; i++ {
			last = e.start(owner, "d"+strconv.Itoa(i)+".io")
			wantStatus(t, last, 200)
		}
		r := e.start(owner, "more.io")
		wantError(t, r, 429, "RATE_LIMITED", "Too many domain verification requests for this organization.")
		if s, err := strconv.Atoi(r.HTTPResponse.Header.Get("Retry-After")); err != nil || s < 1 || s > 3600 {
			t.Fatalf("Retry-After %q", r.HTTPResponse.Header.Get("Retry-After"))
		}
		for i := 0; i < 60; i++ {
			wantStatus(t, e.verifyChallenge(owner, last.JSON200.Data.ChallengeId, nil), 409)
		}
		v := e.verifyChallenge(owner, last.JSON200.Data.ChallengeId, nil)
		wantError(t, v, 429, "RATE_LIMITED", "")
		if v.HTTPResponse.Header.Get("Retry-After") == "" {
			t.Fatal("429 without Retry-After")
		}
		// Each lookup counted was a real one.
		if udp, _, _ := e.dns.Queries(); udp != 60 {
			t.Fatalf("%d DNS queries for 60 attempts", udp)
		}
	})
}

// A verification's DNS lookup holds no database connection: with a pool of
// one, other requests are served while a lookup waits on a silent resolver.
func TestLookupHoldsNoConnection(t *testing.T) {
	for _, k := range testdb.Kinds {
		kind := string(k)
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			e := newEnvWith(t, testdb.Kind(kind), envOptions{store: func(o *store.Options) { o.MaxOpenConns = 1 }, dnsTimeout: 3 * time.Second})
			ctx := context.Background()
			owner := e.person("owner")
			e.org(owner, "pool-"+kind)
			s := e.start(owner, "slow.io")
			wantStatus(t, s, 200)
			e.dns.SetMode(s.JSON200.Data.RecordName, dnstest.Silent)
			done := make(chan *api.VerifyDnsChallengeResponse)
			go func() {
				r, _ := e.c.VerifyDnsChallengeWithResponse(ctx, api.VerifyDnsChallengeJSONRequestBody{ChallengeId: s.JSON200.Data.ChallengeId}, bearer(owner.Token))
				done <- r
			}()
			time.Sleep(300 * time.Millisecond) // the lookup is under way
			began := time.Now()
			l, err := e.c.ListDomainsWithResponse(ctx, bearer(owner.Token))
			if err != nil {
				t.Fatal(err)
			}
			wantStatus(t, l, 200)
			w := e.start(owner, "other.io")
			wantStatus(t, w, 200)
			if took := time.Since(began); took > time.Second {
				t.Fatalf("requests waited %s behind a DNS lookup", took)
			}
			r := <-done
			if r == nil || r.StatusCode() != 503 {
				t.Fatalf("the silent lookup answered %v", r)
			}
		})
	}
}

// Unexpected failures inside the domain and redirect-URI services answer
// upstream's per-operation 500 wording, reveal nothing, and write nothing.
func TestDomainInternalErrors(t *testing.T) {
	e := newEnv(t, "sqlite")
	ctx := context.Background()
	owner := e.person("owner")
	e.org(owner, "internal-domains")
	domainID := e.verifyDomain(owner, "internal.io", false)
	ch := e.start(owner, "pending.io")
	wantStatus(t, ch, 200)
	add, _ := e.c.AddRedirectUriWithResponse(ctx, api.AddRedirectUriJSONRequestBody{Pattern: "https://internal.io/cb"}, bearer(owner.Token))
	wantStatus(t, add, 200)
	if _, err := e.st.DB().Exec(`DROP TABLE audit_logs`); err != nil {
		t.Fatal(err)
	}
	check := func(r response, msg string) {
		t.Helper()
		env := wantError(t, r, 500, "INTERNAL_SERVER_ERROR", msg)
		if env.Error.Hint != "Please try again in a few moments." && msg != "An unexpected error occurred." {
			t.Fatalf("hint: %s", r.GetBody())
		}
		if strings.Contains(string(r.GetBody()), "audit_logs") || strings.Contains(string(r.GetBody()), "redirect_uris") {
			t.Fatalf("a 500 leaked internals: %s", r.GetBody())
		}
	}
	check(e.start(owner, "new.io"), "Failed to start DNS challenge.")
	e.dns.AddTXT(ch.JSON200.Data.RecordName, ch.JSON200.Data.RecordValue)
	check(e.verifyChallenge(owner, ch.JSON200.Data.ChallengeId, nil), "Failed to verify DNS challenge.")
	dd, _ := e.c.DeleteDomainWithResponse(ctx, domainID, bearer(owner.Token))
	check(dd, "Failed to remove verified domain.")
	ar, _ := e.c.AddRedirectUriWithResponse(ctx, api.AddRedirectUriJSONRequestBody{Pattern: "https://internal.io/other"}, bearer(owner.Token))
	check(ar, "Failed to add redirect URI.")
	dr, _ := e.c.DeleteRedirectUriWithResponse(ctx, add.JSON200.Data.Id, bearer(owner.Token))
	check(dr, "Failed to remove redirect URI.")
	// Rolled back: the challenge, the domain and the redirect URI are all still there.
	var challenges, doms, uris int
	e.st.DB().QueryRow(`SELECT COUNT(*) FROM domain_challenges`).Scan(&challenges)
	e.st.DB().QueryRow(`SELECT COUNT(*) FROM verified_domains`).Scan(&doms)
	e.st.DB().QueryRow(`SELECT COUNT(*) FROM redirect_uris`).Scan(&uris)
	if challenges != 1 || doms != 1 || uris != 1 {
		t.Fatalf("rows after failed changes: challenges=%d domains=%d uris=%d", challenges, doms, uris)
	}
	// The lists read other tables: make them fail too.
	if _, err := e.st.DB().Exec(`ALTER TABLE verified_domains RENAME TO gone_domains`); err != nil {
		t.Fatal(err)
	}
	ld, _ := e.c.ListDomainsWithResponse(ctx, bearer(owner.Token))
	check(ld, "An unexpected error occurred.")
	lr, _ := e.c.ListRedirectUrisWithResponse(ctx, bearer(owner.Token))
	check(lr, "An unexpected error occurred.")
}

// The domain and redirect-URI operations are under the per-session rate
// limits like every other operation, writes and reads apart: 429 with
// Retry-After.
func TestDomainOperationsAreRateLimited(t *testing.T) {
	e := newEnv(t, "sqlite")
	ctx := context.Background()
	app, err := server.New(server.Config{Validation: validator.Full, Metrics: conformance, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		RateLimit: server.RateLimit{PerCredential: 0.05, PerCredentialRead: 0.05, Burst: 2}, DNS: e.resolver}, e.st, outboxMailer(e))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(app)
	defer srv.Close()
	c, _ := api.NewClientWithResponses(srv.URL)
	calls := map[string]func(p person) (response, error){
		"start": func(p person) (response, error) {
			return c.StartDnsChallengeWithResponse(ctx, api.StartDnsChallengeJSONRequestBody{ApexDomain: "limited.io"}, bearer(p.Token))
		},
		"verify": func(p person) (response, error) {
			return c.VerifyDnsChallengeWithResponse(ctx, api.VerifyDnsChallengeJSONRequestBody{ChallengeId: uuid.New()}, bearer(p.Token))
		},
		"delete domain": func(p person) (response, error) { return c.DeleteDomainWithResponse(ctx, uuid.New(), bearer(p.Token)) },
		"add redirect URI": func(p person) (response, error) {
			return c.AddRedirectUriWithResponse(ctx, api.AddRedirectUriJSONRequestBody{Pattern: "https://limited.io/"}, bearer(p.Token))
		},
		"delete redirect URI": func(p person) (response, error) {
			return c.DeleteRedirectUriWithResponse(ctx, uuid.New(), bearer(p.Token))
		},
		"list domains":       func(p person) (response, error) { return c.ListDomainsWithResponse(ctx, bearer(p.Token)) },
		"list redirect URIs": func(p person) (response, error) { return c.ListRedirectUrisWithResponse(ctx, bearer(p.Token)) },
	}
	for name, call := range calls {
		p := e.person("limited")
		e.org(p, "limited-"+strings.ToLower(strings.ReplaceAll(name, " ", "-")))
		for i := 0; i < 2; i++ {
			r, err := call(p)
			if err != nil || r.StatusCode() == 429 {
				t.Fatalf("%s: limited too early: %v", name, err)
			}
		}
		r, err := call(p)
		if err != nil {
			t.Fatal(err)
		}
		wantError(t, r, 429, "RATE_LIMITED", "Too many requests.")
	}
}

// With the contract check off, the rules still hold: what the schema
// would refuse is refused by the handlers and the store, with a 4xx, and
// nothing is written.
func TestDomainRulesWithValidationOff(t *testing.T) {
	e := newEnv(t, "sqlite", func(c *server.Config) { c.Validation = validator.Off })
	owner := e.person("owner")
	e.org(owner, "validation-off")
	e.verifyDomain(owner, "off.io", false)
	before := rowCounts(t, e)
	auth := map[string][]string{"Authorization": {"Bearer " + owner.Token}}
	for _, h := range []hostile{
		{"apex far too long", "POST", dnsStart, "application/json", `{"apex_domain":"` + strings.Repeat("a", 100000) + `.io"}`, auth},
		{"apex blank", "POST", dnsStart, "application/json", `{"apex_domain":"  "}`, auth},
		{"apex missing", "POST", dnsStart, "application/json", `{}`, auth},
		{"apex IDN", "POST", dnsStart, "application/json", `{"apex_domain":"аpple.com"}`, auth},
		{"verify without id", "POST", dnsVerify, "application/json", `{}`, auth},
		{"verify bad acknowledgement", "POST", dnsVerify, "application/json", `{"challenge_id":"` + uuid.NewString() + `","acknowledge_takeover":"yes"}`, auth},
		{"pattern far too long", "POST", redirectURIs, "application/json", `{"pattern":"https://off.io/` + strings.Repeat("a", 5000) + `"}`, auth},
		{"pattern missing", "POST", redirectURIs, "application/json", `{}`, auth},
		{"pattern http", "POST", redirectURIs, "application/json", `{"pattern":"http://off.io/"}`, auth},
		{"pattern query", "POST", redirectURIs, "application/json", `{"pattern":"https://off.io/?a=b"}`, auth},
		{"pattern homograph", "POST", redirectURIs, "application/json", `{"pattern":"https://оff.io/"}`, auth},
	} {
		status, body, sent := sendRaw(t, e, h.method, h.path, h.ctype, h.body, h.header)
		if !sent || status < 400 || status >= 500 {
			t.Errorf("%s: %d %.200s", h.name, status, body)
		}
	}
	if after := rowCounts(t, e); after != before {
		t.Fatalf("refused requests wrote rows:\nbefore %s\nafter  %s", before, after)
	}
}
