package lds_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	encasn1 "encoding/asn1"
	"errors"
	"math/big"
	"testing"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"

	"github.com/kayle-id/orgs-api/internal/testtool"
	"github.com/kayle-id/orgs-api/verify/lds"
)

var (
	oidCAECDHAES128 = encasn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 2, 2, 3, 2, 2}
	oidCADH3DES     = encasn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 2, 2, 3, 1, 1}
	oidPACEECDHGM   = encasn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 2, 2, 4, 2, 2}
	oidTA           = encasn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 2, 2, 2}
	oidECDSAPlain   = encasn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 1, 1, 4, 1, 3}
	oidDHPublic     = encasn1.ObjectIdentifier{1, 2, 840, 10046, 2, 1}
)

type dg14Entry func(*cryptobyte.Builder)

func caInfo(oid encasn1.ObjectIdentifier, version int64, keyID int64) dg14Entry {
	return func(b *cryptobyte.Builder) {
		b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(oid)
			b.AddASN1Int64(version)
			if keyID >= 0 {
				b.AddASN1Int64(keyID)
			}
		})
	}
}

func pkInfo(oid encasn1.ObjectIdentifier, spki []byte, keyID int64) dg14Entry {
	return func(b *cryptobyte.Builder) {
		b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(oid)
			b.AddBytes(spki)
			if keyID >= 0 {
				b.AddASN1Int64(keyID)
			}
		})
	}
}

func buildDG14(set bool, entries ...dg14Entry) []byte {
	tag := asn1.SEQUENCE
	if set {
		tag = asn1.SET
	}
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(asn1.Tag(lds.TagDG14), func(b *cryptobyte.Builder) {
		b.AddASN1(tag, func(b *cryptobyte.Builder) {
			for _, e := range entries {
				e(b)
			}
		})
	})
	return b.BytesOrPanic()
}

// A fake DH SubjectPublicKeyInfo (X9.42 dhpublicnumber): DG14 keeps it raw.
func dhSPKI() []byte {
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(oidDHPublic)
			b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1Int64(23) // p
				b.AddASN1Int64(5)  // g
				b.AddASN1Int64(11) // q
			})
		})
		b.AddASN1BitString([]byte{0x02, 0x01, 0x08})
	})
	return b.BytesOrPanic()
}

func TestParseDG14(t *testing.T) {
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p256SPKI, _ := x509.MarshalPKIXPublicKey(p256.Public())
	bin := testtool.Require(t, "openssl")
	_, bpExplicit := openSSLKey(t, bin, t.TempDir(), "brainpoolP256r1")

	entries := []dg14Entry{
		caInfo(oidCAECDHAES128, 2, 1),
		caInfo(oidCADH3DES, 1, -1),
		pkInfo(lds.OIDPKECDH, p256SPKI, 1),
		pkInfo(lds.OIDPKECDH, bpExplicit, 2),
		pkInfo(lds.OIDPKDH, dhSPKI(), -1),
		func(b *cryptobyte.Builder) { // ActiveAuthenticationInfo, ecdsa-plain-SHA256
			b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(lds.OIDActiveAuthentication)
				b.AddASN1Int64(1)
				b.AddASN1ObjectIdentifier(oidECDSAPlain)
			})
		},
		caInfo(oidPACEECDHGM, 2, 13), // PACEInfo has the same shape: version, parameterId
		caInfo(oidTA, 1, -1),
	}
	for _, set := range []bool{true, false} {
		si, err := lds.ParseDG14(buildDG14(set, entries...))
		if err != nil {
			t.Fatal(err)
		}
		if len(si.ChipAuthentication) != 2 || len(si.ChipAuthenticationPublicKey) != 3 ||
			len(si.ActiveAuthentication) != 1 || len(si.Other) != 2 {
			t.Fatalf("%+v", si)
		}
		ca := si.ChipAuthentication[0]
		if !ca.Protocol.Equal(oidCAECDHAES128) || ca.Version != 2 || ca.KeyID.Int64() != 1 ||
			si.ChipAuthentication[1].KeyID != nil || si.ChipAuthentication[1].Version != 1 {
			t.Fatalf("CA infos %+v", si.ChipAuthentication)
		}
		pk := si.ChipAuthenticationPublicKey
		if pk[0].KeyID.Int64() != 1 || pk[0].PublicKey.EC.X.Cmp(p256.X) != 0 || !pk[0].PublicKey.EC.Params.NamedCurveOID.Equal(lds.OIDCurveP256) {
			t.Fatalf("P-256 key %+v", pk[0])
		}
		if pk[1].KeyID.Int64() != 2 || !pk[1].PublicKey.EC.Params.Explicit ||
			!pk[1].PublicKey.EC.Params.NamedCurveOID.Equal(lds.OIDCurveBrainpoolP256r1) {
			t.Fatalf("brainpool key %+v", pk[1].PublicKey.EC.Params)
		}
		if !pk[2].Protocol.Equal(lds.OIDPKDH) || pk[2].PublicKey.EC != nil || pk[2].PublicKey.RSA != nil ||
			!pk[2].PublicKey.Algorithm.Equal(oidDHPublic) || pk[2].KeyID != nil {
			t.Fatalf("DH key %+v", pk[2])
		}
		aa := si.ActiveAuthentication[0]
		if aa.Version != 1 || !aa.SignatureAlgorithm.Equal(oidECDSAPlain) {
			t.Fatalf("AA %+v", aa)
		}
		if !si.Other[0].Protocol.Equal(oidPACEECDHGM) || !si.Other[1].Protocol.Equal(oidTA) {
			t.Fatalf("other %+v", si.Other)
		}
	}
}

