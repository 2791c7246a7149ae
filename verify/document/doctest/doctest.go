// Package doctest builds synthetic travel-document chip data for tests:
// an EF.SOD signed by a DSC (CMS by hand, RFC 5652 §5, as
// verify/passiveauth's test builder lays it out), DG14 with chip and active
// authentication infos, DG15, an active-authentication signature and a chip
// authentication transcript computed with crypto/ecdh.
package doctest

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	encasn1 "encoding/asn1"
	"sort"
	"testing"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"

	"github.com/kayle-id/orgs-api/verify/chipauth"
	"github.com/kayle-id/orgs-api/verify/lds"
	"github.com/kayle-id/orgs-api/verify/mrz"
)

var (
	oidLDS           = encasn1.ObjectIdentifier{2, 23, 136, 1, 1, 1}
	oidSignedData    = encasn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidContentType   = encasn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	oidMessageDigest = encasn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	oidECDSASHA256   = encasn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidAA            = encasn1.ObjectIdentifier{2, 23, 136, 1, 1, 5}
	// OIDECDSAPlainSHA256 is ecdsa-plain-SHA256 (BSI TR-03111).
	OIDECDSAPlainSHA256 = encasn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 1, 1, 4, 1, 3}
	// OIDCAECDHAES128 is id-CA-ECDH-AES-CBC-CMAC-128.
	OIDCAECDHAES128 = encasn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 2, 2, 3, 2, 2}
)

// TD3 is ICAO 9303-4's specimen passport MRZ (Utopia, check digits valid).
const TD3 = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<" + "L898902C36UTO7408122F1204159ZE184226B<<<<<10"

func sum256(b []byte) []byte { h := sha256.Sum256(b); return h[:] }

func addAlg(b *cryptobyte.Builder, oid encasn1.ObjectIdentifier) {
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(oid) })
}

// Wrap puts v in a constructed application tag (one byte: 0x61 DG1,
// 0x6E DG14, 0x6F DG15, 0x75 DG2, 0x77 SOD).
func Wrap(tag byte, v []byte) []byte {
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(asn1.Tag(tag), func(b *cryptobyte.Builder) { b.AddBytes(v) })
	return b.BytesOrPanic()
}

// SOD signs an EF.SOD over dgs (SHA-256 hashes, signed attributes, the DSC
// embedded, issuerAndSerialNumber) with an ECDSA DSC.
func SOD(t testing.TB, dsc *x509.Certificate, key *ecdsa.PrivateKey, dgs map[int][]byte) []byte {
	t.Helper()
	nums := make([]int, 0, len(dgs))
	for n := range dgs {
		nums = append(nums, n)
	}
	sort.Ints(nums)
	lb := cryptobyte.NewBuilder(nil)
	lb.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1Int64(0)
		addAlg(b, lds.OIDForHash(crypto.SHA256))
		b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
			for _, n := range nums {
				b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1Int64(int64(n))
					b.AddASN1OctetString(sum256(dgs[n]))
				})
			}
		})
	})
	ldsDER := lb.BytesOrPanic()

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
		attr(oidMessageDigest, func(b *cryptobyte.Builder) { b.AddASN1OctetString(sum256(ldsDER)) }),
	}
	sort.Slice(attrs, func(i, j int) bool { return bytes.Compare(attrs[i], attrs[j]) < 0 }) // X.690 §11.6
	joined := bytes.Join(attrs, nil)
	sb := cryptobyte.NewBuilder(nil)
	sb.AddASN1(asn1.SET, func(b *cryptobyte.Builder) { b.AddBytes(joined) })
	sig, err := ecdsa.SignASN1(rand.Reader, key, sum256(sb.BytesOrPanic())) // signed over the SET (RFC 5652 §5.4)
	if err != nil {
		t.Fatal(err)
	}

	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oidSignedData)
		b.AddASN1(asn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
			b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1Int64(1)
				b.AddASN1(asn1.SET, func(b *cryptobyte.Builder) { addAlg(b, lds.OIDForHash(crypto.SHA256)) })
				b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1ObjectIdentifier(oidLDS)
					b.AddASN1(asn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) { b.AddASN1OctetString(ldsDER) })
				})
				b.AddASN1(asn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) { b.AddBytes(dsc.Raw) })
				b.AddASN1(asn1.SET, func(b *cryptobyte.Builder) {
					b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1Int64(1)
						b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
							b.AddBytes(dsc.RawIssuer)
							b.AddASN1BigInt(dsc.SerialNumber)
						})
						addAlg(b, lds.OIDForHash(crypto.SHA256))
						b.AddASN1(asn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) { b.AddBytes(joined) })
						addAlg(b, oidECDSASHA256)
						b.AddASN1OctetString(sig)
					})
				})
			})
		})
	})
	return Wrap(0x77, b.BytesOrPanic())
}

