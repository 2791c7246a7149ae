package lds_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	encasn1 "encoding/asn1"
	"errors"
	"testing"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"

	"github.com/kayle-id/orgs-api/verify/document/doctest"
	"github.com/kayle-id/orgs-api/verify/lds"
)

func validSOD(t testing.TB) []byte {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := buildSOD(t, newSigner(t, k), sodSpec{ldsHash: crypto.SHA256, ldsVersion: 1, dataGroups: syntheticDataGroups(),
		signedAttrs: true, sigHash: crypto.SHA256, embedCert: true, wrap: true})
	return der
}

// Every strict prefix of a valid SOD is refused, and no single-byte change
// anywhere makes the parser panic.
func TestSODTruncationsAndMutations(t *testing.T) {
	der := validSOD(t)
	if _, err := lds.ParseSOD(der); err != nil {
		t.Fatal(err)
	}
	for n := 0; n < len(der); n++ {
		if _, err := lds.ParseSOD(der[:n]); err == nil {
			t.Fatalf("prefix of %d/%d bytes accepted", n, len(der))
		}
	}
	for i := range der {
		for _, x := range []byte{0x01, 0x80, 0xff} {
			m := bytes.Clone(der)
			m[i] ^= x
			_, _ = lds.ParseSOD(m) // must return, not panic
		}
	}
	if _, err := lds.ParseSOD(append(bytes.Clone(der), 0)); err == nil {
		t.Fatal("trailing byte after the 77 object accepted")
	}
}

func TestHostileLengthsAndNesting(t *testing.T) {
	cases := map[string][]byte{
		"77 with 4 GiB length":     {0x77, 0x84, 0xff, 0xff, 0xff, 0xff, 0x30, 0x00},
		"77 with 5 length bytes":   {0x77, 0x85, 0x01, 0x00, 0x00, 0x00, 0x00},
		"77 indefinite":            {0x77, 0x80, 0x30, 0x00, 0x00, 0x00},
		"SEQUENCE with 2 GiB":      {0x30, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x06},
		"SEQUENCE indefinite":      {0x30, 0x80, 0x06, 0x00, 0x00, 0x00},
		"non-minimal DER length":   {0x30, 0x81, 0x02, 0x05, 0x00},
		"wrong outer tag":          {0x31, 0x00},
		"empty":                    {},
		"lone wrapper":             {0x77},
		"not SignedData":           mustDER(func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(lds.OIDLDSSecurityObject) }),
		"eContent nested too deep": deepEContent(8),
	}
	for name, b := range cases {
		if _, err := lds.ParseSOD(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := lds.ParseSOD(deepEContent(8)); !errors.Is(err, lds.ErrTooLarge) {
		t.Errorf("deep eContent: %v", err)
	}
	big := make([]byte, lds.MaxObjectSize+1)
	for _, f := range []func([]byte) error{
		func(b []byte) error { _, err := lds.ParseSOD(b); return err },
		func(b []byte) error { _, err := lds.ParseDG14(b); return err },
		func(b []byte) error { _, err := lds.ParseDG15(b); return err },
		func(b []byte) error { _, _, err := lds.ReadTLV(b); return err },
	} {
		if err := f(big); !errors.Is(err, lds.ErrTooLarge) {
			t.Errorf("oversized input: %v", err)
		}
	}

	// 100 nested constructed TLVs exceed the depth limit; a wide flat one the node limit.
	deep := []byte{}
	for i := 0; i < 100; i++ {
		deep = append([]byte{0x30, byte(len(deep))}, deep...)
		if len(deep) > 120 {
			break
		}
	}
	if _, err := lds.Decode(deep, lds.Limits{MaxDepth: 16, MaxNodes: 4096}); !errors.Is(err, lds.ErrTooLarge) {
		t.Errorf("deep TLV: %v", err)
	}
	wide := bytes.Repeat([]byte{0x04, 0x00}, 100)
	wide = append([]byte{0x30, 0x81, byte(len(wide))}, wide...)
	if _, err := lds.Decode(wide, lds.Limits{MaxDepth: 4, MaxNodes: 50}); !errors.Is(err, lds.ErrTooLarge) {
		t.Errorf("wide TLV: %v", err)
	}
}

func mustDER(f func(*cryptobyte.Builder)) []byte {
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(asn1.SEQUENCE, f)
	return b.BytesOrPanic()
}

// deepEContent is a ContentInfo whose eContent is an OCTET STRING wrapped
// in depth constructed OCTET STRINGs (BER segmentation taken to the limit).
func deepEContent(depth int) []byte {
	lds0 := doctest.LDSSecurityObject(0, crypto.SHA256, syntheticDataGroups())
	var content func(b *cryptobyte.Builder, d int)
	content = func(b *cryptobyte.Builder, d int) {
		if d == 0 {
			b.AddASN1OctetString(lds0)
			return
		}
		b.AddASN1(asn1.OCTET_STRING.Constructed(), func(b *cryptobyte.Builder) { content(b, d-1) })
	}
	return mustDER(func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(lds.OIDSignedData)
		b.AddASN1(asn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
			b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1Int64(1)
				b.AddASN1(asn1.SET, func(b *cryptobyte.Builder) {})
				b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1ObjectIdentifier(lds.OIDLDSSecurityObject)
					b.AddASN1(asn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) { content(b, depth) })
				})
				b.AddASN1(asn1.SET, func(b *cryptobyte.Builder) {})
			})
		})
	})
}

