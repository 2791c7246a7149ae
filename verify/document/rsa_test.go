package document_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"math/big"
	"testing"

	"github.com/kayle-id/orgs-api/verify/document"
	"github.com/kayle-id/orgs-api/verify/document/doctest"
)

// sign9796 is ISO/IEC 9796-2 scheme 1 with partial recovery and SHA-1
// (trailer BC), as an RSA chip answers active authentication: J = 6A ‖ M1 ‖
// SHA-1(M1 ‖ challenge) ‖ BC, s = J^d mod n.
func sign9796(t *testing.T, k *rsa.PrivateKey, challenge []byte) []byte {
	t.Helper()
	n := k.Size()
	m1 := make([]byte, n-2-sha1.Size)
	rand.Read(m1)
	h := sha1.Sum(append(append([]byte{}, m1...), challenge...))
	j := append(append(append([]byte{0x6A}, m1...), h[:]...), 0xBC)
	s := new(big.Int).Exp(new(big.Int).SetBytes(j), k.D, k.N)
	return s.FillBytes(make([]byte, n))
}

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
	d.AASignature = sign9796(t, key, d.AAChallenge)
	d.Sign(t)
	rep := document.Check(context.Background(), files(d), ts, opts)
	if !rep.Passed() || rep.Checks[document.CheckActiveAuth].Detail != "RSA-1024 ISO/IEC 9796-2" {
		t.Fatalf("%+v", rep.Checks)
	}
	f := files(d)
	f.AASignature = sign9796(t, key, []byte("another!"))
	if r := document.Check(context.Background(), f, ts, opts).Checks[document.CheckActiveAuth]; r.Status != document.Failed || r.Reason != "signature_invalid" {
		t.Fatalf("%+v", r)
	}
}
