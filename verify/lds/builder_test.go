package lds_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	encasn1 "encoding/asn1"
	"math/big"
	"sort"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"

	"github.com/kayle-id/orgs-api/verify/lds"
)

// A small CMS SignedData builder (RFC 5652 §5) for the tests. It is held
// to OpenSSL in openssl_test.go: `openssl cms -verify` accepts what it signs.

type signer struct {
	key  crypto.Signer
	cert *x509.Certificate
}

// newSigner makes a self-signed CA and a document signer under it with the
// given key; the signer carries a subject key identifier.
func newSigner(t testing.TB, key crypto.Signer) signer {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1001), Subject: pkix.Name{Country: []string{"UT"}, CommonName: "Test CSCA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	dscTmpl := &x509.Certificate{
		// A serial whose top bit is set, so its DER INTEGER needs a leading zero.
		SerialNumber: new(big.Int).SetBytes([]byte{0x87, 0xd1, 0x22}),
		Subject:      pkix.Name{Country: []string{"UT"}, CommonName: "Test DSC"},
		NotBefore:    now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, SubjectKeyId: []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20},
	}
	der, err := x509.CreateCertificate(rand.Reader, dscTmpl, ca, key.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return signer{key: key, cert: cert}
}

type sodSpec struct {
	ldsHash     crypto.Hash
	ldsVersion  int64
	dataGroups  map[int][]byte
	signedAttrs bool
	ski         bool // subjectKeyIdentifier sid instead of issuerAndSerialNumber
	sigHash     crypto.Hash
	embedCert   bool
	wrap        bool // the 77 wrapper
	// contentTypeAttr overrides the signed content-type attribute.
	contentTypeAttr encasn1.ObjectIdentifier
}

var (
	oidLDS           = encasn1.ObjectIdentifier{2, 23, 136, 1, 1, 1}
	oidSignedData    = encasn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidContentType   = encasn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	oidMessageDigest = encasn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
)

func sigAlgOID(k crypto.Signer, h crypto.Hash) encasn1.ObjectIdentifier {
	_, isRSA := k.Public().(*rsa.PublicKey)
	switch {
	case isRSA && h == crypto.SHA1:
		return encasn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 5}
	case isRSA && h == crypto.SHA256:
		return encasn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
	case isRSA && h == crypto.SHA384:
		return encasn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 12}
	case isRSA && h == crypto.SHA512:
		return encasn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 13}
	case h == crypto.SHA1:
		return encasn1.ObjectIdentifier{1, 2, 840, 10045, 4, 1}
	case h == crypto.SHA256:
		return encasn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	case h == crypto.SHA384:
		return encasn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}
	default:
		return encasn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 4}
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

func hashOf(h crypto.Hash, b []byte) []byte {
	w := h.New()
	w.Write(b)
	return w.Sum(nil)
}

// buildLDS encodes an LDSSecurityObject over the data groups.
func buildLDS(version int64, h crypto.Hash, dgs map[int][]byte) []byte {
	nums := make([]int, 0, len(dgs))
	for n := range dgs {
		nums = append(nums, n)
	}
	sort.Ints(nums)
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1Int64(version)
		addAlg(b, lds.OIDForHash(h), false)
		b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
			for _, n := range nums {
				b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1Int64(int64(n))
					b.AddASN1OctetString(hashOf(h, dgs[n]))
				})
			}
		})
		if version == 1 {
			b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1(asn1.PrintableString, func(b *cryptobyte.Builder) { b.AddBytes([]byte("0108")) })
				b.AddASN1(asn1.PrintableString, func(b *cryptobyte.Builder) { b.AddBytes([]byte("040000")) })
			})
		}
	})
	return b.BytesOrPanic()
}

