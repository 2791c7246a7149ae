package server_test

import (
	"bufio"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/kayle-id/orgs-api/handlers"
	"github.com/kayle-id/orgs-api/server"
	"github.com/kayle-id/orgs-api/sessions"
	"github.com/kayle-id/orgs-api/store"
	"github.com/kayle-id/orgs-api/verify/tokens"
)

// The public verify routes (behaviour-verify.md §3), over real HTTP on
// both databases, with response validation on.

// defaultKeys are the default share contract's keys, sorted.
const defaultKeys = `["date_of_birth","document_expiry_date","document_number","document_type_code","family_name","given_names",` +
	`"issuing_country_code","kayle_document_id","kayle_human_id","mrz_optional_data","nationality_code","sex_marker"]`

// shareFields are the share fields GET …/details shows.
func (e *env) shareFields(t *testing.T, id string) sessions.Contract {
	t.Helper()
	a := e.v(t, "GET", "/session/"+id+"/details", "")
	wantStatus(t, a, 200)
	var out struct {
		Data struct {
			ShareFields sessions.Contract `json:"share_fields"`
		}
	}
	a.decode(t, &out)
	return out.Data.ShareFields
}

const allConsents = `{"biometric_consent":true,"document_processing_consent":true,"privacy_notice_acknowledged":true,"share_claims_consent":true,"terms_acknowledged":true}`

// Upstream's messages, with their U+2019 apostrophes.
const (
	msgInvalidSessionID  = "This link isn’t valid. Go back and open a new one."
	msgInvalidRequest    = "The request payload was missing or malformed."
	msgSessionNotFound   = "We can’t find this session. Start again."
	msgSessionExpired    = "This session has expired. Start again."
	msgInProgress        = "Continue on the device where you started."
	msgConsentRequired   = "Review and accept the required consent steps to continue."
	msgCancelInvalid     = "This session can’t be cancelled from this link. Open the original verify link or contact support."
	msgCancelUsed        = "This session has already been cancelled."
	msgAttestInvalid     = "We couldn’t confirm your device. Reinstall the app or contact support."
	msgWebSocketRequired = "This endpoint requires a WebSocket connection."
	msgAttestRateLimited = "Too many App Attest challenge requests. Try again later."
)

// A well-formed id no session has.
var unknownSessionID = "vs_" + strings.Repeat("z", 64)

type vsession struct{ id, cancel string }

// newVerifySession creates a session with the org's key and reads its
// cancel token from the verification URL.
func (e *env) newVerifySession(t *testing.T, o rpOrg, body string) vsession {
	t.Helper()
	s := e.createSession(t, o.key, body)
	u, err := url.Parse(s.VerificationURL)
	if err != nil {
		t.Fatal(err)
	}
	tok := u.Query().Get("cancel_token")
	if len(tok) != 48 {
		t.Fatalf("verification_url %q has no cancel token", s.VerificationURL)
	}
	return vsession{s.ID, tok}
}

func (e *env) v(t *testing.T, method, path, body string) answer {
	t.Helper()
	return e.call(t, method, "/v1/verify"+path, "", body)
}

// authSecret is the secret the store generated for this database.
func (e *env) authSecret(t *testing.T) []byte {
	t.Helper()
	var v string
	if err := e.st.DB().QueryRow("SELECT value FROM server_secrets WHERE name = 'auth_secret'").Scan(&v); err != nil {
		t.Fatal(err)
	}
	return []byte(v)
}

func (e *env) str(t *testing.T, q string, args ...any) *string {
	t.Helper()
	var s *string
	if err := e.st.DB().QueryRow(e.ph(q), args...).Scan(&s); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return s
}

// consume does what the socket's first hello does to the row.
func (e *env) consume(t *testing.T, id string) {
	t.Helper()
	now := e.clock.Now().UTC()
	e.exec(t, `UPDATE verification_sessions SET status = 'in_progress', mobile_write_token_consumed_at = ?,
		mobile_hello_device_id_hash = 'dev', mobile_hello_app_version = '1.5.0', mobile_attest_key_id = 'key',
		current_phase = 'mobile_connected', phase_updated_at = ?, claimed_by_connection_id = 'conn', claimed_at = ? WHERE id = ?`,
		now, now, now, id)
}

var (
	consentIDPattern = regexp.MustCompile(`^vc_[a-z0-9]{64}$`)
	jsTimeVerify     = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)
	hex64            = regexp.MustCompile(`^[0-9a-f]{64}$`)
	challenge43      = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)
)

