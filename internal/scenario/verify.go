package scenario

import (
	"strings"
)

// verify walks the public verify routes (no credential) on a fresh session
// of the walk's key: every status each can give from outside, except the
// rate limits.
func (r *runner) verify(w rpWalk) {
	ctx, c := r.ctx, r.c
	const ct = "application/json"
	if w.key == "" {
		return
	}
	s, err := c.CreateSessionWithBodyWithResponse(ctx, ct, jsonBody(`{}`), r.bearer(w.key))
	r.expect("createSession", s, err, 200)
	if s == nil || s.JSON200 == nil || s.JSON200.Data.CancelToken == nil {
		return
	}
	id, cancel := s.JSON200.Data.Id, *s.JSON200.Data.CancelToken
	unknown, bad := "vs_"+strings.Repeat("9", 64), "vs_short"
	consents := `{"biometric_consent":true,"document_processing_consent":true,"privacy_notice_acknowledged":true,"share_claims_consent":true,"terms_acknowledged":true}`
	consent := func(id, body string, want int) {
		x, err := c.VerifyConsentWithBodyWithResponse(ctx, id, ct, jsonBody(body))
		r.expect("verifyConsent", x, err, want)
	}
	handoff := func(id string, want int) {
		x, err := c.VerifyHandoffWithResponse(ctx, id)
		r.expect("verifyHandoff", x, err, want)
	}
	handoff(bad, 400)
	handoff(unknown, 404)
	handoff(id, 409) // no consent yet
	consent(bad, consents, 400)
	consent(id, `{"biometric_consent":false}`, 400)
	consent(unknown, consents, 404)
	consent(id, consents, 200)
	handoff(id, 200)
	for _, id := range []struct {
		id   string
		want int
	}{{bad, 400}, {unknown, 404}, {id, 200}} {
		st, err := c.VerifyStatusWithResponse(ctx, id.id)
		r.expect("verifyStatus", st, err, id.want)
		d, err := c.VerifyDetailsWithResponse(ctx, id.id)
		r.expect("verifyDetails", d, err, id.want)
		p, err := c.VerifyPrivacyContextWithResponse(ctx, id.id)
		r.expect("verifyPrivacyContext", p, err, id.want)
		rp, err := c.VerifyRedirectPermittedWithResponse(ctx, id.id)
		r.expect("verifyRedirectPermitted", rp, err, id.want)
	}
	sock, err := c.VerifySocketWithResponse(ctx, id)
	r.expect("verifySocket", sock, err, 426)
	sock, err = c.VerifySocketWithResponse(ctx, bad)
	r.expect("verifySocket", sock, err, 400)
	ch, err := c.VerifyAttestChallengeWithResponse(ctx)
	r.expect("verifyAttestChallenge", ch, err, 200)
	register := func(body string, want int) {
		x, err := c.VerifyAttestRegisterWithBodyWithResponse(ctx, ct, jsonBody(body))
		r.expect("verifyAttestRegister", x, err, want)
	}
	register(`{}`, 400)
	if ch != nil && ch.JSON200 != nil {
		// No verifier accepts this attestation: refused, the challenge spent.
		register(`{"key_id":"a2V5","attestation":"Z29vZA==","challenge":"`+ch.JSON200.Data.Challenge+`"}`, 401)
	}
	cancelWith := func(id, tok string, want int) {
		x, err := c.VerifyCancelWithBodyWithResponse(ctx, id, ct, jsonBody(`{"cancel_token":"`+tok+`"}`))
		r.expect("verifyCancel", x, err, want)
	}
	cancelWith(bad, cancel, 400)
	cancelWith(id, "short", 400)
	cancelWith(unknown, cancel, 404)
	cancelWith(id, strings.Repeat("0", 48), 401)
	cancelWith(id, cancel, 204)
	cancelWith(id, cancel, 204) // cancelled: still 204
	consent(id, consents, 410)
	handoff(id, 410)
}
