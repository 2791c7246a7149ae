package passiveauth_test

import (
	"context"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"testing"
	"time"

	pa "github.com/kayle-id/orgs-api/verify/passiveauth"
)

// world is a trust store with two CSCAs of Utopia (P-256 with upstream's
// multi-valued RDN subject, and RSA-2048), each with a current empty CRL.
type world struct {
	ecCSCA, rsaCSCA *pki
	store           *pa.MemoryStore
}

func newWorld(t testing.TB) *world {
	w := &world{
		ecCSCA:  newCSCA(t, "p256", "UT", "Kayle Test CSCA", nil),
		rsaCSCA: newCSCA(t, "rsa2048", "UT", "Kayle Test RSA CSCA", nil),
		store:   pa.NewMemoryStore(),
	}
	for _, ca := range []*pki{w.ecCSCA, w.rsaCSCA} {
		must(t, w.store.AddCSCA(ca.cert.Raw))
		must(t, w.store.AddCRL(newCRL(t, ca, notBefore, notAfter)))
	}
	return w
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func opts() pa.Options { return pa.Options{IssuingState: "UTO", Time: checkTime} }

func verify(sod []byte, dgs map[int][]byte, ts pa.TrustStore, o pa.Options) (*pa.Result, error) {
	return pa.Verify(context.Background(), sod, dgs, ts, o)
}

// wantFail asserts the check and reason an error names.
func wantFail(t *testing.T, err error, check pa.Check, reason error) {
	t.Helper()
	var e *pa.Error
	if !errors.As(err, &e) {
		t.Fatalf("want %s/%v, got %v", check, reason, err)
	}
	if e.Check != check || !errors.Is(err, reason) {
		t.Fatalf("want %s/%v, got %s/%v (%v)", check, reason, e.Check, e.Reason, err)
	}
}

type dscCase struct {
	name   string
	ca     func(*world) *pki
	key    string
	mod    func(*certSpec)
	pss    bool
	wantSA string
}

var dscCases = []dscCase{
	{"P-256 under P-256", func(w *world) *pki { return w.ecCSCA }, "p256b", nil, false, "ECDSA-SHA256-P-256"},
	{"P-384 under P-256", func(w *world) *pki { return w.ecCSCA }, "p384", nil, false, "ECDSA-SHA256-P-384"},
	{"P-521 under RSA", func(w *world) *pki { return w.rsaCSCA }, "p521", nil, false, "ECDSA-SHA256-P-521"},
	{"RSA PKCS#1 under P-256", func(w *world) *pki { return w.ecCSCA }, "rsa2048b", nil, false, "RSA-PKCS1v15-SHA256-2048"},
	{"RSA-PSS SOD, DSC signed with RSA-PSS", func(w *world) *pki { return w.rsaCSCA }, "rsa2048b",
		func(s *certSpec) { s.sigAlg = x509.SHA256WithRSAPSS }, true, "RSASSA-PSS-SHA256-2048"},
}

// Every DSC kind, with and without signed attributes, with either signer
// identifier, embedded or only in the trust store, passes; the result says
// which of each it was.
func TestVerifyPasses(t *testing.T) {
	w := newWorld(t)
	dgs := dataGroups()
	for _, dc := range dscCases {
		dsc := newDSC(t, dc.ca(w), dc.key, "UT", dc.mod)
		for _, attrs := range []bool{false, true} {
			for _, ski := range []bool{false, true} {
				for _, embed := range []bool{false, true} {
					name := fmt.Sprintf("%s/attrs=%v/ski=%v/embed=%v", dc.name, attrs, ski, embed)
					t.Run(name, func(t *testing.T) {
						store := w.store
						if !embed {
							store = cloneStore(t, w)
							must(t, store.AddDSC(dsc.cert.Raw))
						}
						sod := buildSOD(t, dsc.cert, dsc.key, dgs, sodSpec{SignedAttrs: attrs, SKI: ski, Embed: embed, PSS: dc.pss})
						res, err := verify(sod, dgs, store, opts())
						if err != nil {
							t.Fatal(err)
						}
						wantSource := map[bool]string{true: "sod", false: "trust_store"}[embed]
						wantSID := map[bool]string{true: "subject_key_identifier", false: "issuer_and_serial"}[ski]
						if res.SignerSource != wantSource || res.SignerIdentifier != wantSID || res.SignedAttributes != attrs ||
							res.SignatureAlgorithm != dc.wantSA || res.Country != "UT" ||
							res.Revocation.Status != pa.VerifiedNotRevoked || !res.DeclaresDG14 || !res.DeclaresDG15 ||
							fmt.Sprint(res.DataGroups) != "[1 2 14 15]" {
							t.Fatalf("result %+v", res)
						}
					})
				}
			}
		}
	}
}

func cloneStore(t testing.TB, w *world) *pa.MemoryStore {
	s := pa.NewMemoryStore()
	for _, ca := range []*pki{w.ecCSCA, w.rsaCSCA} {
		must(t, s.AddCSCA(ca.cert.Raw))
		must(t, s.AddCRL(newCRL(t, ca, notBefore, notAfter)))
	}
	return s
}

// Data-group hashes: SHA-1/224/384/512 SODs and a bare key-type
// signature algorithm (digest from digestAlgorithm, RFC 5652 §5.3) pass.
func TestVerifyHashes(t *testing.T) {
	w := newWorld(t)
	dgs := dataGroups()
	for _, dc := range []struct {
		key  string
		h    crypto.Hash
		bare bool
	}{{"p256b", crypto.SHA1, false}, {"p256b", crypto.SHA224, true}, {"p384", crypto.SHA384, false}, {"p521", crypto.SHA512, false},
		{"rsa2048b", crypto.SHA1, false}, {"rsa2048b", crypto.SHA512, true}, {"p384", crypto.SHA256, true}} {
		t.Run(fmt.Sprint(dc), func(t *testing.T) {
			dsc := newDSC(t, w.ecCSCA, dc.key, "UT", nil)
			spec := sodSpec{Hash: dc.h, Embed: true, SignedAttrs: true, BareAlg: dc.bare}
			res, err := verify(buildSOD(t, dsc.cert, dsc.key, dgs, spec), dgs, w.store, opts())
			if err != nil {
				t.Fatal(err)
			}
			if res.DigestAlgorithm == "" {
				t.Fatal("no digest algorithm")
			}
		})
	}
}

// The data-group rules (behaviour-verify.md §6.3 step 3).
func TestVerifyDataGroupRules(t *testing.T) {
	w := newWorld(t)
	dsc := newDSC(t, w.ecCSCA, "p256b", "UT", nil)
	dgs := dataGroups()
	sign := func(declared map[int][]byte) []byte {
		return buildSOD(t, dsc.cert, dsc.key, dgs, sodSpec{Embed: true, SignedAttrs: true, Declared: declared})
	}
	without := func(m map[int][]byte, n ...int) map[int][]byte {
		out := map[int][]byte{}
		for k, v := range m {
			out[k] = v
		}
		for _, k := range n {
			delete(out, k)
		}
		return out
	}
	with := func(m map[int][]byte, n int, v []byte) map[int][]byte {
		out := without(m)
		out[n] = v
		return out
	}
	full := sign(dgs)
	tamperedDG1 := with(dgs, 1, append([]byte{}, dgs[1]...))
	tamperedDG1[1][10] ^= 1
	cases := []struct {
		name   string
		sod    []byte
		dgs    map[int][]byte
		check  pa.Check
		reason error
	}{
		{"DG1 tampered", full, tamperedDG1, pa.CheckDataGroups, pa.ErrDGHashMismatch},
		{"DG2 tampered", full, with(dgs, 2, []byte{0x75, 0x00}), pa.CheckDataGroups, pa.ErrDGHashMismatch},
		{"DG15 tampered", full, with(dgs, 15, []byte{0x6f, 0x00}), pa.CheckDataGroups, pa.ErrDGHashMismatch},
		{"DG2 not supplied", full, without(dgs, 2), pa.CheckInput, pa.ErrMissingArtifact},
		{"SOD empty", nil, dgs, pa.CheckInput, pa.ErrMissingArtifact},
		{"SOD without DG2 hash", sign(without(dgs, 2)), dgs, pa.CheckDataGroups, pa.ErrRequiredHashMissing},
		{"DG15 declared, not supplied", full, without(dgs, 15), pa.CheckDataGroups, pa.ErrDeclaredDGMissing},
		{"DG14 declared, not supplied", full, without(dgs, 14), pa.CheckDataGroups, pa.ErrDeclaredDGMissing},
		{"DG14 supplied, not declared", sign(without(dgs, 14)), dgs, pa.CheckDataGroups, pa.ErrUndeclaredDGSupplied},
		{"DG11 supplied, not declared", full, with(dgs, 11, []byte{0x6b, 0x00}), pa.CheckDataGroups, pa.ErrUndeclaredDGSupplied},
		{"garbage SOD", []byte{0x77, 0x03, 0x30, 0x01, 0x00}, dgs, pa.CheckParse, pa.ErrParse},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := verify(c.sod, c.dgs, w.store, opts())
			wantFail(t, err, c.check, c.reason)
		})
	}
	t.Run("DG3 declared, not read", func(t *testing.T) {
		res, err := verify(sign(with(dgs, 3, []byte{0x63, 0x00})), dgs, w.store, opts())
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(res.DeclaredDataGroups) != "[1 2 3 14 15]" || fmt.Sprint(res.DataGroups) != "[1 2 14 15]" {
			t.Fatalf("%+v", res)
		}
	})
	t.Run("no DG14, no DG15", func(t *testing.T) {
		small := without(dgs, 14, 15)
		res, err := verify(sign(small), small, w.store, opts())
		if err != nil || res.DeclaresDG14 || res.DeclaresDG15 {
			t.Fatalf("%+v %v", res, err)
		}
	})
}

