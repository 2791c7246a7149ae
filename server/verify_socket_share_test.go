package server_test

import (
	"bytes"
	"strings"
	"sync"
	"testing"

	"github.com/kayle-id/orgs-api/internal/verifytest"
	"github.com/kayle-id/orgs-api/verify/biometric/biotest"
	"github.com/kayle-id/orgs-api/verify/document/doctest"
	"github.com/kayle-id/orgs-api/verify/flow"
	"github.com/kayle-id/orgs-api/verify/mrz"
	"github.com/kayle-id/orgs-api/verify/proto"
)

// otherDocument is a second document under the same trusted chain, with
// another holder and portrait: it passes the document checks on its own.
func (e *verifyEnv) otherDocument(t *testing.T) *doctest.Document {
	t.Helper()
	d := doctest.New(t, e.doc.Chain.DSC, e.doc.Chain.DSCKey)
	d.DG1 = mrz.EncodeDG1(strings.Replace(doctest.TD3, "ERIKSSON<<ANNA<MARIA", "MALLORY<<EVE<<<<<<<<", 1))
	d.DG2 = doctest.Wrap(0x75, []byte("another portrait"))
	d.Sign(t)
	return d
}

func docUploads(d *doctest.Document, aa []byte) []artefact {
	return []artefact{{proto.KindDG1, d.DG1}, {proto.KindDG2, d.DG2}, {proto.KindSOD, d.SOD}, {proto.KindDG14, d.DG14},
		{proto.KindDG15, d.DG15}, {proto.KindActiveAuth, aa}, {proto.KindChipAuth, d.CATranscript}}
}

func TestVerifySocketFrozenArtefacts(t *testing.T) {
	forEachVerifyDB(t, nil, flow.Limits{}, func(t *testing.T, e *verifyEnv) {
		o := e.rpOrg(t, "frozen")
		id, token := e.handoff(t, o.key, "")
		p := e.dial(t, id)
		ch := p.hello(token, "device-a")
		p.toNFCReading()
		verified := e.chip(t, ch, nil)
		p.uploadAll(verified)
		p.step("nfc_complete", proto.AckPhaseOK)
		p.must(p.c.Close())

		// A resume at nfc_complete that brings another document (valid on
		// its own, its AA over this connection's challenge) and goes on to
		// liveness without having it checked.
		other := e.otherDocument(t)
		q := e.dial(t, id)
		ch2 := q.hello(token, "device-a")
		q.uploadAll(docUploads(other, (&verifytest.Document{Document: other}).ActiveAuth(t, ch2)))
		q.capture(biotest.Accept)
		q.phase("liveness_complete")
		wantMessage(t, q.wantError(proto.CodeNFCRequiredDataMissing), `{"missing_artifacts":["dg1","dg2","sod"],"missing_chunks":[]}`)
		// A different DG1 alone is refused too.
		q.uploadAll(verified)
		q.upload(proto.KindDG1, other.DG1)
		q.phase("liveness_complete")
		q.wantError(proto.CodeNFCRequiredDataMissing)
		if n := len(e.verifier.Requests()); n != 0 {
			t.Fatalf("the verifier was asked %d times", n)
		}
		if n, l := e.tries(t, id); n != 0 || l != 0 {
			t.Fatalf("tries %d/%d", n, l)
		}
		// The verified artefacts, as uploaded before: the check runs on them.
		q.upload(proto.KindDG1, e.doc.DG1)
		q.phase("liveness_complete")
		if r := q.expect(proto.ServerCheckResult).CheckResult; r.Outcome != proto.OutcomeConfirmed {
			t.Fatalf("check result %+v", r)
		}
		q.expect(proto.ServerShareRequest)
		if got := e.verifier.Requests(); len(got) != 1 || !bytes.Equal(got[0].DG2, e.doc.DG2) {
			t.Fatalf("verifier requests %+v", got)
		}
		q.must(q.c.Share(q.ctx, id, []string{"kayle_document_id"}))
		q.expect(proto.ServerShareReady)
	})
}

// toShareRequest takes a new session through every check to its share
// request.
func (e *verifyEnv) toShareRequest(t *testing.T, key, body string) (*phone, string, []proto.ShareField) {
	t.Helper()
	return e.toShareRequestOf(t, e.createSession(t, key, body).ID)
}

