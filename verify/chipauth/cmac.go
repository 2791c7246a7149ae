package chipauth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
)

// CMAC is AES-CMAC (NIST SP 800-38B; RFC 4493 §2.4), for AES-128/192/256
// keys. Go's standard library has no CMAC and no maintained module in the
// module was found for it (the Go module list searched has none), so it is implemented here (RFC 4493's four
// vectors and OpenSSL's `mac CMAC` agree in the tests).
func CMAC(key, msg []byte) ([]byte, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cmac(b, msg), nil
}

func cmac(b cipher.Block, msg []byte) []byte {
	const bs = aes.BlockSize
	// RFC 4493 §2.3: L = AES-K(0); K1 = L·x, K2 = K1·x in GF(2^128).
	l := make([]byte, bs)
	b.Encrypt(l, l)
	k1 := dbl(l)
	k2 := dbl(k1)
	n := (len(msg) + bs - 1) / bs
	last := make([]byte, bs)
	if n == 0 || len(msg)%bs != 0 {
		if n == 0 {
			n = 1
		}
		rest := msg[(n-1)*bs:]
		copy(last, rest)
		last[len(rest)] = 0x80
		subtle.XORBytes(last, last, k2)
	} else {
		subtle.XORBytes(last, msg[(n-1)*bs:], k1)
	}
	x := make([]byte, bs)
	for i := 0; i < n-1; i++ {
		subtle.XORBytes(x, x, msg[i*bs:(i+1)*bs])
		b.Encrypt(x, x)
	}
	subtle.XORBytes(x, x, last)
	b.Encrypt(x, x)
	return x
}

// dbl multiplies by x in GF(2^128) with R = 0x87 (RFC 4493 §2.3).
func dbl(in []byte) []byte {
	out := make([]byte, len(in))
	var carry byte
	for i := len(in) - 1; i >= 0; i-- {
		out[i] = in[i]<<1 | carry
		carry = in[i] >> 7
	}
	out[len(out)-1] ^= 0x87 & -carry
	return out
}
