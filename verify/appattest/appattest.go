package appattest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/asn1"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Environment selects the AAGUID an attestation must carry: Apple stamps
// attestations from development-signed builds with "appattestdevelop".
// The zero value is Production, the stricter choice.
type Environment int

const (
	Production Environment = iota
	Development
)

func (e Environment) String() string {
	switch e {
	case Production:
		return "production"
	case Development:
		return "development"
	}
	return fmt.Sprintf("Environment(%d)", int(e))
}

// aaguid is the AAGUID Apple documents for each environment.
func (e Environment) aaguid() ([]byte, bool) {
	switch e {
	case Production:
		return append([]byte("appattest"), make([]byte, 7)...), true
	case Development:
		return []byte("appattestdevelop"), true
	}
	return nil, false
}

// Config is what a verification is checked against.
type Config struct {
	// Roots anchors the x5c chain: Apple's App Attestation Root CA
	// (AppleRoot) in production, a test root in tests. Required: a nil pool
	// would make crypto/x509 fall back to the system roots.
	Roots *x509.CertPool
	// AppID is "<Team ID>.<bundle id>", the RP ID; its SHA-256 is rpIdHash.
	AppID       string
	Environment Environment
	// Now is the time certificates must be valid at; nil means time.Now.
	Now func() time.Time
}

// Key is a registered App Attest key, as the caller stores it.
type Key struct {
	// KeyID is SHA-256 of the leaf's uncompressed P-256 point, which is the
	// decoded key id the app sent and the credential id in authData.
	KeyID []byte
	// PublicKeyCOSE is the COSE_Key from authData, as received.
	PublicKeyCOSE []byte
	// Receipt is Apple's receipt, for a later fraud-metric refresh.
	Receipt []byte
}

// Errors callers can tell apart with errors.Is. Every verification error
// also matches ErrInvalid.
var (
	ErrInvalid = errors.New("appattest: verification failed")

	ErrConfig      = newErr("configuration incomplete")
	ErrTooLarge    = newErr("input too large")
	ErrMalformed   = newErr("malformed CBOR or structure")
	ErrFormat      = newErr("fmt is not apple-appattest")
	ErrReceipt     = newErr("receipt missing")
	ErrChain       = newErr("certificate chain not trusted")
	ErrNonce       = newErr("nonce extension does not match")
	ErrKeyID       = newErr("key id does not match the certificate")
	ErrRPID        = newErr("rpIdHash does not match the app id")
	ErrFlags       = newErr("authenticator data flags not allowed")
	ErrAAGUID      = newErr("AAGUID does not match the environment")
	ErrCOSEKey     = newErr("COSE key invalid or not the certificate's key")
	ErrCounter     = newErr("counter not greater than the stored counter")
	ErrSignature   = newErr("assertion signature invalid")
	ErrAttestCount = newErr("attestation counter is not zero")
)

type verifyError struct{ msg string }

func (e *verifyError) Error() string        { return "appattest: " + e.msg }
func (e *verifyError) Is(target error) bool { return target == ErrInvalid }

func newErr(msg string) error { return &verifyError{msg} }

// fail wraps a sentinel with detail that is for logs, not for clients.
func fail(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", sentinel, fmt.Sprintf(format, args...))
}

const fmtAppleAppAttest = "apple-appattest"

// oidAppleNonce is the leaf extension carrying SHA-256(authData ‖ clientDataHash).
var oidAppleNonce = asn1.ObjectIdentifier{1, 2, 840, 113635, 100, 8, 2}

// authData flag bits (WebAuthn §6.1).
const (
	flagAT = 0x40 // attested credential data included
	flagED = 0x80 // extension data included
)

func (c Config) check() error {
	if c.Roots == nil {
		return fail(ErrConfig, "no root pool")
	}
	if c.AppID == "" {
		return fail(ErrConfig, "no app id")
	}
	if _, ok := c.Environment.aaguid(); !ok {
		return fail(ErrConfig, "unknown environment %d", int(c.Environment))
	}
	return nil
}

func (c Config) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c Config) rpIDHash() [32]byte { return sha256.Sum256([]byte(c.AppID)) }

