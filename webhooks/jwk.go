package webhooks

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strings"
)

// The only algorithm and key type upstream accepts for encryption keys.
const (
	KeyAlgorithm = "RSA-OAEP-256"
	KeyType      = "RSA"
	ContentEnc   = "A256GCM"
)

// MinModulusBytes is the least decoded length of n (a 2048-bit modulus; a
// leading zero byte counts, as upstream counts it).
const MinModulusBytes = 256

// Errors of the JWK checks. ErrJWKShape is the schema level (upstream's
// bare zod 400); ErrJWKRejected the semantic one (the BAD_REQUEST
// envelope, "Provide an RSA-OAEP-256 public JWK without private key
// material.").
var (
	ErrJWKShape    = errors.New("webhooks: jwk fails the schema")
	ErrJWKRejected = errors.New("webhooks: jwk is not an RSA-OAEP-256 public key")
)

// ShapeError says which member of the JWK broke the schema.
type ShapeError struct {
	Member string // "" for the object itself
	Reason string
}

func (e *ShapeError) Error() string {
	if e.Member == "" {
		return "webhooks: jwk " + e.Reason
	}
	return "webhooks: jwk." + e.Member + " " + e.Reason
}

func (e *ShapeError) Unwrap() error { return ErrJWKShape }

// RejectError says which check of CheckJWK refused the key.
type RejectError struct{ Reason string }

func (e *RejectError) Error() string { return "webhooks: jwk rejected: " + e.Reason }
func (e *RejectError) Unwrap() error { return ErrJWKRejected }

// CheckJWKShape applies the request schema's rules to a jwk object:
// kty, when present, the literal "RSA"; n 1..8192 characters; e 1..64;
// alg at most 64; use at most 32; key_ops at most 8 strings of at most 64;
// any other member a string of at most 8192, a boolean, a finite number
// or an array of at most 8 strings of at most 64. Lengths are JavaScript
// lengths.
func CheckJWKShape(raw json.RawMessage) error {
	members, err := objectMembers(raw)
	if err != nil {
		return &ShapeError{Reason: "must be an object"}
	}
	for _, m := range []struct {
		name     string
		min, max int
	}{{"n", 1, 8192}, {"e", 1, 64}, {"alg", 0, 64}, {"use", 0, 32}} {
		v, ok := members[m.name]
		if !ok {
			if m.min > 0 {
				return &ShapeError{Member: m.name, Reason: "is required"}
			}
			continue
		}
		s, ok := stringValue(v)
		if !ok {
			return &ShapeError{Member: m.name, Reason: "must be a string"}
		}
		if l := jsLength(s); l < m.min || l > m.max {
			return &ShapeError{Member: m.name, Reason: fmt.Sprintf("must be %d to %d characters", m.min, m.max)}
		}
	}
	if v, ok := members["kty"]; ok {
		if s, ok := stringValue(v); !ok || s != KeyType {
			return &ShapeError{Member: "kty", Reason: `must be "RSA"`}
		}
	}
	if v, ok := members["key_ops"]; ok {
		if !shortStrings(v) {
			return &ShapeError{Member: "key_ops", Reason: "must be at most 8 strings of at most 64 characters"}
		}
	}
	for name, v := range members {
		switch name {
		case "kty", "n", "e", "alg", "use", "key_ops":
			continue
		}
		if !otherMember(v) {
			return &ShapeError{Member: name, Reason: "must be a string of at most 8192 characters, a boolean, a finite number or at most 8 strings of at most 64 characters"}
		}
	}
	return nil
}

func objectMembers(raw json.RawMessage) (map[string]json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return nil, errors.New("not an object")
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	return m, nil
}

func stringValue(v json.RawMessage) (string, bool) {
	v = bytes.TrimSpace(v)
	if len(v) == 0 || v[0] != '"' {
		return "", false
	}
	var s string
	if json.Unmarshal(v, &s) != nil {
		return "", false
	}
	return s, true
}

func stringArray(v json.RawMessage) ([]string, bool) {
	v = bytes.TrimSpace(v)
	if len(v) == 0 || v[0] != '[' {
		return nil, false
	}
	var items []json.RawMessage
	if json.Unmarshal(v, &items) != nil {
		return nil, false
	}
	out := make([]string, len(items))
	for i, it := range items {
		s, ok := stringValue(it)
		if !ok {
			return nil, false
		}
		out[i] = s
	}
	return out, true
}

func shortStrings(v json.RawMessage) bool {
	items, ok := stringArray(v)
	if !ok || len(items) > 8 {
		return false
	}
	for _, s := range items {
		if jsLength(s) > 64 {
			return false
		}
	}
	return true
}

func otherMember(v json.RawMessage) bool {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return false
	}
	switch v[0] {
	case '"':
		s, ok := stringValue(v)
		return ok && jsLength(s) <= 8192
	case 't', 'f':
		var b bool
		return json.Unmarshal(v, &b) == nil
	case '[':
		return shortStrings(v)
	case '{', 'n':
		return false
	}
	// A number: JSON has no Infinity or NaN, but a literal too large for a
	// double is Infinity to JavaScript, which z.number() refuses.
	var f float64
	if err := json.Unmarshal(v, &f); err != nil {
		return false
	}
	return !math.IsInf(f, 0) && !math.IsNaN(f)
}

// JWK is an accepted public key: the modulus and exponent as sent.
type JWK struct {
	N, E string
}

