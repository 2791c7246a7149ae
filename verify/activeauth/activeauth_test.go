package activeauth_test

import (
	"bufio"
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/asn1"
	"encoding/hex"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/kayle-id/orgs-api/internal/testtool"
	"github.com/kayle-id/orgs-api/verify/activeauth"
	"github.com/kayle-id/orgs-api/verify/ecc"
)

// Behaviour notes §4: AUTH_SECRET=test-auth-secret, session vs_ + 64×a.
func TestChallengeVector(t *testing.T) {
	got := activeauth.Challenge([]byte("test-auth-secret"), "vs_"+strings.Repeat("a", 64))
	if hex.EncodeToString(got) != "5d7d73e2afd91ff6" {
		t.Fatalf("challenge = %x", got)
	}
	if activeauth.CheckChallenge(got, got) != nil {
		t.Fatal("equal challenges refused")
	}
	other := bytes.Clone(got)
	other[7] ^= 1
	for _, up := range [][]byte{other, got[:7], append(bytes.Clone(got), 0), nil} {
		if activeauth.CheckChallenge(got, up) == nil {
			t.Fatalf("challenge %x accepted", up)
		}
	}
}

var (
	keysOnce sync.Once
	rsaKeys  []*rsa.PrivateKey
)

func testKeys(t *testing.T) []*rsa.PrivateKey {
	keysOnce.Do(func() {
		for _, bits := range []int{1024, 1536, 2048} {
			k, err := rsa.GenerateKey(rand.Reader, bits)
			if err != nil {
				panic(err)
			}
			rsaKeys = append(rsaKeys, k)
		}
	})
	return rsaKeys
}

var requireTool = testtool.Require

const bcprov = "/usr/share/java/bcprov.jar" // Debian's libbcprov-java

// bouncyCastle compiles testdata/AASign.java and returns a function that
// signs request lines with BouncyCastle's ISO9796d2Signer.
func bouncyCastle(t *testing.T) func(lines []string) []string {
	t.Helper()
	javac := requireTool(t, "javac")
	java := requireTool(t, "java")
	if _, err := os.Stat(bcprov); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required under CI (apt-get install libbcprov-java)", bcprov)
		}
		t.Skipf("%s missing (apt-get install libbcprov-java)", bcprov)
	}
	out := t.TempDir()
	if b, err := exec.Command(javac, "-cp", bcprov, "-d", out, "testdata/AASign.java").CombinedOutput(); err != nil {
		t.Fatalf("javac: %v\n%s", err, b)
	}
	return func(lines []string) []string {
		cmd := exec.Command(java, "-cp", bcprov+string(os.PathListSeparator)+out, "AASign")
		cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		b, err := cmd.Output()
		if err != nil {
			t.Fatalf("java AASign: %v\n%s", err, stderr.Bytes())
		}
		var sigs []string
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(make([]byte, 1<<16), 1<<20)
		for sc.Scan() {
			sigs = append(sigs, sc.Text())
		}
		if len(sigs) != len(lines) {
			t.Fatalf("%d signatures for %d requests", len(sigs), len(lines))
		}
		return sigs
	}
}

type bcCase struct {
	key      *rsa.PrivateKey
	hash     crypto.Hash
	implicit bool
	m1, chal []byte
}

func (c bcCase) name() string {
	return fmt.Sprintf("%d-%s-implicit=%v", c.key.N.BitLen(), c.hash, c.implicit)
}