// Tampered signatures and signed attributes fail the CMS check.
func TestVerifyTamperedSignature(t *testing.T) {
	w := newWorld(t)
	dgs := dataGroups()
	for _, dc := range dscCases {
		dsc := newDSC(t, dc.ca(w), dc.key, "UT", dc.mod)
		for _, attrs := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/attrs=%v", dc.name, attrs), func(t *testing.T) {
				sod := buildSOD(t, dsc.cert, dsc.key, dgs, sodSpec{SignedAttrs: attrs, Embed: true, PSS: dc.pss})
				_, err := verify(flipSignature(t, sod), dgs, w.store, opts())
				wantFail(t, err, pa.CheckCMSSignature, pa.ErrCMSSignature)
			})
		}
		t.Run(dc.name+"/message-digest", func(t *testing.T) {
			sod := buildSOD(t, dsc.cert, dsc.key, dgs, sodSpec{SignedAttrs: true, Embed: true, PSS: dc.pss, BadMessageDigest: true})
			_, err := verify(sod, dgs, w.store, opts())
			wantFail(t, err, pa.CheckCMSSignature, pa.ErrCMSSignature)
		})
	}
}

// flipSignature changes the last byte of the SOD: the signature's last
// octet, since unsignedAttrs are absent.
func flipSignature(t testing.TB, sod []byte) []byte {
	out := append([]byte{}, sod...)
	out[len(out)-1] ^= 0x01
	return out
}

