// Package attesttest makes App Attest objects the way an Apple device and
// Apple's CA would, under a test root, for verify/appattest's tests and the
// server's protocol tests. Every property the verifier checks can be broken
// on its own through Options.
package attesttest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/binary"
	"fmt"
	"math/big"
	"sync"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/kayle-id/orgs-api/verify/appattest"
)

// AppID is the default "<Team ID>.<bundle id>" the builders use.
const AppID = "TESTTEAM01.id.kayle.test"

// CA is a root and an intermediate shaped like Apple's (P-384 root,
// P-384 intermediate issuing P-256 leaves).
type CA struct {
	Root            *x509.Certificate
	RootKey         *ecdsa.PrivateKey
	Intermediate    *x509.Certificate
	IntermediateKey *ecdsa.PrivateKey
}

// NewCA makes a fresh root and intermediate, valid from an hour ago for ten years.
func NewCA(name string) (*CA, error) {
	rootKey, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		return nil, err
	}
	interKey, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	rootTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name + " Root CA", Organization: []string{"Kayle ID tests"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	rootDER, err := x509.CreateCertificate(rand.Reader, rootTmpl, rootTmpl, &rootKey.PublicKey, rootKey)
	if err != nil {
		return nil, err
	}
	root, _ := x509.ParseCertificate(rootDER)
	interTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name + " CA 1", Organization: []string{"Kayle ID tests"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(5, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	interDER, err := x509.CreateCertificate(rand.Reader, interTmpl, root, &interKey.PublicKey, rootKey)
	if err != nil {
		return nil, err
	}
	inter, _ := x509.ParseCertificate(interDER)
	return &CA{Root: root, RootKey: rootKey, Intermediate: inter, IntermediateKey: interKey}, nil
}

// Pool is a pool holding only the CA's root, for appattest.Config.Roots.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Root)
	return p
}

// Config is the verifier configuration that accepts this CA's
// attestations for AppID in env.
func (ca *CA) Config(env appattest.Environment) appattest.Config {
	return appattest.Config{Roots: ca.Pool(), AppID: AppID, Environment: env}
}

var (
	defaultOnce sync.Once
	defaultCA   *CA
	defaultErr  error
)

// Default is one CA shared by a test binary, so tests need not make their own.
func Default() *CA {
	defaultOnce.Do(func() { defaultCA, defaultErr = NewCA("App Attest Test") })
	if defaultErr != nil {
		panic(defaultErr)
	}
	return defaultCA
}

// NewDeviceKey makes a key the way the Secure Enclave does (P-256).
func NewDeviceKey() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}

// KeyID is SHA-256 of the uncompressed point: the decoded key identifier
// attestKey hands the app.
func KeyID(pub *ecdsa.PublicKey) []byte {
	b, err := pub.Bytes()
	if err != nil {
		panic(err)
	}
	d := sha256.Sum256(b)
	return d[:]
}

// COSEKey encodes pub as the EC2 COSE_Key authData carries, in CTAP2
// canonical order (1, 3, -1, -2, -3).
func COSEKey(pub *ecdsa.PublicKey) []byte {
	b, _ := pub.Bytes()
	return mustMarshal(map[int]any{1: 2, 3: -7, -1: 1, -2: b[1:33], -3: b[33:65]})
}

// Options break one property of an attestation each; the zero value makes
// a valid production attestation for AppID under Default().
type Options struct {
	CA          *CA // signer of the leaf; nil = Default()
	AppID       string
	Environment appattest.Environment
	Fmt         string // "" = apple-appattest

	RPIDHash     []byte // replaces SHA-256(AppID)
	Flags        *byte  // replaces 0x40
	Counter      uint32
	AAGUID       []byte // replaces the environment's AAGUID
	CredentialID []byte // replaces the key id
	COSEKey      []byte // replaces the device key's COSE_Key
	AuthDataTail []byte // appended after the COSE key

	Nonce []byte // replaces SHA-256(authData ‖ clientDataHash) in the extension
	// NonceExtension builds the extension value from the nonce in place
	// of NonceExtension (Apple's shape).
	NonceExtension func(nonce []byte) []byte
	NoNonce        bool // leaf without the extension
	LeafNotBefore  time.Time
	LeafNotAfter   time.Time
	LeafKey        *ecdsa.PublicKey // the key the leaf certifies; nil = the device key

	NoIntermediate bool
	NoReceipt      bool
	Receipt        []byte // nil = a fixed test receipt; empty = an empty one
	NoX5C          bool
}

