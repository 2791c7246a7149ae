package document_test

import (
	"context"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/kayle-id/orgs-api/verify/document"
	"github.com/kayle-id/orgs-api/verify/document/doctest"
	"github.com/kayle-id/orgs-api/verify/mrz"
	"github.com/kayle-id/orgs-api/verify/passiveauth"
	"github.com/kayle-id/orgs-api/verify/truststore/pkdtest"
)

// The synthetic PKD (CSCA of UT, DSCs[1] good, DSCs[0] revoked by a current
// CRL) is made once per binary: the keys are the slow part.
var (
	pkdOnce sync.Once
	pkd     *pkdtest.PKD
)

func fixture(t testing.TB) (*pkdtest.PKD, *passiveauth.MemoryStore) {
	t.Helper()
	pkdOnce.Do(func() { pkd = pkdtest.New(t, 2) })
	ts := passiveauth.NewMemoryStore()
	if err := ts.AddCSCA(pkd.CSCAUT.DER); err != nil {
		t.Fatal(err)
	}
	if err := ts.AddCRL(pkd.CRL); err != nil {
		t.Fatal(err)
	}
	return pkd, ts
}

func files(d *doctest.Document) document.Inputs {
	return document.Inputs{DG1: d.DG1, SOD: d.SOD, DG2: d.DG2, DG14: d.DG14, DG15: d.DG15,
		AAChallenge: d.AAChallenge, AASignature: d.AASignature, CATranscript: d.CATranscript}
}

var opts = document.Options{Now: pkdtest.Now, Secret: "secret", OrgID: "org"}

func TestCheckPasses(t *testing.T) {
	p, ts := fixture(t)
	d := doctest.New(t, p.DSCs[1].Cert, p.DSCs[1].Key)
	rep := document.Check(context.Background(), files(d), ts, opts)
	if !rep.Passed() || len(rep.FailedChecks) != 0 {
		t.Fatalf("report: %+v", rep)
	}
	for _, c := range document.Checks {
		if rep.Checks[c].Status != document.Passed {
			t.Errorf("%s: %+v", c, rep.Checks[c])
		}
	}
	if rep.MRZ == nil || rep.MRZ.Surname != "ERIKSSON" || rep.MRZ.IssuingState != "UTO" || rep.MRZ.DocumentNumber != "L898902C3" {
		t.Fatalf("mrz: %+v", rep.MRZ)
	}
	m, _ := mrz.Parse(doctest.TD3)
	if rep.Claims["family_name"] != "ERIKSSON" || rep.Claims["date_of_birth"] != "1974-08-12" ||
		rep.Claims["kayle_document_id"] != m.DocumentID("secret", "org") || len(rep.Claims) != 12 {
		t.Fatalf("claims: %v", rep.Claims)
	}
	if aa := rep.Checks[document.CheckActiveAuth].Detail; aa != "ECDSA P-256 SHA-256" {
		t.Fatalf("aa detail: %v", aa)
	}
	pa, ok := rep.Checks[document.CheckPassiveAuth].Detail.(*passiveauth.Result)
	if !ok || pa.Revocation.Status != passiveauth.VerifiedNotRevoked || !pa.DeclaresDG14 || !pa.DeclaresDG15 {
		t.Fatalf("pa detail: %+v", rep.Checks[document.CheckPassiveAuth].Detail)
	}
	// JSON-friendly: each check an object with its status.
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Verdict string
		Checks  map[string]struct{ Status, Reason string }
		MRZ     map[string]string
		Claims  map[string]any
	}
	if err := json.Unmarshal(b, &back); err != nil || back.Verdict != "passed" || back.Checks["chip_authentication"].Status != "passed" ||
		back.MRZ["given_names"] != "ANNA MARIA" || back.Claims["nationality_code"] != "UTO" {
		t.Fatalf("json %v: %s", err, b)
	}
}

// Without AA and CA inputs the document passes with both skipped, and the
// report says why.
func TestCheckSkipsAbsentAuthentication(t *testing.T) {
	p, ts := fixture(t)
	d := doctest.New(t, p.DSCs[1].Cert, p.DSCs[1].Key)
	f := files(d)
	f.AAChallenge, f.AASignature, f.CATranscript = nil, nil, nil
	f.DG15 = nil
	d.DG15 = nil
	// An SOD without DG15, so passive authentication does not miss it.
	d.SOD = doctest.SOD(t, d.DSC, d.DSCKey, map[int][]byte{1: d.DG1, 2: d.DG2, 14: d.DG14})
	f.SOD = d.SOD
	rep := document.Check(context.Background(), f, ts, opts)
	if !rep.Passed() {
		t.Fatalf("%+v", rep)
	}
	for _, c := range []document.Name{document.CheckActiveAuth, document.CheckChipAuth} {
		if r := rep.Checks[c]; r.Status != document.Skipped || r.Reason != "inputs_absent" || r.Detail == nil {
			t.Fatalf("%s: %+v", c, r)
		}
	}
}

