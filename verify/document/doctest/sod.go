package doctest

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	encasn1 "encoding/asn1"
	"math/big"
	"sort"
	"testing"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"

	"github.com/kayle-id/orgs-api/verify/lds"
)

// The one EF.SOD builder of the verify tests (lds, passiveauth and
// document use it): CMS SignedData by hand as RFC 5652 §5 lays it out, held
// to OpenSSL's `cms -verify` in verify/lds and verify/passiveauth.

// Signer is what a SignerInfo names and signs with.
type Signer struct {
	// Raw is the DSC (embedded when SODSpec.Embed); Issuer its issuer
	// Name DER, SKI its subject key identifier, Serial its serial number.
	Raw, Issuer, SKI []byte
	Serial           *big.Int
	// Key signs, unless SODSpec.Sign does (keys crypto cannot hold, such
	// as brainpool ones).
	Key crypto.Signer
}

// SignerOf is the Signer of a DSC crypto/x509 parsed.
func SignerOf(c *x509.Certificate, key crypto.Signer) Signer {
	return Signer{Raw: c.Raw, Issuer: c.RawIssuer, SKI: c.SubjectKeyId, Serial: c.SerialNumber, Key: key}
}

// SODSpec says how an SOD is built. The zero value is SHA-256 throughout,
// no signed attributes, issuerAndSerialNumber, no embedded DSC, the
// signature scheme the key's type implies, the 77 wrapper.
type SODSpec struct {
	// Hash is the signer's digest and signature hash; SHA-256 when zero.
	Hash crypto.Hash
	// LDSHash hashes the data groups; Hash when zero.
	LDSHash crypto.Hash
	// LDSVersion 1 adds an LDSVersionInfo ("0108", "040000").
	LDSVersion int64
	// Declared are the data groups hashed into the SOD when they differ
	// from those given.
	Declared map[int][]byte

	SignedAttrs bool
	// ContentTypeAttr replaces the signed content-type (LDSSecurityObject).
	ContentTypeAttr encasn1.ObjectIdentifier
	// BadMessageDigest signs a message-digest that is not the eContent's.
	BadMessageDigest bool

	SKI   bool // subjectKeyIdentifier sid (SignerInfo version 3)
	Embed bool // the DSC in certificates

	// PSS signs RSASSA-PSS (salt = hash length, MGF1 with the same hash).
	PSS bool
	// Plain signs ECDSA in BSI TR-03111's plain format (r‖s) under
	// ecdsa-plain-SHA*, as German documents do.
	Plain bool
	// BareAlg names only the key type (rsaEncryption, id-ecPublicKey) as
	// the signature algorithm.
	BareAlg bool
	// Sign, when set, signs the digest instead of Signer.Key; SigAlg then
	// names the algorithm.
	Sign   func(digest []byte, h crypto.Hash) []byte
	SigAlg encasn1.ObjectIdentifier

	// Bare leaves out the 77 wrapper.
	Bare bool
}

var (
	oidRSAPSS = encasn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 10}
	oidMGF1   = encasn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 8}
	null      = []byte{0x05, 0x00}
)

// HashOf is h(b).
func HashOf(h crypto.Hash, b []byte) []byte {
	w := h.New()
	w.Write(b)
	return w.Sum(nil)
}

func addAlgParams(b *cryptobyte.Builder, oid encasn1.ObjectIdentifier, params []byte) {
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oid)
		if params != nil {
			b.AddBytes(params)
		}
	})
}

// LDSSecurityObject encodes ICAO 9303-10 §4.6.2's LDSSecurityObject over
// dgs with h; version 1 carries an LDSVersionInfo.
func LDSSecurityObject(version int64, h crypto.Hash, dgs map[int][]byte) []byte {
	nums := make([]int, 0, len(dgs))
	for n := range dgs {
		nums = append(nums, n)
	}
	sort.Ints(nums)
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1Int64(version)
		addAlg(b, lds.OIDForHash(h))
		b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
			for _, n := range nums {
				b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1Int64(int64(n))
					b.AddASN1OctetString(HashOf(h, dgs[n]))
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

// SignedAttrs is the content-type and message-digest attributes as the
// DER SET OF they are signed as (tag 31, RFC 5652 §5.4), sorted as X.690
// §11.6 requires.
func SignedAttrs(ct encasn1.ObjectIdentifier, digest []byte) []byte {
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
	b.AddASN1(asn1.SET, func(b *cryptobyte.Builder) { b.AddBytes(bytes.Join(attrs, nil)) })
	return b.BytesOrPanic()
}

// PSSParams are RSASSA-PSS-params (RFC 4055 §3.1) for h: MGF1 with h, salt
// h's size.
func PSSParams(h crypto.Hash) []byte {
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(asn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) { addAlgParams(b, lds.OIDForHash(h), null) })
		b.AddASN1(asn1.Tag(1).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
			b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(oidMGF1)
				addAlgParams(b, lds.OIDForHash(h), null)
			})
		})
		b.AddASN1(asn1.Tag(2).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) { b.AddASN1Int64(int64(h.Size())) })
	})
	return b.BytesOrPanic()
}