// Attestation returns the CBOR attestation object attestKey would return
// for key over clientDataHash, with the leaf carrying the nonce extension.
func Attestation(key *ecdsa.PrivateKey, clientDataHash [32]byte, o Options) ([]byte, error) {
	ca := o.CA
	if ca == nil {
		ca = Default()
	}
	appID := o.AppID
	if appID == "" {
		appID = AppID
	}
	rp := sha256.Sum256([]byte(appID))
	rpHash := rp[:]
	if o.RPIDHash != nil {
		rpHash = o.RPIDHash
	}
	flags := byte(0x40)
	if o.Flags != nil {
		flags = *o.Flags
	}
	aaguid := o.AAGUID
	if aaguid == nil {
		if o.Environment == appattest.Development {
			aaguid = []byte("appattestdevelop")
		} else {
			aaguid = append([]byte("appattest"), make([]byte, 7)...)
		}
	}
	credID := o.CredentialID
	if credID == nil {
		credID = KeyID(&key.PublicKey)
	}
	cose := o.COSEKey
	if cose == nil {
		cose = COSEKey(&key.PublicKey)
	}
	authData := make([]byte, 0, 55+len(credID)+len(cose)+len(o.AuthDataTail))
	authData = append(authData, rpHash...)
	authData = append(authData, flags)
	authData = binary.BigEndian.AppendUint32(authData, o.Counter)
	authData = append(authData, aaguid...)
	authData = binary.BigEndian.AppendUint16(authData, uint16(len(credID)))
	authData = append(authData, credID...)
	authData = append(authData, cose...)
	authData = append(authData, o.AuthDataTail...)

	nonce := o.Nonce
	if nonce == nil {
		n := sha256.Sum256(append(append([]byte{}, authData...), clientDataHash[:]...))
		nonce = n[:]
	}
	shape := o.NonceExtension
	if shape == nil {
		shape = NonceExtension
	}
	ext := shape(nonce)
	leafPub := o.LeafKey
	if leafPub == nil {
		leafPub = &key.PublicKey
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: fmt.Sprintf("%x", KeyID(leafPub)), OrganizationalUnit: []string{"AAA Certification"}, Organization: []string{"Apple Inc."}, Province: []string{"California"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	if !o.LeafNotBefore.IsZero() {
		tmpl.NotBefore = o.LeafNotBefore
	}
	if !o.LeafNotAfter.IsZero() {
		tmpl.NotAfter = o.LeafNotAfter
	}
	if !o.NoNonce {
		tmpl.ExtraExtensions = []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 2, 840, 113635, 100, 8, 2}, Value: ext}}
	}
	leaf, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Intermediate, leafPub, ca.IntermediateKey)
	if err != nil {
		return nil, err
	}
	x5c := [][]byte{leaf, ca.Intermediate.Raw}
	if o.NoIntermediate {
		x5c = x5c[:1]
	}
	receipt := o.Receipt
	if receipt == nil {
		receipt = []byte("test receipt (a PKCS #7 object from Apple in real life)")
	}
	stmt := map[string]any{"x5c": x5c, "receipt": receipt}
	if o.NoReceipt {
		delete(stmt, "receipt")
	}
	if o.NoX5C {
		delete(stmt, "x5c")
	}
	format := o.Fmt
	if format == "" {
		format = "apple-appattest"
	}
	return encMode.Marshal(map[string]any{"fmt": format, "attStmt": stmt, "authData": authData})
}

// NonceExtension is the DER value of 1.2.840.113635.100.8.2 as Apple
// documents it: SEQUENCE { [1] EXPLICIT OCTET STRING }.
func NonceExtension(nonce []byte) []byte {
	b, err := asn1.Marshal(struct {
		Nonce []byte `asn1:"tag:1,explicit"`
	}{nonce})
	if err != nil {
		panic(err)
	}
	return b
}

// AssertionOptions break one property of an assertion each.
type AssertionOptions struct {
	AppID    string
	RPIDHash []byte // replaces SHA-256(AppID)
	Flags    byte
}

// Assertion returns the CBOR assertion generateAssertion would return for
// key with counter over clientDataHash, for AppID.
func Assertion(key *ecdsa.PrivateKey, counter uint32, clientDataHash [32]byte) ([]byte, error) {
	return AssertionWith(key, counter, clientDataHash, AssertionOptions{})
}

// AssertionWith is Assertion with options.
func AssertionWith(key *ecdsa.PrivateKey, counter uint32, clientDataHash [32]byte, o AssertionOptions) ([]byte, error) {
	authData, sig, err := SignAssertion(key, counter, clientDataHash, o)
	if err != nil {
		return nil, err
	}
	return encMode.Marshal(map[string]any{"signature": sig, "authenticatorData": authData})
}

// SignAssertion returns the authenticator data and the DER signature an
// assertion carries: ES256 over nonce = SHA-256(authData ‖ clientDataHash).
func SignAssertion(key *ecdsa.PrivateKey, counter uint32, clientDataHash [32]byte, o AssertionOptions) (authData, sig []byte, err error) {
	appID := o.AppID
	if appID == "" {
		appID = AppID
	}
	rp := sha256.Sum256([]byte(appID))
	rpHash := rp[:]
	if o.RPIDHash != nil {
		rpHash = o.RPIDHash
	}
	authData = append(append([]byte{}, rpHash...), o.Flags)
	authData = binary.BigEndian.AppendUint32(authData, counter)
	nonce := sha256.Sum256(append(append([]byte{}, authData...), clientDataHash[:]...))
	digest := sha256.Sum256(nonce[:]) // ES256 over the nonce
	sig, err = ecdsa.SignASN1(rand.Reader, key, digest[:])
	return authData, sig, err
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		panic(err)
	}
	return n.Add(n, big.NewInt(1))
}

// encMode writes CTAP2 canonical CBOR, the encoding Apple's objects use
// (map keys shortest first: fmt, attStmt, authData).
var encMode = func() cbor.EncMode {
	em, err := cbor.CTAP2EncOptions().EncMode()
	if err != nil {
		panic(err)
	}
	return em
}()

// EncodeCBOR encodes v as CTAP2 canonical CBOR, for tests that build
// objects by hand.
func EncodeCBOR(v any) []byte { return mustMarshal(v) }

func mustMarshal(v any) []byte {
	b, err := encMode.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
