package server_test

import (
	"bytes"
	"context"
	"slices"
	"testing"

	"github.com/kayle-id/orgs-api/internal/testdb"
	"github.com/kayle-id/orgs-api/internal/verifytest"
	"github.com/kayle-id/orgs-api/verify/appattest"
	"github.com/kayle-id/orgs-api/verify/appattest/attesttest"
	"github.com/kayle-id/orgs-api/verify/biometric/biotest"
	"github.com/kayle-id/orgs-api/verify/proto"
	"github.com/kayle-id/orgs-api/verify/tokens"
)

// attestEnv is a verify server with the App Attest gate on over the
// attesttest CA (production AAGUID, attesttest.AppID), at the socket and at
// registration.
func newAttestEnv(t *testing.T, kind testdb.Kind) *verifyEnv {
	t.Helper()
	tune, opt := withAttestation(attesttest.Default().Config(appattest.Production))
	return newVerifyEnvTB(t, kind, tune, opt)
}

// registered is a device whose key the server registered over HTTP.
func (e *verifyEnv) registered(t *testing.T) *verifytest.Device {
	t.Helper()
	d := verifytest.NewDevice(nil)
	if err := d.Register(context.Background(), e.srv.URL); err != nil {
		t.Fatal(err)
	}
	return d
}

func (e *verifyEnv) storedCounter(t *testing.T, d *verifytest.Device) int {
	t.Helper()
	return e.count(t, "SELECT counter FROM mobile_attest_keys WHERE key_id = ?", d.KeyID)
}