func TestVerifyConsentHTTP(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		o := e.rpOrg(t, "consent")
		s := e.newVerifySession(t, o, "")
		// Order: the id, then the body.
		wantError(t, e.v(t, "POST", "/session/vs_short/consent", `{}`), 400, "INVALID_SESSION_ID", msgInvalidSessionID)
		wantError(t, e.v(t, "POST", "/session/vs_short/consent", allConsents), 400, "INVALID_SESSION_ID", msgInvalidSessionID)
		for _, body := range []string{`{}`, `{"biometric_consent":true}`, strings.Replace(allConsents, `"terms_acknowledged":true`, `"terms_acknowledged":false`, 1),
			strings.Replace(allConsents, `"share_claims_consent":true`, `"share_claims_consent":"true"`, 1), `{`, `[]`, `null`} {
			wantError(t, e.v(t, "POST", "/session/"+s.id+"/consent", body), 400, "INVALID_REQUEST", msgInvalidRequest)
		}
		// Not JSON at all: judged as {}, as upstream.
		status, raw, _ := sendRaw(t, e, "POST", "/v1/verify/session/"+s.id+"/consent", "text/plain", allConsents, nil)
		wantError(t, answer{status, raw}, 400, "INVALID_REQUEST", msgInvalidRequest)
		wantError(t, e.v(t, "POST", "/session/"+unknownSessionID+"/consent", allConsents), 404, "SESSION_NOT_FOUND", msgSessionNotFound)

		// Other keys are ignored, as upstream.
		a := e.v(t, "POST", "/session/"+s.id+"/consent", strings.TrimSuffix(allConsents, "}")+`,"extra":1}`)
		wantStatus(t, a, 200)
		var out struct {
			Data struct {
				ConsentID   string `json:"consent_id"`
				ConsentedAt string `json:"consented_at"`
			} `json:"data"`
		}
		a.decode(t, &out)
		if !consentIDPattern.MatchString(out.Data.ConsentID) || !jsTimeVerify.MatchString(out.Data.ConsentedAt) {
			t.Fatalf("consent answer %s", a.body)
		}
		// The row: the default contract's keys, sorted, and its hash (the
		// construction's vector is store's TestShareContractHash).
		var org, sess, terms, notice, hash, requested, selected, required, rp, controller string
		var ui int
		var bio, doc, privacy, share, termsAck bool
		err := e.st.DB().QueryRow(e.ph(`SELECT organization_id, verification_session_id, consent_ui_version, terms_version, privacy_notice_version,
			share_contract_hash, requested_claim_keys, selected_claim_keys, required_claim_keys, biometric_consent, document_processing_consent,
			privacy_notice_acknowledged, share_claims_consent, terms_acknowledged, rp_name, controller_name FROM verification_consents WHERE id = ?`),
			out.Data.ConsentID).Scan(&org, &sess, &ui, &terms, &notice, &hash, &requested, &selected, &required, &bio, &doc, &privacy, &share, &termsAck, &rp, &controller)
		if err != nil {
			t.Fatal(err)
		}
		var orgName string
		e.st.DB().QueryRow(e.ph("SELECT name FROM organizations WHERE id = ?"), o.id.String()).Scan(&orgName)
		compact := func(s string) string { return strings.ReplaceAll(s, " ", "") }
		if org != o.id.String() || sess != s.id || ui != 1 || terms != "2026-05-17" || notice != "2026-05-17" ||
			hash != store.ShareContractHash(e.shareFields(t, s.id)) ||
			compact(requested) != defaultKeys || compact(selected) != defaultKeys || compact(required) != `["kayle_document_id"]` ||
			!bio || !doc || !privacy || !share || !termsAck || rp != orgName || controller != orgName {
			t.Fatalf("consent row: %v %v %v %v %v %v %v %v %v %v %v", org, sess, ui, terms, notice, hash, requested, selected, required, rp, controller)
		}
		// Every call adds a row.
		wantStatus(t, e.v(t, "POST", "/session/"+s.id+"/consent", allConsents), 200)
		if n := e.count(t, "SELECT COUNT(*) FROM verification_consents WHERE verification_session_id = ?", s.id); n != 2 {
			t.Fatalf("%d consent rows", n)
		}

		// Ended: 410; overdue: expired on touch (event and audit row), 410.
		cancelled := e.newVerifySession(t, o, "")
		wantStatus(t, e.call(t, "POST", "/v1/sessions/"+cancelled.id+"/cancel", o.key, ""), 204)
		wantError(t, e.v(t, "POST", "/session/"+cancelled.id+"/consent", allConsents), 410, "SESSION_EXPIRED", msgSessionExpired)
		overdue := e.newVerifySession(t, o, "")
		e.clock.Advance(61 * time.Minute)
		wantError(t, e.v(t, "POST", "/session/"+overdue.id+"/consent", allConsents), 410, "SESSION_EXPIRED", msgSessionExpired)
		if st := e.str(t, "SELECT status FROM verification_sessions WHERE id = ?", overdue.id); *st != "expired" {
			t.Fatalf("overdue session is %s", *st)
		}
		if n := e.count(t, "SELECT COUNT(*) FROM events WHERE trigger_id = ? AND type = 'verification.session.expired'", overdue.id); n != 1 {
			t.Fatalf("%d expiry events", n)
		}
		if n := e.count(t, "SELECT COUNT(*) FROM audit_logs WHERE target_id = ? AND event = 'session.expired'", overdue.id); n != 1 {
			t.Fatalf("%d expiry audit rows", n)
		}

		// A frozen organization's session is an unknown one, on every route.
		frozen := e.newVerifySession(t, o, "")
		e.setOrg(t, o.id, "pending_deletion_at = ?", e.clock.Now().UTC())
		for _, c := range []struct{ method, path, body string }{
			{"POST", "/consent", allConsents}, {"POST", "/handoff", ""}, {"GET", "/status", ""}, {"GET", "/details", ""},
			{"GET", "/privacy-context", ""}, {"GET", "/redirect-permitted", ""}, {"POST", "/cancel", `{"cancel_token":"` + frozen.cancel + `"}`},
		} {
			wantError(t, e.v(t, c.method, "/session/"+frozen.id+c.path, c.body), 404, "SESSION_NOT_FOUND", msgSessionNotFound)
		}
	})
}