// VerifyAttestation checks an attestation object made by
// DCAppAttestService.attestKey for keyID (the decoded key identifier) over
// clientDataHash, following Apple's nine steps plus the checks Apple leaves
// implicit: the authData flags, the nonce extension's ASN.1 shape, and that
// the COSE key in authData is the certificate's key.
func (c Config) VerifyAttestation(keyID, attestation []byte, clientDataHash [32]byte) (Key, error) {
	if err := c.check(); err != nil {
		return Key{}, err
	}
	if len(attestation) > MaxAttestationSize {
		return Key{}, fail(ErrTooLarge, "attestation of %d bytes", len(attestation))
	}
	var obj attestationObject
	if err := decMode.Unmarshal(attestation, &obj); err != nil {
		return Key{}, fail(ErrMalformed, "attestation object: %v", err)
	}
	if obj.Fmt != fmtAppleAppAttest {
		return Key{}, fail(ErrFormat, "fmt %q", obj.Fmt)
	}
	if len(obj.AttStmt.X5C) == 0 || len(obj.AttStmt.X5C) > maxChain {
		return Key{}, fail(ErrChain, "x5c has %d certificates", len(obj.AttStmt.X5C))
	}
	if len(obj.AttStmt.Receipt) == 0 {
		return Key{}, ErrReceipt
	}

	// Step 1: the chain, leaf first, to the configured root, valid now.
	leaf, err := c.verifyChain(obj.AttStmt.X5C)
	if err != nil {
		return Key{}, err
	}

	ad, err := parseAttestedAuthData(obj.AuthData)
	if err != nil {
		return Key{}, err
	}

	// Steps 2–4: nonce = SHA-256(authData ‖ clientDataHash) is the value of
	// the leaf's 1.2.840.113635.100.8.2 extension.
	nonce := sha256.Sum256(concat(obj.AuthData, clientDataHash[:]))
	got, err := leafNonce(leaf)
	if err != nil {
		return Key{}, err
	}
	if subtle.ConstantTimeCompare(got, nonce[:]) != 1 {
		return Key{}, fail(ErrNonce, "extension nonce differs from SHA-256(authData ‖ clientDataHash)")
	}

	// Step 5: SHA-256 of the leaf's public key (the uncompressed point) is
	// the key identifier.
	leafPub, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	if !ok || leafPub.Curve != elliptic.P256() {
		return Key{}, fail(ErrChain, "leaf key is not ECDSA P-256")
	}
	leafPoint, err := leafPub.Bytes()
	if err != nil {
		return Key{}, fail(ErrChain, "leaf key: %v", err)
	}
	leafKeyID := sha256.Sum256(leafPoint)
	if !bytes.Equal(leafKeyID[:], keyID) {
		return Key{}, fail(ErrKeyID, "SHA-256 of the leaf key is not the key id")
	}

	// Step 6: rpIdHash.
	want := c.rpIDHash()
	if !bytes.Equal(ad.rpIDHash, want[:]) {
		return Key{}, fail(ErrRPID, "attestation rpIdHash")
	}
	// Step 7: a fresh key has signed nothing.
	if ad.counter != 0 {
		return Key{}, fail(ErrAttestCount, "counter %d", ad.counter)
	}
	// Step 8: AAGUID for the configured environment.
	aaguid, _ := c.Environment.aaguid()
	if !bytes.Equal(ad.aaguid, aaguid) {
		return Key{}, fail(ErrAAGUID, "AAGUID %q in %s", ad.aaguid, c.Environment)
	}
	// Step 9: the credential id is the key identifier.
	if !bytes.Equal(ad.credentialID, keyID) {
		return Key{}, fail(ErrKeyID, "credential id is not the key id")
	}

	// Beyond Apple's list: the COSE key later assertions are checked with
	// must be the key the certificate vouches for.
	cosePub, err := parseCOSEKey(ad.coseKey)
	if err != nil {
		return Key{}, err
	}
	cosePoint, _ := cosePub.Bytes()
	if !bytes.Equal(cosePoint, leafPoint) {
		return Key{}, fail(ErrCOSEKey, "COSE key is not the leaf certificate's key")
	}

	return Key{
		KeyID:         bytes.Clone(keyID),
		PublicKeyCOSE: bytes.Clone(ad.coseKey),
		Receipt:       bytes.Clone(obj.AttStmt.Receipt),
	}, nil
}

func (c Config) verifyChain(x5c [][]byte) (*x509.Certificate, error) {
	leaf, err := x509.ParseCertificate(x5c[0])
	if err != nil {
		return nil, fail(ErrChain, "leaf: %v", err)
	}
	inter := x509.NewCertPool()
	for i, der := range x5c[1:] {
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fail(ErrChain, "x5c[%d]: %v", i+1, err)
		}
		inter.AddCert(cert)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{
		Roots:         c.Roots,
		Intermediates: inter,
		CurrentTime:   c.now(),
		// Apple's certificates carry no extended key usage for this purpose.
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	}); err != nil {
		return nil, fail(ErrChain, "%v", err)
	}
	return leaf, nil
}

// leafNonce reads the nonce extension, which Apple's documentation shows as
// SEQUENCE { [1] EXPLICIT OCTET STRING (SIZE 32) }.
func leafNonce(leaf *x509.Certificate) ([]byte, error) {
	var found []byte
	n := 0
	for _, ext := range leaf.Extensions {
		if ext.Id.Equal(oidAppleNonce) {
			found = ext.Value
			n++
		}
	}
	if n != 1 {
		return nil, fail(ErrNonce, "%d nonce extensions", n)
	}
	var v struct {
		Nonce []byte `asn1:"tag:1,explicit"`
	}
	rest, err := asn1.Unmarshal(found, &v)
	if err != nil {
		return nil, fail(ErrNonce, "extension: %v", err)
	}
	if len(rest) != 0 {
		return nil, fail(ErrNonce, "trailing bytes after the extension")
	}
	if len(v.Nonce) != sha256.Size {
		return nil, fail(ErrNonce, "nonce of %d bytes", len(v.Nonce))
	}
	return v.Nonce, nil
}