// signed answers an assertion, failing t if it could not be made.
func signed(t *testing.T) func([]byte, error) []byte {
	return func(b []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
}

const attestShare = `{"share_fields":{"given_names":{"required":true,"reason":"To greet you"},"date_of_birth":{"required":false,"reason":"Age"}}}`

// The hello gate (§5.5 step 6, §6.6): a key registered over HTTP and an
// assertion over the session, device, app version and the handoff's hello
// challenge pass; no key, an unknown key, a bad signature and a replayed
// counter are refused with close 1008, and a resume must carry the
// session's own key. Then nfc_complete's assertion over the artefacts
// passes and the session succeeds.
func TestVerifySocketAttestHello(t *testing.T) {
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			e := newAttestEnv(t, kind)
			mustAssert := signed(t)
			o := e.rpOrg(t, "attest")
			devA, devB := e.registered(t), e.registered(t)
			unregistered := verifytest.NewDevice(nil)
			if n := e.storedCounter(t, devA); n != 0 {
				t.Fatalf("a new key's counter: %d", n)
			}
			h := e.handoffFull(t, o.key, attestShare)
			secret, err := e.st.VerifySecret(ctx)
			if err != nil {
				t.Fatal(err)
			}
			// The handoff hands the app the challenges the server derives.
			if !bytes.Equal(h.helloChal, tokens.HelloChallenge(secret, h.id)) || !bytes.Equal(h.nfcChal, tokens.NFCChallenge(secret, h.id)) {
				t.Fatal("the handoff's App Attest challenges are not the session's")
			}
			const device = "device-a"
			hello := func(d *verifytest.Device) []byte {
				return mustAssert(d.HelloAssertion(h.id, device, "1.5.0", h.helloChal))
			}
			refused := func(name, keyID string, assertion []byte, code string) {
				t.Helper()
				p := e.dial(t, h.id)
				p.helloAttested(h.token, device, keyID, assertion)
				p.wantError(code)
				p.wantClose(1008, code)
			}
			refused("no key id", "", hello(devA), proto.CodeHelloAttestKeyUnknown)
			refused("no assertion", devA.KeyID, nil, proto.CodeHelloAttestKeyUnknown)
			refused("unregistered key", unregistered.KeyID, hello(unregistered), proto.CodeHelloAttestKeyUnknown)
			// Signed by another key under A's id.
			refused("bad signature", devA.KeyID, hello(unregistered), proto.CodeHelloAttestInvalid)
			// A's key over another device id.
			refused("other client data", devA.KeyID, mustAssert(devA.HelloAssertion(h.id, "device-b", "1.5.0", h.helloChal)), proto.CodeHelloAttestInvalid)
			if v := e.getSession(t, o.key, h.id); v.Status != "created" {
				t.Fatalf("after refused hellos: %s", v.Status)
			}

			first := hello(devA)
			p := e.dial(t, h.id)
			p.helloAttested(h.token, device, devA.KeyID, first)
			p.helloOK()
			if n := e.storedCounter(t, devA); n != int(devA.Counter) {
				t.Fatalf("stored counter %d, want %d", n, devA.Counter)
			}
			if n := e.count(t, "SELECT COUNT(*) FROM verification_sessions WHERE id = ? AND mobile_attest_key_id = ?", h.id, devA.KeyID); n != 1 {
				t.Fatal("the session does not record the hello's key")
			}
			p.must(p.c.Close())
			e.released(t, h.id)

			// The same assertion again: its counter is not above the stored one.
			refused("replayed assertion", devA.KeyID, first, proto.CodeHelloAttestInvalid)
			// Another registered key, validly signed, on a resume (our rule:
			// upstream accepts any registered key there).
			refused("resume with another key", devB.KeyID, hello(devB), proto.CodeHelloAttestInvalid)

			p = e.dial(t, h.id)
			p.helloAttested(h.token, device, devA.KeyID, hello(devA))
			ch := p.helloOK()
			a := e.artefacts(t, ch)
			p.scanArtefacts(a)
			p.must(p.c.Phase(p.ctx, "nfc_complete", mustAssert(devA.NFCAssertion(h.id, a, h.nfcChal))))
			p.ack(proto.AckPhaseOK)
			if n := e.storedCounter(t, devA); n != int(devA.Counter) {
				t.Fatalf("after nfc_complete: stored counter %d, want %d", n, devA.Counter)
			}
			p.capture(biotest.Accept)
			p.phase("liveness_complete")
			if r := p.expect(proto.ServerCheckResult).CheckResult; r.Outcome != proto.OutcomeConfirmed {
				t.Fatalf("check result %+v", r)
			}
			p.expect(proto.ServerShareRequest)
			p.must(p.c.Share(p.ctx, h.id, []string{"given_names", "kayle_document_id"}))
			if r := p.expect(proto.ServerShareReady).ShareReady; !slices.Equal(r.SelectedFieldKeys, []string{"given_names", "kayle_document_id"}) {
				t.Fatalf("share ready %+v", r)
			}
			if v := e.getSession(t, o.key, h.id); v.Status != "succeeded" {
				t.Fatalf("after share: %s", v.Status)
			}
		})
	}
}

