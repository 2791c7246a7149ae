package appattest_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/kayle-id/orgs-api/verify/appattest"
	"github.com/kayle-id/orgs-api/verify/appattest/attesttest"
)

func cdh(s string) [32]byte { return sha256.Sum256([]byte(s)) }

func mustAttest(t testing.TB, key *ecdsa.PrivateKey, h [32]byte, o attesttest.Options) []byte {
	t.Helper()
	b, err := attesttest.Attestation(key, h, o)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustAssert(t testing.TB, key *ecdsa.PrivateKey, counter uint32, h [32]byte, o attesttest.AssertionOptions) []byte {
	t.Helper()
	b, err := attesttest.AssertionWith(key, counter, h, o)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAppleRootFingerprint(t *testing.T) {
	pool := appattest.AppleRoot()
	subjects := pool.Subjects() //nolint:staticcheck // only to count the pool
	if len(subjects) != 1 {
		t.Fatalf("pool holds %d certificates", len(subjects))
	}
	der := appattest.AppleRootDER()
	sum := sha256.Sum256(der)
	if got := hex.EncodeToString(sum[:]); got != "1cb9823ba28ba6ad2d33a006941de2ae4f513ef1d4e831b9f7e0fa7b6242c932" {
		t.Fatalf("Apple root SHA-256 %s", got)
	}
	root, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	if err := root.CheckSignatureFrom(root); err != nil {
		t.Fatalf("not self-signed: %v", err)
	}
	if root.Subject.CommonName != "Apple App Attestation Root CA" || !root.IsCA {
		t.Fatalf("subject %v, CA %v", root.Subject, root.IsCA)
	}
}

// A chain under the test root must not pass against Apple's root.
func TestAppleRootRefusesTestChain(t *testing.T) {
	key := attesttest.NewDeviceKey()
	h := cdh("apple")
	att := mustAttest(t, key, h, attesttest.Options{})
	cfg := appattest.Config{Roots: appattest.AppleRoot(), AppID: attesttest.AppID}
	if _, err := cfg.VerifyAttestation(attesttest.KeyID(&key.PublicKey), att, h); !errors.Is(err, appattest.ErrChain) {
		t.Fatalf("err %v, want ErrChain", err)
	}
}

func TestHappyPath(t *testing.T) {
	for _, env := range []appattest.Environment{appattest.Production, appattest.Development} {
		t.Run(env.String(), func(t *testing.T) {
			cfg := attesttest.Default().Config(env)
			key := attesttest.NewDeviceKey()
			keyID := attesttest.KeyID(&key.PublicKey)
			h := appattest.RegistrationClientDataHash([]byte("0123456789abcdef0123456789abcdef"))
			att := mustAttest(t, key, h, attesttest.Options{Environment: env})
			k, err := cfg.VerifyAttestation(keyID, att, h)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(k.KeyID, keyID) || !bytes.Equal(k.PublicKeyCOSE, attesttest.COSEKey(&key.PublicKey)) || len(k.Receipt) == 0 {
				t.Fatalf("key %+v", k)
			}
			var stored uint32
			for i := range 3 {
				ch := cdh("hello " + string(rune('a'+i)))
				n, err := cfg.VerifyAssertion(k.PublicKeyCOSE, stored, mustAssert(t, key, stored+1, ch, attesttest.AssertionOptions{}), ch)
				if err != nil {
					t.Fatal(err)
				}
				if n != stored+1 {
					t.Fatalf("counter %d, want %d", n, stored+1)
				}
				stored = n
			}
		})
	}
}

func TestAttestationRefused(t *testing.T) {
	other := attesttest.NewDeviceKey()
	otherCA, err := attesttest.NewCA("Another")
	if err != nil {
		t.Fatal(err)
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	flags := func(b byte) *byte { return &b }
	zero32 := make([]byte, 32)
	wrongHash := sha256.Sum256([]byte("other"))
	cose := func(m map[int]any) []byte { return attesttest.EncodeCBOR(m) }
	key := attesttest.NewDeviceKey()
	pt, _ := key.PublicKey.Bytes()
	x, y := pt[1:33], pt[33:]
	offCurveY := append([]byte{}, y...)
	offCurveY[31] ^= 1

	cases := []struct {
		name   string
		opts   attesttest.Options
		env    appattest.Environment
		keyID  []byte    // nil = the device key's id
		hash   *[32]byte // nil = the hash attested over
		config func(*appattest.Config)
		want   error
	}{
		{name: "fmt", opts: attesttest.Options{Fmt: "packed"}, want: appattest.ErrFormat},
		{name: "no x5c", opts: attesttest.Options{NoX5C: true}, want: appattest.ErrChain},
		{name: "no receipt", opts: attesttest.Options{NoReceipt: true}, want: appattest.ErrReceipt},
		{name: "empty receipt", opts: attesttest.Options{Receipt: []byte{}}, want: appattest.ErrReceipt},
		{name: "leaf under another root", opts: attesttest.Options{CA: otherCA}, want: appattest.ErrChain},
		{name: "no intermediate", opts: attesttest.Options{NoIntermediate: true}, want: appattest.ErrChain},
		{name: "expired leaf", opts: attesttest.Options{LeafNotBefore: time.Now().Add(-48 * time.Hour), LeafNotAfter: time.Now().Add(-time.Hour)}, want: appattest.ErrChain},
		{name: "leaf not yet valid", opts: attesttest.Options{LeafNotBefore: time.Now().Add(time.Hour)}, want: appattest.ErrChain},
		{name: "checked at a later Now", config: func(c *appattest.Config) { c.Now = func() time.Time { return time.Now().Add(48 * time.Hour) } }, want: appattest.ErrChain},
		{name: "no nonce extension", opts: attesttest.Options{NoNonce: true}, want: appattest.ErrNonce},
		{name: "wrong nonce", opts: attesttest.Options{Nonce: zero32}, want: appattest.ErrNonce},
		{name: "other clientDataHash", hash: &wrongHash, want: appattest.ErrNonce},
		{name: "nonce of 31 bytes", opts: attesttest.Options{Nonce: zero32[:31]}, want: appattest.ErrNonce},
		// The right nonce, but not in Apple's shape: a "first 04 20" scan would accept these.
		{name: "nonce as bare OCTET STRING", opts: attesttest.Options{NonceExtension: shapeOctet}, want: appattest.ErrNonce},
		{name: "nonce under [2]", opts: attesttest.Options{NonceExtension: shapeTag2}, want: appattest.ErrNonce},
		{name: "nonce after another 04 20", opts: attesttest.Options{NonceExtension: shapeDecoy}, want: appattest.ErrNonce},
		{name: "nonce extension with trailing bytes", opts: attesttest.Options{NonceExtension: shapeTrailing}, want: appattest.ErrNonce},
		{name: "key id argument", keyID: attesttest.KeyID(&other.PublicKey), want: appattest.ErrKeyID},
		{name: "leaf certifies another key", opts: attesttest.Options{LeafKey: &other.PublicKey}, want: appattest.ErrKeyID},
		{name: "leaf key P-384", opts: attesttest.Options{LeafKey: &p384.PublicKey}, want: appattest.ErrChain},
		{name: "credential id", opts: attesttest.Options{CredentialID: attesttest.KeyID(&other.PublicKey)}, want: appattest.ErrKeyID},
		{name: "wrong rpId", opts: attesttest.Options{AppID: "TESTTEAM01.id.kayle.other"}, want: appattest.ErrRPID},
		{name: "config app id", config: func(c *appattest.Config) { c.AppID = "OTHERTEAM1.id.kayle.test" }, want: appattest.ErrRPID},
		{name: "counter not zero", opts: attesttest.Options{Counter: 1}, want: appattest.ErrAttestCount},
		{name: "development AAGUID in production", opts: attesttest.Options{Environment: appattest.Development}, want: appattest.ErrAAGUID},
		{name: "production AAGUID in development", env: appattest.Development, want: appattest.ErrAAGUID},
		{name: "AAGUID zero", opts: attesttest.Options{AAGUID: make([]byte, 16)}, want: appattest.ErrAAGUID},
		{name: "flags without AT", opts: attesttest.Options{Flags: flags(0x01)}, want: appattest.ErrFlags},
		{name: "flags with ED", opts: attesttest.Options{Flags: flags(0xc0)}, want: appattest.ErrFlags},
		{name: "COSE key of another key", opts: attesttest.Options{COSEKey: attesttest.COSEKey(&other.PublicKey)}, want: appattest.ErrCOSEKey},
		{name: "bytes after the COSE key", opts: attesttest.Options{AuthDataTail: []byte{0xa0}}, want: appattest.ErrCOSEKey},
		{name: "COSE kty OKP", opts: attesttest.Options{COSEKey: cose(map[int]any{1: 1, 3: -7, -1: 1, -2: x, -3: y})}, want: appattest.ErrCOSEKey},
		{name: "COSE alg ES384", opts: attesttest.Options{COSEKey: cose(map[int]any{1: 2, 3: -35, -1: 1, -2: x, -3: y})}, want: appattest.ErrCOSEKey},
		{name: "COSE crv P-384", opts: attesttest.Options{COSEKey: cose(map[int]any{1: 2, 3: -7, -1: 2, -2: x, -3: y})}, want: appattest.ErrCOSEKey},
		{name: "COSE x of 33 bytes", opts: attesttest.Options{COSEKey: cose(map[int]any{1: 2, 3: -7, -1: 1, -2: append([]byte{0}, x...), -3: y})}, want: appattest.ErrCOSEKey},
		{name: "COSE y missing", opts: attesttest.Options{COSEKey: cose(map[int]any{1: 2, 3: -7, -1: 1, -2: x})}, want: appattest.ErrCOSEKey},
		{name: "COSE point off the curve", opts: attesttest.Options{COSEKey: cose(map[int]any{1: 2, 3: -7, -1: 1, -2: x, -3: offCurveY})}, want: appattest.ErrCOSEKey},
		{name: "COSE unknown parameter", opts: attesttest.Options{COSEKey: cose(map[int]any{1: 2, 3: -7, -1: 1, -2: x, -3: y, 2: []byte("kid")})}, want: appattest.ErrCOSEKey},
		{name: "no roots", config: func(c *appattest.Config) { c.Roots = nil }, want: appattest.ErrConfig},
		{name: "unknown environment", config: func(c *appattest.Config) { c.Environment = 7 }, want: appattest.ErrConfig},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := cdh("register " + tc.name)
			att := mustAttest(t, key, h, tc.opts)
			cfg := attesttest.Default().Config(tc.env)
			if tc.config != nil {
				tc.config(&cfg)
			}
			keyID := attesttest.KeyID(&key.PublicKey)
			if tc.keyID != nil {
				keyID = tc.keyID
			}
			if tc.hash != nil {
				h = *tc.hash
			}
			_, err := cfg.VerifyAttestation(keyID, att, h)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			if !errors.Is(err, appattest.ErrInvalid) {
				t.Fatalf("err %v does not match ErrInvalid", err)
			}
		})
	}
}

func TestAssertionRules(t *testing.T) {
	cfg := attesttest.Default().Config(appattest.Production)
	key := attesttest.NewDeviceKey()
	cose := attesttest.COSEKey(&key.PublicKey)
	other := attesttest.NewDeviceKey()
	h := cdh("nfc")
	cases := []struct {
		name    string
		stored  uint32
		counter uint32
		signer  *ecdsa.PrivateKey
		opts    attesttest.AssertionOptions
		hash    [32]byte
		stash   []byte // stored COSE key; nil = key's
		want    error
		wantN   uint32
	}{
		{name: "first use", stored: 0, counter: 1, wantN: 1},
		{name: "jump forward", stored: 5, counter: 900, wantN: 900},
		{name: "last counter", stored: math.MaxUint32 - 1, counter: math.MaxUint32, wantN: math.MaxUint32},
		{name: "equal counter", stored: 7, counter: 7, want: appattest.ErrCounter},
		{name: "lower counter", stored: 7, counter: 6, want: appattest.ErrCounter},
		{name: "zero after zero", stored: 0, counter: 0, want: appattest.ErrCounter},
		{name: "other clientDataHash", stored: 0, counter: 1, hash: cdh("hello"), want: appattest.ErrSignature},
		{name: "signed by another key", stored: 0, counter: 1, signer: other, want: appattest.ErrSignature},
		{name: "wrong rpId", stored: 0, counter: 1, opts: attesttest.AssertionOptions{AppID: "TESTTEAM01.id.kayle.other"}, want: appattest.ErrRPID},
		{name: "stored key garbage", stored: 0, counter: 1, stash: []byte{0xa0}, want: appattest.ErrCOSEKey},
		{name: "flags 0x40 accepted", stored: 0, counter: 2, opts: attesttest.AssertionOptions{Flags: 0x40}, wantN: 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			signer := key
			if tc.signer != nil {
				signer = tc.signer
			}
			verifyHash := h
			if tc.hash != ([32]byte{}) {
				verifyHash = tc.hash
			}
			stash := cose
			if tc.stash != nil {
				stash = tc.stash
			}
			a := mustAssert(t, signer, tc.counter, h, tc.opts)
			n, err := cfg.VerifyAssertion(stash, tc.stored, a, verifyHash)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			if tc.want == nil && n != tc.wantN {
				t.Fatalf("counter %d, want %d", n, tc.wantN)
			}
			if tc.want != nil && n != 0 {
				t.Fatalf("counter %d returned with an error", n)
			}
		})
	}
}

