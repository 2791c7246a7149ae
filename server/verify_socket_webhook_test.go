package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/kayle-id/orgs-api/internal/testdb"
	"github.com/kayle-id/orgs-api/internal/whtest"
	"github.com/kayle-id/orgs-api/server"
	"github.com/kayle-id/orgs-api/verify/biometric/biotest"
	"github.com/kayle-id/orgs-api/verify/mrz"
	"github.com/kayle-id/orgs-api/verify/proto"
	"github.com/kayle-id/orgs-api/webhooks/delivery"
)

// hooked is a relying party's endpoint, set up through the API, on a
// loopback receiver that checks each request's signature and decrypts it
// with the endpoint's private key; the delivery runner works the queue.
type hooked struct {
	recv *whtest.Receiver
	got  chan whtest.Request
}

func (e *verifyEnv) hook(t *testing.T, apiKey string) *hooked {
	t.Helper()
	// The signing secret is known once the endpoint exists, so the
	// endpoint starts on a placeholder URL and is pointed at the receiver.
	ep := e.createEndpoint(t, apiKey, `{"url":"http://127.0.0.1:9/hooks"}`)
	key := whtest.NewKey()
	h := &hooked{recv: whtest.NewReceiver(ep.SigningSecret, key), got: make(chan whtest.Request, 16)}
	t.Cleanup(h.recv.Close)
	h.recv.Seen = func(r whtest.Request) { h.got <- r }
	wantStatus(t, e.call(t, "PATCH", "/v1/webhooks/endpoints/"+ep.Endpoint.Id, apiKey, `{"url":"`+h.recv.URL+`"}`), 200)
	jwk, err := jose.JSONWebKey{Key: &key.PublicKey}.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, e.call(t, "POST", "/v1/webhooks/endpoints/"+ep.Endpoint.Id+"/keys", apiKey,
		`{"key_id":"k1","algorithm":"RSA-OAEP-256","key_type":"RSA","jwk":`+string(jwk)+`}`), 200)

	r, err := delivery.New(e.st, delivery.Options{AllowLoopback: true, PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = r.Stop(ctx)
	})
	return h
}

// next is the next delivery of event the receiver accepted.
func (h *hooked) next(t *testing.T, event string) []byte {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case r := <-h.got:
			if r.Err != nil {
				t.Fatalf("the receiver refused a delivery: %v", r.Err)
			}
			if r.ContentType != "application/jose" {
				t.Fatalf("content type %q", r.ContentType)
			}
			if r.Event == event {
				return r.Plaintext
			}
		case <-timeout:
			t.Fatalf("no %s delivery", event)
			return nil
		}
	}
}

