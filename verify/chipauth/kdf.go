package chipauth

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
)

// Cipher is the symmetric algorithm a CA OID names (TR-03110-3 §A.2.1.1).
type Cipher int

const (
	TripleDES Cipher = iota + 1 // 3DES-CBC with retail MAC
	AES128                      // AES-CBC with CMAC
	AES192
	AES256
)

func (c Cipher) String() string {
	return [...]string{"unknown", "3DES", "AES-128", "AES-192", "AES-256"}[max(0, min(int(c), 4))]
}

// keyLen is the key length in bytes: 3DES is two-key (K1 ‖ K2).
func (c Cipher) keyLen() int {
	return [...]int{0, 16, 16, 24, 32}[max(0, min(int(c), 4))]
}

// KDF counters (TR-03110-3 §A.2.3).
const (
	CounterEnc uint32 = 1
	CounterMAC uint32 = 2
)

// KDF is TR-03110-3 §A.2.3 (ICAO 9303-11 §9.7.1): keydata = H(K ‖ r ‖ c)
// with c a 32-bit big-endian counter, r the nonce (CA version 2; nil for
// version 1), H SHA-1 for 3DES and AES-128 and SHA-256 for AES-192/256,
// and the key the first keyLen bytes. 3DES keys get odd parity (ICAO
// 9303-11 §9.7.1.1).
func KDF(secret, nonce []byte, counter uint32, c Cipher) []byte {
	var ctr [4]byte
	binary.BigEndian.PutUint32(ctr[:], counter)
	var sum []byte
	if c == AES192 || c == AES256 {
		h := sha256.New()
		h.Write(secret)
		h.Write(nonce)
		h.Write(ctr[:])
		sum = h.Sum(nil)
	} else {
		h := sha1.New()
		h.Write(secret)
		h.Write(nonce)
		h.Write(ctr[:])
		sum = h.Sum(nil)
	}
	k := sum[:c.keyLen()]
	if c == TripleDES {
		for i := range k {
			b := k[i] & 0xFE
			p := b ^ b>>4
			p ^= p >> 2
			p ^= p >> 1
			k[i] = b | (^p & 1)
		}
	}
	return k
}