// Each tampered piece fails the document, naming its check and reason.
func TestCheckTampered(t *testing.T) {
	p, ts := fixture(t)
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	otherChip, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(b []byte, i int) []byte {
		c := append([]byte(nil), b...)
		if i < 0 {
			i += len(c)
		}
		c[i] ^= 1
		return c
	}
	cases := []struct {
		name   string
		mod    func(*doctest.Document, *document.Inputs, *passiveauth.MemoryStore) *passiveauth.MemoryStore
		failed []document.Name
		reason map[document.Name]string
	}{
		{"name in DG1 changed, SOD not re-signed", func(d *doctest.Document, f *document.Inputs, _ *passiveauth.MemoryStore) *passiveauth.MemoryStore {
			f.DG1 = mrz.EncodeDG1(strings.Replace(doctest.TD3, "ERIKSSON", "ERIKSSOM", 1))
			return nil
		}, []document.Name{document.CheckPassiveAuth}, map[document.Name]string{document.CheckPassiveAuth: "data_groups"}},
		{"DG1 check digit wrong, SOD re-signed", func(d *doctest.Document, f *document.Inputs, _ *passiveauth.MemoryStore) *passiveauth.MemoryStore {
			d.DG1 = mrz.EncodeDG1(strings.Replace(doctest.TD3, "7408122", "7408121", 1))
			d.Sign(t)
			f.DG1, f.SOD = d.DG1, d.SOD
			return nil
		}, []document.Name{document.CheckMRZ, document.CheckPassiveAuth, document.CheckClaims},
			map[document.Name]string{document.CheckMRZ: "mrz_invalid", document.CheckPassiveAuth: "mrz_invalid"}},
		{"DG2 changed", func(d *doctest.Document, f *document.Inputs, _ *passiveauth.MemoryStore) *passiveauth.MemoryStore {
			f.DG2 = flip(f.DG2, -1)
			return nil
		}, []document.Name{document.CheckPassiveAuth}, map[document.Name]string{document.CheckPassiveAuth: "data_groups"}},
		{"SOD signature", func(d *doctest.Document, f *document.Inputs, _ *passiveauth.MemoryStore) *passiveauth.MemoryStore {
			f.SOD = flip(f.SOD, -1)
			return nil
		}, []document.Name{document.CheckPassiveAuth}, map[document.Name]string{document.CheckPassiveAuth: "cms_signature"}},
		{"no CSCA in the store", func(d *doctest.Document, f *document.Inputs, _ *passiveauth.MemoryStore) *passiveauth.MemoryStore {
			return passiveauth.NewMemoryStore()
		}, []document.Name{document.CheckPassiveAuth}, map[document.Name]string{document.CheckPassiveAuth: "chain"}},
		{"revoked DSC", func(d *doctest.Document, f *document.Inputs, _ *passiveauth.MemoryStore) *passiveauth.MemoryStore {
			d.DSC, d.DSCKey = p.DSCs[0].Cert, p.DSCs[0].Key
			d.Sign(t)
			f.SOD = d.SOD
			return nil
		}, []document.Name{document.CheckPassiveAuth}, map[document.Name]string{document.CheckPassiveAuth: "revocation"}},
		{"AA signature", func(d *doctest.Document, f *document.Inputs, _ *passiveauth.MemoryStore) *passiveauth.MemoryStore {
			f.AASignature = flip(f.AASignature, 5)
			return nil
		}, []document.Name{document.CheckActiveAuth}, map[document.Name]string{document.CheckActiveAuth: "signature_invalid"}},
		{"AA challenge other than signed", func(d *doctest.Document, f *document.Inputs, _ *passiveauth.MemoryStore) *passiveauth.MemoryStore {
			f.AAChallenge = flip(f.AAChallenge, 0)
			return nil
		}, []document.Name{document.CheckActiveAuth}, map[document.Name]string{document.CheckActiveAuth: "signature_invalid"}},
		{"AA signed by another key", func(d *doctest.Document, f *document.Inputs, _ *passiveauth.MemoryStore) *passiveauth.MemoryStore {
			f.AASignature = doctest.AASignP256(t, other, f.AAChallenge)
			return nil
		}, []document.Name{document.CheckActiveAuth}, map[document.Name]string{document.CheckActiveAuth: "signature_invalid"}},
		{"AA signature without challenge", func(d *doctest.Document, f *document.Inputs, _ *passiveauth.MemoryStore) *passiveauth.MemoryStore {
			f.AAChallenge = nil
			return nil
		}, []document.Name{document.CheckActiveAuth}, map[document.Name]string{document.CheckActiveAuth: "inputs_incomplete"}},
		{"DG15 swapped for the signer's key, SOD not re-signed", func(d *doctest.Document, f *document.Inputs, _ *passiveauth.MemoryStore) *passiveauth.MemoryStore {
			spki, _ := x509.MarshalPKIXPublicKey(&other.PublicKey)
			f.DG15 = doctest.Wrap(0x6F, spki)
			f.AASignature = doctest.AASignP256(t, other, f.AAChallenge)
			return nil
		}, []document.Name{document.CheckPassiveAuth}, map[document.Name]string{document.CheckPassiveAuth: "data_groups"}},
		{"CA token", func(d *doctest.Document, f *document.Inputs, _ *passiveauth.MemoryStore) *passiveauth.MemoryStore {
			f.CATranscript = flip(f.CATranscript, -1)
			return nil
		}, []document.Name{document.CheckChipAuth}, map[document.Name]string{document.CheckChipAuth: "verification_failed"}},
		{"CA with another chip key", func(d *doctest.Document, f *document.Inputs, _ *passiveauth.MemoryStore) *passiveauth.MemoryStore {
			f.CATranscript = doctest.CATranscript(t, otherChip)
			return nil
		}, []document.Name{document.CheckChipAuth}, map[document.Name]string{document.CheckChipAuth: "verification_failed"}},
		{"CA transcript malformed", func(d *doctest.Document, f *document.Inputs, _ *passiveauth.MemoryStore) *passiveauth.MemoryStore {
			f.CATranscript = f.CATranscript[:len(f.CATranscript)-1]
			return nil
		}, []document.Name{document.CheckChipAuth}, map[document.Name]string{document.CheckChipAuth: "transcript_invalid"}},
		{"CA transcript without DG14", func(d *doctest.Document, f *document.Inputs, _ *passiveauth.MemoryStore) *passiveauth.MemoryStore {
			f.DG14 = nil
			return nil
		}, []document.Name{document.CheckPassiveAuth, document.CheckChipAuth},
			map[document.Name]string{document.CheckPassiveAuth: "data_groups", document.CheckChipAuth: "chip_auth_artifacts_missing"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := doctest.New(t, p.DSCs[1].Cert, p.DSCs[1].Key)
			f := files(d)
			store := ts
			if s := tc.mod(d, &f, ts); s != nil {
				store = s
			}
			rep := document.Check(context.Background(), f, store, opts)
			if rep.Passed() || !reflect.DeepEqual(rep.FailedChecks, tc.failed) {
				t.Fatalf("failed %v, want %v: %+v", rep.FailedChecks, tc.failed, rep.Checks)
			}
			for c, reason := range tc.reason {
				if r := rep.Checks[c]; r.Reason != reason {
					t.Errorf("%s: reason %q (%v), want %q", c, r.Reason, r.Detail, reason)
				}
			}
		})
	}
}