// The assertion's authenticator data is signed whole: changing any byte of
// it, or the signature, fails the signature.
func TestAssertionTampered(t *testing.T) {
	cfg := attesttest.Default().Config(appattest.Production)
	key := attesttest.NewDeviceKey()
	h := cdh("tamper")
	authData, sig, err := attesttest.SignAssertion(key, 3, h, attesttest.AssertionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range authData {
		ad := bytes.Clone(authData)
		ad[i] ^= 0x01
		a := attesttest.EncodeCBOR(map[string]any{"signature": sig, "authenticatorData": ad})
		if _, err := cfg.VerifyAssertion(attesttest.COSEKey(&key.PublicKey), 0, a, h); !errors.Is(err, appattest.ErrSignature) {
			t.Fatalf("byte %d flipped: err %v", i, err)
		}
	}
	s := bytes.Clone(sig)
	s[len(s)-1] ^= 0x01
	a := attesttest.EncodeCBOR(map[string]any{"signature": s, "authenticatorData": authData})
	if _, err := cfg.VerifyAssertion(attesttest.COSEKey(&key.PublicKey), 0, a, h); !errors.Is(err, appattest.ErrSignature) {
		t.Fatalf("signature flipped: err %v", err)
	}
	short := attesttest.EncodeCBOR(map[string]any{"signature": sig, "authenticatorData": authData[:36]})
	if _, err := cfg.VerifyAssertion(attesttest.COSEKey(&key.PublicKey), 0, short, h); !errors.Is(err, appattest.ErrMalformed) {
		t.Fatalf("36-byte authData: err %v", err)
	}
}

// Nonce extensions holding the right nonce in shapes other than Apple's
// SEQUENCE { [1] EXPLICIT OCTET STRING }.
func shapeOctet(n []byte) []byte { b, _ := asn1.Marshal(n); return b }

func shapeTag2(n []byte) []byte {
	b, _ := asn1.Marshal(struct {
		N []byte `asn1:"tag:2,explicit"`
	}{n})
	return b
}

func shapeDecoy(n []byte) []byte {
	b, _ := asn1.Marshal(struct {
		Decoy []byte `asn1:"tag:0,explicit"`
		N     []byte `asn1:"tag:1,explicit"`
	}{n, make([]byte, 32)})
	return b
}

func shapeTrailing(n []byte) []byte { return append(attesttest.NonceExtension(n), 0x04, 0x00) }