// privateMembers are the members a public key must not carry.
var privateMembers = []string{"d", "dp", "dq", "oth", "p", "q", "qi"}

// forbiddenOps are key_ops a key for encrypting payloads must not allow.
var forbiddenOps = []string{"decrypt", "deriveBits", "deriveKey", "sign", "unwrapKey"}

// CheckJWK applies upstream's key checks to a jwk that passed
// CheckJWKShape, in its order: kty RSA; n and e non-blank strings; n
// decodes to at least 256 bytes; alg, if a string, RSA-OAEP-256; use, if a
// string, enc; no private members; key_ops, if present, an array with
// encrypt and none of decrypt, deriveBits, deriveKey, sign, unwrapKey.
// Then, where upstream had WebCrypto import the key: n must be an odd
// positive modulus and e an odd integer of at least 3 that Go's rsa
// accepts. Every refusal wraps ErrJWKRejected (and the shape's own
// ErrJWKShape when raw is not even an object).
func CheckJWK(raw json.RawMessage) (JWK, error) {
	members, err := objectMembers(raw)
	if err != nil {
		return JWK{}, &ShapeError{Reason: "must be an object"}
	}
	reject := func(reason string) (JWK, error) { return JWK{}, &RejectError{Reason: reason} }
	if s, ok := stringValue(members["kty"]); !ok || s != KeyType {
		return reject(`kty must be "RSA"`)
	}
	n, okN := stringValue(members["n"])
	e, okE := stringValue(members["e"])
	if !okN || !okE || strings.TrimSpace(n) == "" || strings.TrimSpace(e) == "" {
		return reject("n and e must be non-blank strings")
	}
	nb, err := decodeB64(n)
	if err != nil || len(nb) < MinModulusBytes {
		return reject("n must be a modulus of at least 2048 bits")
	}
	if s, ok := stringValue(members["alg"]); ok && s != KeyAlgorithm {
		return reject("alg must be RSA-OAEP-256")
	}
	if s, ok := stringValue(members["use"]); ok && s != "enc" {
		return reject(`use must be "enc"`)
	}
	for _, p := range privateMembers {
		if _, ok := members[p]; ok {
			return reject("private key member " + p + " present")
		}
	}
	if v, ok := members["key_ops"]; ok {
		ops, ok := stringArray(v)
		if !ok {
			return reject("key_ops must be an array of strings")
		}
		hasEncrypt := false
		for _, op := range ops {
			if op == "encrypt" {
				hasEncrypt = true
			}
			for _, f := range forbiddenOps {
				if op == f {
					return reject("key_ops must not contain " + f)
				}
			}
		}
		if !hasEncrypt {
			return reject("key_ops must contain encrypt")
		}
	}
	k := JWK{N: n, E: e}
	pub, err := k.PublicKey()
	if err != nil {
		return reject(err.Error())
	}
	// What upstream's WebCrypto import proved: the key really wraps a CEK
	// (crypto/rsa has its own size and exponent rules).
	if _, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, pub, make([]byte, 32), nil); err != nil {
		return reject("unusable for RSA-OAEP-256: " + err.Error())
	}
	return k, nil
}

// decodeB64 reads base64url, also accepting the standard alphabet and
// padding, as upstream's decoder does.
func decodeB64(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	s = strings.NewReplacer("+", "-", "/", "_").Replace(s)
	return base64.RawURLEncoding.DecodeString(s)
}

// Normalized is the JWK as stored and as the API shows it:
// {"alg":"RSA-OAEP-256","e":…,"key_ops":["encrypt"],"kty":"RSA","n":…}.
func (k JWK) Normalized() json.RawMessage {
	b, err := marshalJS(struct {
		Alg    string   `json:"alg"`
		E      string   `json:"e"`
		KeyOps []string `json:"key_ops"`
		Kty    string   `json:"kty"`
		N      string   `json:"n"`
	}{KeyAlgorithm, k.E, []string{"encrypt"}, KeyType, k.N})
	if err != nil {
		panic(err) // strings always marshal
	}
	return b
}

// ParseJWK reads a stored normalised JWK back (the delivery side); it
// checks nothing but that n and e are strings.
func ParseJWK(raw json.RawMessage) (JWK, error) {
	var v struct{ N, E *string }
	if err := json.Unmarshal(raw, &v); err != nil || v.N == nil || v.E == nil {
		return JWK{}, &RejectError{Reason: "stored jwk lacks n or e"}
	}
	return JWK{N: *v.N, E: *v.E}, nil
}

// PublicKey is the key as crypto/rsa uses it.
func (k JWK) PublicKey() (*rsa.PublicKey, error) {
	nb, err := decodeB64(k.N)
	if err != nil {
		return nil, errors.New("n is not base64url")
	}
	eb, err := decodeB64(k.E)
	if err != nil {
		return nil, errors.New("e is not base64url")
	}
	n := new(big.Int).SetBytes(nb)
	if n.Sign() <= 0 || n.Bit(0) == 0 {
		return nil, errors.New("n must be an odd positive modulus")
	}
	e := new(big.Int).SetBytes(eb)
	if !e.IsInt64() || e.Int64() > math.MaxInt32 || e.Int64() < 3 || e.Bit(0) == 0 {
		return nil, errors.New("e must be an odd integer from 3 to 2^31-1")
	}
	if e.Cmp(n) >= 0 {
		return nil, errors.New("e must be smaller than n")
	}
	return &rsa.PublicKey{N: n, E: int(e.Int64())}, nil
}
