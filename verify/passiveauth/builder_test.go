package passiveauth_test

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
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"

	"github.com/kayle-id/orgs-api/verify/lds"
	pa "github.com/kayle-id/orgs-api/verify/passiveauth"
)

// Test PKI and SOD builders (RFC 5280 via crypto/x509, CMS by hand as
// RFC 5652 §5 lays it out). OpenSSL checks what they make in
// openssl_test.go.

var (
	// The check time of every test: inside upstream's 2024–2049 validity.
	checkTime = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	notBefore = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	notAfter  = time.Date(2049, 12, 31, 23, 59, 59, 0, time.UTC)
)

// Keys are slow to make (RSA); each kind is made once per test binary.
var (
	keyMu    sync.Mutex
	keyCache = map[string]crypto.Signer{}
)

func testKey(t testing.TB, kind string) crypto.Signer {
	t.Helper()
	keyMu.Lock()
	defer keyMu.Unlock()
	if k, ok := keyCache[kind]; ok {
		return k
	}
	var k crypto.Signer
	var err error
	switch kind {
	case "p256", "p256b", "p256c":
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "p384":
		k, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "p521":
		k, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case "rsa2048", "rsa2048b":
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		t.Fatalf("unknown key kind %q", kind)
	}
	if err != nil {
		t.Fatal(err)
	}
	keyCache[kind] = k
	return k
}

// multiRDN is upstream's test-chain subject: one multi-valued RDN
// `C=UT + CN=<cn>` (behaviour-verify.md §9).
func multiRDN(t testing.TB, country, cn string) []byte {
	t.Helper()
	der, err := encasn1.Marshal(pkix.RDNSequence{{
		{Type: encasn1.ObjectIdentifier{2, 5, 4, 6}, Value: country},
		{Type: encasn1.ObjectIdentifier{2, 5, 4, 3}, Value: cn},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return der
}

type pki struct {
	key  crypto.Signer
	cert *x509.Certificate
}

type certSpec struct {
	rawSubject []byte
	subject    pkix.Name
	serial     int64
	notBefore  time.Time
	notAfter   time.Time
	isCA       bool
	noBC       bool // no basicConstraints extension
	keyUsage   x509.KeyUsage
	ski        []byte
	sigAlg     x509.SignatureAlgorithm
}

func makeCert(t testing.TB, spec certSpec, pub crypto.PublicKey, parent *pki, selfKey crypto.Signer) *x509.Certificate {
	t.Helper()
	if spec.notBefore.IsZero() {
		spec.notBefore = notBefore
	}
	if spec.notAfter.IsZero() {
		spec.notAfter = notAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(spec.serial), Subject: spec.subject, RawSubject: spec.rawSubject,
		NotBefore: spec.notBefore, NotAfter: spec.notAfter,
		IsCA: spec.isCA, BasicConstraintsValid: !spec.noBC, KeyUsage: spec.keyUsage,
		SubjectKeyId: spec.ski, SignatureAlgorithm: spec.sigAlg,
	}
	if spec.isCA {
		tmpl.MaxPathLenZero = true
	}
	issuer, signKey := tmpl, selfKey
	if parent != nil {
		issuer, signKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, pub, signKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// newCSCA makes a self-signed CSCA profiled as ICAO 9303-12 §7.1.1 asks.
func newCSCA(t testing.TB, keyKind, country, cn string, mod func(*certSpec)) *pki {
	key := testKey(t, keyKind)
	spec := certSpec{rawSubject: multiRDN(t, country, cn), serial: 1001, isCA: true,
		keyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	if mod != nil {
		mod(&spec)
	}
	return &pki{key: key, cert: makeCert(t, spec, key.Public(), nil, key)}
}

// newDSC makes a document signer under ca.
func newDSC(t testing.TB, ca *pki, keyKind, country string, mod func(*certSpec)) *pki {
	key := testKey(t, keyKind)
	spec := certSpec{rawSubject: multiRDN(t, country, "Test DSC "+keyKind), serial: 2001, noBC: true,
		keyUsage: x509.KeyUsageDigitalSignature, ski: []byte(keyKind + "-ski-0123456789")[:20]}
	if mod != nil {
		mod(&spec)
	}
	return &pki{key: key, cert: makeCert(t, spec, key.Public(), ca, nil)}
}

func newCRL(t testing.TB, ca *pki, this, next time.Time, revoked ...*big.Int) []byte {
	t.Helper()
	tmpl := &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: this, NextUpdate: next}
	for _, s := range revoked {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries,
			x509.RevocationListEntry{SerialNumber: s, RevocationTime: this})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, ca.cert, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// Synthetic data groups (ICAO 9303-10 §4.7): DG1 a TD3 MRZ in 61/5F1F,
// DG2 a stand-in biometric template, DG14 and DG15 tagged blobs (their
// content is other packages' business; only their hashes matter here).
func dataGroups() map[int][]byte {
	mrz := "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<" + "L898902C36UTO7408122F1204159ZE184226B<<<<<10"
	dg1 := append([]byte{0x61, 0x5b, 0x5f, 0x1f, 0x58}, mrz...)
	return map[int][]byte{
		1:  dg1,
		2:  append([]byte{0x75, 0x82, 0x01, 0x2c}, bytes.Repeat([]byte{0x7f}, 300)...),
		14: {0x6e, 0x03, 0x31, 0x01, 0x00},
		15: {0x6f, 0x03, 0x30, 0x01, 0x00},
	}
}

type sodSpec struct {
	hash        crypto.Hash // data-group and signature hash; SHA-256 when zero
	signedAttrs bool
	ski         bool // subjectKeyIdentifier sid
	embed       bool
	pss         bool
	bareAlg     bool // rsaEncryption / id-ecPublicKey as the signature algorithm
	declared    map[int][]byte
	// sign overrides the signer (OpenSSL-made brainpool keys).
	sign   func(digest []byte, h crypto.Hash) []byte
	sigAlg encasn1.ObjectIdentifier
	badMD  bool // a message-digest that is not the eContent's
}

func hashOf(h crypto.Hash, b []byte) []byte {
	w := h.New()
	w.Write(b)
	return w.Sum(nil)
}

func addAlg(b *cryptobyte.Builder, oid encasn1.ObjectIdentifier, params []byte) {
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oid)
		if params != nil {
			b.AddBytes(params)
		}
	})
}

var (
	oidLDS           = encasn1.ObjectIdentifier{2, 23, 136, 1, 1, 1}
	oidSignedData    = encasn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidContentType   = encasn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	oidMessageDigest = encasn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	oidRSAPSS        = encasn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 10}
	null             = []byte{0x05, 0x00}
)

func buildLDS(h crypto.Hash, dgs map[int][]byte) []byte {
	nums := make([]int, 0, len(dgs))
	for n := range dgs {
		nums = append(nums, n)
	}
	sort.Ints(nums)
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1Int64(0)
		addAlg(b, lds.OIDForHash(h), nil)
		b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
			for _, n := range nums {
				b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1Int64(int64(n))
					b.AddASN1OctetString(hashOf(h, dgs[n]))
				})
			}
		})
	})
	return b.BytesOrPanic()
}

