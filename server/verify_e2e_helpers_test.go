package server_test

import (
	"context"
	"encoding/base64"
	"testing"
	"time"

	"github.com/kayle-id/orgs-api/handlers"
	"github.com/kayle-id/orgs-api/internal/testdb"
	"github.com/kayle-id/orgs-api/internal/verifytest"
	"github.com/kayle-id/orgs-api/server"
	"github.com/kayle-id/orgs-api/store"
	"github.com/kayle-id/orgs-api/verify/appattest"
	"github.com/kayle-id/orgs-api/verify/biometric"
	"github.com/kayle-id/orgs-api/verify/biometric/biotest"
	"github.com/kayle-id/orgs-api/verify/flow"
	"github.com/kayle-id/orgs-api/verify/passiveauth"
	"github.com/kayle-id/orgs-api/verify/proto"
	"github.com/kayle-id/orgs-api/verify/truststore"
)

// newVerifyEnvTB is newVerifyEnv for tests and benchmarks, with the
// server's configuration adjusted too.
func newVerifyEnvTB(t testing.TB, kind testdb.Kind, tune func(*flow.Config), opts ...func(*server.Config)) *verifyEnv {
	t.Helper()
	return newVerifyEnvLimits(t, kind, tune, flow.Limits{}, opts...)
}

// newVerifyEnvLimits is newVerifyEnvTB with the sockets' limits.
func newVerifyEnvLimits(t testing.TB, kind testdb.Kind, tune func(*flow.Config), limits flow.Limits, opts ...func(*server.Config)) *verifyEnv {
	t.Helper()
	bio := biotest.New(t, verifierSecret)
	client, err := biometric.New(biometric.Config{BaseURL: bio.URL, Secret: verifierSecret, AllowPrivate: true})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnvWith(t, kind, envOptions{verify: func(st *store.Store) (*flow.Config, flow.Limits) {
		fc := &flow.Config{Store: st, Verifier: client, Revocation: passiveauth.RequireRevocationStatus,
			TrustStore: truststore.New(st.DB(), truststore.Dialect(st.Dialect()), truststore.Options{}).PassiveAuth()}
		if tune != nil {
			tune(fc)
		}
		return fc, limits
	}}, opts...)
	doc := verifytest.NewDocument(t)
	doc.Trust(t, e.st)
	return &verifyEnv{env: e, verifier: bio, doc: doc}
}

// withAttestation turns the App Attest gate on over the attesttest CA, at
// the socket and at registration (the adapter cmd/kayleid wires).
func withAttestation(att appattest.Config) (func(*flow.Config), func(*server.Config)) {
	return func(fc *flow.Config) { fc.RequireAttestation, fc.Attest = true, att },
		func(c *server.Config) {
			c.AttestVerifier = handlers.AttestVerifierFunc(func(keyID, attestation []byte, cdh [32]byte) (handlers.AttestKey, error) {
				k, err := att.VerifyAttestation(keyID, attestation, cdh)
				return handlers.AttestKey{KeyID: k.KeyID, PublicKeyCOSE: k.PublicKeyCOSE, Receipt: k.Receipt}, err
			})
		}
}

// handoffPayload is a session through consent and handoff: its id, the
// mobile write token and the two App Attest challenges, decoded.
type handoffPayload struct {
	id, token          string
	helloChal, nfcChal []byte
}

func (e *verifyEnv) handoffFull(t *testing.T, key, body string) handoffPayload {
	t.Helper()
	s := e.createSession(t, key, body)
	wantStatus(t, e.call(t, "POST", "/v1/verify/session/"+s.ID+"/consent", "",
		`{"biometric_consent":true,"document_processing_consent":true,"privacy_notice_acknowledged":true,"share_claims_consent":true,"terms_acknowledged":true}`), 200)
	a := e.call(t, "POST", "/v1/verify/session/"+s.ID+"/handoff", "", "")
	wantStatus(t, a, 200)
	var out struct {
		Data struct {
			Token string `json:"mobile_write_token"`
			Hello string `json:"attest_hello_challenge"`
			NFC   string `json:"attest_nfc_challenge"`
		} `json:"data"`
	}
	a.decode(t, &out)
	return handoffPayload{id: s.ID, token: out.Data.Token, helloChal: b64url(t, out.Data.Hello), nfcChal: b64url(t, out.Data.NFC)}
}

// helloAttested sends a hello carrying keyID and assertion.
func (p *phone) helloAttested(token, device, keyID string, assertion []byte) {
	p.t.Helper()
	p.must(p.c.Hello(p.ctx, proto.Hello{SessionID: p.id, MobileWriteToken: token, DeviceID: device, AppVersion: "1.5.0",
		AttestKeyID: keyID, HelloAssertion: assertion}))
}

// helloOK reads hello_ok and the active-authentication challenge.
func (p *phone) helloOK() []byte {
	p.t.Helper()
	p.ack(proto.AckHelloOK)
	return p.expect(proto.ServerActiveAuthChallenge).ActiveAuthChallenge
}

// scanArtefacts walks the phases to nfc_reading and uploads a's artefacts.
func (p *phone) scanArtefacts(a *verifytest.Artefacts) {
	p.t.Helper()
	for _, ph := range []string{"mrz_scanning", "mrz_complete", "nfc_reading"} {
		p.phase(ph)
		p.ack(proto.AckPhaseOK)
	}
	for _, u := range a.Uploads() {
		ack, err := p.c.Upload(p.ctx, u.Kind, u.Data, 1000)
		p.must(err)
		if ack != proto.AckDataComplete(u.Kind, 0) {
			p.t.Fatalf("upload %v: %s", u.Kind, ack)
		}
	}
}

// artefacts are the document's uploads for challenge.
func (e *verifyEnv) artefacts(t *testing.T, challenge []byte) *verifytest.Artefacts {
	t.Helper()
	a, err := e.doc.Artefacts(challenge)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// released waits until no connection holds the session's claim (the
// server releases it after the socket ends).
func (e *verifyEnv) released(t *testing.T, id string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for e.count(t, "SELECT COUNT(*) FROM verification_sessions WHERE id = ? AND claimed_by_connection_id IS NOT NULL", id) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the session's claim was not released")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sessionRow is what the store holds of a session's outcome.
func (e *verifyEnv) sessionRow(t *testing.T, id string) (status string, failure *string, risk *float64) {
	t.Helper()
	if err := e.st.DB().QueryRowContext(context.Background(), e.ph("SELECT status, failure_code, risk_score FROM verification_sessions WHERE id = ?"), id).
		Scan(&status, &failure, &risk); err != nil {
		t.Fatal(err)
	}
	return status, failure, risk
}

func b64url(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != 32 {
		t.Fatalf("challenge %q: %v", s, err)
	}
	return b
}