func TestDG14Refusals(t *testing.T) {
	badPoint := func() []byte {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		der, _ := x509.MarshalPKIXPublicKey(k.Public())
		der[len(der)-1] ^= 1 // the point leaves the curve
		return der
	}()
	for name, dg := range map[string][]byte{
		"version 0": buildDG14(true, caInfo(oidCAECDHAES128, 0, -1)),
		"negative key id": buildDG14(true, func(b *cryptobyte.Builder) {
			b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(oidCAECDHAES128)
				b.AddASN1Int64(2)
				b.AddASN1Int64(-1)
			})
		}),
		"point off curve": buildDG14(true, pkInfo(lds.OIDPKECDH, badPoint, 1)),
		"no required data": buildDG14(true, func(b *cryptobyte.Builder) {
			b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(oidTA) })
		}),
		"wrong wrapper":      append([]byte{0x6f}, buildDG14(true, caInfo(oidTA, 1, -1))[1:]...),
		"not a set":          {0x6e, 0x02, 0x04, 0x00},
		"AA without alg":     buildDG14(true, caInfo(lds.OIDActiveAuthentication, 1, -1)),
		"non-SEQUENCE entry": buildDG14(true, func(b *cryptobyte.Builder) { caInfo(oidCAECDHAES128, 2, 1)(b); b.AddASN1Int64(1) }),
		"CA key id and more": buildDG14(true, func(b *cryptobyte.Builder) {
			b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(oidCAECDHAES128)
				b.AddASN1Int64(2)
				b.AddASN1Int64(1)
				b.AddASN1Int64(1)
			})
		}),
	} {
		if _, err := lds.ParseDG14(dg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// More than the bound of SecurityInfos.
	var many []dg14Entry
	for i := 0; i < 65; i++ {
		many = append(many, caInfo(oidTA, 1, -1))
	}
	if _, err := lds.ParseDG14(buildDG14(true, many...)); !errors.Is(err, lds.ErrTooLarge) {
		t.Fatalf("65 infos: %v", err)
	}
}

func explicitP256(mutate func(p, a, b, n, h *big.Int, g []byte) []byte) []byte {
	c := elliptic.P256().Params()
	p, n, h := new(big.Int).Set(c.P), new(big.Int).Set(c.N), big.NewInt(1)
	a := new(big.Int).Sub(c.P, big.NewInt(3))
	bb := new(big.Int).Set(c.B)
	g := elliptic.Marshal(elliptic.P256(), c.Gx, c.Gy) //nolint:staticcheck // an encoding, not arithmetic
	if mutate != nil {
		g = mutate(p, a, bb, n, h, g)
	}
	fe := func(v *big.Int) []byte { return v.FillBytes(make([]byte, 32)) }
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1Int64(1)
		b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(lds.OIDPrimeField)
			b.AddASN1BigInt(p)
		})
		b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1OctetString(fe(a))
			b.AddASN1OctetString(fe(bb))
		})
		b.AddASN1OctetString(g)
		b.AddASN1BigInt(n)
		b.AddASN1BigInt(h)
	})
	return b.BytesOrPanic()
}