func (e *verifyEnv) eventID(t *testing.T, session, typ string) string {
	t.Helper()
	var id string
	if err := e.st.DB().QueryRow(e.ph("SELECT id FROM events WHERE trigger_id = ? AND type = ?"), session, typ).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

// A verified session's webhook (behaviour-webhooks.md, the succeeded
// payload; behaviour-verify.md §8): the relying party decrypts a payload
// whose claims hold exactly the requested keys, the selected ones with the
// document's values (kayle_document_id the organization's HMAC of the
// document) and null for the one left out, and the selection.
func TestVerifySocketWebhookSucceeded(t *testing.T) {
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			e := newVerifyEnvTB(t, kind, nil, func(c *server.Config) { c.Webhooks.AllowLoopback = true })
			o := e.rpOrg(t, "verify-hook")
			h := e.hook(t, o.key)
			id, token := e.handoff(t, o.key, `{"share_fields":{"given_names":{"required":true,"reason":"To greet you"},`+
				`"date_of_birth":{"required":false,"reason":"Age"},"family_name":{"required":false,"reason":"Records"}}}`)
			p := e.dial(t, id)
			p.scan(e.doc, p.hello(token, "device-a"))
			p.phase("nfc_complete")
			p.ack(proto.AckPhaseOK)
			p.capture(biotest.Accept)
			p.phase("liveness_complete")
			p.expect(proto.ServerCheckResult)
			p.expect(proto.ServerShareRequest)
			p.must(p.c.Share(p.ctx, id, []string{"given_names", "kayle_document_id", "date_of_birth"}))
			p.expect(proto.ServerShareReady)

			got := h.next(t, "verification.session.succeeded")
			secret, err := e.st.VerifySecret(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			// The fixture's MRZ: a UTO passport (type P) numbered L898902C3.
			docID := mrz.DocumentID(string(secret), o.id.String(), "UTO", "P", "L898902C3")
			if !hex64.MatchString(docID) {
				t.Fatalf("document id %q", docID)
			}
			// Every requested key, the unselected one null.
			var parsed struct {
				Data struct {
					Claims map[string]any `json:"claims"`
				} `json:"data"`
			}
			if err := json.Unmarshal(got, &parsed); err != nil {
				t.Fatal(err)
			}
			wantClaims := map[string]any{"date_of_birth": "1974-08-12", "family_name": nil, "given_names": "ANNA MARIA", "kayle_document_id": docID}
			if !reflect.DeepEqual(parsed.Data.Claims, wantClaims) {
				t.Fatalf("claims %v, want %v", parsed.Data.Claims, wantClaims)
			}
			// The rest byte for byte: upstream's member order, the selection
			// in request order. (The claims' own member order is the store's
			// choice: jsonb's, shorter keys first.)
			want := fmt.Sprintf(`},"selected_field_keys":["date_of_birth","given_names","kayle_document_id"]},`+
				`"metadata":{"contract_version":1,"event_id":"%s","verification_session_id":"%s"},"type":"verification.session.succeeded"}`,
				e.eventID(t, id, "verification.session.succeeded"), id)
			if !strings.HasPrefix(string(got), `{"data":{"claims":{`) || !strings.HasSuffix(string(got), want) {
				t.Fatalf("payload %s", got)
			}
		})
	}
}

// A session that fails its third NFC check (the chip's answer signs
// another challenge each time) sends verification.session.failed with the
// failure code and the tries used.
func TestVerifySocketWebhookFailed(t *testing.T) {
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			e := newVerifyEnvTB(t, kind, nil, func(c *server.Config) { c.Webhooks.AllowLoopback = true })
			o := e.rpOrg(t, "verify-hook-fail")
			h := e.hook(t, o.key)
			id, token := e.handoff(t, o.key, "")
			p := e.dial(t, id)
			p.hello(token, "device-a")
			wrong := make([]byte, proto.ActiveAuthChallengeBytes)
			p.scanArtefacts(e.artefacts(t, wrong))
			for try := 1; try <= 3; try++ {
				if try > 1 {
					aa, err := e.doc.Answer(wrong)
					p.must(err)
					_, err = p.c.Upload(p.ctx, proto.KindActiveAuth, aa, 1000)
					p.must(err)
				}
				p.phase("nfc_complete")
				r := p.expect(proto.ServerCheckResult).CheckResult
				if r.ReasonCode != proto.FailureDocumentActiveAuthentication || r.RetryAllowed != (try < 3) || r.RemainingNFCRetries != uint32(3-try) {
					t.Fatalf("try %d: %+v", try, r)
				}
				if try < 3 {
					p.expect(proto.ServerActiveAuthChallenge)
				}
			}
			p.wantClose(1008, proto.FailureDocumentActiveAuthentication)

			got := h.next(t, "verification.session.failed")
			want := fmt.Sprintf(`{"data":{"failure_code":"document_active_authentication_failed","nfc_tries_used":3,"liveness_tries_used":0},`+
				`"metadata":{"contract_version":1,"event_id":"%s","verification_session_id":"%s"},"type":"verification.session.failed"}`,
				e.eventID(t, id, "verification.session.failed"), id)
			if string(got) != want {
				t.Fatalf("payload\n got %s\nwant %s", got, want)
			}
		})
	}
}