// Certificates: signer lookup, validity of DSC and CSCA, profiles,
// issuers and countries.
func TestVerifyCertificates(t *testing.T) {
	w := newWorld(t)
	dgs := dataGroups()
	good := newDSC(t, w.ecCSCA, "p256b", "UT", nil)
	sodFor := func(d *pki) []byte { return buildSOD(t, d.cert, d.key, dgs, sodSpec{Embed: true, SignedAttrs: true}) }

	expiredCSCA := newCSCA(t, "p256c", "UT", "Expired CSCA", func(s *certSpec) { s.notAfter = checkTime.Add(-time.Hour) })
	futureCSCA := newCSCA(t, "p256c", "UT", "Future CSCA", func(s *certSpec) { s.notBefore = checkTime.Add(time.Hour) })
	noCertSign := newCSCA(t, "p256c", "UT", "No keyCertSign CSCA", func(s *certSpec) { s.keyUsage = x509.KeyUsageCRLSign })
	notCA := newCSCA(t, "p256c", "UT", "Not a CA", func(s *certSpec) { s.isCA = false; s.ski = []byte("not-a-ca-ski") })
	frCSCA := newCSCA(t, "p256c", "FR", "French CSCA", nil)
	// A rogue CSCA with the trusted CSCA's exact subject, not in the store.
	rogue := newCSCA(t, "p256c", "UT", "Kayle Test CSCA", nil)
	untrusted := newCSCA(t, "p256c", "UT", "Unknown CSCA", nil)
	for _, ca := range []*pki{expiredCSCA, futureCSCA, noCertSign, notCA, frCSCA} {
		must(t, w.store.AddCSCA(ca.cert.Raw))
		must(t, w.store.AddCRL(newCRL(t, ca, notBefore, notAfter)))
	}

	cases := []struct {
		name   string
		sod    []byte
		opts   pa.Options
		check  pa.Check
		reason error
	}{
		{"signer nowhere", buildSOD(t, good.cert, good.key, dgs, sodSpec{}), opts(), pa.CheckSigner, pa.ErrSignerNotFound},
		{"signer nowhere (SKI)", buildSOD(t, good.cert, good.key, dgs, sodSpec{SKI: true}), opts(), pa.CheckSigner, pa.ErrSignerNotFound},
		{"DSC expired", sodFor(newDSC(t, w.ecCSCA, "p256b", "UT", func(s *certSpec) { s.notAfter = checkTime.Add(-time.Second) })),
			opts(), pa.CheckDSCValidity, pa.ErrExpired},
		{"DSC not yet valid", sodFor(newDSC(t, w.ecCSCA, "p256b", "UT", func(s *certSpec) { s.notBefore = checkTime.Add(time.Second) })),
			opts(), pa.CheckDSCValidity, pa.ErrNotYetValid},
		{"DSC without digitalSignature", sodFor(newDSC(t, w.ecCSCA, "p256b", "UT", func(s *certSpec) { s.keyUsage = x509.KeyUsageKeyAgreement })),
			opts(), pa.CheckDSCProfile, pa.ErrCertProfile},
		{"DSC is a CA", sodFor(newDSC(t, w.ecCSCA, "p256b", "UT", func(s *certSpec) { s.noBC = false; s.isCA = true })),
			opts(), pa.CheckDSCProfile, pa.ErrCertProfile},
		{"CSCA expired", sodFor(newDSC(t, expiredCSCA, "p256b", "UT", nil)), opts(), pa.CheckCSCAValidity, pa.ErrExpired},
		{"CSCA not yet valid", sodFor(newDSC(t, futureCSCA, "p256b", "UT", nil)), opts(), pa.CheckCSCAValidity, pa.ErrNotYetValid},
		{"CSCA without keyCertSign", sodFor(newDSC(t, noCertSign, "p256b", "UT", nil)), opts(), pa.CheckCSCAProfile, pa.ErrCertProfile},
		{"CSCA not a CA", sodFor(newDSC(t, notCA, "p256b", "UT", nil)), opts(), pa.CheckCSCAProfile, pa.ErrCertProfile},
		{"issuer with the trusted name, other key", sodFor(newDSC(t, rogue, "p256b", "UT", nil)), opts(), pa.CheckDSCSignature, pa.ErrDSCSignature},
		{"issuer not in the store", sodFor(newDSC(t, untrusted, "p256b", "UT", nil)), opts(), pa.CheckChain, pa.ErrChainUntrusted},
		{"issuing state FRA, chain UT", sodFor(good), pa.Options{IssuingState: "FRA", Time: checkTime}, pa.CheckCountry, pa.ErrCountryMismatch},
		{"French CSCA for a Utopian DSC", sodFor(newDSC(t, frCSCA, "p256b", "UT", nil)), opts(), pa.CheckCountry, pa.ErrCountryMismatch},
		{"French DSC under the Utopian CSCA", sodFor(newDSC(t, w.ecCSCA, "p256b", "FR", nil)), opts(), pa.CheckCountry, pa.ErrCountryMismatch},
		{"no issuing state", sodFor(good), pa.Options{Time: checkTime}, pa.CheckInput, pa.ErrMissingArtifact},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := verify(c.sod, dgs, w.store, c.opts)
			wantFail(t, err, c.check, c.reason)
		})
	}
	t.Run("French document, French chain", func(t *testing.T) {
		d := newDSC(t, frCSCA, "p256b", "FR", nil)
		if _, err := verify(sodFor(d), dgs, w.store, pa.Options{IssuingState: "FRA", Time: checkTime}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("zero time is now", func(t *testing.T) {
		if _, err := verify(sodFor(good), dgs, w.store, pa.Options{IssuingState: "UTO"}); err != nil {
			t.Fatal(err)
		}
	})
}

// CRL status and the revocation policy.
func TestVerifyRevocation(t *testing.T) {
	dgs := dataGroups()
	w := newWorld(t)
	ca := newCSCA(t, "p256c", "UT", "CRL CSCA", nil)
	dsc := newDSC(t, ca, "p256b", "UT", nil)
	rogue := newCSCA(t, "p256", "UT", "CRL CSCA", nil) // same name, other key
	sod := buildSOD(t, dsc.cert, dsc.key, dgs, sodSpec{Embed: true})
	serial := big.NewInt(2001)
	stale := checkTime.Add(-24 * time.Hour)
	cases := []struct {
		name   string
		crls   [][]byte
		status pa.RevocationStatus // under AllowUnknownRevocation
		reason error               // under the default policy; nil = pass
	}{
		{"current, empty", [][]byte{newCRL(t, ca, notBefore, notAfter)}, pa.VerifiedNotRevoked, nil},
		{"current, other serials", [][]byte{newCRL(t, ca, notBefore, notAfter, big.NewInt(7), big.NewInt(2002))}, pa.VerifiedNotRevoked, nil},
		{"current, lists the DSC", [][]byte{newCRL(t, ca, notBefore, notAfter, serial)}, pa.Revoked, pa.ErrRevoked},
		{"stale, lists the DSC", [][]byte{newCRL(t, ca, notBefore, stale, serial)}, pa.Revoked, pa.ErrRevoked},
		{"stale, empty", [][]byte{newCRL(t, ca, notBefore, stale)}, pa.RevocationUnknown, pa.ErrRevocationUnknown},
		{"stale and current", [][]byte{newCRL(t, ca, notBefore, stale), newCRL(t, ca, notBefore, notAfter)}, pa.VerifiedNotRevoked, nil},
		{"missing", nil, pa.RevocationUnknown, pa.ErrRevocationUnknown},
		{"signed by another key", [][]byte{newCRL(t, rogue, notBefore, notAfter)}, pa.RevocationUnknown, pa.ErrRevocationUnknown},
		{"forged, lists the DSC", [][]byte{newCRL(t, rogue, notBefore, notAfter, serial)}, pa.RevocationUnknown, pa.ErrRevocationUnknown},
		{"thisUpdate in the future", [][]byte{newCRL(t, ca, checkTime.Add(time.Hour), notAfter)}, pa.RevocationUnknown, pa.ErrRevocationUnknown},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			store := cloneStore(t, w)
			must(t, store.AddCSCA(ca.cert.Raw))
			for _, crl := range c.crls {
				must(t, store.AddCRL(crl))
			}
			res, err := verify(sod, dgs, store, opts())
			if c.reason == nil {
				if err != nil || res.Revocation.Status != c.status {
					t.Fatalf("%+v %v", res, err)
				}
			} else {
				wantFail(t, err, pa.CheckRevocation, c.reason)
			}
			o := opts()
			o.Revocation = pa.AllowUnknownRevocation
			res, err = verify(sod, dgs, store, o)
			if c.status == pa.Revoked {
				wantFail(t, err, pa.CheckRevocation, pa.ErrRevoked)
				return
			}
			if err != nil || res.Revocation.Status != c.status {
				t.Fatalf("allow unknown: %+v %v", res, err)
			}
		})
	}
}

