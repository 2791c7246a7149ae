package document_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	encasn1 "encoding/asn1"
	"testing"

	"github.com/kayle-id/orgs-api/verify/document"
	"github.com/kayle-id/orgs-api/verify/document/doctest"
	"github.com/kayle-id/orgs-api/verify/passiveauth"
)

// A DSC signing its SOD with plain ECDSA (BSI TR-03111 §5.2.1: r‖s under
// ecdsa-plain-SHA256, 0.4.0.127.0.7.1.1.4.1.3, as German documents do) is
// supported: the document passes. The label is held to the encoding: a
// DER signature under the plain OID and an r‖s signature under
// ecdsa-with-SHA256 both fail passive authentication.
func TestCheckPlainECDSASOD(t *testing.T) {
	p, ts := fixture(t)
	key := p.DSCs[1].Key
	d := doctest.New(t, p.DSCs[1].Cert, key)
	d.Spec.Plain = true
	d.Sign(t)
	rep := document.Check(context.Background(), files(d), ts, opts)
	if !rep.Passed() {
		t.Fatalf("%+v", rep.Checks)
	}
	if pa := rep.Checks[document.CheckPassiveAuth].Detail.(*passiveauth.Result); pa.SignatureAlgorithm != "ECDSA-SHA256-P-256" {
		t.Fatalf("signature algorithm %q", pa.SignatureAlgorithm)
	}
	plainOID := encasn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 1, 1, 4, 1, 3}
	derOID := encasn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	for _, tc := range []struct {
		name string
		oid  encasn1.ObjectIdentifier
		sign func(digest []byte, _ crypto.Hash) []byte
	}{
		{"DER signature labelled plain", plainOID, func(digest []byte, _ crypto.Hash) []byte {
			s, err := ecdsa.SignASN1(rand.Reader, key, digest)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}},
		{"plain signature labelled DER", derOID, func(digest []byte, _ crypto.Hash) []byte { return doctest.PlainECDSA(t, key, digest) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := doctest.New(t, p.DSCs[1].Cert, key)
			d.Spec.Sign, d.Spec.SigAlg = tc.sign, tc.oid
			d.Sign(t)
			if r := document.Check(context.Background(), files(d), ts, opts).Checks[document.CheckPassiveAuth]; r.Status != document.Failed || r.Reason != "cms_signature" {
				t.Fatalf("%+v", r)
			}
		})
	}
}