// Explicit parameters equal to P-256 (built here from crypto/elliptic's
// constants, not the table) are recognised; any change to them makes an
// unnamed curve, and broken encodings are refused.
func TestExplicitParameters(t *testing.T) {
	p, err := lds.ParseECParameters(explicitP256(nil))
	if err != nil || !p.NamedCurveOID.Equal(lds.OIDCurveP256) || p.Name != "P-256" {
		t.Fatalf("%+v %v", p, err)
	}
	// The cofactor 2 is a different curve description: parsed, not named.
	p, err = lds.ParseECParameters(explicitP256(func(_, _, _, _, h *big.Int, g []byte) []byte { h.SetInt64(2); return g }))
	if err != nil || p.NamedCurveOID != nil {
		t.Fatalf("cofactor 2: %+v %v", p, err)
	}
	for name, der := range map[string][]byte{
		"base point off curve": explicitP256(func(_, _, _, _, _ *big.Int, g []byte) []byte { g[64] ^= 1; return g }),
		"compressed base":      explicitP256(func(_, _, _, _, _ *big.Int, g []byte) []byte { g[0] = 2; return g[:33] }),
		"even prime":           explicitP256(func(p, _, _, _, _ *big.Int, g []byte) []byte { p.SetBit(p, 0, 0); return g }),
		"zero order":           explicitP256(func(_, _, _, n, _ *big.Int, g []byte) []byte { n.SetInt64(0); return g }),
		"implicitCurve":        {0x05, 0x00},
		"unknown named curve":  {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x21}, // secp224r1
		"binary field": func() []byte {
			d := explicitP256(nil)
			d[bytesIndex(d, []byte{0x2a, 0x86, 0x48, 0xce, 0x3d, 0x01, 0x01})+6] = 2 // characteristic-two-field
			return d
		}(),
	} {
		if _, err := lds.ParseECParameters(der); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func bytesIndex(b, sub []byte) int {
	for i := 0; i+len(sub) <= len(b); i++ {
		if string(b[i:i+len(sub)]) == string(sub) {
			return i
		}
	}
	panic("not found")
}

// The P-curves of the table equal crypto/elliptic's constants.
func TestCurveTableAgainstGo(t *testing.T) {
	byName := map[string]*lds.ECParameters{}
	for _, c := range lds.KnownCurves() {
		byName[c.Name] = c
		if !c.OnCurve(c.Gx, c.Gy) {
			t.Errorf("%s: base point not on the curve", c.Name)
		}
	}
	for _, g := range []elliptic.Curve{elliptic.P256(), elliptic.P384(), elliptic.P521()} {
		gp := g.Params()
		c := byName[gp.Name]
		a := new(big.Int).Sub(gp.P, big.NewInt(3))
		if c == nil || c.P.Cmp(gp.P) != 0 || c.A.Cmp(a) != 0 || c.B.Cmp(gp.B) != 0 || c.N.Cmp(gp.N) != 0 ||
			c.Gx.Cmp(gp.Gx) != 0 || c.Gy.Cmp(gp.Gy) != 0 || c.H.Int64() != 1 {
			t.Errorf("%s differs from crypto/elliptic", gp.Name)
		}
	}
}