// SignatureAlgorithm is the OID of PKCS #1 v1.5 (RSA keys), ECDSA (EC
// keys; plain: BSI TR-03111's ecdsa-plain-*) with h.
func SignatureAlgorithm(pub crypto.PublicKey, h crypto.Hash, plain bool) encasn1.ObjectIdentifier {
	if _, ok := pub.(*rsa.PublicKey); ok {
		return encasn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, map[crypto.Hash]int{crypto.SHA1: 5, crypto.SHA224: 14, crypto.SHA256: 11, crypto.SHA384: 12, crypto.SHA512: 13}[h]}
	}
	if plain {
		return encasn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 1, 1, 4, 1, map[crypto.Hash]int{crypto.SHA1: 1, crypto.SHA224: 2, crypto.SHA256: 3, crypto.SHA384: 4, crypto.SHA512: 5}[h]}
	}
	if h == crypto.SHA1 {
		return encasn1.ObjectIdentifier{1, 2, 840, 10045, 4, 1}
	}
	return encasn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, map[crypto.Hash]int{crypto.SHA224: 1, crypto.SHA256: 2, crypto.SHA384: 3, crypto.SHA512: 4}[h]}
}

// PlainECDSA signs digest with k and returns r‖s, each the curve's byte
// length (BSI TR-03111 §5.2.1).
func PlainECDSA(t testing.TB, k *ecdsa.PrivateKey, digest []byte) []byte {
	t.Helper()
	r, s, err := ecdsa.Sign(rand.Reader, k, digest)
	if err != nil {
		t.Fatal(err)
	}
	n := (k.Curve.Params().BitSize + 7) / 8
	out := make([]byte, 2*n)
	r.FillBytes(out[:n])
	s.FillBytes(out[n:])
	return out
}

// BuildSOD signs an EF.SOD over dgs (or spec.Declared) as spec says.
func BuildSOD(t testing.TB, s Signer, dgs map[int][]byte, spec SODSpec) []byte {
	t.Helper()
	h := spec.Hash
	if h == 0 {
		h = crypto.SHA256
	}
	lh := spec.LDSHash
	if lh == 0 {
		lh = h
	}
	declared := spec.Declared
	if declared == nil {
		declared = dgs
	}
	ldsDER := LDSSecurityObject(spec.LDSVersion, lh, declared)
	toSign := ldsDER
	var attrs []byte
	if spec.SignedAttrs {
		md := HashOf(h, ldsDER)
		if spec.BadMessageDigest {
			md = HashOf(h, []byte("something else"))
		}
		ct := spec.ContentTypeAttr
		if ct == nil {
			ct = oidLDS
		}
		attrs = SignedAttrs(ct, md)
		toSign = attrs
	}
	digest := HashOf(h, toSign)
	var pub crypto.PublicKey
	if s.Key != nil {
		pub = s.Key.Public()
	}
	_, isRSA := pub.(*rsa.PublicKey)
	sigAlg, sigParams := spec.SigAlg, []byte(nil)
	var sig []byte
	var err error
	switch {
	case spec.Sign != nil:
		sig = spec.Sign(digest, h)
	case spec.PSS:
		sig, err = rsa.SignPSS(rand.Reader, s.Key.(*rsa.PrivateKey), h, digest, &rsa.PSSOptions{SaltLength: h.Size()})
		sigAlg, sigParams = oidRSAPSS, PSSParams(h)
	case spec.Plain:
		sig = PlainECDSA(t, s.Key.(*ecdsa.PrivateKey), digest)
	default:
		sig, err = s.Key.Sign(rand.Reader, digest, h)
	}
	if err != nil {
		t.Fatal(err)
	}
	if sigAlg == nil {
		switch {
		case spec.BareAlg && isRSA:
			sigAlg = lds.OIDRSAEncryption
		case spec.BareAlg:
			sigAlg = lds.OIDECPublicKey
		default:
			sigAlg = SignatureAlgorithm(pub, h, spec.Plain)
		}
	}
	if sigParams == nil && isRSA {
		sigParams = null // RFC 4055 §5: PKCS #1 v1.5 identifiers carry NULL
	}
	version := int64(1)
	if spec.SKI {
		version = 3 // RFC 5652 §5.3
	}
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oidSignedData)
		b.AddASN1(asn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
			b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1Int64(version)
				b.AddASN1(asn1.SET, func(b *cryptobyte.Builder) { addAlg(b, lds.OIDForHash(h)) })
				b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1ObjectIdentifier(oidLDS)
					b.AddASN1(asn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) { b.AddASN1OctetString(ldsDER) })
				})
				if spec.Embed {
					b.AddASN1(asn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) { b.AddBytes(s.Raw) })
				}
				b.AddASN1(asn1.SET, func(b *cryptobyte.Builder) {
					b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1Int64(version)
						if spec.SKI {
							b.AddASN1(asn1.Tag(0).ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes(s.SKI) })
						} else {
							b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
								b.AddBytes(s.Issuer)
								b.AddASN1BigInt(s.Serial)
							})
						}
						addAlg(b, lds.OIDForHash(h))
						if attrs != nil {
							// [0] IMPLICIT: the SET's content under tag A0.
							in := cryptobyte.String(attrs)
							var inner cryptobyte.String
							in.ReadASN1(&inner, asn1.SET)
							b.AddASN1(asn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) { b.AddBytes(inner) })
						}
						addAlgParams(b, sigAlg, sigParams)
						b.AddASN1OctetString(sig)
					})
				})
			})
		})
	})
	if spec.Bare {
		return b.BytesOrPanic()
	}
	return Wrap(lds.TagSOD, b.BytesOrPanic())
}
