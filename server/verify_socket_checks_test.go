package server_test

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"net/http"
	"testing"

	"github.com/kayle-id/orgs-api/verify/biometric/biotest"
	"github.com/kayle-id/orgs-api/verify/document/doctest"
	"github.com/kayle-id/orgs-api/verify/flow"
	"github.com/kayle-id/orgs-api/verify/proto"
)

// artefact is one upload.
type artefact struct {
	kind proto.DataKind
	raw  []byte
}

// chip is the document's uploads for challenge, with the kinds in replace
// swapped (a nil value leaves the kind out).
func (e *verifyEnv) chip(t *testing.T, challenge []byte, replace map[proto.DataKind][]byte) []artefact {
	t.Helper()
	all := []artefact{{proto.KindDG1, e.doc.DG1}, {proto.KindDG2, e.doc.DG2}, {proto.KindSOD, e.doc.SOD}, {proto.KindDG14, e.doc.DG14},
		{proto.KindDG15, e.doc.DG15}, {proto.KindActiveAuth, e.doc.ActiveAuth(t, challenge)}, {proto.KindChipAuth, e.doc.CATranscript}}
	var out []artefact
	for _, a := range all {
		if raw, ok := replace[a.kind]; ok {
			if raw == nil {
				continue
			}
			a.raw = raw
		}
		out = append(out, a)
	}
	return out
}

func (p *phone) uploadAll(as []artefact) {
	p.t.Helper()
	for _, a := range as {
		p.upload(a.kind, a.raw)
	}
}

// toNFCReading walks a first connection's phases to nfc_reading.
func (p *phone) toNFCReading() {
	p.t.Helper()
	for _, ph := range []string{"mrz_scanning", "mrz_complete", "nfc_reading"} {
		p.step(ph, proto.AckPhaseOK)
	}
}

// wantFailure reads a failed check's checkResult.
func (p *phone) wantFailure(code string, check proto.CheckKind, retry bool, nfcLeft, livenessLeft uint32) {
	p.t.Helper()
	r := p.expect(proto.ServerCheckResult).CheckResult
	if r.Outcome != proto.OutcomeNotConfirmed || r.ReasonCode != code || r.ReasonMessage != proto.Describe(code) || r.FailedCheck != check ||
		r.RetryAllowed != retry || r.RemainingNFCRetries != nfcLeft || r.RemainingLivenessRetries != livenessLeft {
		p.t.Fatalf("check result %+v, want %s failed=%d retry=%v left %d/%d", r, code, check, retry, nfcLeft, livenessLeft)
	}
}

func (e *verifyEnv) tries(t *testing.T, id string) (nfc, liveness int) {
	t.Helper()
	if err := e.st.DB().QueryRow(e.ph("SELECT nfc_tries_used, liveness_tries_used FROM verification_sessions WHERE id = ?"), id).Scan(&nfc, &liveness); err != nil {
		t.Fatal(err)
	}
	return nfc, liveness
}

func (e *verifyEnv) auditFor(t *testing.T, o rpOrg, event, id string) int {
	t.Helper()
	n := 0
	for _, r := range e.auditEvents(t, o.owner, event) {
		if r.TargetID == id {
			n++
		}
	}
	return n
}