// BouncyCastle's signatures, with explicit trailers for every hash it and
// ISO/IEC 10118-3 share and the implicit trailer with SHA-1, verify; the
// same signatures with the challenge, M1 or a signature bit changed do not.
func TestBouncyCastleISO9796d2(t *testing.T) {
	sign := bouncyCastle(t)
	var cases []bcCase
	var lines []string
	for _, k := range testKeys(t) {
		modLen := (k.N.BitLen() + 7) / 8
		hashes := []crypto.Hash{crypto.SHA1, crypto.SHA224, crypto.SHA256, crypto.SHA384, crypto.SHA512, crypto.SHA512_224, crypto.SHA512_256}
		for _, h := range hashes {
			for _, implicit := range []bool{false, true} {
				if implicit && h != crypto.SHA1 {
					continue // ICAO 9303-11: the implicit trailer means SHA-1
				}
				tlen := 2
				if implicit {
					tlen = 1
				}
				if modLen-h.Size()-tlen-1 < 1 {
					continue
				}
				c := bcCase{key: k, hash: h, implicit: implicit,
					m1: randBytes(modLen - h.Size() - tlen - 1), chal: randBytes(activeauth.ChallengeLen)}
				cases = append(cases, c)
				lines = append(lines, fmt.Sprintf("%s %v %x %x %x", h, implicit, k.N, k.D, append(bytes.Clone(c.m1), c.chal...)))
			}
		}
	}
	sigs := sign(lines)
	for i, c := range cases {
		t.Run(c.name(), func(t *testing.T) {
			sig, err := hex.DecodeString(sigs[i])
			if err != nil {
				t.Fatal(err)
			}
			modLen := (c.key.N.BitLen() + 7) / 8
			if len(sig) < modLen { // BouncyCastle drops leading zeros
				sig = append(make([]byte, modLen-len(sig)), sig...)
			}
			pub := &c.key.PublicKey
			if err := activeauth.VerifyRSA(pub, c.chal, sig); err != nil {
				t.Fatalf("BouncyCastle signature refused: %v", err)
			}
			// The other choice of ISO/IEC 9796-2 (n − s) verifies too.
			alt := new(big.Int).Sub(c.key.N, new(big.Int).SetBytes(sig)).FillBytes(make([]byte, modLen))
			if err := activeauth.VerifyRSA(pub, c.chal, alt); err != nil {
				t.Fatalf("n − s refused: %v", err)
			}
			wrong := bytes.Clone(c.chal)
			wrong[0] ^= 1
			if activeauth.VerifyRSA(pub, wrong, sig) == nil {
				t.Fatal("another challenge accepted")
			}
			bad := bytes.Clone(sig)
			bad[len(bad)/2] ^= 0x10
			if activeauth.VerifyRSA(pub, c.chal, bad) == nil {
				t.Fatal("tampered signature accepted")
			}
			if activeauth.VerifyRSA(pub, c.chal, sig[1:]) == nil {
				t.Fatal("short signature accepted")
			}
			if activeauth.VerifyRSA(pub, c.chal, c.key.N.FillBytes(make([]byte, modLen))) == nil {
				t.Fatal("s = n accepted")
			}
		})
	}
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return b
}

// signISO builds J = 6A ‖ M1 ‖ Hash(M1 ‖ challenge) ‖ trailer and returns
// J^d mod n: the reference's own test construction, to show which
// trailer mapping this package follows.
func signISO(k *rsa.PrivateKey, h crypto.Hash, trailer []byte, challenge []byte) []byte {
	modLen := (k.N.BitLen() + 7) / 8
	m1 := randBytes(modLen - 1 - h.Size() - len(trailer))
	d := h.New()
	d.Write(m1)
	d.Write(challenge)
	j := append(append(append([]byte{0x6A}, m1...), d.Sum(nil)...), trailer...)
	return new(big.Int).Exp(new(big.Int).SetBytes(j), k.D, k.N).FillBytes(make([]byte, modLen))
}

// The reference labels SHA-256 with 33 CC; ISO/IEC 10118-3 says 33 is
// SHA-1 and 34 SHA-256. This package follows the standard.
func TestTrailerIdentifiersAreISO10118(t *testing.T) {
	k := testKeys(t)[0]
	chal := randBytes(8)
	for _, tc := range []struct {
		h       crypto.Hash
		trailer []byte
		ok      bool
	}{
		{crypto.SHA256, []byte{0x34, 0xCC}, true},
		{crypto.SHA256, []byte{0x33, 0xCC}, false}, // the reference's test
		{crypto.SHA1, []byte{0x33, 0xCC}, true},
		{crypto.SHA384, []byte{0x36, 0xCC}, true},
		{crypto.SHA384, []byte{0x34, 0xCC}, false}, // the reference's 52
		{crypto.SHA512, []byte{0x35, 0xCC}, true},
		{crypto.SHA224, []byte{0x38, 0xCC}, true},
		{crypto.SHA1, []byte{0xBC}, true},
		{crypto.SHA256, []byte{0xBC}, false},
		{crypto.SHA1, []byte{0x31, 0xCC}, false}, // RIPEMD-160: unsupported
		{crypto.SHA1, []byte{0xAB}, false},
	} {
		err := activeauth.VerifyRSA(&k.PublicKey, chal, signISO(k, tc.h, tc.trailer, chal))
		if (err == nil) != tc.ok {
			t.Errorf("%s with trailer %x: err = %v, want ok=%v", tc.h, tc.trailer, err, tc.ok)
		}
	}
	if id, ok := activeauth.HashIdentifier(crypto.SHA256); !ok || id != 0x34 {
		t.Fatalf("SHA-256 identifier = %#x", id)
	}
}