// toShareRequestOf is toShareRequest for a session already created.
func (e *verifyEnv) toShareRequestOf(t *testing.T, id string) (*phone, string, []proto.ShareField) {
	t.Helper()
	token := e.consentAndHandoff(t, id)
	p := e.dial(t, id)
	p.scan(e.doc, p.hello(token, "device-a"))
	p.step("nfc_complete", proto.AckPhaseOK)
	p.capture(biotest.Accept)
	p.phase("liveness_complete")
	p.expect(proto.ServerCheckResult)
	return p, id, p.expect(proto.ServerShareRequest).ShareRequest.Fields
}

const shareContract = `{"share_fields":{"given_names":{"required":true,"reason":"To greet you"},"date_of_birth":{"required":false,"reason":"Age"}}}`

func TestVerifySocketShareSelection(t *testing.T) {
	forEachVerifyDB(t, nil, flow.Limits{}, func(t *testing.T, e *verifyEnv) {
		o := e.rpOrg(t, "share")
		// Before the share request.
		id, token := e.handoff(t, o.key, shareContract)
		p := e.dial(t, id)
		p.must(p.c.Share(p.ctx, id, []string{"given_names"}))
		p.wantError(proto.CodeHelloRequired)
		p.scan(e.doc, p.hello(token, "device-a"))
		p.step("nfc_complete", proto.AckPhaseOK)
		p.must(p.c.Share(p.ctx, id, []string{"given_names"}))
		p.wantError(proto.CodePhaseOutOfOrder)

		p, id, fields := e.toShareRequest(t, o.key, shareContract)
		if len(fields) != 3 {
			t.Fatalf("share request %+v", fields)
		}
		for _, c := range []struct {
			session string
			keys    []string
			code    string
		}{
			{"vs_" + strings.Repeat("b", 64), []string{"given_names"}, proto.CodeInvalidSessionID},
			{"", []string{"given_names"}, proto.CodeInvalidSessionID},
			{id, nil, proto.CodeShareSelectionRequired},
			{id, []string{" ", ""}, proto.CodeShareSelectionRequired},
			{id, []string{"given_names", "kayle_document_id", "nationality"}, proto.CodeShareSelectionInvalidField},
			{id, []string{"document_photo", "given_names"}, proto.CodeShareSelectionInvalidField},
			{id, []string{"date_of_birth", "kayle_document_id"}, proto.CodeShareSelectionMissingReq},
			{id, []string{"given_names"}, proto.CodeShareSelectionMissingReq},
		} {
			p.must(p.c.Share(p.ctx, c.session, c.keys))
			wantMessage(t, p.wantError(c.code), proto.Describe(c.code))
		}
		if v := e.getSession(t, o.key, id); v.Status != "in_progress" {
			t.Fatalf("after refused selections: %s", v.Status)
		}
		// Every refusal kept the socket open; keys are trimmed and merged.
		p.must(p.c.Share(p.ctx, " "+id+" ", []string{" given_names ", "kayle_document_id", "given_names", ""}))
		ready := p.expect(proto.ServerShareReady).ShareReady
		if ready.SessionID != id || strings.Join(ready.SelectedFieldKeys, ",") != "given_names,kayle_document_id" {
			t.Fatalf("share ready %+v", ready)
		}
		if v := e.getSession(t, o.key, id); v.Status != "succeeded" {
			t.Fatalf("after the selection: %s", v.Status)
		}
	})
}

