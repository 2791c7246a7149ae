package lds_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/kayle-id/orgs-api/internal/testtool"
	"github.com/kayle-id/orgs-api/verify/document/doctest"
	"github.com/kayle-id/orgs-api/verify/lds"
)

func runOpenSSL(t testing.TB, bin string, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("openssl %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}

func writeFile(t testing.TB, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// unwrapSOD strips the 77 wrapper OpenSSL does not know.
func unwrapSOD(t testing.TB, b []byte) []byte {
	t.Helper()
	if b[0] != lds.TagSOD {
		return b
	}
	v, err := lds.Unwrap(b, lds.TagSOD)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// sidPrinted is how OpenSSL prints the builder's issuerAndSerialNumber
// (serial 0x87D122 in decimal).
var sidPrinted = regexp.MustCompile(`d\.issuerAndSerialNumber:\s*\n\s*issuer: C=UT, CN=Test CSCA\n\s*serialNumber: 8900898\n`)

// OpenSSL's CMS verifier accepts every SOD the test builder signs (so the
// builder the other tests rely on makes real CMS), returns the same
// eContent the parser returns, and names the same signer identifier; a
// flipped signature bit is refused, so the check can fail.
func TestOpenSSLVerifiesBuiltSODs(t *testing.T) {
	bin := testtool.Require(t, "openssl")
	dir := t.TempDir()
	dgs := syntheticDataGroups()
	for _, kc := range testKeys(t) {
		s := newSigner(t, kc.key)
		for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA256, crypto.SHA384, crypto.SHA512} {
			for _, attrs := range []bool{false, true} {
				for _, ski := range []bool{false, true} {
					name := fmt.Sprintf("%s/%v/attrs=%v/ski=%v", kc.name, h, attrs, ski)
					t.Run(name, func(t *testing.T) {
						spec := sodSpec{ldsHash: h, dataGroups: dgs, signedAttrs: attrs, ski: ski, sigHash: h, embedCert: true, wrap: true}
						der, ldsDER := buildSOD(t, s, spec)
						sod, err := lds.ParseSOD(der)
						if err != nil {
							t.Fatal(err)
						}
						in := writeFile(t, dir, "sod.der", unwrapSOD(t, der))
						content, err := runOpenSSL(t, bin, "cms", "-verify", "-noverify", "-binary", "-inform", "DER", "-in", in)
						if err != nil {
							t.Fatal(err)
						}
						if !bytes.Equal(content, ldsDER) || !bytes.Equal(content, sod.SignedData.EContent) {
							t.Fatalf("OpenSSL's eContent differs from the parser's")
						}
						printed, err := runOpenSSL(t, bin, "cms", "-cmsout", "-print", "-inform", "DER", "-in", in)
						if err != nil {
							t.Fatal(err)
						}
						p := string(printed)
						want := "d.issuerAndSerialNumber"
						if ski {
							want = "d.subjectKeyIdentifier"
						}
						if !strings.Contains(p, want) || !strings.Contains(p, "eContentType: undefined (2.23.136.1.1.1)") ||
							!ski && !sidPrinted.MatchString(p) {
							t.Fatalf("OpenSSL prints a different structure:\n%s", p)
						}
						if attrs != strings.Contains(p, "object: messageDigest (1.2.840.113549.1.9.4)") {
							t.Fatalf("signed attributes: OpenSSL disagrees")
						}

						tampered := bytes.Clone(unwrapSOD(t, der))
						sig := sod.SignedData.SignerInfos[0].Signature
						i := bytes.LastIndex(tampered, sig)
						tampered[i+len(sig)-1] ^= 1
						if _, err := runOpenSSL(t, bin, "cms", "-verify", "-noverify", "-binary", "-inform", "DER",
							"-in", writeFile(t, dir, "bad.der", tampered)); err == nil {
							t.Fatal("OpenSSL accepted a tampered signature")
						}
					})
				}
			}
		}
	}
}

// SODs signed by OpenSSL (a CMS encoder nobody here wrote, adding its own
// signed attributes: signingTime, smimeCapabilities) parse, and the
// signature verifies with Go's crypto over SignedAttrsDER or the eContent:
// the parser hands passive authentication the bytes the signer signed.
func TestParseOpenSSLSignedSODs(t *testing.T) {
	bin := testtool.Require(t, "openssl")
	dir := t.TempDir()
	for _, kc := range testKeys(t) {
		s := newSigner(t, kc.key)
		pkcs8, err := x509.MarshalPKCS8PrivateKey(kc.key)
		if err != nil {
			t.Fatal(err)
		}
		keyFile := writeFile(t, dir, "key.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}))
		certFile := writeFile(t, dir, "cert.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.cert.Raw}))
		for _, md := range []struct {
			name string
			h    crypto.Hash
		}{{"sha1", crypto.SHA1}, {"sha256", crypto.SHA256}, {"sha512", crypto.SHA512}} {
			for _, attrs := range []bool{false, true} {
				for _, ski := range []bool{false, true} {
					t.Run(fmt.Sprintf("%s/%s/attrs=%v/ski=%v", kc.name, md.name, attrs, ski), func(t *testing.T) {
						ldsDER := doctest.LDSSecurityObject(0, md.h, syntheticDataGroups())
						args := []string{"cms", "-sign", "-binary", "-nodetach", "-in", writeFile(t, dir, "lds.der", ldsDER),
							"-signer", certFile, "-inkey", keyFile, "-md", md.name, "-outform", "DER",
							"-econtent_type", "2.23.136.1.1.1"}
						if !attrs {
							args = append(args, "-noattr")
						}
						if ski {
							args = append(args, "-keyid")
						}
						der, err := runOpenSSL(t, bin, args...)
						if err != nil {
							t.Fatal(err)
						}
						sod, err := lds.ParseSOD(der)
						if err != nil {
							t.Fatal(err)
						}
						if !bytes.Equal(sod.SignedData.EContent, ldsDER) || len(sod.SignedData.Certificates) != 1 ||
							!bytes.Equal(sod.SignedData.Certificates[0], s.cert.Raw) {
							t.Fatal("eContent or certificate differ")
						}
						si := sod.SignedData.SignerInfos[0]
						if ski != si.SID.IsSubjectKeyIdentifier() ||
							ski && !bytes.Equal(si.SID.SubjectKeyIdentifier, s.cert.SubjectKeyId) ||
							!ski && (si.SID.SerialNumber.Cmp(s.cert.SerialNumber) != 0 || !bytes.Equal(si.SID.Issuer, s.cert.RawIssuer)) {
							t.Fatalf("signer identifier %+v", si.SID)
						}
						signed := sod.SignedData.EContent
						if attrs {
							if len(si.Attributes) < 3 || !bytes.Equal(si.MessageDigest, hashOf(md.h, ldsDER)) ||
								!si.ContentType.Equal(lds.OIDLDSSecurityObject) {
								t.Fatalf("signed attributes: %d, digest %x", len(si.Attributes), si.MessageDigest)
							}
							signed = si.SignedAttrsDER()
						} else if si.SignedAttrs != nil {
							t.Fatal("signed attributes with -noattr")
						}
						digest := hashOf(md.h, signed)
						switch pub := kc.key.Public().(type) {
						case *rsa.PublicKey:
							if err := rsa.VerifyPKCS1v15(pub, md.h, digest, si.Signature); err != nil {
								t.Fatal(err)
							}
						case *ecdsa.PublicKey:
							if !ecdsa.VerifyASN1(pub, digest, si.Signature) {
								t.Fatal("OpenSSL's signature does not verify over the parsed bytes")
							}
						}
					})
				}
			}
		}
	}
}

// openSSLKey makes a key with OpenSSL and returns its SubjectPublicKeyInfo
// with the curve named and with explicit parameters.
func openSSLKey(t testing.TB, bin, dir, curve string) (named, explicit []byte) {
	t.Helper()
	key := filepath.Join(dir, curve+".pem")
	if _, err := runOpenSSL(t, bin, "ecparam", "-name", curve, "-genkey", "-noout", "-out", key); err != nil {
		t.Fatal(err)
	}
	named, err := runOpenSSL(t, bin, "ec", "-in", key, "-pubout", "-outform", "DER", "-param_enc", "named_curve")
	if err != nil {
		t.Fatal(err)
	}
	explicit, err = runOpenSSL(t, bin, "ec", "-in", key, "-pubout", "-outform", "DER", "-param_enc", "explicit")
	if err != nil {
		t.Fatal(err)
	}
	return named, explicit
}

// Keys OpenSSL makes on each known curve parse with the curve named and
// with explicit parameters; both give the same point and the same curve
// OID, so the curve table equals OpenSSL's parameters.
func TestOpenSSLCurveKeys(t *testing.T) {
	bin := testtool.Require(t, "openssl")
	dir := t.TempDir()
	for _, c := range []struct {
		openssl string
		oid     []int
	}{
		{"prime256v1", lds.OIDCurveP256}, {"secp384r1", lds.OIDCurveP384}, {"secp521r1", lds.OIDCurveP521},
		{"brainpoolP256r1", lds.OIDCurveBrainpoolP256r1}, {"brainpoolP384r1", lds.OIDCurveBrainpoolP384r1},
		{"brainpoolP512r1", lds.OIDCurveBrainpoolP512r1},
	} {
		t.Run(c.openssl, func(t *testing.T) {
			named, explicit := openSSLKey(t, bin, dir, c.openssl)
			kn, err := lds.ParseDG15(named)
			if err != nil {
				t.Fatal(err)
			}
			ke, err := lds.ParseDG15(append([]byte{0x6f, 0x82, byte(len(explicit) >> 8), byte(len(explicit))}, explicit...))
			if err != nil {
				t.Fatal(err)
			}
			if kn.EC.Params.Explicit || !ke.EC.Params.Explicit {
				t.Fatal("explicit flag")
			}
			for _, k := range []*lds.PublicKey{kn, ke} {
				if !k.EC.Params.NamedCurveOID.Equal(c.oid) {
					t.Fatalf("curve %v, want %v", k.EC.Params.NamedCurveOID, c.oid)
				}
			}
			if kn.EC.X.Cmp(ke.EC.X) != 0 || kn.EC.Y.Cmp(ke.EC.Y) != 0 {
				t.Fatal("the two encodings give different points")
			}
			params, err := runOpenSSL(t, bin, "ecparam", "-name", c.openssl, "-param_enc", "explicit", "-outform", "DER")
			if err != nil {
				t.Fatal(err)
			}
			p, err := lds.ParseECParameters(params)
			if err != nil || !p.NamedCurveOID.Equal(c.oid) {
				t.Fatalf("explicit ecparam: %v %v", p, err)
			}
		})
	}
}

// Go's own encoder agrees for the curves crypto/elliptic knows.
func TestGoKeysParse(t *testing.T) {
	for _, c := range []elliptic.Curve{elliptic.P256(), elliptic.P384(), elliptic.P521()} {
		k, _ := ecdsa.GenerateKey(c, rand.Reader)
		der, err := x509.MarshalPKIXPublicKey(k.Public())
		if err != nil {
			t.Fatal(err)
		}
		pk, err := lds.ParseDG15(der)
		if err != nil {
			t.Fatal(err)
		}
		if pk.EC.X.Cmp(k.X) != 0 || pk.EC.Y.Cmp(k.Y) != 0 || pk.EC.Params.Name != c.Params().Name {
			t.Fatalf("%s: parsed %v", c.Params().Name, pk.EC.Params.Name)
		}
	}
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	der, _ := x509.MarshalPKIXPublicKey(&rk.PublicKey)
	pk, err := lds.ParseDG15(append([]byte{0x6f, 0x82, byte(len(der) >> 8), byte(len(der))}, der...))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := pk.RSA.PublicKey()
	if err != nil || !pub.Equal(&rk.PublicKey) {
		t.Fatalf("RSA key differs: %v", err)
	}
}
