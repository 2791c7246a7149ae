package appattest

import (
	"crypto/sha256"
	"crypto/x509"
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