type authData struct {
	rpIDHash     []byte
	flags        byte
	counter      uint32
	aaguid       []byte
	credentialID []byte
	coseKey      []byte
}

// parseAuthData reads the 37 bytes every authenticator data starts with.
func parseAuthData(b []byte) (authData, error) {
	if len(b) < 37 {
		return authData{}, fail(ErrMalformed, "authenticator data of %d bytes", len(b))
	}
	return authData{
		rpIDHash: b[:32],
		flags:    b[32],
		counter:  binary.BigEndian.Uint32(b[33:37]),
	}, nil
}

// parseAttestedAuthData reads an attestation's authenticator data, which
// must carry attested credential data (AT set) and nothing after the
// COSE key (ED clear): Apple sends no extensions.
func parseAttestedAuthData(b []byte) (authData, error) {
	ad, err := parseAuthData(b)
	if err != nil {
		return ad, err
	}
	if ad.flags&flagAT == 0 {
		return ad, fail(ErrFlags, "attested credential data flag not set (flags %#02x)", ad.flags)
	}
	if ad.flags&flagED != 0 {
		return ad, fail(ErrFlags, "extension data flag set (flags %#02x)", ad.flags)
	}
	if len(b) < 55 {
		return ad, fail(ErrMalformed, "attested credential data truncated")
	}
	ad.aaguid = b[37:53]
	n := int(binary.BigEndian.Uint16(b[53:55]))
	if len(b) < 55+n {
		return ad, fail(ErrMalformed, "credential id of %d bytes overruns authData", n)
	}
	ad.credentialID = b[55 : 55+n]
	ad.coseKey = b[55+n:]
	if len(ad.coseKey) == 0 {
		return ad, fail(ErrCOSEKey, "no credential public key")
	}
	return ad, nil
}

// parseCOSEKey accepts exactly one EC2 / ES256 / P-256 COSE_Key whose x and
// y are 32 bytes each and name a point on the curve.
func parseCOSEKey(b []byte) (*ecdsa.PublicKey, error) {
	var k coseKey
	if err := decMode.Unmarshal(b, &k); err != nil {
		return nil, fail(ErrCOSEKey, "%v", err)
	}
	if k.Kty != coseKtyEC2 || k.Alg != coseAlgES256 || k.Crv != coseCrvP256 {
		return nil, fail(ErrCOSEKey, "kty %d alg %d crv %d, want EC2/ES256/P-256", k.Kty, k.Alg, k.Crv)
	}
	if len(k.X) != 32 || len(k.Y) != 32 {
		return nil, fail(ErrCOSEKey, "coordinates of %d and %d bytes", len(k.X), len(k.Y))
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), concat([]byte{4}, k.X, k.Y))
	if err != nil {
		return nil, fail(ErrCOSEKey, "%v", err)
	}
	return pub, nil
}

// VerifyAssertion checks an assertion against a stored key and counter; it
// returns the assertion's counter, which the caller stores with a
// compare-and-set on storedCounter (a lost race is a replay).
func (c Config) VerifyAssertion(publicKeyCOSE []byte, storedCounter uint32, assertion []byte, clientDataHash [32]byte) (uint32, error) {
	if c.AppID == "" {
		return 0, fail(ErrConfig, "no app id")
	}
	if len(assertion) > MaxAssertionSize {
		return 0, fail(ErrTooLarge, "assertion of %d bytes", len(assertion))
	}
	pub, err := parseCOSEKey(publicKeyCOSE)
	if err != nil {
		return 0, err
	}
	var obj assertionObject
	if err := decMode.Unmarshal(assertion, &obj); err != nil {
		return 0, fail(ErrMalformed, "assertion object: %v", err)
	}
	// Apple's flags in assertions vary (0x00 or 0x40 is seen without
	// credential data), and nothing follows the counter, so only the
	// length, rpIdHash and counter are read; all of authData is signed.
	ad, err := parseAuthData(obj.AuthenticatorData)
	if err != nil {
		return 0, err
	}
	// Steps 2–3: nonce = SHA-256(authenticatorData ‖ clientDataHash) is
	// the message, signed with ES256, so the ECDSA digest is SHA-256(nonce).
	// (Hashing once only fails every real device's assertion: see
	// TestRealDeviceAttestationAndAssertion.)
	nonce := sha256.Sum256(concat(obj.AuthenticatorData, clientDataHash[:]))
	digest := sha256.Sum256(nonce[:])
	if !ecdsa.VerifyASN1(pub, digest[:], obj.Signature) {
		return 0, ErrSignature
	}
	// Step 4.
	want := c.rpIDHash()
	if !bytes.Equal(ad.rpIDHash, want[:]) {
		return 0, fail(ErrRPID, "assertion rpIdHash")
	}
	// Step 5.
	if ad.counter <= storedCounter {
		return 0, fail(ErrCounter, "counter %d, stored %d", ad.counter, storedCounter)
	}
	return ad.counter, nil
}

func concat(parts ...[]byte) []byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	out := make([]byte, 0, n)
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
