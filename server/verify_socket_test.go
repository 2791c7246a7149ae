package server_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/kayle-id/orgs-api/internal/testdb"
	"github.com/kayle-id/orgs-api/internal/verifytest"
	"github.com/kayle-id/orgs-api/verify/biometric/biotest"
	"github.com/kayle-id/orgs-api/verify/flow"
	"github.com/kayle-id/orgs-api/verify/proto"
)

const verifierSecret = "biometric-verifier-test-secret"

// verifyEnv is a server with the verify socket over a real trust store, the
// App Attest gate off and a loopback biometric verifier.
type verifyEnv struct {
	*env
	verifier *biotest.Server
	doc      *verifytest.Document
}

func newVerifyEnv(t *testing.T, kind testdb.Kind, tune func(*flow.Config)) *verifyEnv {
	t.Helper()
	return newVerifyEnvLimits(t, kind, tune, flow.Limits{})
}

// handoff takes a new session through consent and handoff: its id and the
// mobile write token.
func (e *verifyEnv) handoff(t *testing.T, key, body string) (string, string) {
	t.Helper()
	s := e.createSession(t, key, body)
	wantStatus(t, e.call(t, "POST", "/v1/verify/session/"+s.ID+"/consent", "",
		`{"biometric_consent":true,"document_processing_consent":true,"privacy_notice_acknowledged":true,"share_claims_consent":true,"terms_acknowledged":true}`), 200)
	a := e.call(t, "POST", "/v1/verify/session/"+s.ID+"/handoff", "", "")
	wantStatus(t, a, 200)
	var out struct {
		Data struct {
			Token string `json:"mobile_write_token"`
		} `json:"data"`
	}
	a.decode(t, &out)
	return s.ID, out.Data.Token
}

// phone is a test client bound to one session.
type phone struct {
	t   *testing.T
	ctx context.Context
	c   *verifytest.Client
	id  string
}

