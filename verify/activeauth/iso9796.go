package activeauth

import (
	"crypto"
	"crypto/rsa"
	_ "crypto/sha1" // registered for crypto.Hash.New
	_ "crypto/sha256"
	_ "crypto/sha512"
	"crypto/subtle"
	"fmt"
	"math/big"
)

// ISO/IEC 9796-2 §8 trailer field: one byte BC ("implicit": the hash is
// agreed beforehand, SHA-1 for ICAO 9303-11 §6.1) or two bytes
// <hash identifier> CC ("explicit").
const (
	trailerImplicit = 0xBC
	trailerExplicit = 0xCC
)

// hashIdentifiers are the hash-function identifiers of ISO/IEC 10118-3
// (the values BouncyCastle's ISOTrailers uses). The reference maps 0x33 to
// SHA-256, 0x34 to SHA-384, 0x35 to SHA-512 and 0x38 to SHA-224: one off,
// and SHA-384/512 swapped; these are the standard's. RIPEMD-128/160 (0x32,
// 0x31) and Whirlpool (0x37) are not in Go's standard library and are
// refused.
var hashIdentifiers = map[byte]crypto.Hash{
	0x33: crypto.SHA1,
	0x34: crypto.SHA256,
	0x35: crypto.SHA512,
	0x36: crypto.SHA384,
	0x38: crypto.SHA224,
	0x39: crypto.SHA512_224,
	0x3A: crypto.SHA512_256,
}

// HashIdentifier returns the ISO/IEC 10118-3 identifier of h (for tests
// and tools that build explicit trailers).
func HashIdentifier(h crypto.Hash) (byte, bool) {
	for id, hh := range hashIdentifiers {
		if hh == h {
			return id, true
		}
	}
	return 0, false
}

// maxModulusBits bounds the work one signature can cost (s^e mod n).
const maxModulusBits = 8192

// VerifyRSA checks an ISO/IEC 9796-2 scheme 1 signature with partial
// message recovery (ICAO 9303-11 §6.1.2.2): the chip signs M = M1 ‖ M2,
// M1 its own nonce recovered from the signature, M2 the challenge.
//
// Steps (ISO/IEC 9796-2 §9.2 / 9303-11 §6.1): the signature is as long as
// the modulus and less than it; J = s^e mod n; when J is not ≡ 12 (mod 16)
// the signer may have sent n − J (the standard's choice of the smaller
// signature for RSA), so J = n − J; J's first byte is 6A (header 01,
// partial recovery 1, no padding); the trailer is BC (SHA-1) or
// <hash id> CC; the hash H is the trailer's predecessor; M1 is between
// the header and H; pass when Hash(M1 ‖ challenge) = H.
func VerifyRSA(pub *rsa.PublicKey, challenge, sig []byte) error {
	if pub == nil || pub.N == nil || pub.N.BitLen() > maxModulusBits || pub.E < 3 || pub.E%2 == 0 {
		return ErrSignature
	}
	k := (pub.N.BitLen() + 7) / 8
	if len(sig) != k {
		return ErrSignature
	}
	s := new(big.Int).SetBytes(sig)
	if s.Sign() == 0 || s.Cmp(pub.N) >= 0 {
		return ErrSignature
	}
	j := new(big.Int).Exp(s, big.NewInt(int64(pub.E)), pub.N)
	if new(big.Int).And(j, big.NewInt(15)).Int64() != 12 {
		j.Sub(pub.N, j)
	}
	f := j.FillBytes(make([]byte, k))
	hash, tlen, err := trailer(f)
	if err != nil {
		return err
	}
	hl := hash.Size()
	if f[0] != 0x6A || k < 1+hl+tlen+1 {
		return ErrSignature
	}
	m1 := f[1 : k-tlen-hl]
	h := f[k-tlen-hl : k-tlen]
	d := hash.New()
	d.Write(m1)
	d.Write(challenge)
	if subtle.ConstantTimeCompare(d.Sum(nil), h) != 1 {
		return ErrSignature
	}
	return nil
}

func trailer(f []byte) (crypto.Hash, int, error) {
	switch last := f[len(f)-1]; last {
	case trailerImplicit:
		return crypto.SHA1, 1, nil
	case trailerExplicit:
		h, ok := hashIdentifiers[f[len(f)-2]]
		if !ok {
			return 0, 0, fmt.Errorf("%w: ISO/IEC 10118-3 identifier %#x", ErrUnsupportedHash, f[len(f)-2])
		}
		return h, 2, nil
	}
	return 0, 0, ErrSignature
}
