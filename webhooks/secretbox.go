package webhooks

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
)

// A SecretBox encrypts endpoint signing secrets at rest. Upstream keeps
// them as AES-256-GCM under SHA-256(AUTH_SECRET), the secret that also
// signs sessions, with no version; here the key is a dedicated data key,
// and each ciphertext names the key that sealed it, so the key can rotate:
//
//	v1.<key id>.<b64url iv>.<b64url ciphertext||tag>
//
// The AES key is HKDF-SHA256 of the configured key material; the key id
// is the first 8 hex digits of SHA-256 over a label and the derived key
// (naming the key without revealing it). "v1.<key id>" is the GCM
// additional data, so a ciphertext cannot be relabelled to another
// version or key.
type SecretBox struct {
	current  *boxKey
	keys     map[string]*boxKey
	upstream cipher.AEAD // nil unless AcceptUpstream
	rand     io.Reader   // crypto/rand; tests fix the IV
}

type boxKey struct {
	id   string
	aead cipher.AEAD
}

const (
	secretBoxVersion = "v1"
	secretBoxInfo    = "kayle-id webhook signing secret v1"
	secretBoxIDLabel = "kayle-id webhook signing secret key id v1"
	// MinSecretBoxKey is the least key material NewSecretBox accepts.
	MinSecretBoxKey = 32
)

// Errors of SecretBox.
var (
	ErrSecretBoxKey     = errors.New("webhooks: secret box key material must be at least 32 bytes")
	ErrSecretUnknownKey = errors.New("webhooks: signing secret sealed under an unknown key")
	ErrSecretCorrupt    = errors.New("webhooks: signing secret ciphertext malformed or not authentic")
)

// NewSecretBox seals under current and opens what current or any of
// previous sealed (previous keys are kept during a rotation until every
// row is rewritten).
func NewSecretBox(current []byte, previous ...[]byte) (*SecretBox, error) {
	b := &SecretBox{keys: map[string]*boxKey{}, rand: rand.Reader}
	for i, material := range append([][]byte{current}, previous...) {
		k, err := deriveBoxKey(material)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			b.current = k
		}
		if _, dup := b.keys[k.id]; !dup {
			b.keys[k.id] = k
		}
	}
	return b, nil
}

func deriveBoxKey(material []byte) (*boxKey, error) {
	if len(material) < MinSecretBoxKey {
		return nil, ErrSecretBoxKey
	}
	key, err := hkdf.Key(sha256.New, material, nil, secretBoxInfo, 32)
	if err != nil {
		return nil, err
	}
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(append([]byte(secretBoxIDLabel), key...))
	return &boxKey{id: hex.EncodeToString(sum[:4]), aead: aead}, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// KeyID is the id of the current key, as it appears in new ciphertexts.
func (b *SecretBox) KeyID() string { return b.current.id }

// AcceptUpstream makes Open also read upstream's "b64url(iv).b64url(ct||tag)"
// form, AES-256-GCM under SHA-256(authSecret) with no additional data, so
// a database migrated from upstream keeps its secrets. Such values open as
// stale, for the re-encryption command to rewrite.
func (b *SecretBox) AcceptUpstream(authSecret string) {
	sum := sha256.Sum256([]byte(authSecret))
	aead, err := newGCM(sum[:])
	if err != nil {
		panic(err) // a 32-byte key always makes an AES-GCM
	}
	b.upstream = aead
}

var b64 = base64.RawURLEncoding

// Seal encrypts plain under the current key with a fresh 96-bit IV.
func (b *SecretBox) Seal(plain string) (string, error) {
	k := b.current
	iv := make([]byte, k.aead.NonceSize())
	if _, err := io.ReadFull(b.rand, iv); err != nil {
		return "", fmt.Errorf("webhooks: randomness: %w", err)
	}
	aad := secretBoxVersion + "." + k.id
	ct := k.aead.Seal(nil, iv, []byte(plain), []byte(aad))
	return aad + "." + b64.EncodeToString(iv) + "." + b64.EncodeToString(ct), nil
}

// Open decrypts a stored ciphertext. stale is true when it was not sealed
// by the current key (a previous key, or upstream's form), so the caller
// knows the row wants rewriting with Seal.
func (b *SecretBox) Open(ct string) (plain string, stale bool, err error) {
	parts := strings.Split(ct, ".")
	switch {
	case len(parts) == 4 && parts[0] == secretBoxVersion:
		k, ok := b.keys[parts[1]]
		if !ok {
			return "", false, ErrSecretUnknownKey
		}
		p, err := openGCM(k.aead, parts[2], parts[3], []byte(parts[0]+"."+parts[1]))
		if err != nil {
			return "", false, err
		}
		return p, k != b.current, nil
	case len(parts) == 2 && b.upstream != nil:
		p, err := openGCM(b.upstream, parts[0], parts[1], nil)
		if err != nil {
			return "", false, err
		}
		return p, true, nil
	case len(parts) == 2:
		return "", false, ErrSecretUnknownKey
	}
	return "", false, ErrSecretCorrupt
}

func openGCM(aead cipher.AEAD, ivText, ctText string, aad []byte) (string, error) {
	iv, err := b64.DecodeString(ivText)
	if err != nil || len(iv) != aead.NonceSize() {
		return "", ErrSecretCorrupt
	}
	ct, err := b64.DecodeString(ctText)
	if err != nil {
		return "", ErrSecretCorrupt
	}
	p, err := aead.Open(nil, iv, ct, aad)
	if err != nil {
		return "", ErrSecretCorrupt
	}
	return string(p), nil
}