func (e *verifyEnv) dial(t *testing.T, id string) *phone {
	t.Helper()
	ctx := context.Background()
	c, err := verifytest.Dial(ctx, e.srv.URL, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	return &phone{t: t, ctx: ctx, c: c, id: id}
}

func (p *phone) recv() proto.ServerMessage {
	p.t.Helper()
	m, err := p.c.Recv(p.ctx)
	if err != nil {
		p.t.Fatalf("recv: %v", err)
	}
	return m
}

// expect reads one message of kind.
func (p *phone) expect(kind proto.ServerKind) proto.ServerMessage {
	p.t.Helper()
	m := p.recv()
	if m.Kind != kind {
		p.t.Fatalf("got %s, want kind %d", verifytest.Describe(m), kind)
	}
	return m
}

func (p *phone) ack(want string) {
	p.t.Helper()
	if m := p.expect(proto.ServerAck); m.Ack != want {
		p.t.Fatalf("ack %q, want %q", m.Ack, want)
	}
}

func (p *phone) wantError(code string) proto.Error {
	p.t.Helper()
	m := p.expect(proto.ServerError)
	if m.Error.Code != code {
		p.t.Fatalf("error %s %q, want %s", m.Error.Code, m.Error.Message, code)
	}
	return m.Error
}

func (p *phone) wantClose(code int, reason string) {
	p.t.Helper()
	_, err := p.c.Recv(p.ctx)
	ce, ok := err.(*verifytest.CloseError)
	if !ok || ce.Code != code || reason != "" && ce.Reason != reason {
		p.t.Fatalf("got %v, want close %d %q", err, code, reason)
	}
}

func (p *phone) must(err error) {
	p.t.Helper()
	if err != nil {
		p.t.Fatal(err)
	}
}

// hello sends the first hello and answers the active-authentication
// challenge.
func (p *phone) hello(token, device string) []byte {
	p.t.Helper()
	p.must(p.c.Hello(p.ctx, proto.Hello{SessionID: p.id, MobileWriteToken: token, DeviceID: device, AppVersion: "1.5.0"}))
	p.ack(proto.AckHelloOK)
	ch := p.expect(proto.ServerActiveAuthChallenge).ActiveAuthChallenge
	if len(ch) != 8 {
		p.t.Fatalf("challenge %x", ch)
	}
	return ch
}

func (p *phone) phase(name string) {
	p.t.Helper()
	p.must(p.c.Phase(p.ctx, name, nil))
}

// scan walks the phases to nfc_reading and uploads the document, with the
// chip's answer to challenge.
func (p *phone) scan(d *verifytest.Document, challenge []byte) {
	p.t.Helper()
	for _, ph := range []string{"mrz_scanning", "mrz_complete", "nfc_reading"} {
		p.phase(ph)
		p.ack(proto.AckPhaseOK)
	}
	for _, a := range []struct {
		kind proto.DataKind
		data []byte
	}{
		{proto.KindDG1, d.DG1}, {proto.KindDG2, d.DG2}, {proto.KindSOD, d.SOD}, {proto.KindDG14, d.DG14},
		{proto.KindDG15, d.DG15}, {proto.KindActiveAuth, d.ActiveAuth(p.t, challenge)}, {proto.KindChipAuth, d.CATranscript},
	} {
		ack, err := p.c.Upload(p.ctx, a.kind, a.data, 1000)
		p.must(err)
		if ack != proto.AckDataComplete(a.kind, 0) {
			p.t.Fatalf("upload %v: %s", a.kind, ack)
		}
	}
}

// capture enters liveness_capturing and uploads a stub video.
func (p *phone) capture(verdict string) []byte {
	p.t.Helper()
	p.phase("liveness_capturing")
	nonce := p.expect(proto.ServerLivenessChallenge).LivenessChallenge.ChallengeNonce
	p.ack(proto.AckPhaseOK)
	_, err := p.c.Upload(p.ctx, proto.KindLivenessVideo, biotest.StubVideo(verdict), 1<<16)
	p.must(err)
	return nonce
}

func TestVerifySocketSucceeds(t *testing.T) {
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			e := newVerifyEnv(t, kind, nil)
			o := e.rpOrg(t, "verify")
			id, token := e.handoff(t, o.key, `{"share_fields":{"given_names":{"required":true,"reason":"To greet you"},"date_of_birth":{"required":false,"reason":"Age"}}}`)

			p := e.dial(t, id)
			ch := p.hello(token, "device-a")
			if v := e.getSession(t, o.key, id); v.Status != "in_progress" {
				t.Fatalf("after hello: %s", v.Status)
			}
			p.scan(e.doc, ch)
			p.phase("nfc_complete")
			p.ack(proto.AckPhaseOK)
			nonce := p.capture(biotest.Accept)
			p.phase("liveness_complete")
			r := p.expect(proto.ServerCheckResult).CheckResult
			if r.Outcome != proto.OutcomeConfirmed || r.FailedCheck != proto.CheckNone {
				t.Fatalf("check result %+v", r)
			}
			req := p.expect(proto.ServerShareRequest).ShareRequest
			var keys []string
			for _, f := range req.Fields {
				keys = append(keys, f.Key)
			}
			if req.SessionID != id || !slices.Equal(keys, []string{"date_of_birth", "given_names", "kayle_document_id"}) {
				t.Fatalf("share request %+v", req)
			}
			// What reached the verifier: the verified DG2, this connection's
			// nonce and DG1's threshold.
			got := e.verifier.Requests()
			if len(got) != 1 || string(got[0].DG2) != string(e.doc.DG2) || string(got[0].Nonce) != string(nonce) || got[0].Threshold == "" {
				t.Fatalf("verifier got %+v", got)
			}
			p.must(p.c.Share(p.ctx, id, []string{"given_names", "kayle_document_id"}))
			ready := p.expect(proto.ServerShareReady).ShareReady
			if !slices.Equal(ready.SelectedFieldKeys, []string{"given_names", "kayle_document_id"}) {
				t.Fatalf("share ready %+v", ready)
			}
			if v := e.getSession(t, o.key, id); v.Status != "succeeded" {
				t.Fatalf("after share: %s", v.Status)
			}
			// The event carries the selection; the claims go to deliveries only.
			var data string
			if err := e.st.DB().QueryRow(e.ph("SELECT data FROM events WHERE trigger_id = ? AND type = ?"), id, "verification.session.succeeded").Scan(&data); err != nil {
				t.Fatal(err)
			}
			var ev struct {
				Selected []string `json:"selected_field_keys"`
			}
			if json.Unmarshal([]byte(data), &ev) != nil || !slices.Equal(ev.Selected, []string{"given_names", "kayle_document_id"}) {
				t.Fatalf("event data %s", data)
			}
			// Sent again, the selection answers the same shareReady.
			p.must(p.c.Share(p.ctx, id, []string{"given_names", "kayle_document_id"}))
			p.expect(proto.ServerShareReady)
		})
	}
}
