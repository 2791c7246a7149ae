package chipauth

import "crypto/des"

// retailMAC is ISO/IEC 9797-1 MAC algorithm 3 with DES and padding method 2
// (ICAO 9303-11 §9.8.6.1, the 3DES MAC of CA and secure messaging): CBC-MAC
// under K1, the last block decrypted under K2 and encrypted under K1 again.
func retailMAC(key, msg []byte) ([]byte, error) {
	k1, err := des.NewCipher(key[:8])
	if err != nil {
		return nil, err
	}
	k2, err := des.NewCipher(key[8:16])
	if err != nil {
		return nil, err
	}
	padded := append(append([]byte{}, msg...), 0x80)
	for len(padded)%8 != 0 {
		padded = append(padded, 0)
	}
	x := make([]byte, 8)
	for i := 0; i < len(padded); i += 8 {
		for j := 0; j < 8; j++ {
			x[j] ^= padded[i+j]
		}
		k1.Encrypt(x, x)
	}
	k2.Decrypt(x, x)
	k1.Encrypt(x, x)
	return x, nil
}