// BenchmarkCheck is a whole document check (MRZ; passive authentication
// with the DSC's chain and a verified current CRL; active authentication;
// chip authentication; the claims) against an in-memory trust store, for
// a P-256 document and RSA-2048 ones (PKCS #1 v1.5 and RSASSA-PSS SOD
// signatures, ISO/IEC 9796-2 active authentication; chip authentication
// stays P-256 ECDH: DG14 keys are DH or EC). `make bench` runs it.
func BenchmarkCheck(b *testing.B) {
	p, ecStore := fixture(b)
	rsaPKCS1, rsaStore := rsaDocument(b, false)
	rsaPSS, _ := rsaDocument(b, true)
	for _, bc := range []struct {
		name string
		d    *doctest.Document
		ts   *passiveauth.MemoryStore
	}{
		{"P-256", doctest.New(b, p.DSCs[1].Cert, p.DSCs[1].Key), ecStore},
		{"RSA-2048", rsaPKCS1, rsaStore},
		{"RSA-2048-PSS", rsaPSS, rsaStore},
	} {
		b.Run(bc.name, func(b *testing.B) {
			f := files(bc.d)
			ctx := context.Background()
			rep := document.Check(ctx, f, bc.ts, opts)
			for _, c := range document.Checks {
				if rep.Checks[c].Status != document.Passed {
					b.Fatalf("%s: %+v", c, rep.Checks[c])
				}
			}
			if pa := rep.Checks[document.CheckPassiveAuth].Detail.(*passiveauth.Result); pa.Revocation.Status != passiveauth.VerifiedNotRevoked {
				b.Fatalf("revocation: %+v", pa.Revocation)
			}
			b.ReportAllocs()
			for b.Loop() {
				if rep := document.Check(ctx, f, bc.ts, opts); !rep.Passed() {
					b.Fatalf("%+v", rep)
				}
			}
		})
	}
}

// Hostile DG14, DG15, signature and transcript bytes: never a panic, and
// never a pass for bytes other than the document's.
func FuzzCheck(f *testing.F) {
	p, ts := fixture(f)
	d := doctest.New(f, p.DSCs[1].Cert, p.DSCs[1].Key)
	f.Add(d.DG14, d.DG15, d.AASignature, d.CATranscript)
	f.Add([]byte{0x6E, 0x00}, []byte{0x6F, 0x00}, []byte{}, []byte{1})
	f.Fuzz(func(t *testing.T, dg14, dg15, sig, tr []byte) {
		fs := files(d)
		fs.DG14, fs.DG15, fs.AASignature, fs.CATranscript = dg14, dg15, sig, tr
		rep := document.Check(context.Background(), fs, ts, opts)
		same := string(dg14) == string(d.DG14) && string(dg15) == string(d.DG15)
		if rep.Passed() && !same {
			t.Fatalf("passed with other DG14/DG15: %+v", rep)
		}
	})
}