func signedAttrs(digest []byte) []byte {
	attr := func(oid encasn1.ObjectIdentifier, val func(*cryptobyte.Builder)) []byte {
		b := cryptobyte.NewBuilder(nil)
		b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(oid)
			b.AddASN1(asn1.SET, val)
		})
		return b.BytesOrPanic()
	}
	attrs := [][]byte{
		attr(oidContentType, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(oidLDS) }),
		attr(oidMessageDigest, func(b *cryptobyte.Builder) { b.AddASN1OctetString(digest) }),
	}
	sort.Slice(attrs, func(i, j int) bool { return bytes.Compare(attrs[i], attrs[j]) < 0 }) // X.690 §11.6
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(asn1.SET, func(b *cryptobyte.Builder) {
		for _, a := range attrs {
			b.AddBytes(a)
		}
	})
	return b.BytesOrPanic()
}

func pssParams(h crypto.Hash) []byte {
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(asn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) { addAlg(b, lds.OIDForHash(h), null) })
		b.AddASN1(asn1.Tag(1).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
			b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(encasn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 8})
				addAlg(b, lds.OIDForHash(h), null)
			})
		})
		b.AddASN1(asn1.Tag(2).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) { b.AddASN1Int64(int64(h.Size())) })
	})
	return b.BytesOrPanic()
}

func defaultSigAlg(pub crypto.PublicKey, h crypto.Hash) encasn1.ObjectIdentifier {
	rsaOIDs := map[crypto.Hash]int{crypto.SHA1: 5, crypto.SHA256: 11, crypto.SHA384: 12, crypto.SHA512: 13}
	ecOIDs := map[crypto.Hash]int{crypto.SHA224: 1, crypto.SHA256: 2, crypto.SHA384: 3, crypto.SHA512: 4}
	if _, ok := pub.(*rsa.PublicKey); ok {
		return encasn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, rsaOIDs[h]}
	}
	if h == crypto.SHA1 {
		return encasn1.ObjectIdentifier{1, 2, 840, 10045, 4, 1}
	}
	return encasn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, ecOIDs[h]}
}

