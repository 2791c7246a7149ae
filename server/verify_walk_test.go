package server_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/kayle-id/orgs-api/internal/testdb"
	"github.com/kayle-id/orgs-api/internal/verifytest"
	"github.com/kayle-id/orgs-api/verify/appattest"
	"github.com/kayle-id/orgs-api/verify/appattest/attesttest"
	"github.com/kayle-id/orgs-api/verify/biometric"
	"github.com/kayle-id/orgs-api/verify/biometric/biotest"
	"github.com/kayle-id/orgs-api/verify/flow"
	"github.com/kayle-id/orgs-api/verify/proto"
)

// What the walkthrough tools run, outside a test's helpers: a document
// made without a testing.TB and read back from its file, its bundle
// imported, the stub verifier started with biotest.Listen, and
// verifytest.Walk driving the socket to shareReady (App Attest on, with a
// registered device, so the walk's assertions are checked too).
func TestVerifyWalkTools(t *testing.T) {
	stub, err := biotest.Listen("127.0.0.1:0", verifierSecret)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stub.Close)
	client, err := biometric.New(biometric.Config{BaseURL: stub.URL, Secret: verifierSecret, AllowPrivate: true})
	if err != nil {
		t.Fatal(err)
	}
	tune, opt := withAttestation(attesttest.Default().Config(appattest.Production))
	e := newVerifyEnvTB(t, testdb.SQLite, func(fc *flow.Config) { tune(fc); fc.Verifier = client }, opt)
	made, err := verifytest.MakeDocument()
	if err != nil {
		t.Fatal(err)
	}
	file, err := made.MarshalFile()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := verifytest.LoadDocument(file)
	if err != nil {
		t.Fatal(err)
	}
	doc.Trust(t, e.st)
	o := e.rpOrg(t, "walk")
	h := e.handoffFull(t, o.key, attestShare)
	dev := e.registered(t)
	c, err := verifytest.Dial(context.Background(), e.srv.URL, h.id, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	var log []string
	w := verifytest.Walk{SessionID: h.id, Token: h.token, Doc: doc, Video: biotest.StubVideo(biotest.Accept),
		Device: dev, HelloChallenge: h.helloChal, NFCChallenge: h.nfcChal,
		Select: func(f []proto.ShareField) []string { return []string{"given_names", "kayle_document_id"} },
		Log:    func(dir, msg string) { log = append(log, dir+" "+msg) }}
	ready, err := w.Run(context.Background(), c)
	if err != nil {
		t.Fatalf("%v\n%s", err, strings.Join(log, "\n"))
	}
	if !slices.Equal(ready.SelectedFieldKeys, []string{"given_names", "kayle_document_id"}) {
		t.Fatalf("share ready %+v", ready)
	}
	if v := e.getSession(t, o.key, h.id); v.Status != "succeeded" {
		t.Fatalf("status %s", v.Status)
	}
	if got := stub.Requests(); len(got) != 1 || string(got[0].DG2) != string(doc.DG2) {
		t.Fatalf("the stub verifier saw %d requests", len(got))
	}
	if !slices.Contains(log, "<- ack hello_ok") || !slices.Contains(log, "-> phase nfc_complete") {
		t.Fatalf("log:\n%s", strings.Join(log, "\n"))
	}
}