func TestVerifyHandoffHTTP(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		o := e.rpOrg(t, "handoff")
		s := e.newVerifySession(t, o, "")
		wantError(t, e.v(t, "POST", "/session/vs_"+strings.Repeat("a", 63)+"!/handoff", ""), 400, "INVALID_SESSION_ID", msgInvalidSessionID)
		wantError(t, e.v(t, "POST", "/session/"+unknownSessionID+"/handoff", ""), 404, "SESSION_NOT_FOUND", msgSessionNotFound)
		wantError(t, e.v(t, "POST", "/session/"+s.id+"/handoff", ""), 409, "CONSENT_REQUIRED", msgConsentRequired)
		wantStatus(t, e.v(t, "POST", "/session/"+s.id+"/consent", allConsents), 200)

		type payload struct {
			V                int    `json:"v"`
			SessionID        string `json:"session_id"`
			Token            string `json:"mobile_write_token"`
			ExpiresAt        string `json:"expires_at"`
			HelloChallenge   string `json:"attest_hello_challenge"`
			NFCChallenge     string `json:"attest_nfc_challenge"`
			AttemptIDMissing any    `json:"attempt_id"`
		}
		handoff := func() payload {
			t.Helper()
			a := e.v(t, "POST", "/session/"+s.id+"/handoff", "{\"ignored\":true}")
			wantStatus(t, a, 200)
			var out struct{ Data payload }
			a.decode(t, &out)
			return out.Data
		}
		before := e.clock.Now()
		first := handoff()
		secret := e.authSecret(t)
		exp, err := time.Parse(time.RFC3339, first.ExpiresAt)
		if err != nil || first.V != 1 || first.SessionID != s.id || !hex64.MatchString(first.Token) || first.AttemptIDMissing != nil ||
			exp.Before(before.Add(5*time.Minute-time.Second)) || exp.After(e.clock.Now().Add(5*time.Minute+time.Second)) ||
			first.HelloChallenge != tokens.Base64URL(tokens.HelloChallenge(secret, s.id)) ||
			first.NFCChallenge != tokens.Base64URL(tokens.NFCChallenge(secret, s.id)) || !challenge43.MatchString(first.NFCChallenge) {
			t.Fatalf("handoff payload %+v", first)
		}
		// Only the token's keyed hash is stored; a second call issues a new
		// token and the first stops working (its hash is gone).
		if h := e.str(t, "SELECT mobile_write_token_hash FROM verification_sessions WHERE id = ?", s.id); h == nil || *h != tokens.HandoffTokenHash(secret, first.Token) {
			t.Fatalf("stored hash %v", h)
		}
		second := handoff()
		if second.Token == first.Token || second.HelloChallenge != first.HelloChallenge {
			t.Fatalf("reissue: %+v after %+v", second, first)
		}
		if h := e.str(t, "SELECT mobile_write_token_hash FROM verification_sessions WHERE id = ?", s.id); *h != tokens.HandoffTokenHash(secret, second.Token) {
			t.Fatal("the second token's hash is not the one stored")
		}
		if n := e.count(t, "SELECT COUNT(*) FROM verification_sessions WHERE id = ? AND mobile_write_token_issued_at IS NOT NULL AND mobile_write_token_expires_at IS NOT NULL AND mobile_write_token_consumed_at IS NULL", s.id); n != 1 {
			t.Fatal("token columns")
		}
		// Consumed by a phone: 409 SESSION_IN_PROGRESS, the hash unchanged.
		e.consume(t, s.id)
		wantError(t, e.v(t, "POST", "/session/"+s.id+"/handoff", ""), 409, "SESSION_IN_PROGRESS", msgInProgress)
		if h := e.str(t, "SELECT mobile_write_token_hash FROM verification_sessions WHERE id = ?", s.id); *h != tokens.HandoffTokenHash(secret, second.Token) {
			t.Fatal("a refused handoff changed the token")
		}
		// Racing handoffs: each answers a token, and the one stored is one of them.
		r := e.newVerifySession(t, o, "")
		wantStatus(t, e.v(t, "POST", "/session/"+r.id+"/consent", allConsents), 200)
		var mu sync.Mutex
		var issued []string
		var wg sync.WaitGroup
		for range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				status, raw, _ := sendRaw(t, e, "POST", "/v1/verify/session/"+r.id+"/handoff", "", "", nil)
				var out struct{ Data payload }
				if status != 200 || json.Unmarshal(raw, &out) != nil {
					t.Errorf("racing handoff: %d %s", status, raw)
					return
				}
				mu.Lock()
				issued = append(issued, tokens.HandoffTokenHash(secret, out.Data.Token))
				mu.Unlock()
			}()
		}
		wg.Wait()
		if h := e.str(t, "SELECT mobile_write_token_hash FROM verification_sessions WHERE id = ?", r.id); h == nil || !strings.Contains(strings.Join(issued, ","), *h) {
			t.Fatalf("stored hash %v is none of the issued %v", h, issued)
		}
		// Ended and overdue: 410 (the overdue one expired on touch).
		wantStatus(t, e.call(t, "POST", "/v1/sessions/"+r.id+"/cancel", o.key, ""), 204)
		wantError(t, e.v(t, "POST", "/session/"+r.id+"/handoff", ""), 410, "SESSION_EXPIRED", msgSessionExpired)
		overdue := e.newVerifySession(t, o, "")
		wantStatus(t, e.v(t, "POST", "/session/"+overdue.id+"/consent", allConsents), 200)
		e.clock.Advance(61 * time.Minute)
		wantError(t, e.v(t, "POST", "/session/"+overdue.id+"/handoff", ""), 410, "SESSION_EXPIRED", msgSessionExpired)
		if st := e.str(t, "SELECT status FROM verification_sessions WHERE id = ?", overdue.id); *st != "expired" {
			t.Fatalf("overdue session is %s", *st)
		}
	})
}

type statusView struct {
	SessionID      string  `json:"session_id"`
	Status         string  `json:"status"`
	IsTerminal     bool    `json:"is_terminal"`
	CompletedAt    *string `json:"completed_at"`
	RedirectURL    *string `json:"redirect_url"`
	SameDeviceOnly bool    `json:"same_device_only"`
	LatestAttempt  *struct {
		ID             string  `json:"id"`
		Status         string  `json:"status"`
		CompletedAt    *string `json:"completed_at"`
		FailureCode    *string `json:"failure_code"`
		HandoffClaimed bool    `json:"handoff_claimed"`
		RetryAllowed   bool    `json:"retry_allowed"`
	} `json:"latest_attempt"`
}

func (e *env) status(t *testing.T, id string) statusView {
	t.Helper()
	a := e.v(t, "GET", "/session/"+id+"/status", "")
	wantStatus(t, a, 200)
	var out struct{ Data statusView }
	a.decode(t, &out)
	return out.Data
}