func TestVerifySocketDocumentFailures(t *testing.T) {
	forEachVerifyDB(t, nil, flow.Limits{}, func(t *testing.T, e *verifyEnv) {
		o := e.rpOrg(t, "nfcfail")
		id, token := e.handoff(t, o.key, "")

		// 1. A data group that is not the one the SOD signed.
		p := e.dial(t, id)
		ch1 := p.hello(token, "device-a")
		p.toNFCReading()
		dg1 := bytes.Clone(e.doc.DG1)
		dg1[len(dg1)-60] ^= 1 // a name character: still a readable MRZ
		p.uploadAll(e.chip(t, ch1, map[proto.DataKind][]byte{proto.KindDG1: dg1}))
		p.phase("nfc_complete")
		p.wantFailure(proto.FailureDocumentAuthenticity, proto.CheckNFC, true, 2, 3)
		ch2 := p.expect(proto.ServerActiveAuthChallenge).ActiveAuthChallenge
		if len(ch2) != 8 || bytes.Equal(ch1, ch2) {
			t.Fatalf("the retry's challenge %x (first %x)", ch2, ch1)
		}
		if v := e.phaseOf(t, id); v != "nfc_reading" {
			t.Fatalf("row phase %q after the failure", v)
		}
		p.must(p.c.Close())

		// 2. A resume that presents the chip's answer to the previous
		// connection's challenge: a replay, refused.
		p = e.dial(t, id)
		ch3 := p.hello(token, "device-a")
		if bytes.Equal(ch3, ch1) || bytes.Equal(ch3, ch2) {
			t.Fatal("a resume got an earlier challenge")
		}
		p.uploadAll(e.chip(t, ch2, nil))
		p.phase("nfc_complete")
		p.wantFailure(proto.FailureDocumentActiveAuthentication, proto.CheckNFC, true, 1, 3)
		p.expect(proto.ServerActiveAuthChallenge)
		p.must(p.c.Close())

		// 3. No active authentication although the SOD declares DG15: the
		// third failure ends the session.
		p = e.dial(t, id)
		p.hello(token, "device-a")
		p.uploadAll(e.chip(t, nil, map[proto.DataKind][]byte{proto.KindActiveAuth: nil}))
		p.phase("nfc_complete")
		p.wantFailure(proto.FailureDocumentActiveAuthentication, proto.CheckNFC, false, 0, 3)
		p.wantClose(flow.ClosePolicy, proto.FailureDocumentActiveAuthentication)

		v := e.getSession(t, o.key, id)
		if v.Status != "failed" || v.FailureCode == nil || *v.FailureCode != proto.FailureDocumentActiveAuthentication {
			t.Fatalf("session after three failures: %+v", v)
		}
		if n, l := e.tries(t, id); n != 3 || l != 0 {
			t.Fatalf("tries %d/%d", n, l)
		}
		if n := e.count(t, "SELECT COUNT(*) FROM events WHERE trigger_id = ? AND type = ?", id, "verification.session.failed"); n != 1 {
			t.Fatalf("%d failed events", n)
		}
		// Each counted failure is audited, the third too (behaviour notes
		// §5.10: in the same transaction as its try), then the ending.
		if n, f := e.auditFor(t, o, "session.check.failed", id), e.auditFor(t, o, "session.failed", id); n != 3 || f != 1 {
			t.Fatalf("audit: %d session.check.failed, %d session.failed", n, f)
		}
		// The ended session refuses a new socket.
		e.dial(t, id).wantRefused(proto.CodeSessionExpired)
	})
}

func TestVerifySocketChipAuthFailure(t *testing.T) {
	forEachVerifyDB(t, nil, flow.Limits{}, func(t *testing.T, e *verifyEnv) {
		o := e.rpOrg(t, "cafail")
		id, token := e.handoff(t, o.key, "")
		p := e.dial(t, id)
		ch := p.hello(token, "device-a")
		p.toNFCReading()
		// A transcript made with another chip's key: its token does not
		// match DG14's key.
		other, err := ecdh.P256().GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		p.uploadAll(e.chip(t, ch, map[proto.DataKind][]byte{proto.KindChipAuth: doctest.CATranscript(t, other)}))
		p.phase("nfc_complete")
		p.wantFailure(proto.FailureDocumentChipAuthentication, proto.CheckNFC, true, 2, 3)
		ch = p.expect(proto.ServerActiveAuthChallenge).ActiveAuthChallenge
		// The retry on the same connection: re-uploads overwrite, the new
		// challenge is signed, and the checks pass.
		p.upload(proto.KindChipAuth, e.doc.CATranscript)
		p.upload(proto.KindActiveAuth, e.doc.ActiveAuth(t, ch))
		p.step("nfc_complete", proto.AckPhaseOK)
		if n, _ := e.tries(t, id); n != 1 {
			t.Fatalf("nfc tries %d", n)
		}
		if v := e.phaseOf(t, id); v != "nfc_complete" {
			t.Fatalf("row phase %q", v)
		}
	})
}

func TestVerifySocketLivenessFailures(t *testing.T) {
	forEachVerifyDB(t, nil, flow.Limits{}, func(t *testing.T, e *verifyEnv) {
		o := e.rpOrg(t, "livefail")
		id, token := e.handoff(t, o.key, "")
		p := e.dial(t, id)
		p.scan(e.doc, p.hello(token, "device-a"))
		p.step("nfc_complete", proto.AckPhaseOK)
		var nonces [][]byte
		for i, c := range []struct {
			verdict, code string
		}{
			{biotest.RejectLiveness, proto.FailureLiveness},
			{biotest.RejectPAD, proto.FailureLiveness},
			{biotest.RejectFaceMismatch, proto.FailureSelfieFaceMismatch},
		} {
			nonces = append(nonces, p.capture(c.verdict))
			p.phase("liveness_complete")
			last := i == 2
			p.wantFailure(c.code, proto.CheckLiveness, !last, 3, uint32(2-i))
			if _, l := e.tries(t, id); l != i+1 {
				t.Fatalf("liveness tries %d after %d failures", l, i+1)
			}
			if last {
				p.wantClose(flow.ClosePolicy, c.code)
			}
		}
		got := e.verifier.Requests()
		if len(got) != 3 {
			t.Fatalf("%d verifier requests", len(got))
		}
		for i := range nonces {
			if len(nonces[i]) != 4 || !bytes.Equal(got[i].Nonce, nonces[i]) {
				t.Fatalf("try %d: verifier nonce %x, issued %x", i, got[i].Nonce, nonces[i])
			}
			for j := range i {
				if bytes.Equal(nonces[i], nonces[j]) {
					t.Fatalf("tries %d and %d share the nonce %x", j, i, nonces[i])
				}
			}
		}
		v := e.getSession(t, o.key, id)
		if v.Status != "failed" || v.FailureCode == nil || *v.FailureCode != proto.FailureSelfieFaceMismatch {
			t.Fatalf("session after three liveness failures: %+v", v)
		}
	})
}

