package server_test

import (
	"testing"

	"github.com/kayle-id/orgs-api/verify/biometric/biotest"
	"github.com/kayle-id/orgs-api/verify/flow"
	"github.com/kayle-id/orgs-api/verify/proto"
)

// triesUsed reads a session's spent tries.
func (e *verifyEnv) triesUsed(t *testing.T, id string) (nfc, liveness int) {
	t.Helper()
	if err := e.st.DB().QueryRow(e.ph("SELECT nfc_tries_used, liveness_tries_used FROM verification_sessions WHERE id = ?"), id).Scan(&nfc, &liveness); err != nil {
		t.Fatal(err)
	}
	return nfc, liveness
}

// A liveness_complete repeated after it passed (its answer lost on the way)
// is answered again, without a second verifier call or a spent try.
func TestVerifySocketLivenessRepeatAfterPass(t *testing.T) {
	forEachVerifyDB(t, nil, flow.Limits{}, func(t *testing.T, e *verifyEnv) {
		o := e.rpOrg(t, "repeat")
		id, token := e.handoff(t, o.key, "")
		p := e.dial(t, id)
		p.scan(e.doc, p.hello(token, "device-a"))
		p.phase("nfc_complete")
		p.ack(proto.AckPhaseOK)
		p.capture(biotest.Accept)
		for range 2 {
			p.phase("liveness_complete")
			if r := p.expect(proto.ServerCheckResult).CheckResult; r.Outcome != proto.OutcomeConfirmed {
				t.Fatalf("check result %+v", r)
			}
			p.expect(proto.ServerShareRequest)
		}
		if n := len(e.verifier.Requests()); n != 1 {
			t.Fatalf("%d verifier calls, want 1", n)
		}
		if _, l := e.triesUsed(t, id); l != 0 {
			t.Fatalf("liveness tries used %d", l)
		}
	})
}

// An upload the verifier's contract refuses (an empty video) is the
// person's try: liveness_failed, counted, and the verifier is not called.
func TestVerifySocketEmptyVideoCounts(t *testing.T) {
	forEachVerifyDB(t, nil, flow.Limits{}, func(t *testing.T, e *verifyEnv) {
		o := e.rpOrg(t, "emptyvideo")
		id, token := e.handoff(t, o.key, "")
		p := e.dial(t, id)
		p.scan(e.doc, p.hello(token, "device-a"))
		p.phase("nfc_complete")
		p.ack(proto.AckPhaseOK)
		p.phase("liveness_capturing")
		p.expect(proto.ServerLivenessChallenge)
		p.ack(proto.AckPhaseOK)
		p.data(proto.DataPayload{Kind: proto.KindLivenessVideo, Total: 1, ChunkTotal: 1}, proto.AckDataComplete(proto.KindLivenessVideo, 0))
		p.phase("liveness_complete")
		r := p.expect(proto.ServerCheckResult).CheckResult
		if r.ReasonCode != proto.FailureLiveness || !r.RetryAllowed || r.RemainingLivenessRetries != 2 {
			t.Fatalf("check result %+v", r)
		}
		if n := len(e.verifier.Requests()); n != 0 {
			t.Fatalf("%d verifier calls, want none", n)
		}
		if _, l := e.triesUsed(t, id); l != 1 {
			t.Fatalf("liveness tries used %d, want 1", l)
		}
	})
}

// A repeated nfc_complete that fails takes the connection back to
// nfc_reading with the session: it cannot go on to the liveness check on
// the strength of the earlier pass.
func TestVerifySocketNFCRepeatFailureRewinds(t *testing.T) {
	forEachVerifyDB(t, nil, flow.Limits{}, func(t *testing.T, e *verifyEnv) {
		o := e.rpOrg(t, "nfcrepeat")
		id, token := e.handoff(t, o.key, "")
		p := e.dial(t, id)
		p.scan(e.doc, p.hello(token, "device-a"))
		p.phase("nfc_complete")
		p.ack(proto.AckPhaseOK)
		dg1 := append([]byte{}, e.doc.DG1...)
		dg1[len(dg1)-1] ^= 1
		p.data(proto.DataPayload{Kind: proto.KindDG1, Raw: dg1, Total: 1, ChunkTotal: 1}, proto.AckDataComplete(proto.KindDG1, 0))
		p.phase("nfc_complete")
		if r := p.expect(proto.ServerCheckResult).CheckResult; r.ReasonCode != proto.FailureDocumentAuthenticity || !r.RetryAllowed {
			t.Fatalf("check result %+v", r)
		}
		p.expect(proto.ServerActiveAuthChallenge)
		p.phase("liveness_capturing")
		p.wantError(proto.CodePhaseOutOfOrder)
		if ph := e.phaseOf(t, id); ph != "nfc_reading" {
			t.Fatalf("stored phase %q", ph)
		}
	})
}
