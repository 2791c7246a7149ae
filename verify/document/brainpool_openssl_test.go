package document_test

import (
	"bytes"
	"context"
	"encoding/asn1"
	"path/filepath"
	"testing"

	"github.com/kayle-id/orgs-api/internal/testtool"
	"github.com/kayle-id/orgs-api/verify/chipauth"
	"github.com/kayle-id/orgs-api/verify/document"
	"github.com/kayle-id/orgs-api/verify/document/doctest"
)

// Chip authentication on brainpool chip keys, the shared secret held to
// OpenSSL: OpenSSL makes the chip's and the terminal's keys and derives K
// on the chip's side (`openssl pkeyutl -derive`); the token is made from
// OpenSSL's K, so the document passes only if chipauth's own agreement
// (verify/ecc's arithmetic, sk_PCD × PK_PICC) yields the same K. A token
// from any other K fails.
func TestChipAuthBrainpoolAgainstOpenSSL(t *testing.T) {
	bin := testtool.Require(t, "openssl")
	p, ts := fixture(t)
	for _, curve := range []string{"brainpoolP256r1", "brainpoolP384r1", "brainpoolP512r1"} {
		t.Run(curve, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			openssl := func(args ...string) []byte { t.Helper(); return testtool.Run(t, dir, bin, args...) }
			for _, k := range []string{"chip", "term"} {
				openssl("ecparam", "-name", curve, "-genkey", "-noout", "-out", k+".pem")
			}
			chipSPKI := openssl("ec", "-in", "chip.pem", "-pubout", "-outform", "DER")
			openssl("ec", "-in", "term.pem", "-pubout", "-out", "term.pub.pem")
			var term struct { // RFC 5915 ECPrivateKey
				Version    int
				PrivateKey []byte
				Params     asn1.RawValue  `asn1:"optional,tag:0"`
				PublicKey  asn1.BitString `asn1:"optional,explicit,tag:1"`
			}
			if _, err := asn1.Unmarshal(openssl("ec", "-in", "term.pem", "-outform", "DER"), &term); err != nil || len(term.PublicKey.Bytes) == 0 {
				t.Fatalf("terminal key: %v", err)
			}
			k := openssl("pkeyutl", "-derive", "-inkey", "chip.pem", "-peerkey", filepath.Join(dir, "term.pub.pem"))

			transcript := func(k []byte) []byte {
				nonce := []byte("r_PICC:8")
				tok, err := chipauth.Token(chipauth.AES128, chipauth.KDF(k, nonce, chipauth.CounterMAC, chipauth.AES128),
					chipauth.TokenInput(doctest.OIDCAECDHAES128, false, term.PublicKey.Bytes))
				if err != nil {
					t.Fatal(err)
				}
				b, err := (&chipauth.Transcript{OID: doctest.OIDCAECDHAES128, TerminalPrivate: term.PrivateKey,
					TerminalPublic: term.PublicKey.Bytes, Nonce: nonce, Token: tok}).Marshal()
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
			d := doctest.New(t, p.DSCs[1].Cert, p.DSCs[1].Key)
			d.DG14 = doctest.DG14(t, chipSPKI, doctest.OIDECDSAPlainSHA256)
			d.CATranscript = transcript(k)
			d.Sign(t)
			rep := document.Check(context.Background(), files(d), ts, opts)
			if r := rep.Checks[document.CheckChipAuth]; !rep.Passed() || r.Status != document.Passed {
				t.Fatalf("chip authentication with OpenSSL's K: %+v", rep.Checks)
			}
			other := bytes.Clone(k)
			other[len(other)-1] ^= 1
			f := files(d)
			f.CATranscript = transcript(other)
			if r := document.Check(context.Background(), f, ts, opts).Checks[document.CheckChipAuth]; r.Status != document.Failed || r.Reason != "verification_failed" {
				t.Fatalf("token from another K: %+v", r)
			}
		})
	}
}