// failingStore answers every lookup with an error, as a database that is
// down would: the check fails, never reads it as "not found".
type failingStore struct{ pa.TrustStore }

var errDown = errors.New("database down")

func (failingStore) DSCsByIssuerSerial(context.Context, []byte, []byte) ([][]byte, error) {
	return nil, errDown
}
func (failingStore) CSCAsBySubject(context.Context, []byte) ([][]byte, error) { return nil, errDown }

func TestVerifyTrustStoreError(t *testing.T) {
	w := newWorld(t)
	dgs := dataGroups()
	dsc := newDSC(t, w.ecCSCA, "p256b", "UT", nil)
	for _, embed := range []bool{false, true} {
		_, err := verify(buildSOD(t, dsc.cert, dsc.key, dgs, sodSpec{Embed: embed}), dgs, failingStore{w.store}, opts())
		wantFail(t, err, pa.CheckTrustStore, pa.ErrTrustStore)
		if !errors.Is(err, pa.ErrTrustStore) {
			t.Fatal(err)
		}
	}
}

// The chain with upstream's properties (behaviour-verify.md §9): a P-256
// CSCA `C=UT + CN=Kayle Test CSCA` (one multi-valued RDN), serial 1001,
// 2024-01-01 to 2049-12-31, basicConstraints and keyUsage critical; a DSC
// serial 2001 with an AKI; an empty CRL for the same period.
func TestUpstreamLikeChain(t *testing.T) {
	w := newWorld(t)
	dsc := newDSC(t, w.ecCSCA, "p256b", "UT", func(s *certSpec) { s.rawSubject = multiRDN(t, "UT", "Kayle Test DSC") })
	c, err := pa.ParseCertificate(w.ecCSCA.cert.Raw)
	if err != nil {
		t.Fatal(err)
	}
	var rdn pkix.RDNSequence
	if _, err := asn1Unmarshal(c.RawSubject, &rdn); err != nil || len(rdn) != 1 || len(rdn[0]) != 2 {
		t.Fatalf("subject is not one multi-valued RDN: %v %v", rdn, err)
	}
	if c.SubjectCountry != "UT" || !c.IsCA || !c.HasKeyUsage || c.SubjectKeyID == nil ||
		fmt.Sprintf("%x", c.SerialBytes) != "03e9" || !c.NotBefore.Equal(notBefore) || !c.NotAfter.Equal(notAfter) {
		t.Fatalf("CSCA %+v", c)
	}
	d, _ := pa.ParseCertificate(dsc.cert.Raw)
	if fmt.Sprintf("%x", d.SerialBytes) != "07d1" || string(d.AuthorityKeyID) != string(c.SubjectKeyID) || d.IssuerCountry != "UT" {
		t.Fatalf("DSC %+v", d)
	}
	dgs := dataGroups()
	res, err := verify(buildSOD(t, dsc.cert, dsc.key, dgs, sodSpec{Embed: true, SignedAttrs: true}), dgs, w.store, opts())
	if err != nil || res.Revocation.Status != pa.VerifiedNotRevoked || res.Revocation.NextUpdate.Year() != 2049 {
		t.Fatalf("%+v %v", res, err)
	}
}

// BenchmarkVerify: a full passive authentication with a CRL, P-256 and
// RSA-2048 DSCs, signed attributes, DSC embedded.
func BenchmarkVerify(b *testing.B) {
	w := newWorld(b)
	dgs := dataGroups()
	for _, kind := range []string{"p256b", "rsa2048b"} {
		dsc := newDSC(b, w.ecCSCA, kind, "UT", nil)
		sod := buildSOD(b, dsc.cert, dsc.key, dgs, sodSpec{Embed: true, SignedAttrs: true})
		b.Run(kind, func(b *testing.B) {
			for b.Loop() {
				if _, err := verify(sod, dgs, w.store, opts()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
