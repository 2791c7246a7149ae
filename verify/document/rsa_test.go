package document_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"testing"

	"github.com/kayle-id/orgs-api/verify/document"
	"github.com/kayle-id/orgs-api/verify/document/doctest"
)

// An RSA DG15 goes through activeauth.VerifyRSA: the chip's answer passes,
// an answer to another challenge fails.
func TestCheckActiveAuthRSA(t *testing.T) {
	pkd, ts := fixture(t)
	key, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	spki, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	d := doctest.New(t, pkd.DSCs[1].Cert, pkd.DSCs[1].Key)
	d.DG15 = doctest.Wrap(0x6F, spki)
	d.AASignature = doctest.AASignRSA(t, key, d.AAChallenge)
	d.Sign(t)
	rep := document.Check(context.Background(), files(d), ts, opts)
	if !rep.Passed() || rep.Checks[document.CheckActiveAuth].Detail != "RSA-1024 ISO/IEC 9796-2" {
		t.Fatalf("%+v", rep.Checks)
	}
	f := files(d)
	f.AASignature = doctest.AASignRSA(t, key, []byte("another!"))
	if r := document.Check(context.Background(), f, ts, opts).Checks[document.CheckActiveAuth]; r.Status != document.Failed || r.Reason != "signature_invalid" {
		t.Fatalf("%+v", r)
	}
}