// ECDSA plain signatures over the challenge on NIST curves (crypto/ecdsa
// signs) and brainpool and explicit curves (OpenSSL signs).
func TestECDSAPlain(t *testing.T) {
	chal := randBytes(8)
	for _, c := range []*ecc.Curve{ecc.P256, ecc.P384, ecc.P521} {
		std := map[string]elliptic.Curve{"P-256": elliptic.P256(), "P-384": elliptic.P384(), "P-521": elliptic.P521()}[c.Name]
		sk, _ := ecdsa.GenerateKey(std, rand.Reader)
		raw, _ := sk.PublicKey.Bytes()
		pub, err := ecc.ParsePoint(c, raw)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA224, crypto.SHA256, crypto.SHA384, crypto.SHA512} {
			d := h.New()
			d.Write(chal)
			r, s, err := ecdsa.Sign(rand.Reader, sk, d.Sum(nil))
			if err != nil {
				t.Fatal(err)
			}
			l := c.OrderLen()
			sig := append(r.FillBytes(make([]byte, l)), s.FillBytes(make([]byte, l))...)
			if err := activeauth.VerifyECDSA(pub, chal, sig, h); err != nil {
				t.Fatalf("%s %s: %v", c, h, err)
			}
			if err := activeauth.VerifyECDSA(pub, chal, sig, 0); err != nil {
				t.Fatalf("%s %s by fallback: %v", c, h, err)
			}
			other := crypto.SHA256
			if h == other {
				other = crypto.SHA384
			}
			if activeauth.VerifyECDSA(pub, chal, sig, other) == nil {
				t.Fatalf("%s: %s signature accepted as %s", c, h, other)
			}
			if activeauth.VerifyECDSA(pub, chal[:7], sig, 0) == nil || activeauth.VerifyECDSA(pub, chal, sig[1:], 0) == nil {
				t.Fatalf("%s: wrong challenge or short signature accepted", c)
			}
		}
	}
}

func TestECDSAPlainOpenSSLCurves(t *testing.T) {
	openssl := requireTool(t, "openssl")
	chal := randBytes(8)
	for _, tc := range []struct{ name, enc string }{
		{"brainpoolP256r1", "named_curve"}, {"brainpoolP384r1", "named_curve"},
		{"brainpoolP512r1", "named_curve"}, {"brainpoolP256r1", "explicit"}, {"secp256k1", "explicit"},
	} {
		t.Run(tc.name+"-"+tc.enc, func(t *testing.T) {
			dir := t.TempDir()
			key := filepath.Join(dir, "k.pem")
			opensslRun(t, openssl, "ecparam", "-name", tc.name, "-genkey", "-noout", "-param_enc", tc.enc, "-out", key)
			pub, err := ecc.ParseSubjectPublicKeyInfo(opensslRun(t, openssl, "ec", "-in", key, "-param_enc", tc.enc, "-pubout", "-outform", "DER"))
			if err != nil {
				t.Fatal(err)
			}
			msg := filepath.Join(dir, "chal")
			if err := os.WriteFile(msg, chal, 0o600); err != nil {
				t.Fatal(err)
			}
			der := opensslRun(t, openssl, "dgst", "-sha384", "-sign", key, msg)
			r, s, err := ecc.ParseDERSignature(der)
			if err != nil {
				t.Fatal(err)
			}
			l := pub.Curve.OrderLen()
			sig := append(r.FillBytes(make([]byte, l)), s.FillBytes(make([]byte, l))...)
			if err := activeauth.VerifyECDSA(pub, chal, sig, crypto.SHA384); err != nil {
				t.Fatal(err)
			}
			if err := activeauth.VerifyECDSA(pub, chal, sig, 0); err != nil {
				t.Fatal(err)
			}
			sig[5] ^= 1
			if activeauth.VerifyECDSA(pub, chal, sig, 0) == nil {
				t.Fatal("tampered signature accepted")
			}
		})
	}
}

func opensslRun(t *testing.T, openssl string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(openssl, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("openssl %v: %v\n%s", args, err, stderr.Bytes())
	}
	return out
}

func TestHashForSignatureAlgorithm(t *testing.T) {
	for oid, want := range map[string]crypto.Hash{
		"0.4.0.127.0.7.1.1.4.1.1": crypto.SHA1, "0.4.0.127.0.7.1.1.4.1.2": crypto.SHA224,
		"0.4.0.127.0.7.1.1.4.1.3": crypto.SHA256, "0.4.0.127.0.7.1.1.4.1.4": crypto.SHA384,
		"0.4.0.127.0.7.1.1.4.1.5": crypto.SHA512,
	} {
		var o asn1.ObjectIdentifier
		for _, part := range strings.Split(oid, ".") {
			n, _ := strconv.Atoi(part)
			o = append(o, n)
		}
		if h, err := activeauth.HashForSignatureAlgorithm(o); err != nil || h != want {
			t.Errorf("%s: %v %v", oid, h, err)
		}
	}
	if _, err := activeauth.HashForSignatureAlgorithm(asn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 1, 1, 4, 1, 6}); err == nil {
		t.Error("ecdsa-plain-RIPEMD160 accepted")
	}
}
