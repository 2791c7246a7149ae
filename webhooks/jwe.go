package webhooks

import (
	"fmt"

	jose "github.com/go-jose/go-jose/v4"
)

// Encrypt is the compact JWE of a payload for the endpoint's key:
// RSA-OAEP-256 (SHA-256, MGF1-SHA-256, empty label) wrapping a fresh
// 256-bit CEK, A256GCM with a 96-bit random IV and the first part as
// additional data. The protected header is exactly
// {"alg":"RSA-OAEP-256","enc":"A256GCM","kid":<kid>}, upstream's bytes.
func Encrypt(plaintext []byte, key JWK, kid string) (string, error) {
	pub, err := key.PublicKey()
	if err != nil {
		return "", fmt.Errorf("webhooks: encryption key: %w", err)
	}
	enc, err := jose.NewEncrypter(jose.A256GCM, jose.Recipient{Algorithm: jose.RSA_OAEP_256, Key: pub, KeyID: kid}, nil)
	if err != nil {
		return "", fmt.Errorf("webhooks: jwe: %w", err)
	}
	obj, err := enc.Encrypt(plaintext)
	if err != nil {
		return "", fmt.Errorf("webhooks: jwe: %w", err)
	}
	return obj.CompactSerialize()
}