func TestVerifyReadViewsHTTP(t *testing.T) {
	forEachDBWith(t, func(c *server.Config) { c.Sandbox = true }, func(t *testing.T, e *env) {
		o := e.rpOrg(t, "views")
		for _, p := range []string{"/status", "/details", "/privacy-context", "/redirect-permitted"} {
			wantError(t, e.v(t, "GET", "/session/nope"+p, ""), 400, "INVALID_SESSION_ID", msgInvalidSessionID)
			wantError(t, e.v(t, "GET", "/session/"+unknownSessionID+p, ""), 404, "SESSION_NOT_FOUND", msgSessionNotFound)
		}
		s := e.newVerifySession(t, o, "")
		st := e.status(t, s.id)
		if st.SessionID != s.id || st.Status != "created" || st.IsTerminal || st.CompletedAt != nil || st.LatestAttempt != nil || st.SameDeviceOnly || st.RedirectURL != nil {
			t.Fatalf("created: %+v", st)
		}
		e.consume(t, s.id)
		st = e.status(t, s.id)
		if st.Status != "in_progress" || !st.SameDeviceOnly || st.LatestAttempt == nil || st.LatestAttempt.ID != s.id ||
			st.LatestAttempt.Status != "in_progress" || !st.LatestAttempt.HandoffClaimed || st.LatestAttempt.RetryAllowed {
			t.Fatalf("in progress: %+v", st)
		}
		wantStatus(t, e.call(t, "POST", "/v1/sessions/"+s.id+"/complete", o.key, `{"outcome":"failed","failure_code":"liveness_failed"}`), 200)
		st = e.status(t, s.id)
		if st.Status != "failed" || !st.IsTerminal || st.CompletedAt == nil || !jsTimeVerify.MatchString(*st.CompletedAt) || st.LatestAttempt == nil ||
			st.LatestAttempt.Status != "failed" || st.LatestAttempt.FailureCode == nil || *st.LatestAttempt.FailureCode != "liveness_failed" {
			t.Fatalf("failed: %+v", st)
		}

		// Details: no verified domain, so no business facts or logo; the
		// metadata's links and the share fields with their source.
		det := e.v(t, "GET", "/session/"+s.id+"/details", "")
		wantStatus(t, det, 200)
		var d map[string]json.RawMessage
		var top struct{ Data map[string]json.RawMessage }
		det.decode(t, &top)
		d = top.Data
		if string(d["organization_id"]) != `"`+o.id.String()+`"` || string(d["organization_logo"]) != "null" || string(d["organization_business_name"]) != "null" ||
			string(d["organization_verified_apex_domains"]) != "[]" || string(d["organization_website"]) != `"https://acme.example/"` ||
			!strings.Contains(string(d["rp_fallback"]), `"support_email":"support@acme.example"`) || string(d["is_age_only"]) != "false" ||
			string(d["age_threshold"]) != "null" ||
			!strings.Contains(string(d["share_fields"]), `"kayle_document_id":{"reason":"Sharing \"Kayle Document ID\"","required":true,"source":"default"}`) {
			t.Fatalf("details: %s", det.body)
		}
		// A verified domain unlocks them; a redirect on it is permitted
		// until the domain no longer covers it.
		domainID := e.verifyDomain(o.owner, "acme.example", false)
		withRedirect := e.newVerifySession(t, o, `{"redirect_url":"https://app.acme.example/done"}`)
		det = e.v(t, "GET", "/session/"+withRedirect.id+"/details", "")
		top.Data = nil
		det.decode(t, &top)
		if string(top.Data["organization_business_name"]) != `"Acme Ltd"` || string(top.Data["organization_verified_apex_domains"]) != `["acme.example"]` ||
			string(top.Data["organization_logo"]) == "null" {
			t.Fatalf("details with a verified domain: %s", det.body)
		}
		redirect := func(id string) (bool, *string) {
			a := e.v(t, "GET", "/session/"+id+"/redirect-permitted", "")
			wantStatus(t, a, 200)
			var out struct {
				Data struct {
					Permitted   bool    `json:"permitted"`
					RedirectURL *string `json:"redirect_url"`
				}
			}
			a.decode(t, &out)
			return out.Data.Permitted, out.Data.RedirectURL
		}
		if ok, u := redirect(s.id); !ok || u != nil {
			t.Fatalf("no redirect: %v %v", ok, u)
		}
		if ok, u := redirect(withRedirect.id); !ok || u == nil || *u != "https://app.acme.example/done" {
			t.Fatalf("covered redirect: %v %v", ok, u)
		}
		e.exec(t, "UPDATE verified_domains SET downgraded_at = ? WHERE id = ?", e.clock.Now().UTC(), domainID.String())
		if ok, u := redirect(withRedirect.id); ok || u == nil {
			t.Fatalf("redirect after the domain went: %v %v", ok, u)
		}
		if st := e.status(t, withRedirect.id); st.RedirectURL == nil || *st.RedirectURL != "https://app.acme.example/done" {
			t.Fatalf("status redirect_url %+v", st)
		}

		// Age-only: the threshold.
		age := e.newVerifySession(t, o, `{"share_fields":{"age_over_18":{"required":true,"reason":"Age check"}}}`)
		det = e.v(t, "GET", "/session/"+age.id+"/details", "")
		top.Data = nil
		det.decode(t, &top)
		if string(top.Data["is_age_only"]) != "true" || string(top.Data["age_threshold"]) != "18" {
			t.Fatalf("age-only details: %s", det.body)
		}

		// Privacy context.
		pc := func(id string) map[string]json.RawMessage {
			a := e.v(t, "GET", "/session/"+id+"/privacy-context", "")
			wantStatus(t, a, 200)
			var out struct{ Data map[string]json.RawMessage }
			a.decode(t, &out)
			return out.Data
		}
		p := pc(s.id)
		if string(p["status"]) != `"failed"` || string(p["is_terminal"]) != "true" || string(p["has_withdrawn_consent"]) != "false" ||
			string(p["result_webhook_deliveries"]) != `{"succeeded_count":0,"total_count":0,"undelivered_count":0}` || string(p["organization_name"]) == "" {
			t.Fatalf("privacy context: %v", p)
		}

		// Expire on touch: status and privacy-context expire an overdue
		// session; details and redirect-permitted do not.
		a1, a2 := e.newVerifySession(t, o, ""), e.newVerifySession(t, o, "")
		e.clock.Advance(61 * time.Minute)
		wantStatus(t, e.v(t, "GET", "/session/"+a1.id+"/details", ""), 200)
		wantStatus(t, e.v(t, "GET", "/session/"+a1.id+"/redirect-permitted", ""), 200)
		if st := e.str(t, "SELECT status FROM verification_sessions WHERE id = ?", a1.id); *st != "created" {
			t.Fatalf("details expired the session: %s", *st)
		}
		if st := e.status(t, a1.id); st.Status != "expired" || !st.IsTerminal || st.LatestAttempt != nil {
			t.Fatalf("overdue status: %+v", st)
		}
		if p := pc(a2.id); string(p["status"]) != `"expired"` {
			t.Fatalf("overdue privacy context: %v", p)
		}
	})
}

