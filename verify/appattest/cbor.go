package appattest

import (
	"github.com/fxamacker/cbor/v2"
)

// Size caps, checked before decoding. Apple's attestation object is a few
// KiB (two certificates and a receipt); an assertion is under 200 bytes.
const (
	MaxAttestationSize = 64 << 10
	MaxAssertionSize   = 4 << 10
	// maxChain bounds x5c: Apple sends the leaf and one intermediate.
	maxChain = 4
)

// decMode is the only CBOR decoder the package uses. The attestation object
// nests three deep (map → attStmt map → x5c array); the library's minimums
// (4 levels, 16 elements, 16 pairs) are far above what Apple sends and far
// below what could cost anything. Duplicate keys, unknown fields, tags and
// indefinite lengths are refused: none occurs in Apple's objects, and each
// is a way for two parsers to disagree about the same bytes.
var decMode = mustDecMode(cbor.DecOptions{
	DupMapKey:         cbor.DupMapKeyEnforcedAPF,
	MaxNestedLevels:   4,
	MaxArrayElements:  16,
	MaxMapPairs:       16,
	IndefLength:       cbor.IndefLengthForbidden,
	TagsMd:            cbor.TagsForbidden,
	ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
	FieldNameMatching: cbor.FieldNameMatchingCaseSensitive,
	UTF8:              cbor.UTF8RejectInvalid,
})

func mustDecMode(o cbor.DecOptions) cbor.DecMode {
	dm, err := o.DecMode()
	if err != nil {
		panic(err)
	}
	return dm
}

// attestationObject is Apple's attestation object (WebAuthn §6.5).
type attestationObject struct {
	Fmt      string          `cbor:"fmt"`
	AttStmt  attestationStmt `cbor:"attStmt"`
	AuthData []byte          `cbor:"authData"`
}

type attestationStmt struct {
	X5C     [][]byte `cbor:"x5c"`
	Receipt []byte   `cbor:"receipt"`
}

// assertionObject is what generateAssertion returns.
type assertionObject struct {
	Signature         []byte `cbor:"signature"`
	AuthenticatorData []byte `cbor:"authenticatorData"`
}

// coseKey is an EC2 COSE_Key (RFC 9053 §7.1.1, RFC 9052 §7).
type coseKey struct {
	Kty int64  `cbor:"1,keyasint"`
	Alg int64  `cbor:"3,keyasint"`
	Crv int64  `cbor:"-1,keyasint"`
	X   []byte `cbor:"-2,keyasint"`
	Y   []byte `cbor:"-3,keyasint"`
}

const (
	coseKtyEC2   = 2
	coseAlgES256 = -7
	coseCrvP256  = 1
)
