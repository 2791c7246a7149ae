package passiveauth_test

import (
	"bytes"
	"crypto"
	encasn1 "encoding/asn1"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kayle-id/orgs-api/internal/testtool"
	"github.com/kayle-id/orgs-api/verify/lds"
	pa "github.com/kayle-id/orgs-api/verify/passiveauth"
)

func openssl(t testing.TB, bin string, args ...string) error {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("openssl %s: %v: %s", strings.Join(args, " "), err, out.String())
	}
	return nil
}

func writePEM(t testing.TB, dir, name string, der []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	must(t, os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	return p
}

func bareSOD(t testing.TB, sod []byte) []byte {
	t.Helper()
	v, err := lds.Unwrap(sod, lds.TagSOD)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// opensslVerifies runs `openssl cms -verify` with the CSCA as the only
// trust anchor, the DSC supplied with -certfile (for SODs that do not
// embed it) and the check time as -attime: the whole chain and the CMS
// signature, as OpenSSL judges them.
func opensslVerifies(t testing.TB, bin, dir string, sod, csca, dsc []byte, at time.Time) error {
	t.Helper()
	in := filepath.Join(dir, "sod.der")
	must(t, os.WriteFile(in, bareSOD(t, sod), 0o600))
	args := []string{"cms", "-verify", "-binary", "-inform", "DER", "-in", in, "-certfile", writePEM(t, dir, "dsc.pem", dsc),
		"-purpose", "any", "-attime", fmt.Sprint(at.Unix()), "-out", filepath.Join(dir, "content.der")}
	if csca == nil {
		// The DSC as the trust anchor: OpenSSL checks the CMS signature
		// alone (used where OpenSSL's policy refuses the CSCA's key).
		args = append(args, "-CAfile", filepath.Join(dir, "dsc.pem"), "-partial_chain")
	} else {
		args = append(args, "-CAfile", writePEM(t, dir, "csca.pem", csca))
	}
	return openssl(t, bin, args...)
}

// OpenSSL agrees with Verify on every SOD signature these tests make:
// each DSC kind, with and without signed attributes, both signer
// identifiers, embedded or not, valid, with a flipped signature bit, or
// with a wrong message-digest attribute.
func TestOpenSSLAgrees(t *testing.T) {
	bin := testtool.Require(t, "openssl")
	w := newWorld(t)
	dgs := dataGroups()
	for _, dc := range dscCases {
		dsc := newDSC(t, dc.ca(w), dc.key, "UT", dc.mod)
		store := cloneStore(t, w)
		must(t, store.AddDSC(dsc.cert.Raw))
		for _, attrs := range []bool{false, true} {
			for _, ski := range []bool{false, true} {
				for _, embed := range []bool{false, true} {
					for _, tamper := range []string{"none", "signature", "message-digest"} {
						if tamper == "message-digest" && !attrs {
							continue
						}
						name := fmt.Sprintf("%s/attrs=%v/ski=%v/embed=%v/tamper=%s", dc.name, attrs, ski, embed, tamper)
						t.Run(name, func(t *testing.T) {
							sod := buildSOD(t, dsc.cert, dsc.key, dgs, sodSpec{SignedAttrs: attrs, SKI: ski, Embed: embed, PSS: dc.pss,
								BadMessageDigest: tamper == "message-digest"})
							if tamper == "signature" {
								sod = flipSignature(t, sod)
							}
							_, ours := verify(sod, dgs, store, opts())
							theirs := opensslVerifies(t, bin, t.TempDir(), sod, dc.ca(w).cert.Raw, dsc.cert.Raw, checkTime)
							if (ours == nil) != (theirs == nil) {
								t.Fatalf("disagree: ours %v, OpenSSL %v", ours, theirs)
							}
							if tamper != "none" {
								wantFail(t, ours, pa.CheckCMSSignature, pa.ErrCMSSignature)
							}
						})
					}
				}
			}
		}
	}
}

// Brainpool and explicit parameters, which crypto/x509 refuses: OpenSSL
// makes a brainpoolP256r1 CSCA whose key has explicit parameters and a
// brainpoolP384r1 DSC under it and signs the SOD digest; Verify accepts
// the chain and the SOD, and Verify and OpenSSL agree on the valid and the
// tampered SOD signature. (OpenSSL 3's chain verifier refuses CA keys
// with explicit parameters as a policy, "Certificate public key has
// explicit ECC parameters", so it checks the SOD with the DSC as anchor;
// the DSC's signature under the explicit-parameter CSCA is OpenSSL's own,
// made by `openssl x509 -req`, and a flipped bit in it is refused.)
func TestBrainpoolChainFromOpenSSL(t *testing.T) {
	bin := testtool.Require(t, "openssl")
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	run := func(args ...string) {
		t.Helper()
		if err := openssl(t, bin, args...); err != nil {
			t.Fatal(err)
		}
	}
	run("ecparam", "-name", "brainpoolP256r1", "-param_enc", "explicit", "-genkey", "-noout", "-out", p("csca.key"))
	run("req", "-x509", "-new", "-key", p("csca.key"), "-subj", "/C=UT/CN=Brainpool CSCA", "-days", "30", "-sha256",
		"-set_serial", "1001", "-addext", "basicConstraints=critical,CA:TRUE,pathlen:0",
		"-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", p("csca.pem"))
	run("ecparam", "-name", "brainpoolP384r1", "-genkey", "-noout", "-out", p("dsc.key"))
	run("req", "-new", "-key", p("dsc.key"), "-subj", "/C=UT/CN=Brainpool DSC", "-out", p("dsc.csr"))
	must(t, os.WriteFile(p("ext.cnf"), []byte("keyUsage=critical,digitalSignature\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"), 0o600))
	run("x509", "-req", "-in", p("dsc.csr"), "-CA", p("csca.pem"), "-CAkey", p("csca.key"), "-set_serial", "2001",
		"-days", "10", "-sha384", "-extfile", p("ext.cnf"), "-out", p("dsc.pem"))
	readDER := func(name string) []byte {
		b, err := os.ReadFile(p(name))
		must(t, err)
		blk, _ := pem.Decode(b)
		if blk == nil {
			t.Fatalf("%s: no PEM", name)
		}
		return blk.Bytes
	}
	cscaDER, dscDER := readDER("csca.pem"), readDER("dsc.pem")
	csca, err := pa.ParseCertificate(cscaDER)
	must(t, err)
	if !bytes.Contains(csca.SPKI, []byte{0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x01, 0x01}) { // id-prime-field
		t.Fatal("CSCA key does not carry explicit parameters")
	}
	if _, err := x509Parse(dscDER); err == nil {
		t.Fatal("crypto/x509 now parses brainpool keys; this test's premise changed")
	}
	sign := func(digest []byte, _ crypto.Hash) []byte {
		must(t, os.WriteFile(p("digest.bin"), digest, 0o600))
		run("pkeyutl", "-sign", "-inkey", p("dsc.key"), "-in", p("digest.bin"), "-out", p("sig.der"))
		sig, err := os.ReadFile(p("sig.der"))
		must(t, err)
		return sig
	}
	store := pa.NewMemoryStore()
	must(t, store.AddCSCA(cscaDER))
	dgs := dataGroups()
	o := pa.Options{IssuingState: "UTO", Time: time.Now(), Revocation: pa.AllowUnknownRevocation}
	for _, attrs := range []bool{false, true} {
		for _, ski := range []bool{false, true} {
			t.Run(fmt.Sprintf("attrs=%v/ski=%v", attrs, ski), func(t *testing.T) {
				sod := buildSODRaw(t, dscDER, dgs, sodSpec{Hash: crypto.SHA384, SignedAttrs: attrs, SKI: ski, Embed: true, Sign: sign,
					SigAlg: []int{1, 2, 840, 10045, 4, 3, 3}})
				res, err := verify(sod, dgs, store, o)
				if err != nil {
					t.Fatal(err)
				}
				if res.SignatureAlgorithm != "ECDSA-SHA384-brainpoolP384r1" || res.DSCSignatureAlgorithm != "ECDSA-SHA384-brainpoolP256r1" ||
					res.Revocation.Status != pa.RevocationUnknown {
					t.Fatalf("%+v", res)
				}
				if err := opensslVerifies(t, bin, t.TempDir(), sod, nil, dscDER, time.Now()); err != nil {
					t.Fatalf("OpenSSL refuses what Verify accepts: %v", err)
				}
				bad := flipSignature(t, sod)
				_, err = verify(bad, dgs, store, o)
				wantFail(t, err, pa.CheckCMSSignature, pa.ErrCMSSignature)
				if opensslVerifies(t, bin, t.TempDir(), bad, nil, dscDER, time.Now()) == nil {
					t.Fatal("OpenSSL accepts the tampered SOD")
				}
				// The default policy refuses: no CRL for this CSCA.
				_, err = verify(sod, dgs, store, pa.Options{IssuingState: "UTO", Time: time.Now()})
				wantFail(t, err, pa.CheckRevocation, pa.ErrRevocationUnknown)
			})
		}
	}
	// BSI TR-03111 plain signatures (r‖s under ecdsa-plain-SHA384), as
	// German DSCs sign: OpenSSL's signature re-encoded as the two integers
	// at the curve's width passes; the same bytes under the DER label fail.
	t.Run("plain ECDSA signature", func(t *testing.T) {
		plain := func(digest []byte, h crypto.Hash) []byte {
			var rs struct{ R, S *big.Int }
			if _, err := encasn1.Unmarshal(sign(digest, h), &rs); err != nil {
				t.Fatal(err)
			}
			out := make([]byte, 96)
			rs.R.FillBytes(out[:48])
			rs.S.FillBytes(out[48:])
			return out
		}
		sod := buildSODRaw(t, dscDER, dgs, sodSpec{Hash: crypto.SHA384, SignedAttrs: true, Embed: true, Sign: plain,
			SigAlg: []int{0, 4, 0, 127, 0, 7, 1, 1, 4, 1, 4}})
		res, err := verify(sod, dgs, store, o)
		if err != nil {
			t.Fatal(err)
		}
		if res.SignatureAlgorithm != "ECDSA-SHA384-brainpoolP384r1" {
			t.Fatalf("%+v", res)
		}
		sod = buildSODRaw(t, dscDER, dgs, sodSpec{Hash: crypto.SHA384, SignedAttrs: true, Embed: true, Sign: plain,
			SigAlg: []int{1, 2, 840, 10045, 4, 3, 3}})
		_, err = verify(sod, dgs, store, o)
		wantFail(t, err, pa.CheckCMSSignature, pa.ErrCMSSignature)
	})
	t.Run("DSC signature tampered", func(t *testing.T) {
		bad := append([]byte{}, dscDER...)
		bad[len(bad)-1] ^= 1
		sod := buildSODRaw(t, bad, dgs, sodSpec{Hash: crypto.SHA384, Embed: true, Sign: sign, SigAlg: []int{1, 2, 840, 10045, 4, 3, 3}})
		_, err := verify(sod, dgs, store, o)
		wantFail(t, err, pa.CheckDSCSignature, pa.ErrDSCSignature)
	})
}
