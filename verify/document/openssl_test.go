package document_test

import (
	"bytes"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/kayle-id/orgs-api/internal/testtool"
	"github.com/kayle-id/orgs-api/verify/document/doctest"
	"github.com/kayle-id/orgs-api/verify/lds"
	"github.com/kayle-id/orgs-api/verify/truststore/pkdtest"
)

// The test documents' SODs (P-256, RSA-2048 PKCS #1 v1.5 and RSASSA-PSS)
// are CMS SignedData OpenSSL verifies too (chain to the CSCA, signature,
// signed attributes) and whose content is the LDSSecurityObject with each data group's SHA-256: the builder is held to
// an implementation nobody here wrote, not only to passiveauth.
func TestSODOpenSSL(t *testing.T) {
	bin := testtool.Require(t, "openssl")
	p, _ := fixture(t)
	rsaPKCS1, _ := rsaDocument(t, false)
	rsaPSS, _ := rsaDocument(t, true)
	for _, tc := range []struct {
		name string
		d    *doctest.Document
		csca []byte
	}{
		{"P-256", doctest.New(t, p.DSCs[1].Cert, p.DSCs[1].Key), p.CSCAUT.DER},
		{"RSA-2048 PKCS1v15", rsaPKCS1, rsaChain.CSCA.Raw},
		{"RSA-2048 PSS", rsaPSS, rsaChain.CSCA.Raw},
	} {
		t.Run(tc.name, func(t *testing.T) { opensslVerifiesSOD(t, bin, tc.d, tc.csca) })
	}
}

func opensslVerifiesSOD(t *testing.T, bin string, d *doctest.Document, csca []byte) {
	dir := t.TempDir()
	bare, err := lds.Unwrap(d.SOD, lds.TagSOD)
	if err != nil {
		t.Fatal(err)
	}
	in, ca, out := filepath.Join(dir, "sod.der"), filepath.Join(dir, "csca.pem"), filepath.Join(dir, "content.der")
	if err := os.WriteFile(in, bare, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: csca}), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "cms", "-verify", "-binary", "-inform", "DER", "-in", in, "-CAfile", ca,
		"-purpose", "any", "-attime", fmt.Sprint(pkdtest.Now.Unix()), "-out", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("openssl cms -verify: %v: %s", err, b)
	}
	content, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	so, err := lds.ParseLDSSecurityObject(content)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int][]byte{1: d.DG1, 2: d.DG2, 14: d.DG14, 15: d.DG15}
	if len(so.DataGroupHashes) != len(want) {
		t.Fatalf("hashes: %+v", so.DataGroupHashes)
	}
	for _, h := range so.DataGroupHashes {
		if !bytes.Equal(h.Hash, sha256sum(t, bin, want[h.DataGroupNumber])) {
			t.Fatalf("DG%d hash differs from openssl dgst", h.DataGroupNumber)
		}
	}
	// A flipped signature byte: OpenSSL refuses it as Check does.
	bad := append([]byte(nil), bare...)
	bad[len(bad)-1] ^= 1
	if err := os.WriteFile(in, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command(bin, "cms", "-verify", "-binary", "-inform", "DER", "-in", in, "-CAfile", ca,
		"-purpose", "any", "-attime", fmt.Sprint(pkdtest.Now.Unix()), "-out", out).CombinedOutput(); err == nil {
		t.Fatalf("openssl verified a tampered SOD: %s", b)
	}
}

func sha256sum(t *testing.T, bin string, b []byte) []byte {
	t.Helper()
	cmd := exec.Command(bin, "dgst", "-sha256", "-binary")
	cmd.Stdin = bytes.NewReader(b)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	return out
}
