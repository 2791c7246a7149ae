package document_test

import (
	"bytes"
	"context"
	"crypto/rand"
	encasn1 "encoding/asn1"
	"math/big"
	"sort"
	"testing"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"

	"github.com/kayle-id/orgs-api/verify/chipauth"
	"github.com/kayle-id/orgs-api/verify/document"
	"github.com/kayle-id/orgs-api/verify/document/doctest"
)

var oidCADHAES128 = encasn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 2, 2, 3, 1, 2}

// dhGroup makes X9.42 parameters: q a 160-bit prime, p = kq + 1 a 1024-bit
// prime, g of order q.
func dhGroup(t *testing.T) (p, g, q *big.Int) {
	t.Helper()
	q, err := rand.Prime(rand.Reader, 160)
	if err != nil {
		t.Fatal(err)
	}
	one := big.NewInt(1)
	for {
		k, err := rand.Int(rand.Reader, new(big.Int).Lsh(one, 1024-160))
		if err != nil {
			t.Fatal(err)
		}
		k.SetBit(k, 1024-160-1, 1)
		k.SetBit(k, 0, 0) // even, so p is odd
		p = new(big.Int).Add(new(big.Int).Mul(k, q), one)
		if p.BitLen() == 1024 && p.ProbablyPrime(20) {
			e := new(big.Int).Div(new(big.Int).Sub(p, one), q)
			for h := int64(2); ; h++ {
				if g = new(big.Int).Exp(big.NewInt(h), e, p); g.Cmp(one) != 0 {
					return p, g, q
				}
			}
		}
	}
}

// dhDG14 holds a version 2 id-CA-DH-AES-128 info and the chip's DH key
// (dhpublicnumber SPKI, subjectPublicKey an INTEGER) under keyAlg.
func dhDG14(p, g, q, y *big.Int, keyAlg encasn1.ObjectIdentifier) []byte {
	var infos [][]byte
	add := func(f func(b *cryptobyte.Builder)) {
		b := cryptobyte.NewBuilder(nil)
		b.AddASN1(asn1.SEQUENCE, f)
		infos = append(infos, b.BytesOrPanic())
	}
	add(func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(oidCADHAES128); b.AddASN1Int64(2) })
	add(func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(chipauth.OIDPKDH)
		b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(keyAlg)
				b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1BigInt(p); b.AddASN1BigInt(g); b.AddASN1BigInt(q) })
			})
			yb := cryptobyte.NewBuilder(nil)
			yb.AddASN1BigInt(y)
			b.AddASN1BitString(yb.BytesOrPanic())
		})
	})
	sort.Slice(infos, func(i, j int) bool { return bytes.Compare(infos[i], infos[j]) < 0 })
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(asn1.SET, func(b *cryptobyte.Builder) { b.AddBytes(bytes.Join(infos, nil)) })
	return doctest.Wrap(0x6E, b.BytesOrPanic())
}

// A DG14 with a DH chip key (X9.42 parameters) is checked through
// chipauth's DH agreement; the same key under an algorithm this package
// does not read is reported unsupported, not passed.
func TestCheckChipAuthDH(t *testing.T) {
	pkd, ts := fixture(t)
	p, g, q := dhGroup(t)
	c, _ := rand.Int(rand.Reader, q) // the chip's private key
	c.Add(c, big.NewInt(1))
	y := new(big.Int).Exp(g, c, p)
	x, _ := rand.Int(rand.Reader, q) // the terminal's
	x.Add(x, big.NewInt(1))
	pk := new(big.Int).Exp(g, x, p).FillBytes(make([]byte, 128))
	k := new(big.Int).Exp(new(big.Int).SetBytes(pk), c, p).FillBytes(make([]byte, 128)) // the chip's side
	nonce := []byte("r_PICC!!")
	tok, err := chipauth.Token(chipauth.AES128, chipauth.KDF(k, nonce, chipauth.CounterMAC, chipauth.AES128), chipauth.TokenInput(oidCADHAES128, true, pk))
	if err != nil {
		t.Fatal(err)
	}
	tr, err := (&chipauth.Transcript{OID: oidCADHAES128, TerminalPrivate: x.Bytes(), TerminalPublic: pk, Nonce: nonce, Token: tok}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		alg    encasn1.ObjectIdentifier
		status document.Status
		reason string
	}{
		{"x942", encasn1.ObjectIdentifier{1, 2, 840, 10046, 2, 1}, document.Passed, ""},
		{"unknown key algorithm", encasn1.ObjectIdentifier{1, 2, 3, 4}, document.Failed, "chip_key_unsupported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := doctest.New(t, pkd.DSCs[1].Cert, pkd.DSCs[1].Key)
			d.DG14 = dhDG14(p, g, q, y, tc.alg)
			d.CATranscript = tr
			f := files(d)
			f.AAChallenge, f.AASignature, f.DG15 = nil, nil, nil
			f.SOD = doctest.SOD(t, d.DSC, d.DSCKey, map[int][]byte{1: d.DG1, 2: d.DG2, 14: d.DG14})
			rep := document.Check(context.Background(), f, ts, opts)
			if r := rep.Checks[document.CheckChipAuth]; r.Status != tc.status || r.Reason != tc.reason {
				t.Fatalf("chip auth: %+v", r)
			}
			if rep.Checks[document.CheckPassiveAuth].Status != document.Passed {
				t.Fatalf("pa: %+v", rep.Checks[document.CheckPassiveAuth])
			}
		})
	}
	// A wrong token with the DH key fails.
	bad := append([]byte(nil), tr...)
	bad[len(bad)-1] ^= 1
	d := doctest.New(t, pkd.DSCs[1].Cert, pkd.DSCs[1].Key)
	f := files(d)
	f.DG14, f.CATranscript = dhDG14(p, g, q, y, encasn1.ObjectIdentifier{1, 2, 840, 10046, 2, 1}), bad
	if r := document.Check(context.Background(), f, ts, opts).Checks[document.CheckChipAuth]; r.Status != document.Failed || r.Reason != "verification_failed" {
		t.Fatalf("bad DH token: %+v", r)
	}
}