// DG14 holds a ChipAuthenticationInfo (version 2, id-CA-ECDH-AES-128, no key
// id), the chip's key as a ChipAuthenticationPublicKeyInfo (id-PK-ECDH) and,
// when aaAlg is not nil, an ActiveAuthenticationInfo naming it.
func DG14(t testing.TB, chipSPKI []byte, aaAlg encasn1.ObjectIdentifier) []byte {
	t.Helper()
	var infos [][]byte
	add := func(f func(b *cryptobyte.Builder)) {
		b := cryptobyte.NewBuilder(nil)
		b.AddASN1(asn1.SEQUENCE, f)
		infos = append(infos, b.BytesOrPanic())
	}
	add(func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(OIDCAECDHAES128)
		b.AddASN1Int64(2)
	})
	add(func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(chipauth.OIDPKECDH)
		b.AddBytes(chipSPKI)
	})
	if aaAlg != nil {
		add(func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(oidAA)
			b.AddASN1Int64(1)
			b.AddASN1ObjectIdentifier(aaAlg)
		})
	}
	sort.Slice(infos, func(i, j int) bool { return bytes.Compare(infos[i], infos[j]) < 0 })
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(asn1.SET, func(b *cryptobyte.Builder) { b.AddBytes(bytes.Join(infos, nil)) })
	return Wrap(0x6E, b.BytesOrPanic())
}

// AASignP256 is the chip's active-authentication answer: ECDSA with SHA-256
// over the challenge, plain r‖s (BSI TR-03111 §5.2.1).
func AASignP256(t testing.TB, key *ecdsa.PrivateKey, challenge []byte) []byte {
	t.Helper()
	r, s, err := ecdsa.Sign(rand.Reader, key, sum256(challenge))
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, 64)
	r.FillBytes(out[:32])
	s.FillBytes(out[32:])
	return out
}

// CATranscript records a chip authentication (id-CA-ECDH-AES-128) the way a
// chip with private key chip answers it: an ephemeral P-256 terminal key,
// K = ECDH, K_MAC = KDF(K, nonce, 2), the token over the terminal key.
func CATranscript(t testing.TB, chip *ecdh.PrivateKey) []byte {
	t.Helper()
	term, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := chip.ECDH(term.PublicKey()) // the chip's side of the agreement
	if err != nil {
		t.Fatal(err)
	}
	nonce := make([]byte, 8)
	rand.Read(nonce)
	kMAC := chipauth.KDF(k, nonce, chipauth.CounterMAC, chipauth.AES128)
	pk := term.PublicKey().Bytes()
	tok, err := chipauth.Token(chipauth.AES128, kMAC, chipauth.TokenInput(OIDCAECDHAES128, false, pk))
	if err != nil {
		t.Fatal(err)
	}
	tr := &chipauth.Transcript{OID: OIDCAECDHAES128, TerminalPrivate: term.Bytes(), TerminalPublic: pk, Nonce: nonce, Token: tok}
	out, err := tr.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Document is a whole synthetic P-256 document: DG1 of TD3, a DG2 stand-in,
// DG14 with the chip key and an AA info (ecdsa-plain-SHA256), DG15 with the
// AA key, the SOD signed by DSC over all four, and the AA and CA records.
type Document struct {
	DG1, DG2, DG14, DG15, SOD []byte
	AAChallenge, AASignature  []byte
	CATranscript              []byte
	AAKey                     *ecdsa.PrivateKey
	ChipKey                   *ecdh.PrivateKey
	DSC                       *x509.Certificate
	DSCKey                    *ecdsa.PrivateKey
}

// New builds a Document signed by dsc (a pkdtest DSC: an ECDSA key).
func New(t testing.TB, dsc *x509.Certificate, dscKey *ecdsa.PrivateKey) *Document {
	t.Helper()
	d := &Document{DSC: dsc, DSCKey: dscKey}
	var err error
	if d.AAKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	if d.ChipKey, err = ecdh.P256().GenerateKey(rand.Reader); err != nil {
		t.Fatal(err)
	}
	aaSPKI, err := x509.MarshalPKIXPublicKey(&d.AAKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	chipSPKI, err := x509.MarshalPKIXPublicKey(d.ChipKey.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	d.DG1 = mrz.EncodeDG1(TD3)
	d.DG2 = Wrap(0x75, []byte("a DG2 stand-in: no portrait is read by these checks"))
	d.DG14 = DG14(t, chipSPKI, OIDECDSAPlainSHA256)
	d.DG15 = Wrap(0x6F, aaSPKI)
	d.AAChallenge = []byte{1, 2, 3, 4, 5, 6, 7, 8}
	d.AASignature = AASignP256(t, d.AAKey, d.AAChallenge)
	d.CATranscript = CATranscript(t, d.ChipKey)
	d.Sign(t)
	return d
}

// Sign (re)signs the SOD over the current data groups.
func (d *Document) Sign(t testing.TB) {
	t.Helper()
	d.SOD = SOD(t, d.DSC, d.DSCKey, map[int][]byte{1: d.DG1, 2: d.DG2, 14: d.DG14, 15: d.DG15})
}