// The NFC gate (§5.8 step 1, §6.6): with the gate on, nfc_complete without
// an assertion, with one over other artefacts, or with one by a key that
// is not the session's, ends the session at once: checkResult
// document_anti_cloning_attestation_failed with no retry, close 1008,
// status failed, risk score 1, no try counted.
func TestVerifySocketAttestNFC(t *testing.T) {
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			e := newAttestEnv(t, kind)
			o := e.rpOrg(t, "attest-nfc")
			devA, devB := e.registered(t), e.registered(t)
			for _, c := range []struct {
				name      string
				assertion func(t *testing.T, id string, a *verifytest.Artefacts, nfc []byte) []byte
			}{
				{"no assertion", func(*testing.T, string, *verifytest.Artefacts, []byte) []byte { return nil }},
				{"other artefacts", func(t *testing.T, id string, a *verifytest.Artefacts, nfc []byte) []byte {
					other := *a
					other.DG2 = append([]byte{}, a.DG2...)
					other.DG2[len(other.DG2)-1] ^= 1
					return signed(t)(devA.NFCAssertion(id, &other, nfc))
				}},
				{"hello challenge", func(t *testing.T, id string, a *verifytest.Artefacts, _ []byte) []byte {
					secret, _ := e.st.VerifySecret(context.Background())
					return signed(t)(devA.NFCAssertion(id, a, tokens.HelloChallenge(secret, id)))
				}},
				{"another registered key", func(t *testing.T, id string, a *verifytest.Artefacts, nfc []byte) []byte {
					return signed(t)(devB.NFCAssertion(id, a, nfc))
				}},
				{"replayed counter", func(t *testing.T, id string, a *verifytest.Artefacts, nfc []byte) []byte {
					devA.Counter-- // the hello's counter again
					return signed(t)(devA.NFCAssertion(id, a, nfc))
				}},
			} {
				t.Run(c.name, func(t *testing.T) {
					h := e.handoffFull(t, o.key, attestShare)
					p := e.dial(t, h.id)
					p.helloAttested(h.token, "device-a", devA.KeyID, signed(t)(devA.HelloAssertion(h.id, "device-a", "1.5.0", h.helloChal)))
					a := e.artefacts(t, p.helloOK())
					p.scanArtefacts(a)
					p.must(p.c.Phase(p.ctx, "nfc_complete", c.assertion(t, h.id, a, h.nfcChal)))
					r := p.expect(proto.ServerCheckResult).CheckResult
					if r.Outcome != proto.OutcomeNotConfirmed || r.ReasonCode != proto.FailureDocumentAntiCloning || r.RetryAllowed ||
						r.FailedCheck != proto.CheckNFC || r.RemainingNFCRetries != 3 {
						t.Fatalf("check result %+v", r)
					}
					p.wantClose(1008, proto.FailureDocumentAntiCloning)
					status, failure, risk := e.sessionRow(t, h.id)
					if status != "failed" || failure == nil || *failure != proto.FailureDocumentAntiCloning || risk == nil || *risk != 1 {
						t.Fatalf("session row: %s %v %v", status, failure, risk)
					}
					if n := e.count(t, "SELECT nfc_tries_used FROM verification_sessions WHERE id = ?", h.id); n != 0 {
						t.Fatalf("a hard kill counted %d NFC tries", n)
					}
					if v := e.getSession(t, o.key, h.id); v.Status != "failed" {
						t.Fatalf("API status %s", v.Status)
					}
				})
			}
		})
	}
}

// With the gate on, a counted NFC failure is retried as without it: the
// app answers the new active-authentication challenge and signs a fresh
// assertion over the new artefacts, and that try passes.
func TestVerifySocketAttestNFCRetry(t *testing.T) {
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			e := newAttestEnv(t, kind)
			o := e.rpOrg(t, "attest-retry")
			dev := e.registered(t)
			h := e.handoffFull(t, o.key, attestShare)
			p := e.dial(t, h.id)
			p.helloAttested(h.token, "device-a", dev.KeyID, signed(t)(dev.HelloAssertion(h.id, "device-a", "1.5.0", h.helloChal)))
			p.helloOK()
			// The chip answers another challenge than this connection's.
			a := e.artefacts(t, make([]byte, proto.ActiveAuthChallengeBytes))
			p.scanArtefacts(a)
			p.must(p.c.Phase(p.ctx, "nfc_complete", signed(t)(dev.NFCAssertion(h.id, a, h.nfcChal))))
			r := p.expect(proto.ServerCheckResult).CheckResult
			if r.ReasonCode != proto.FailureDocumentActiveAuthentication || !r.RetryAllowed || r.RemainingNFCRetries != 2 {
				t.Fatalf("first try %+v", r)
			}
			ch := p.expect(proto.ServerActiveAuthChallenge).ActiveAuthChallenge
			a = e.artefacts(t, ch)
			_, err := p.c.Upload(p.ctx, proto.KindActiveAuth, a.ActiveAuth, 1000)
			p.must(err)
			p.must(p.c.Phase(p.ctx, "nfc_complete", signed(t)(dev.NFCAssertion(h.id, a, h.nfcChal))))
			p.ack(proto.AckPhaseOK)
			if status, _, risk := e.sessionRow(t, h.id); status != "in_progress" || risk == nil || *risk != 1 {
				t.Fatalf("after the retry: %s risk %v", status, risk)
			}
		})
	}
}