// sandboxSucceed ends a session as succeeded through the sandbox.
func (e *env) sandboxSucceed(t *testing.T, o rpOrg, id string) {
	t.Helper()
	wantStatus(t, e.call(t, "POST", "/v1/sessions/"+id+"/complete", o.key, `{"outcome":"succeeded","claims":{"kayle_document_id":"abc"}}`), 200)
}

func TestVerifyCancelHTTP(t *testing.T) {
	forEachDBWith(t, func(c *server.Config) { c.Sandbox = true }, func(t *testing.T, e *env) {
		o := e.rpOrg(t, "vcancel")
		ep := e.createEndpoint(t, o.key, `{"url":"https://hooks.example.com/kayle"}`).Endpoint
		e.createKey(t, o.key, ep.Id, "k1")
		body := func(tok string) string { return `{"cancel_token":"` + tok + `"}` }
		s := e.newVerifySession(t, o, "")
		wantError(t, e.v(t, "POST", "/session/bad/cancel", body(s.cancel)), 400, "INVALID_SESSION_ID", msgInvalidSessionID)
		for _, b := range []string{`{}`, body(s.cancel[:47]), body(strings.ToUpper(s.cancel)), `{"cancel_token":1}`, `{`} {
			wantError(t, e.v(t, "POST", "/session/"+s.id+"/cancel", b), 400, "INVALID_REQUEST", msgInvalidRequest)
		}
		wantError(t, e.v(t, "POST", "/session/"+unknownSessionID+"/cancel", body(s.cancel)), 404, "SESSION_NOT_FOUND", msgSessionNotFound)
		other := e.newVerifySession(t, o, "")
		wantError(t, e.v(t, "POST", "/session/"+s.id+"/cancel", body(other.cancel)), 401, "CANCEL_TOKEN_INVALID", msgCancelInvalid)

		// An active session, taken by a phone: cancelled, the flow's columns
		// cleared, one event, the audit rows.
		e.consume(t, s.id)
		wantStatus(t, e.v(t, "POST", "/session/"+s.id+"/cancel", body(s.cancel)), 204)
		if n := e.count(t, `SELECT COUNT(*) FROM verification_sessions WHERE id = ? AND status = 'cancelled' AND cancel_token_consumed_at IS NOT NULL
			AND mobile_write_token_consumed_at IS NULL AND mobile_hello_device_id_hash IS NULL AND mobile_hello_app_version IS NULL
			AND mobile_attest_key_id IS NULL AND current_phase IS NULL AND phase_updated_at IS NULL AND claimed_by_connection_id IS NULL AND claimed_at IS NULL`, s.id); n != 1 {
			t.Fatal("the cancelled session kept the flow's columns")
		}
		if n := e.count(t, "SELECT COUNT(*) FROM events WHERE trigger_id = ? AND type = 'verification.session.cancelled'", s.id); n != 1 {
			t.Fatalf("%d cancelled events", n)
		}
		if n := e.count(t, "SELECT COUNT(*) FROM audit_logs WHERE target_id = ? AND event IN ('session.cancelled', 'session.privacy_request.submitted')", s.id); n != 2 {
			t.Fatalf("%d audit rows", n)
		}
		meta := e.str(t, "SELECT CAST(metadata AS TEXT) FROM audit_logs WHERE target_id = ? AND event = 'session.privacy_request.submitted'", s.id)
		if m := strings.ReplaceAll(*meta, " ", ""); !strings.Contains(m, `"session_status_at_request":"in_progress"`) || !strings.Contains(m, `"total_webhook_delivery_count":0`) ||
			!strings.Contains(m, `"minimized_completed_attempt_count":0`) {
			t.Fatalf("privacy request metadata %s", *meta)
		}
		// Again: 204, nothing more.
		wantStatus(t, e.v(t, "POST", "/session/"+s.id+"/cancel", body(s.cancel)), 204)
		if n := e.count(t, "SELECT COUNT(*) FROM audit_logs WHERE target_id = ? AND event = 'session.privacy_request.submitted'", s.id); n != 1 {
			t.Fatalf("%d privacy requests", n)
		}

		// Succeeded, nothing delivered: withdrawn, the payload scrubbed.
		w := e.newVerifySession(t, o, "")
		e.sandboxSucceed(t, o, w.id)
		completed := e.str(t, "SELECT CAST(completed_at AS TEXT) FROM verification_sessions WHERE id = ?", w.id)
		if n := e.count(t, "SELECT COUNT(*) FROM webhook_deliveries d JOIN events v ON v.id = d.event_id WHERE v.trigger_id = ? AND d.payload IS NOT NULL", w.id); n != 1 {
			t.Fatalf("%d pending payloads before the withdrawal", n)
		}
		wantStatus(t, e.v(t, "POST", "/session/"+w.id+"/cancel", body(w.cancel)), 204)
		if st := e.str(t, "SELECT status FROM verification_sessions WHERE id = ?", w.id); *st != "cancelled" {
			t.Fatalf("withdrawn session is %s", *st)
		}
		if c := e.str(t, "SELECT CAST(completed_at AS TEXT) FROM verification_sessions WHERE id = ?", w.id); *c != *completed {
			t.Fatalf("completed_at moved: %s, was %s", *c, *completed)
		}
		if n := e.count(t, `SELECT COUNT(*) FROM webhook_deliveries d JOIN events v ON v.id = d.event_id WHERE v.trigger_id = ? AND v.type = 'verification.session.succeeded'
			AND d.status = 'failed' AND d.payload IS NULL AND d.payload_retention_reason = 'privacy_request' AND d.payload_scrubbed_at IS NOT NULL`, w.id); n != 1 {
			t.Fatal("the succeeded payload was not scrubbed")
		}
		if d := e.str(t, "SELECT CAST(data AS TEXT) FROM events WHERE trigger_id = ? AND type = 'verification.session.cancelled'", w.id); d == nil ||
			!strings.Contains(*d, "privacy_cancelled_after_terminal_success") {
			t.Fatalf("withdrawal event %v", d)
		}
		if n := e.count(t, "SELECT COUNT(*) FROM audit_logs WHERE target_id = ? AND event = 'session.cancelled'", w.id); n != 0 {
			t.Fatal("a withdrawal wrote session.cancelled")
		}
		if n := e.count(t, "SELECT cancelled FROM session_day_counts WHERE organization_id = ?", o.id.String()); n < 2 {
			t.Fatalf("day counts: %d cancelled", n)
		}
		wantStatus(t, e.v(t, "POST", "/session/"+w.id+"/cancel", body(w.cancel)), 204)
		p := e.v(t, "GET", "/session/"+w.id+"/privacy-context", "")
		if !strings.Contains(string(p.body), `"has_withdrawn_consent":true`) || !strings.Contains(string(p.body), `"status":"cancelled"`) {
			t.Fatalf("privacy context after withdrawal: %s", p.body)
		}

		// Succeeded and delivered: stays succeeded; the token is then used.
		dl := e.newVerifySession(t, o, "")
		e.sandboxSucceed(t, o, dl.id)
		e.exec(t, "UPDATE webhook_deliveries SET status = 'succeeded', payload = NULL WHERE event_id IN (SELECT id FROM events WHERE trigger_id = ?)", dl.id)
		p = e.v(t, "GET", "/session/"+dl.id+"/privacy-context", "")
		if !strings.Contains(string(p.body), `"result_webhook_deliveries":{"succeeded_count":1,"total_count":1,"undelivered_count":0}`) {
			t.Fatalf("privacy context: %s", p.body)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		codes := map[int]int{}
		for range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				status, _, _ := sendRaw(t, e, "POST", "/v1/verify/session/"+dl.id+"/cancel", "application/json", body(dl.cancel), nil)
				mu.Lock()
				codes[status]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		if codes[204] != 1 || codes[401] != 5 {
			t.Fatalf("racing cancels of a delivered session: %v", codes)
		}
		wantError(t, e.v(t, "POST", "/session/"+dl.id+"/cancel", body(dl.cancel)), 401, "CANCEL_TOKEN_USED", msgCancelUsed)
		if st := e.str(t, "SELECT status FROM verification_sessions WHERE id = ?", dl.id); *st != "succeeded" {
			t.Fatalf("delivered session is %s", *st)
		}

		// Racing cancels of an active session: all 204, one event.
		r := e.newVerifySession(t, o, "")
		codes = map[int]int{}
		for range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				status, _, _ := sendRaw(t, e, "POST", "/v1/verify/session/"+r.id+"/cancel", "application/json", body(r.cancel), nil)
				mu.Lock()
				codes[status]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		if codes[204] != 6 {
			t.Fatalf("racing cancels: %v", codes)
		}
		if n := e.count(t, "SELECT COUNT(*) FROM events WHERE trigger_id = ?", r.id); n != 1 {
			t.Fatalf("%d events after racing cancels", n)
		}

		// Overdue: expired on touch first, then 204 (expired, not cancelled).
		x := e.newVerifySession(t, o, "")
		e.clock.Advance(61 * time.Minute)
		wantStatus(t, e.v(t, "POST", "/session/"+x.id+"/cancel", body(x.cancel)), 204)
		if st := e.str(t, "SELECT status FROM verification_sessions WHERE id = ?", x.id); *st != "expired" {
			t.Fatalf("overdue cancel: %s", *st)
		}
		wantStatus(t, e.v(t, "POST", "/session/"+x.id+"/cancel", body(x.cancel)), 204)
	})
}

func TestVerifyAttestHTTP(t *testing.T) {
	// Stands in for verify/appattest (not yet in this branch) to reach the
	// storage: it refuses the attestation "refuse" and accepts the others.
	verifier := handlers.AttestVerifierFunc(func(keyID, att []byte, cdh [32]byte) (handlers.AttestKey, error) {
		if string(att) == "refuse" {
			return handlers.AttestKey{}, errRefused
		}
		return handlers.AttestKey{KeyID: keyID, PublicKeyCOSE: []byte("cose:" + string(att)), Receipt: []byte("receipt")}, nil
	})
	forEachDBWith(t, func(c *server.Config) { c.AttestVerifier = verifier }, func(t *testing.T, e *env) {
		challenge := func() string {
			a := e.v(t, "GET", "/attest/challenge", "")
			wantStatus(t, a, 200)
			var out struct {
				Data struct {
					Challenge string `json:"challenge"`
					ExpiresAt string `json:"expires_at"`
				}
			}
			a.decode(t, &out)
			if !challenge43.MatchString(out.Data.Challenge) || !jsTimeVerify.MatchString(out.Data.ExpiresAt) {
				t.Fatalf("challenge %+v", out.Data)
			}
			return out.Data.Challenge
		}
		register := func(key, att, ch string) answer {
			return e.v(t, "POST", "/attest/register", `{"key_id":"`+key+`","attestation":"`+att+`","challenge":"`+ch+`"}`)
		}
		good := "Z29vZA==" // base64 of "good"
		for _, b := range []string{`{}`, `{"key_id":"","attestation":"Z29vZA==","challenge":"` + strings.Repeat("a", 43) + `"}`,
			`{"key_id":"k","attestation":"Z29vZA==","challenge":"short"}`, `{`} {
			wantError(t, e.v(t, "POST", "/attest/register", b), 400, "INVALID_REQUEST", msgInvalidRequest)
		}
		wantError(t, register("a2V5", good, strings.Repeat("a", 43)), 401, "HELLO_ATTEST_INVALID", msgAttestInvalid)
		// Refused: the challenge is spent all the same.
		c := challenge()
		if n := e.count(t, "SELECT COUNT(*) FROM attest_challenges WHERE challenge_hash = ?", tokens.AttestChallengeHash(e.authSecret(t), c)); n != 1 {
			t.Fatal("the challenge is not stored by its keyed hash")
		}
		wantError(t, register("a2V5", "cmVmdXNl", c), 401, "HELLO_ATTEST_INVALID", msgAttestInvalid)
		wantError(t, register("a2V5", good, c), 401, "HELLO_ATTEST_INVALID", msgAttestInvalid)
		// Undecodable: 400, and spent.
		c = challenge()
		wantError(t, register("a2V5", "!!!", c), 400, "INVALID_REQUEST", msgInvalidRequest)
		wantError(t, register("a2V5", good, c), 401, "HELLO_ATTEST_INVALID", msgAttestInvalid)
		// Expired.
		c = challenge()
		e.clock.Advance(6 * time.Minute)
		wantError(t, register("a2V5", good, c), 401, "HELLO_ATTEST_INVALID", msgAttestInvalid)
		// Accepted: stored as sent; a second registration resets the counter.
		c = challenge()
		a := register("a2V5/+==", good, c)
		wantStatus(t, a, 200)
		if string(a.body) != `{"data":{"ok":true},"error":null}`+"\n" {
			t.Fatalf("register answer %q", a.body)
		}
		e.exec(t, "UPDATE mobile_attest_keys SET counter = 7, risk_metric = 3 WHERE key_id = ?", "a2V5/+==")
		wantStatus(t, register("a2V5/+==", "YmV0dGVy", challenge()), 200)
		if n := e.count(t, `SELECT COUNT(*) FROM mobile_attest_keys WHERE key_id = ? AND provider = 'ios_app_attest' AND counter = 0
			AND risk_metric IS NULL AND receipt_refreshed_at IS NULL AND last_used_at IS NOT NULL AND public_key_cose = ? AND receipt = ?`,
			"a2V5/+==", "Y29zZTpiZXR0ZXI=", "cmVjZWlwdA=="); n != 1 {
			t.Fatal("the re-registered key")
		}
		// Single use across concurrent presenters: one wins.
		c = challenge()
		var wg sync.WaitGroup
		var mu sync.Mutex
		codes := map[int]int{}
		for range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				status, _, _ := sendRaw(t, e, "POST", "/v1/verify/attest/register", "application/json",
					`{"key_id":"race","attestation":"Z29vZA==","challenge":"`+c+`"}`, nil)
				mu.Lock()
				codes[status]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		if codes[200] != 1 || codes[401] != 5 {
			t.Fatalf("racing registrations: %v", codes)
		}
	})
}

type refusal struct{}

func (refusal) Error() string { return "refused" }

var errRefused error = refusal{}

func TestVerifyAttestChallengeLimitHTTP(t *testing.T) {
	e := newEnv(t, "sqlite")
	for i := range 20 {
		wantStatus(t, e.v(t, "GET", "/attest/challenge", ""), 200)
		_ = i
	}
	status, raw, _ := sendRaw(t, e, "GET", "/v1/verify/attest/challenge", "", "", nil)
	wantError(t, answer{status, raw}, 429, "ATTEST_CHALLENGE_RATE_LIMITED", msgAttestRateLimited)
	r := get(t, e, "/v1/verify/attest/challenge")
	r.Body.Close()
	if ra := r.Header.Get("Retry-After"); r.StatusCode != 429 || ra == "" || ra == "0" {
		t.Fatalf("429 Retry-After %q", ra)
	}
	// The other verify routes keep their own budget.
	wantError(t, e.v(t, "GET", "/session/"+unknownSessionID+"/status", ""), 404, "SESSION_NOT_FOUND", msgSessionNotFound)
}

func TestVerifyRateLimitHTTP(t *testing.T) {
	e := newEnv(t, "sqlite", func(c *server.Config) { c.VerifyRateLimit, c.VerifyBurst = rate.Limit(0.001), 1 })
	wantError(t, e.v(t, "GET", "/session/"+unknownSessionID+"/status", ""), 404, "SESSION_NOT_FOUND", msgSessionNotFound)
	id := "/session/" + unknownSessionID
	for _, c := range []struct{ method, path, body string }{
		{"GET", id + "/status", ""}, {"GET", id + "/details", ""}, {"GET", id + "/privacy-context", ""},
		{"GET", id + "/redirect-permitted", ""}, {"POST", id + "/consent", allConsents}, {"POST", id + "/handoff", ""},
		{"POST", id + "/cancel", `{"cancel_token":"` + strings.Repeat("a", 48) + `"}`}, {"GET", id, ""},
		{"POST", "/attest/register", `{"key_id":"k","attestation":"Z29vZA==","challenge":"` + strings.Repeat("a", 43) + `"}`},
	} {
		wantError(t, e.v(t, c.method, c.path, c.body), 429, "RATE_LIMITED", "")
	}
	// Requests the validator refuses spend the same budget, and one in
	// debt is refused before its body is read.
	m := newEnv(t, "sqlite", func(c *server.Config) { c.VerifyRateLimit, c.VerifyBurst = rate.Limit(0.001), 2 })
	wantError(t, m.v(t, "POST", id+"/consent", `{"biometric_consent":"yes"}`), 400, "INVALID_REQUEST", "")
	wantError(t, m.v(t, "POST", id+"/consent", `{`), 400, "INVALID_REQUEST", "")
	wantError(t, m.v(t, "POST", id+"/consent", `{`), 429, "RATE_LIMITED", "")
	// Authenticated routes are not on this budget.
	p := e.person("someone")
	wantStatus(t, e.call(t, "GET", "/v1/auth/account/owned-organizations", p.Token, ""), 200)
}

func TestVerifySocketHTTP(t *testing.T) {
	var mu sync.Mutex
	var handed []string
	socket := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		handed = append(handed, r.URL.Path)
		mu.Unlock()
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		defer conn.Close()
		rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		rw.Flush()
	})
	plain := newEnv(t, "sqlite")
	wired := newEnv(t, "sqlite", func(c *server.Config) { c.VerifySocket = socket })
	path := "/v1/verify/session/" + unknownSessionID
	for _, e := range []*env{plain, wired} {
		wantError(t, e.call(t, "GET", path, "", ""), 426, "WEBSOCKET_REQUIRED", msgWebSocketRequired)
		wantError(t, e.call(t, "GET", "/v1/verify/session/vs_bad", "", ""), 400, "INVALID_SESSION_ID", msgInvalidSessionID)
	}
	upgrade := http.Header{"Upgrade": {"WebSocket"}, "Connection": {"Upgrade"}, "Sec-Websocket-Version": {"13"}, "Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}}
	// No socket wired: an upgrade is refused too.
	status, raw, _ := sendRaw(t, plain, "GET", path, "", "", upgrade)
	wantError(t, answer{status, raw}, 426, "WEBSOCKET_REQUIRED", msgWebSocketRequired)
	// Wired: the upgrade is handed over whole (the socket answers even a
	// bad id, as upstream, with its own error message).
	for _, p := range []string{path, "/v1/verify/session/vs_bad"} {
		req, _ := http.NewRequest("GET", wired.srv.URL+p, nil)
		req.Header = upgrade.Clone()
		conn, err := (&net.Dialer{}).Dial("tcp", strings.TrimPrefix(wired.srv.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		req.Write(conn)
		resp, err := http.ReadResponse(bufio.NewReader(conn), req)
		conn.Close()
		if err != nil || resp.StatusCode != 101 {
			t.Fatalf("upgrade of %s: %v %v", p, resp, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(handed) != 2 || handed[0] != path {
		t.Fatalf("handed over: %v", handed)
	}
}

// FuzzVerifyBodies sends mutated bodies to the public verify routes that
// read one (consent, cancel, attest registration) of a real session:
// whatever the bytes, a 4xx in the envelope or a success, never a 5xx.
func FuzzVerifyBodies(f *testing.F) {
	e := newEnv(f, "sqlite", func(c *server.Config) { c.VerifyRateLimit = -1 })
	o := e.rpOrg(f, "fuzz-verify")
	a := e.call(f, "POST", "/v1/sessions", o.key, "")
	var created struct{ Data sessionObject }
	if json.Unmarshal(a.body, &created) != nil || created.Data.ID == "" {
		f.Fatalf("create: %d %s", a.status, a.body)
	}
	id := created.Data.ID
	paths := []string{"/v1/verify/session/" + id + "/consent", "/v1/verify/session/" + id + "/cancel", "/v1/verify/attest/register"}
	for _, h := range hostileCases("", "") {
		if strings.HasPrefix(h.path, "/v1/verify/") && h.body != "" {
			for i := range paths {
				f.Add(uint8(i), h.ctype, h.body)
			}
		}
	}
	f.Add(uint8(0), "application/json", allConsents)
	f.Add(uint8(1), "application/json", `{"cancel_token":"`+strings.Repeat("a", 48)+`"}`)
	f.Add(uint8(2), "application/json", `{"key_id":"a2V5","attestation":"Z29vZA==","challenge":"`+strings.Repeat("_", 43)+`"}`)
	f.Fuzz(func(t *testing.T, which uint8, ctype, body string) {
		fuzzRequest(t, e, "POST", paths[int(which)%len(paths)], ctype, body, nil)
	})
}

// Consent rows are bounded per session: past MaxConsentsPerSession a call
// answers the newest row again and writes nothing.
func TestVerifyConsentBounded(t *testing.T) {
	e := newEnv(t, "sqlite")
	o := e.rpOrg(t, "consentcap")
	s := e.newVerifySession(t, o, "")
	var last string
	for i := range store.MaxConsentsPerSession + 5 {
		a := e.v(t, "POST", "/session/"+s.id+"/consent", allConsents)
		wantStatus(t, a, 200)
		var out struct {
			Data struct {
				ConsentID string `json:"consent_id"`
			} `json:"data"`
		}
		a.decode(t, &out)
		if i >= store.MaxConsentsPerSession && out.Data.ConsentID != last {
			t.Fatalf("call %d made consent %s, want the newest %s again", i, out.Data.ConsentID, last)
		}
		last = out.Data.ConsentID
	}
	if n := e.count(t, "SELECT COUNT(*) FROM verification_consents WHERE verification_session_id = ?", s.id); n != store.MaxConsentsPerSession {
		t.Fatalf("%d consent rows, want %d", n, store.MaxConsentsPerSession)
	}
}
