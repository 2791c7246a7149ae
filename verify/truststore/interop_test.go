package truststore_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/kayle-id/orgs-api/internal/testdb"
	"github.com/kayle-id/orgs-api/internal/testtool"
	"github.com/kayle-id/orgs-api/verify/truststore"
	"github.com/kayle-id/orgs-api/verify/truststore/pkdtest"
)

// A master list signed by OpenSSL (`openssl cms -sign -nodetach
// -econtent_type 2.23.136.1.1.2`), an implementation nobody here wrote,
// imports; the same list with one byte of its content changed is refused.
func TestOpenSSLSignedMasterList(t *testing.T) {
	bin := testtool.Require(t, "openssl")
	p := pkdtest.New(t, 1)
	dir := t.TempDir()
	keyDER, err := x509.MarshalPKCS8PrivateKey(p.Signer.Key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	content := write("ml.DER", pkdtest.CscaMasterList(p.CSCAUT.DER, p.CSCAXX.DER))
	cert := write("signer.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.Signer.DER}))
	key := write("signer.Key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	out := filepath.Join(dir, "ml.cms")
	cmd := exec.Command(bin, "cms", "-sign", "-nodetach", "-binary", "-econtent_type", "2.23.136.1.1.2", "-md", "sha256",
		"-in", content, "-signer", cert, "-inkey", key, "-outform", "DER", "-out", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("openssl cms -sign: %v: %s", err, b)
	}
	ml, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(ml, p.CSCAXX.DER)
	if i < 0 {
		t.Fatal("the CSCA is not in OpenSSL's output")
	}
	tampered := bytes.Clone(ml)
	tampered[i+len(p.CSCAXX.DER)-3] ^= 0x01
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			ts := openStore(t, kind, truststore.Options{})
			rep := importPKD(t, ts, nil, pkdtest.WriteLDIF("\n", []pkdtest.Entry{{DN: "cn=ml,o=ml,c=UT,dc=data", Attrs: []pkdtest.Attr{pkdtest.B64("pkdMasterListContent;binary", ml)}}}))
			if rep.MasterLists.Verified != 1 || rep.Store.CSCAs != 2 {
				t.Fatalf("OpenSSL-signed list: %+v", rep.MasterLists)
			}
			_, err := ts.Import(context.Background(), truststore.Input{MasterLists: bytes.NewReader(pkdtest.WriteLDIF("\n", []pkdtest.Entry{{DN: "cn=ml,o=ml,c=UT,dc=data", Attrs: []pkdtest.Attr{pkdtest.B64("pkdMasterListContent;binary", tampered)}}}))})
			if err == nil {
				t.Fatal("a tampered OpenSSL-signed list imported")
			}
		})
	}
}

// Upstream's version-2 bundle JSON (the shape of its
// tests/fixtures/passive-auth/trust-bundle.json), made here from a fresh
// chain, imports on both databases and twice to the same store.
func TestBundleImport(t *testing.T) {
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			p := pkdtest.New(t, 1)
			b64 := base64.StdEncoding.EncodeToString
			bundle := map[string]any{
				"version": 2, "generatedAt": "2025-01-15T00:00:00.000Z",
				"counts": map[string]int{"cscas": 1, "crls": 1, "dscs": 1, "ignoredBcsc": 0, "ignoredBcscNc": 0},
				"cscas": []map[string]any{{"derBase64": b64(p.CSCAUT.DER), "sourceCountryCode": "UT", "sourceDn": "cn=Kayle Test Master List,o=Kayle Test",
					"subjectKey": "ignored", "masterListSources": []map[string]string{{"countryCode": "UT", "dn": "cn=Kayle Test Master List,o=Kayle Test"}}}},
				"dscs":    []map[string]any{{"derBase64": b64(p.DSCs[0].DER), "sourceCountryCode": "UT", "sourceDn": "cn=Kayle Test PKD Source,o=Kayle Test"}},
				"crls":    []map[string]any{{"derBase64": b64(p.CRL), "sourceCountryCode": "UT", "sourceDn": "cn=Kayle Test PKD Source,o=Kayle Test", "revokedSerialNumbersHex": []string{}}},
				"sources": map[string]any{"objectLdif": map[string]string{"path": "tests://objects.ldif", "version": "test"}},
			}
			js, _ := json.Marshal(bundle)
			ts := openStore(t, kind, truststore.Options{})
			for range 2 {
				rep, err := ts.Import(ctx, truststore.Input{Bundle: bytes.NewReader(js)})
				if err != nil {
					t.Fatal(err)
				}
				if *rep.Bundle != (truststore.BundleCounts{CSCAs: 1, DSCs: 1, CRLs: 1}) || rep.Store != (truststore.StoreCounts{CSCAs: 1, DSCs: 1, CRLs: 1, Revocations: 1}) {
					t.Fatalf("bundle: %+v %+v", rep.Bundle, rep.Store)
				}
			}
			// The keys are recomputed from the DER, not taken from the file.
			if cs, _ := ts.CSCAsBySubject(ctx, p.CSCAUT.Cert.RawSubject); len(cs) != 1 || cs[0].Source != "bundle" {
				t.Fatalf("bundle CSCA: %+v", cs)
			}
			bad := bytes.Replace(js, []byte(`"version":2`), []byte(`"version":1`), 1)
			if _, err := ts.Import(ctx, truststore.Input{Bundle: bytes.NewReader(bad)}); err == nil {
				t.Fatal("a version-1 bundle imported")
			}
		})
	}
}