// sodSigner is what the SOD builder needs of the DSC.
type sodSigner struct {
	raw, issuer, ski []byte
	serial           *big.Int
	isRSA            bool
	pub              crypto.PublicKey
}

// buildSOD signs an EF.SOD (ICAO 9303-10 §4.6.2) over dgs with dsc.
func buildSOD(t testing.TB, dsc *x509.Certificate, key crypto.Signer, dgs map[int][]byte, spec sodSpec) []byte {
	t.Helper()
	return buildSODWith(t, sodSigner{raw: dsc.Raw, issuer: dsc.RawIssuer, ski: dsc.SubjectKeyId, serial: dsc.SerialNumber,
		isRSA: dsc.PublicKeyAlgorithm == x509.RSA, pub: dsc.PublicKey}, key, dgs, spec)
}

// buildSODRaw signs with spec.sign for a DSC crypto/x509 cannot parse
// (brainpool); spec.sigAlg names the algorithm.
func buildSODRaw(t testing.TB, dscDER []byte, dgs map[int][]byte, spec sodSpec) []byte {
	t.Helper()
	c, err := pa.ParseCertificate(dscDER)
	if err != nil {
		t.Fatal(err)
	}
	return buildSODWith(t, sodSigner{raw: c.Raw, issuer: c.RawIssuer, ski: c.SubjectKeyID,
		serial: new(big.Int).SetBytes(c.SerialBytes)}, nil, dgs, spec)
}

func buildSODWith(t testing.TB, dsc sodSigner, key crypto.Signer, dgs map[int][]byte, spec sodSpec) []byte {
	t.Helper()
	h := spec.hash
	if h == 0 {
		h = crypto.SHA256
	}
	declared := spec.declared
	if declared == nil {
		declared = dgs
	}
	ldsDER := buildLDS(h, declared)
	toSign := ldsDER
	var attrs []byte
	if spec.signedAttrs {
		md := hashOf(h, ldsDER)
		if spec.badMD {
			md = hashOf(h, []byte("something else"))
		}
		attrs = signedAttrs(md)
		toSign = attrs
	}
	sigAlg, sigParams := spec.sigAlg, []byte(nil)
	var sig []byte
	var err error
	switch {
	case spec.sign != nil:
		sig = spec.sign(hashOf(h, toSign), h)
	case spec.pss:
		sig, err = rsa.SignPSS(rand.Reader, key.(*rsa.PrivateKey), h, hashOf(h, toSign), &rsa.PSSOptions{SaltLength: h.Size()})
		sigAlg, sigParams = oidRSAPSS, pssParams(h)
	default:
		sig, err = key.Sign(rand.Reader, hashOf(h, toSign), h)
	}
	if err != nil {
		t.Fatal(err)
	}
	if sigAlg == nil {
		switch {
		case spec.bareAlg && dsc.isRSA:
			sigAlg = lds.OIDRSAEncryption
		case spec.bareAlg:
			sigAlg = lds.OIDECPublicKey
		default:
			sigAlg = defaultSigAlg(dsc.pub, h)
		}
	}
	if sigParams == nil && dsc.isRSA {
		sigParams = null
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
				b.AddASN1(asn1.SET, func(b *cryptobyte.Builder) { addAlg(b, lds.OIDForHash(h), nil) })
				b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1ObjectIdentifier(oidLDS)
					b.AddASN1(asn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) { b.AddASN1OctetString(ldsDER) })
				})
				if spec.embed {
					b.AddASN1(asn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) { b.AddBytes(dsc.raw) })
				}
				b.AddASN1(asn1.SET, func(b *cryptobyte.Builder) {
					b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1Int64(version)
						if spec.ski {
							b.AddASN1(asn1.Tag(0).ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes(dsc.ski) })
						} else {
							b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
								b.AddBytes(dsc.issuer)
								b.AddASN1BigInt(dsc.serial)
							})
						}
						addAlg(b, lds.OIDForHash(h), nil)
						if attrs != nil {
							in := cryptobyte.String(attrs)
							var inner cryptobyte.String
							in.ReadASN1(&inner, asn1.SET)
							b.AddASN1(asn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) { b.AddBytes(inner) })
						}
						addAlg(b, sigAlg, sigParams)
						b.AddASN1OctetString(sig)
					})
				})
			})
		})
	})
	sod := b.BytesOrPanic()
	w := cryptobyte.NewBuilder(nil)
	w.AddASN1(asn1.Tag(lds.TagSOD).Constructed(), func(b *cryptobyte.Builder) { b.AddBytes(sod) })
	return w.BytesOrPanic()
}