// TestVerifySocketCancelRacesShare: a cancel and the share selection at
// the same moment end the session once, and the loser's answer is
// coherent. The relying party's cancel is idempotent (204 whatever the
// status, behaviour-sessions §7); the person's public cancel withdraws a
// session that has just succeeded (one more event, its status cancelled).
func TestVerifySocketCancelRacesShare(t *testing.T) {
	forEachVerifyDB(t, nil, flow.Limits{PerAddress: 64}, func(t *testing.T, e *verifyEnv) {
		o := e.rpOrg(t, "race")
		seen := map[string]int{}
		for round := range 8 {
			public := round%2 == 1
			s := e.createSession(t, o.key, shareContract)
			p, id, _ := e.toShareRequestOf(t, s.ID)
			var status int
			var wg sync.WaitGroup
			wg.Add(2)
			go func() {
				defer wg.Done()
				if public {
					status = e.call(t, "POST", "/v1/verify/session/"+id+"/cancel", "", `{"cancel_token":"`+*s.CancelToken+`"}`).status
				} else {
					status = e.call(t, "POST", "/v1/sessions/"+id+"/cancel", o.key, "").status
				}
			}()
			go func() {
				defer wg.Done()
				p.must(p.c.Share(p.ctx, id, []string{"given_names", "kayle_document_id"}))
			}()
			wg.Wait()
			m := p.recv()
			v := e.getSession(t, o.key, id)
			succeeded := e.count(t, "SELECT COUNT(*) FROM events WHERE trigger_id = ? AND type = ?", id, "verification.session.succeeded")
			cancelled := e.count(t, "SELECT COUNT(*) FROM events WHERE trigger_id = ? AND type = ?", id, "verification.session.cancelled")
			others := e.count(t, "SELECT COUNT(*) FROM events WHERE trigger_id = ? AND type IN (?, ?)", id, "verification.session.failed", "verification.session.expired")
			if status != 204 || others != 0 {
				t.Fatalf("round %d (public %v): cancel %d, %d other endings", round, public, status, others)
			}
			switch {
			case m.Kind == proto.ServerShareReady:
				// The selection won; the relying party's cancel changed
				// nothing, the person's withdrew the result.
				want := "succeeded"
				wantCancelled := 0
				if public {
					want, wantCancelled = "cancelled", 1
				}
				if v.Status != want || succeeded != 1 || cancelled != wantCancelled {
					t.Fatalf("round %d (public %v): share won, session %s, events %d/%d", round, public, v.Status, succeeded, cancelled)
				}
				seen["share"]++
			case m.Kind == proto.ServerError && m.Error.Code == proto.CodeSessionExpired:
				if v.Status != "cancelled" || succeeded != 0 || cancelled != 1 {
					t.Fatalf("round %d (public %v): cancel won, session %s, events %d/%d", round, public, v.Status, succeeded, cancelled)
				}
				seen["cancel"]++
			default:
				t.Fatalf("round %d: the selection answered %s (cancel %d)", round, describe(m), status)
			}
			_ = p.c.CloseNow()
		}
		t.Logf("winners: %v", seen)
	})
}

// consentAndHandoff is handoff for a session already created: its mobile
// write token.
func (e *verifyEnv) consentAndHandoff(t *testing.T, id string) string {
	t.Helper()
	wantStatus(t, e.call(t, "POST", "/v1/verify/session/"+id+"/consent", "",
		`{"biometric_consent":true,"document_processing_consent":true,"privacy_notice_acknowledged":true,"share_claims_consent":true,"terms_acknowledged":true}`), 200)
	a := e.call(t, "POST", "/v1/verify/session/"+id+"/handoff", "", "")
	wantStatus(t, a, 200)
	var out struct {
		Data struct {
			Token string `json:"mobile_write_token"`
		} `json:"data"`
	}
	a.decode(t, &out)
	return out.Data.Token
}

// TestVerifySocketResumeAtCapture: a reconnect during liveness_capturing
// gets a nonce of its own at hello (upstream's cannot pass), and with the
// verified artefacts re-uploaded the check passes against that nonce.
func TestVerifySocketResumeAtCapture(t *testing.T) {
	forEachVerifyDB(t, nil, flow.Limits{}, func(t *testing.T, e *verifyEnv) {
		o := e.rpOrg(t, "capture")
		id, token := e.handoff(t, o.key, shareContract)
		p := e.dial(t, id)
		ch := p.hello(token, "device-a")
		p.toNFCReading()
		verified := e.chip(t, ch, nil)
		p.uploadAll(verified)
		p.step("nfc_complete", proto.AckPhaseOK)
		first := p.capture(biotest.Accept)
		p.must(p.c.Close())

		q := e.dial(t, id)
		q.hello(token, "device-a")
		nonce := q.expect(proto.ServerLivenessChallenge).LivenessChallenge.ChallengeNonce
		if len(nonce) != 4 || bytes.Equal(nonce, first) {
			t.Fatalf("resume nonce %x (first %x)", nonce, first)
		}
		q.uploadAll(verified)
		_, err := q.c.Upload(q.ctx, proto.KindLivenessVideo, biotest.StubVideo(biotest.Accept), 1<<16)
		q.must(err)
		q.phase("liveness_complete")
		if r := q.expect(proto.ServerCheckResult).CheckResult; r.Outcome != proto.OutcomeConfirmed {
			t.Fatalf("check result %+v", r)
		}
		q.expect(proto.ServerShareRequest)
		if got := e.verifier.Requests(); len(got) != 1 || !bytes.Equal(got[0].Nonce, nonce) {
			t.Fatalf("verifier requests %+v", got)
		}
		q.must(q.c.Share(q.ctx, id, []string{"given_names", "kayle_document_id"}))
		q.expect(proto.ServerShareReady)
		if v := e.getSession(t, o.key, id); v.Status != "succeeded" {
			t.Fatalf("status %s", v.Status)
		}
	})
}