// buildSignedAttrs returns the signed attributes as a DER SET OF (tag 31),
// its elements sorted as X.690 §11.6 requires.
func buildSignedAttrs(ct encasn1.ObjectIdentifier, digest []byte) []byte {
	attr := func(oid encasn1.ObjectIdentifier, val func(*cryptobyte.Builder)) []byte {
		b := cryptobyte.NewBuilder(nil)
		b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(oid)
			b.AddASN1(asn1.SET, val)
		})
		return b.BytesOrPanic()
	}
	attrs := [][]byte{
		attr(oidContentType, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(ct) }),
		attr(oidMessageDigest, func(b *cryptobyte.Builder) { b.AddASN1OctetString(digest) }),
	}
	sort.Slice(attrs, func(i, j int) bool { return bytes.Compare(attrs[i], attrs[j]) < 0 })
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(asn1.SET, func(b *cryptobyte.Builder) {
		for _, a := range attrs {
			b.AddBytes(a)
		}
	})
	return b.BytesOrPanic()
}

// buildSOD signs an SOD and returns it with the LDSSecurityObject it holds.
func buildSOD(t testing.TB, s signer, spec sodSpec) (sod, ldsDER []byte) {
	t.Helper()
	ldsDER = buildLDS(spec.ldsVersion, spec.ldsHash, spec.dataGroups)
	var signedAttrs []byte
	toSign := ldsDER
	if spec.signedAttrs {
		ct := spec.contentTypeAttr
		if ct == nil {
			ct = oidLDS
		}
		signedAttrs = buildSignedAttrs(ct, hashOf(spec.sigHash, ldsDER))
		toSign = signedAttrs
	}
	sig, err := s.key.Sign(rand.Reader, hashOf(spec.sigHash, toSign), spec.sigHash)
	if err != nil {
		t.Fatal(err)
	}
	version := int64(1)
	if spec.ski {
		version = 3
	}
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oidSignedData)
		b.AddASN1(asn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
			b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1Int64(version)
				b.AddASN1(asn1.SET, func(b *cryptobyte.Builder) { addAlg(b, lds.OIDForHash(spec.sigHash), true) })
				b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1ObjectIdentifier(oidLDS)
					b.AddASN1(asn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
						b.AddASN1OctetString(ldsDER)
					})
				})
				if spec.embedCert {
					b.AddASN1(asn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
						b.AddBytes(s.cert.Raw)
					})
				}
				b.AddASN1(asn1.SET, func(b *cryptobyte.Builder) {
					b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1Int64(version)
						if spec.ski {
							b.AddASN1(asn1.Tag(0).ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes(s.cert.SubjectKeyId) })
						} else {
							b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
								b.AddBytes(s.cert.RawIssuer)
								b.AddASN1BigInt(s.cert.SerialNumber)
							})
						}
						addAlg(b, lds.OIDForHash(spec.sigHash), true)
						if signedAttrs != nil {
							var inner cryptobyte.String
							in := cryptobyte.String(signedAttrs)
							in.ReadASN1(&inner, asn1.SET)
							b.AddASN1(asn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) { b.AddBytes(inner) })
						}
						_, isRSA := s.key.Public().(*rsa.PublicKey)
						addAlg(b, sigAlgOID(s.key, spec.sigHash), isRSA)
						b.AddASN1OctetString(sig)
					})
				})
			})
		})
	})
	sod = b.BytesOrPanic()
	if spec.wrap {
		w := cryptobyte.NewBuilder(nil)
		w.AddASN1(asn1.Tag(lds.TagSOD), func(b *cryptobyte.Builder) { b.AddBytes(sod) })
		sod = w.BytesOrPanic()
	}
	return sod, ldsDER
}

func syntheticDataGroups() map[int][]byte {
	return map[int][]byte{
		1:  []byte("\x61\x5b\x5f\x1f\x58P<UTOERIKSSON<<ANNA<MARIA"),
		2:  bytes.Repeat([]byte{0x7f}, 300),
		14: []byte{0x6e, 0x00},
		15: []byte{0x6f, 0x00},
	}
}
