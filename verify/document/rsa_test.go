package document_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	encasn1 "encoding/asn1"
	"strings"
	"sync"
	"testing"

	"github.com/kayle-id/orgs-api/verify/document"
	"github.com/kayle-id/orgs-api/verify/document/doctest"
	"github.com/kayle-id/orgs-api/verify/passiveauth"
	"github.com/kayle-id/orgs-api/verify/truststore/pkdtest"
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

// RSA-2048 keys are slow to make; the RSA documents share three per binary.
var (
	rsaOnce                sync.Once
	rsaCSCA, rsaDSC, rsaAA *rsa.PrivateKey
	rsaChain               *doctest.Chain
	rsaErr                 error
)

// rsaFixture is an RSA-2048 PKI (CSCA, DSC, the CSCA's current empty CRL)
// in a trust store of its own, and the RSA-2048 key a chip answers active
// authentication with.
func rsaFixture(t testing.TB) (*doctest.Chain, *rsa.PrivateKey, *passiveauth.MemoryStore) {
	t.Helper()
	rsaOnce.Do(func() {
		for _, k := range []**rsa.PrivateKey{&rsaCSCA, &rsaDSC, &rsaAA} {
			if *k, rsaErr = rsa.GenerateKey(rand.Reader, 2048); rsaErr != nil {
				return
			}
		}
		rsaChain = doctest.NewChain(t, rsaCSCA, rsaDSC, pkdtest.Now)
	})
	if rsaErr != nil {
		t.Fatal(rsaErr)
	}
	ts := passiveauth.NewMemoryStore()
	if err := ts.AddCSCA(rsaChain.CSCA.Raw); err != nil {
		t.Fatal(err)
	}
	if err := ts.AddCRL(rsaChain.CRL); err != nil {
		t.Fatal(err)
	}
	return rsaChain, rsaAA, ts
}

// rsaDocument is an RSA-2048 document: the SOD signed by the RSA DSC with
// PKCS #1 v1.5 or RSASSA-PSS, DG15 an RSA-2048 key answering with ISO/IEC
// 9796-2, chip authentication on P-256 (DG14 keys are DH or EC).
func rsaDocument(t testing.TB, pss bool) (*doctest.Document, *passiveauth.MemoryStore) {
	t.Helper()
	c, aa, ts := rsaFixture(t)
	d := doctest.NewWithAAKey(t, c.DSC, c.DSCKey, aa)
	if pss {
		d.Spec.PSS = true
		d.Sign(t)
	}
	return d, ts
}

// Whole RSA-2048 documents pass every check, the SOD's signature read as
// the scheme it was made with, revocation verified against the CRL; a
// flipped byte of the signature or a PKCS #1 v1.5 signature labelled
// RSASSA-PSS fails passive authentication.
func TestCheckRSA2048Document(t *testing.T) {
	for _, tc := range []struct {
		pss  bool
		want string
	}{{false, "RSA-PKCS1v15-SHA256-2048"}, {true, "RSASSA-PSS-SHA256-2048"}} {
		t.Run(tc.want, func(t *testing.T) {
			d, ts := rsaDocument(t, tc.pss)
			rep := document.Check(context.Background(), files(d), ts, opts)
			if !rep.Passed() {
				t.Fatalf("%+v", rep.Checks)
			}
			for _, c := range document.Checks {
				if rep.Checks[c].Status != document.Passed {
					t.Errorf("%s: %+v", c, rep.Checks[c])
				}
			}
			pa := rep.Checks[document.CheckPassiveAuth].Detail.(*passiveauth.Result)
			if pa.SignatureAlgorithm != tc.want || pa.Revocation.Status != passiveauth.VerifiedNotRevoked ||
				!strings.HasPrefix(pa.DSCSignatureAlgorithm, "RSA-PKCS1v15-SHA256-2048") {
				t.Fatalf("passive authentication: %+v", pa)
			}
			if aa := rep.Checks[document.CheckActiveAuth].Detail; aa != "RSA-2048 ISO/IEC 9796-2" {
				t.Fatalf("aa: %v", aa)
			}
			f := files(d)
			f.SOD = append([]byte(nil), f.SOD...)
			f.SOD[len(f.SOD)-7] ^= 1
			if r := document.Check(context.Background(), f, ts, opts).Checks[document.CheckPassiveAuth]; r.Status != document.Failed || r.Reason != "cms_signature" {
				t.Fatalf("flipped signature: %+v", r)
			}
		})
	}
	// A PKCS #1 v1.5 signature under the RSASSA-PSS label.
	d, ts := rsaDocument(t, false)
	d.Spec.Sign = func(digest []byte, h crypto.Hash) []byte {
		s, err := rsa.SignPKCS1v15(rand.Reader, rsaDSC, h, digest)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	d.Spec.SigAlg = encasn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 10}
	d.Sign(t)
	if r := document.Check(context.Background(), files(d), ts, opts).Checks[document.CheckPassiveAuth]; r.Status != document.Failed {
		t.Fatalf("PKCS #1 v1.5 labelled PSS: %+v", r)
	}
}