// A constructed (BER-segmented) eContent within the depth limit is joined.
func TestConstructedEContent(t *testing.T) {
	sd, err := lds.ParseContentInfo(deepEContent(2))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(sd.EContent, doctest.LDSSecurityObject(0, crypto.SHA256, syntheticDataGroups())) {
		t.Fatal("joined eContent differs")
	}
	// No signer: a SignedData, but not a usable SOD.
	if _, err := lds.ParseSOD(deepEContent(2)); err == nil {
		t.Fatal("SOD without signer accepted")
	}
}

func ldsDER(version int64, h crypto.Hash, entries [][2]any, info bool) []byte {
	return mustDER(func(b *cryptobyte.Builder) {
		b.AddASN1Int64(version)
		addAlg(b, lds.OIDForHash(h), true)
		b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
			for _, e := range entries {
				b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1Int64(int64(e[0].(int)))
					b.AddASN1OctetString(e[1].([]byte))
				})
			}
		})
		if info {
			b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1(asn1.PrintableString, func(b *cryptobyte.Builder) { b.AddBytes([]byte("0108")) })
				b.AddASN1(asn1.PrintableString, func(b *cryptobyte.Builder) { b.AddBytes([]byte("040000")) })
			})
		}
	})
}

func TestLDSSecurityObjectRules(t *testing.T) {
	h32 := bytes.Repeat([]byte{1}, 32)
	ok := [][2]any{{1, h32}, {2, h32}}
	if l, err := lds.ParseLDSSecurityObject(ldsDER(0, crypto.SHA256, ok, false)); err != nil || len(l.DataGroupHashes) != 2 {
		t.Fatalf("valid v0: %v", err)
	}
	if l, err := lds.ParseLDSSecurityObject(ldsDER(1, crypto.SHA256, ok, true)); err != nil || l.VersionInfo == nil {
		t.Fatalf("valid v1: %v", err)
	}
	// SHA-224 parses (passive authentication decides whether to accept it).
	if l, err := lds.ParseLDSSecurityObject(ldsDER(0, crypto.SHA224, [][2]any{{1, h32[:28]}, {2, h32[:28]}}, false)); err != nil || l.HashFunc() != crypto.SHA224 {
		t.Fatalf("SHA-224: %v", err)
	}
	// An unknown hash algorithm parses with HashFunc 0 and unchecked lengths.
	unknown := mustDER(func(b *cryptobyte.Builder) {
		b.AddASN1Int64(0)
		addAlg(b, []int{1, 2, 3}, false)
		b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
			for _, n := range []int64{1, 2} {
				b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1Int64(n); b.AddASN1OctetString([]byte{1}) })
			}
		})
	})
	if l, err := lds.ParseLDSSecurityObject(unknown); err != nil || l.HashFunc() != 0 {
		t.Fatalf("unknown hash: %v", err)
	}
	var seventeen [][2]any
	for i := 1; i <= 17; i++ {
		seventeen = append(seventeen, [2]any{i%16 + 1, h32})
	}
	for name, der := range map[string][]byte{
		"duplicate DG":          ldsDER(0, crypto.SHA256, [][2]any{{1, h32}, {2, h32}, {1, h32}}, false),
		"v1 without info":       ldsDER(1, crypto.SHA256, ok, false),
		"v0 with info":          ldsDER(0, crypto.SHA256, ok, true),
		"version 2":             ldsDER(2, crypto.SHA256, ok, false),
		"short hash":            ldsDER(0, crypto.SHA256, [][2]any{{1, h32}, {2, h32[:20]}}, false),
		"DG 0":                  ldsDER(0, crypto.SHA256, [][2]any{{0, h32}, {2, h32}}, false),
		"DG 17":                 ldsDER(0, crypto.SHA256, [][2]any{{17, h32}, {2, h32}}, false),
		"one hash":              ldsDER(0, crypto.SHA256, [][2]any{{1, h32}}, false),
		"17 hashes":             ldsDER(0, crypto.SHA256, seventeen, false),
		"trailing after hashes": append(ldsDER(0, crypto.SHA256, ok, false), 0),
	} {
		if _, err := lds.ParseLDSSecurityObject(der); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// Signed attributes must carry content-type and message-digest once each.
func TestSignedAttributeRules(t *testing.T) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	s := newSigner(t, k)
	der, _ := buildSOD(t, s, sodSpec{ldsHash: crypto.SHA256, dataGroups: syntheticDataGroups(), signedAttrs: true, sigHash: crypto.SHA256})
	// Rename the message-digest attribute's OID to signing-time: it is then missing.
	md := []byte{0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x04}
	i := bytes.Index(der, md)
	if i < 0 {
		t.Fatal("message-digest not found")
	}
	m := bytes.Clone(der)
	m[i+len(md)-1] = 0x05
	if _, err := lds.ParseSOD(m); !errors.Is(err, lds.ErrMalformed) {
		t.Fatalf("without message-digest: %v", err)
	}
	// Rename it to content-type: now content-type appears twice.
	m[i+len(md)-1] = 0x03
	if _, err := lds.ParseSOD(m); !errors.Is(err, lds.ErrMalformed) {
		t.Fatalf("content-type twice: %v", err)
	}
}

func addAlg(b *cryptobyte.Builder, oid encasn1.ObjectIdentifier, null bool) {
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oid)
		if null {
			b.AddASN1NULL()
		}
	})
}