func TestVerifySocketVerifierOutage(t *testing.T) {
	forEachVerifyDB(t, nil, flow.Limits{}, func(t *testing.T, e *verifyEnv) {
		o := e.rpOrg(t, "outage")
		id, token := e.handoff(t, o.key, "")
		p := e.dial(t, id)
		p.scan(e.doc, p.hello(token, "device-a"))
		p.step("nfc_complete", proto.AckPhaseOK)
		nonce := p.capture(biotest.Accept)
		e.verifier.SetHandler("/verify", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "down", http.StatusInternalServerError)
		}))
		p.phase("liveness_complete")
		wantMessage(t, p.wantError(proto.CodeLivenessChallengeUnavailable), proto.Describe(proto.CodeLivenessChallengeUnavailable))
		if n, l := e.tries(t, id); n != 0 || l != 0 {
			t.Fatalf("an outage spent tries: %d/%d", n, l)
		}
		if v := e.getSession(t, o.key, id); v.Status != "in_progress" {
			t.Fatalf("after the outage: %s", v.Status)
		}
		// Nothing was decided, so the same capture is checked once the
		// verifier is back.
		e.verifier.SetHandler("/verify", nil)
		p.phase("liveness_complete")
		if r := p.expect(proto.ServerCheckResult).CheckResult; r.Outcome != proto.OutcomeConfirmed {
			t.Fatalf("after the outage: %+v", r)
		}
		p.expect(proto.ServerShareRequest)
		if got := e.verifier.Requests(); len(got) != 1 || !bytes.Equal(got[0].Nonce, nonce) {
			t.Fatalf("verifier requests %d", len(got))
		}
	})
}

// TestVerifySocketEndedMidway: a session cancelled while its socket is at
// nfc_reading: a passing check cannot record its phase (SESSION_EXPIRED,
// closed), a failing one reports the session ended (no retry, nothing
// left, closed) and writes no try, audit row or event of its own.
func TestVerifySocketEndedMidway(t *testing.T) {
	forEachVerifyDB(t, nil, flow.Limits{}, func(t *testing.T, e *verifyEnv) {
		o := e.rpOrg(t, "midway")
		for _, fail := range []bool{false, true} {
			id, token := e.handoff(t, o.key, "")
			p := e.dial(t, id)
			ch := p.hello(token, "device-a")
			p.toNFCReading()
			replace := map[proto.DataKind][]byte{}
			if fail {
				replace[proto.KindActiveAuth] = nil
			}
			p.uploadAll(e.chip(t, ch, replace))
			wantStatus(t, e.call(t, "POST", "/v1/sessions/"+id+"/cancel", o.key, ""), 204)
			p.phase("nfc_complete")
			if fail {
				p.wantFailure(proto.FailureDocumentActiveAuthentication, proto.CheckNFC, false, 0, 0)
				p.wantClose(flow.ClosePolicy, proto.FailureDocumentActiveAuthentication)
			} else {
				p.wantHelloRefused(proto.CodeSessionExpired) // error + close 1008 with the code
			}
			v := e.getSession(t, o.key, id)
			if v.Status != "cancelled" || v.FailureCode != nil {
				t.Fatalf("fail=%v: session %+v", fail, v)
			}
			if n, l := e.tries(t, id); n != 0 || l != 0 {
				t.Fatalf("fail=%v: tries %d/%d", fail, n, l)
			}
			if n := e.count(t, "SELECT COUNT(*) FROM events WHERE trigger_id = ?", id); n != 1 {
				t.Fatalf("fail=%v: %d events", fail, n)
			}
			if n := e.auditFor(t, o, "session.check.failed", id); n != 0 {
				t.Fatalf("fail=%v: %d check audits", fail, n)
			}
		}
	})
}
