package chipauth_test

import (
	"bytes"
	"crypto/cipher"
	"crypto/des"
	"crypto/dsa" //nolint:staticcheck // only to make a DH group with a known subgroup order
	"crypto/ecdh"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kayle-id/orgs-api/internal/testtool"
	"github.com/kayle-id/orgs-api/verify/chipauth"
	"github.com/kayle-id/orgs-api/verify/ecc"
)

func unhex(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

// RFC 4493 §4: the four AES-CMAC examples.
func TestCMACRFC4493(t *testing.T) {
	key := unhex("2b7e1516 28aed2a6 abf71588 09cf4f3c")
	msg := unhex("6bc1bee2 2e409f96 e93d7e11 7393172a ae2d8a57 1e03ac9c 9eb76fac 45af8e51" +
		"30c81c46 a35ce411 e5fbc119 1a0a52ef f69f2445 df4f9b17 ad2b417b e66c3710")
	for _, v := range []struct {
		n    int
		want string
	}{
		{0, "bb1d6929 e9593728 7fa37d12 9b756746"},
		{16, "070a16b4 6b4d4144 f79bdd9d d04a287c"},
		{40, "dfa66747 de9ae630 30ca3261 1497c827"},
		{64, "51f0bebf 7e3b9d92 fc497417 79363cfe"},
	} {
		got, err := chipauth.CMAC(key, msg[:v.n])
		if err != nil || !bytes.Equal(got, unhex(v.want)) {
			t.Errorf("len %d: %x, want %s (%v)", v.n, got, v.want, err)
		}
	}
}

var requireTool = testtool.Require

// OpenSSL's CMAC agrees for AES-128/192/256 and lengths around the block
// boundaries.
func TestCMACAgreesWithOpenSSL(t *testing.T) {
	openssl := requireTool(t, "openssl")
	dir := t.TempDir()
	for _, kl := range []int{16, 24, 32} {
		for _, n := range []int{0, 1, 15, 16, 17, 31, 32, 33, 100} {
			key, msg := rnd(kl), rnd(n)
			f := filepath.Join(dir, "m")
			if err := os.WriteFile(f, msg, 0o600); err != nil {
				t.Fatal(err)
			}
			cipherName := map[int]string{16: "AES-128-CBC", 24: "AES-192-CBC", 32: "AES-256-CBC"}[kl]
			out, err := exec.Command(openssl, "mac", "-cipher", cipherName, "-macopt", "hexkey:"+hex.EncodeToString(key), "-in", f, "CMAC").Output()
			if err != nil {
				t.Fatal(err)
			}
			got, _ := chipauth.CMAC(key, msg)
			if !strings.EqualFold(strings.TrimSpace(string(out)), hex.EncodeToString(got)) {
				t.Fatalf("AES-%d len %d: %x, openssl %s", kl*8, n, got, out)
			}
		}
	}
}

func rnd(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return b
}

// The retail MAC equals its textbook composition with the standard
// library's CBC and 3DES: CBC-MAC under K1 to the last block, then
// 3DES-EDE(K1, K2, K1) of the last block.
func TestRetailMACComposition(t *testing.T) {
	for _, n := range []int{0, 7, 8, 9, 24, 61} {
		k, msg := rnd(16), rnd(n)
		padded := append(append([]byte{}, msg...), 0x80)
		for len(padded)%8 != 0 {
			padded = append(padded, 0)
		}
		d1, _ := des.NewCipher(k[:8])
		iv := make([]byte, 8)
		if len(padded) > 8 {
			head := make([]byte, len(padded)-8)
			cipher.NewCBCEncrypter(d1, iv).CryptBlocks(head, padded[:len(padded)-8])
			iv = head[len(head)-8:]
		}
		last := make([]byte, 8)
		for i := range last {
			last[i] = padded[len(padded)-8+i] ^ iv[i]
		}
		tdes, _ := des.NewTripleDESCipher(append(append([]byte{}, k...), k[:8]...))
		tdes.Encrypt(last, last)
		got, err := chipauth.Token(chipauth.TripleDES, k, msg)
		if err != nil || !bytes.Equal(got, last) {
			t.Fatalf("len %d: %x, want %x", n, got, last)
		}
	}
}

func TestKDF(t *testing.T) {
	k, r := rnd(32), rnd(8)
	ctr := []byte{0, 0, 0, 2}
	s1 := sha1.Sum(append(append(append([]byte{}, k...), r...), ctr...))
	s256 := sha256.Sum256(append(append(append([]byte{}, k...), r...), ctr...))
	if got := chipauth.KDF(k, r, chipauth.CounterMAC, chipauth.AES128); !bytes.Equal(got, s1[:16]) {
		t.Fatal("AES-128 KDF")
	}
	if got := chipauth.KDF(k, r, chipauth.CounterMAC, chipauth.AES192); !bytes.Equal(got, s256[:24]) {
		t.Fatal("AES-192 KDF")
	}
	if got := chipauth.KDF(k, r, chipauth.CounterMAC, chipauth.AES256); !bytes.Equal(got, s256[:]) {
		t.Fatal("AES-256 KDF")
	}
	des3 := chipauth.KDF(k, nil, chipauth.CounterEnc, chipauth.TripleDES)
	s1v1 := sha1.Sum(append(append([]byte{}, k...), 0, 0, 0, 1))
	for i, b := range des3 {
		if b&0xFE != s1v1[i]&0xFE {
			t.Fatal("3DES KDF differs beyond parity bits")
		}
		ones := 0
		for x := b; x != 0; x &= x - 1 {
			ones++
		}
		if ones%2 != 1 {
			t.Fatalf("byte %d has even parity", i)
		}
	}
}

var (
	oidCAECDHAES128 = asn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 2, 2, 3, 2, 2}
	oidCAECDHAES256 = asn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 2, 2, 3, 2, 4}
	oidCAECDH3DES   = asn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 2, 2, 3, 2, 1}
	oidCADHAES128   = asn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 2, 2, 3, 1, 2}
)

// chipToken is the chip's side, computed here without the package's key
// agreement: K from crypto/ecdh (or big.Int for DH), then the KDF and MAC.
func chipToken(t *testing.T, oid, tokenOID asn1.ObjectIdentifier, c chipauth.Cipher, dh bool, k, nonce, pk []byte) []byte {
	t.Helper()
	oidDER, _ := asn1.Marshal(tokenOID)
	tag := byte(0x86)
	if dh {
		tag = 0x84
	}
	inner := append(oidDER, tag)
	inner = appendLen(inner, len(pk))
	inner = append(inner, pk...)
	input := appendLen([]byte{0x7F, 0x49}, len(inner))
	input = append(input, inner...)
	tok, err := chipauth.Token(c, chipauth.KDF(k, nonce, chipauth.CounterMAC, c), input)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func appendLen(b []byte, n int) []byte {
	switch {
	case n < 0x80:
		return append(b, byte(n))
	case n < 0x100:
		return append(b, 0x81, byte(n))
	}
	return append(b, 0x82, byte(n>>8), byte(n))
}

type ecCase struct {
	name string
	oid  asn1.ObjectIdentifier
	c    chipauth.Cipher
	std  ecdh.Curve
	ecc  *ecc.Curve
}

func TestVerifyECDH(t *testing.T) {
	for _, tc := range []ecCase{
		{"P-256/AES-128", oidCAECDHAES128, chipauth.AES128, ecdh.P256(), ecc.P256},
		{"P-384/AES-256", oidCAECDHAES256, chipauth.AES256, ecdh.P384(), ecc.P384},
		{"P-521/3DES", oidCAECDH3DES, chipauth.TripleDES, ecdh.P521(), ecc.P521},
		{"brainpoolP256r1/AES-128", oidCAECDHAES128, chipauth.AES128, nil, ecc.BrainpoolP256r1},
		{"brainpoolP384r1/AES-256", oidCAECDHAES256, chipauth.AES256, nil, ecc.BrainpoolP384r1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var chipPub, termPub, termPriv, k []byte
			if tc.std != nil {
				chip, _ := tc.std.GenerateKey(rand.Reader)
				term, _ := tc.std.GenerateKey(rand.Reader)
				k, _ = term.ECDH(chip.PublicKey())
				chipPub, termPub, termPriv = chip.PublicKey().Bytes(), term.PublicKey().Bytes(), term.Bytes()
			} else {
				// RFC 7027-checked arithmetic stands in for crypto/ecdh here.
				chip, _ := ecc.GenerateKey(tc.ecc, rand.Reader)
				term, _ := ecc.GenerateKey(tc.ecc, rand.Reader)
				k, _ = ecc.ECDH(term, &chip.PublicKey)
				chipPub, termPub = chip.PublicKey.Bytes(), term.PublicKey.Bytes()
				termPriv = term.D.FillBytes(make([]byte, tc.ecc.OrderLen()))
			}
			cp, err := ecc.ParsePoint(tc.ecc, chipPub)
			if err != nil {
				t.Fatal(err)
			}
			nonce := rnd(8)
			tr := &chipauth.Transcript{OID: tc.oid, TerminalPrivate: termPriv, TerminalPublic: termPub, Nonce: nonce,
				Token: chipToken(t, tc.oid, tc.oid, tc.c, false, k, nonce, termPub)}
			raw, err := tr.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			parsed, err := chipauth.ParseTranscript(raw)
			if err != nil {
				t.Fatal(err)
			}
			infos := []chipauth.Info{{OID: tc.oid, Version: 2}}
			keys := []chipauth.PublicKey{{EC: cp}}
			if chipauth.RequirementOf(infos) != chipauth.Required {
				t.Fatal("v2 info not required")
			}
			_, key, err := chipauth.Select(infos, keys, parsed)
			if err != nil {
				t.Fatal(err)
			}
			if err := chipauth.Verify(parsed, key, chipauth.Options{}); err != nil {
				t.Fatalf("valid transcript refused: %v", err)
			}
			if err := chipauth.Verify(parsed, key, chipauth.Options{ReferenceTokenOID: true}); !errors.Is(err, chipauth.ErrTokenMismatch) {
				t.Fatalf("standard token accepted under the reference's OID: %v", err)
			}
			// The reference's layout: id-PK-ECDH in the token.
			ref := *parsed
			ref.Token = chipToken(t, tc.oid, chipauth.OIDPKECDH, tc.c, false, k, nonce, termPub)
			if chipauth.Verify(&ref, key, chipauth.Options{ReferenceTokenOID: true}) != nil || chipauth.Verify(&ref, key, chipauth.Options{}) == nil {
				t.Fatal("ReferenceTokenOID does not switch the token OID")
			}
			for name, mutate := range map[string]func(tr *chipauth.Transcript){
				"token": func(tr *chipauth.Transcript) { tr.Token = flip(tr.Token) },
				"nonce": func(tr *chipauth.Transcript) { tr.Nonce = flip(tr.Nonce) },
				"sk":    func(tr *chipauth.Transcript) { tr.TerminalPrivate = flip(tr.TerminalPrivate) },
				"pk":    func(tr *chipauth.Transcript) { tr.TerminalPublic = flip(tr.TerminalPublic) },
				"short": func(tr *chipauth.Transcript) { tr.Token = tr.Token[:7] },
				"other cipher": func(tr *chipauth.Transcript) {
					o := append(asn1.ObjectIdentifier{}, tr.OID...)
					o[len(o)-1] = o[len(o)-1]%4 + 1
					tr.OID = o
				},
			} {
				bad := *parsed
				mutate(&bad)
				if chipauth.Verify(&bad, key, chipauth.Options{}) == nil {
					t.Errorf("%s changed, still accepted", name)
				}
			}
		})
	}
}

func flip(b []byte) []byte {
	c := bytes.Clone(b)
	c[len(c)-1] ^= 1
	return c
}

func TestVerifyDH(t *testing.T) {
	var params dsa.Parameters
	if err := dsa.GenerateParameters(&params, rand.Reader, dsa.L1024N160); err != nil {
		t.Fatal(err)
	}
	p, g, q := params.P, params.G, params.Q
	keypair := func() (*big.Int, *big.Int) {
		x, _ := rand.Int(rand.Reader, new(big.Int).Sub(q, big.NewInt(2)))
		x.Add(x, big.NewInt(1))
		return x, new(big.Int).Exp(g, x, p)
	}
	cx, cy := keypair()
	tx, ty := keypair()
	l := (p.BitLen() + 7) / 8
	k := new(big.Int).Exp(ty, cx, p).FillBytes(make([]byte, l)) // the chip's side
	termPub := ty.Bytes()
	nonce := rnd(8)
	tr := &chipauth.Transcript{OID: oidCADHAES128, KeyID: []byte{7}, TerminalPrivate: tx.Bytes(), TerminalPublic: termPub,
		Nonce: nonce, Token: chipToken(t, oidCADHAES128, oidCADHAES128, chipauth.AES128, true, k, nonce, termPub)}
	chip := chipauth.PublicKey{KeyID: big.NewInt(7), DH: &chipauth.DHPublicKey{P: p, G: g, Q: q, Y: cy}}
	infos := []chipauth.Info{{OID: oidCADHAES128, Version: 2, KeyID: big.NewInt(7)}, {OID: oidCADHAES128, Version: 2, KeyID: big.NewInt(8)}}
	other := chipauth.PublicKey{KeyID: big.NewInt(8), DH: &chipauth.DHPublicKey{P: p, G: g, Q: q, Y: ty}}
	_, key, err := chipauth.Select(infos, []chipauth.PublicKey{other, chip}, tr)
	if err != nil || key.KeyID.Int64() != 7 {
		t.Fatalf("select: %v", err)
	}
	if err := chipauth.Verify(tr, key, chipauth.Options{}); err != nil {
		t.Fatalf("DH transcript refused: %v", err)
	}
	bad := *tr
	bad.Token = flip(tr.Token)
	if chipauth.Verify(&bad, key, chipauth.Options{}) == nil {
		t.Fatal("tampered DH token accepted")
	}
	// A chip key outside the order-q subgroup is refused.
	outside := chipauth.PublicKey{DH: &chipauth.DHPublicKey{P: p, G: g, Q: q, Y: new(big.Int).Sub(p, big.NewInt(2))}}
	if chipauth.Verify(tr, outside, chipauth.Options{}) == nil {
		t.Fatal("key outside the subgroup accepted")
	}
}

func TestSelectKeyIDRules(t *testing.T) {
	pk := func(id int64) chipauth.PublicKey {
		k, _ := ecc.GenerateKey(ecc.P256, rand.Reader)
		var kid *big.Int
		if id >= 0 {
			kid = big.NewInt(id)
		}
		return chipauth.PublicKey{KeyID: kid, EC: &k.PublicKey}
	}
	info := func(id int64) chipauth.Info {
		i := chipauth.Info{OID: oidCAECDHAES128, Version: 2}
		if id >= 0 {
			i.KeyID = big.NewInt(id)
		}
		return i
	}
	tr := func(kid []byte) *chipauth.Transcript { return &chipauth.Transcript{OID: oidCAECDHAES128, KeyID: kid} }
	cases := []struct {
		name    string
		infos   []chipauth.Info
		keys    []chipauth.PublicKey
		tr      *chipauth.Transcript
		wantKey int64 // −1: none; −2: error
		err     error
	}{
		{"by key id", []chipauth.Info{info(1), info(2)}, []chipauth.PublicKey{pk(1), pk(2)}, tr([]byte{2}), 2, nil},
		{"key id 0x0102", []chipauth.Info{info(258)}, []chipauth.PublicKey{pk(258)}, tr([]byte{1, 2}), 258, nil},
		{"only one", []chipauth.Info{info(-1)}, []chipauth.PublicKey{pk(-1)}, tr(nil), -1, nil},
		{"unknown key id", []chipauth.Info{info(1)}, []chipauth.PublicKey{pk(1)}, tr([]byte{9}), -2, chipauth.ErrInfoNotFound},
		{"two infos, none without id", []chipauth.Info{info(1), info(2)}, []chipauth.PublicKey{pk(1), pk(2)}, tr(nil), -2, chipauth.ErrInfoNotFound},
		{"key missing", []chipauth.Info{info(1)}, []chipauth.PublicKey{pk(2)}, tr([]byte{1}), -2, chipauth.ErrChipKeyNotFound},
		{"other OID", []chipauth.Info{{OID: oidCAECDHAES256, Version: 2}}, []chipauth.PublicKey{pk(-1)}, tr(nil), -2, chipauth.ErrInfoNotFound},
		{"DH key for ECDH", []chipauth.Info{info(-1)}, []chipauth.PublicKey{{DH: &chipauth.DHPublicKey{}}}, tr(nil), -2, chipauth.ErrChipKeyNotFound},
	}
	for _, c := range cases {
		_, k, err := chipauth.Select(c.infos, c.keys, c.tr)
		if c.err != nil {
			if !errors.Is(err, c.err) {
				t.Errorf("%s: err = %v, want %v", c.name, err, c.err)
			}
			continue
		}
		if err != nil || (c.wantKey >= 0 && k.KeyID.Int64() != c.wantKey) || (c.wantKey == -1 && k.KeyID != nil) {
			t.Errorf("%s: key %v, err %v", c.name, k.KeyID, err)
		}
	}
}

func TestRequirement(t *testing.T) {
	if chipauth.RequirementOf(nil) != chipauth.Skipped {
		t.Fatal("no infos: not skipped")
	}
	if chipauth.RequirementOf([]chipauth.Info{{Version: 1}, {Version: 1}}) != chipauth.Skipped {
		t.Fatal("v1 only: not skipped")
	}
	if chipauth.RequirementOf([]chipauth.Info{{Version: 1}, {Version: 2}}) != chipauth.Required {
		t.Fatal("v2: not required")
	}
}

func validTranscript() []byte {
	tr := &chipauth.Transcript{OID: oidCAECDHAES128, KeyID: []byte{1}, TerminalPrivate: rnd(32), TerminalPublic: append([]byte{4}, rnd(64)...), Nonce: rnd(8), Token: rnd(8)}
	b, _ := tr.Marshal()
	return b
}

func TestParseTranscriptRefuses(t *testing.T) {
	good := validTranscript()
	if _, err := chipauth.ParseTranscript(good); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(good); i++ {
		if _, err := chipauth.ParseTranscript(good[:i]); err == nil {
			t.Fatalf("truncated at %d accepted", i)
		}
	}
	if _, err := chipauth.ParseTranscript(append(bytes.Clone(good), 0)); err == nil {
		t.Fatal("trailing byte accepted")
	}
	v2 := bytes.Clone(good)
	v2[0] = 2
	if _, err := chipauth.ParseTranscript(v2); err == nil {
		t.Fatal("version 2 accepted")
	}
	for _, oid := range []string{"", "1", "0.4..127", "0.40", "3.1", "1.2.x", "01.2", "1.2.12345678901", "0.4.0.127 "} {
		b := []byte{1}
		b = binary.BigEndian.AppendUint16(b, uint16(len(oid)))
		b = append(b, oid...)
		b = append(b, 0, 0, 1, 1, 0, 1, 4, 1, 1, 1, 1)
		if _, err := chipauth.ParseTranscript(b); err == nil {
			t.Errorf("OID %q accepted", oid)
		}
	}
	empty := &chipauth.Transcript{OID: oidCAECDHAES128, TerminalPrivate: []byte{1}, TerminalPublic: []byte{4}, Nonce: []byte{1}}
	b, _ := empty.Marshal()
	if _, err := chipauth.ParseTranscript(b); err == nil {
		t.Fatal("empty token accepted")
	}
}

func FuzzParseTranscript(f *testing.F) {
	f.Add(validTranscript())
	f.Add([]byte{1, 0, 3, '1', '.', '2', 0, 0, 1, 1, 0, 1, 4, 1, 1, 1, 1})
	f.Add([]byte{1, 0xFF, 0xFF})
	f.Fuzz(func(t *testing.T, b []byte) {
		tr, err := chipauth.ParseTranscript(b)
		if err != nil {
			return
		}
		again, err := tr.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		// Parsing is canonical up to the OID's spelling, which is strict.
		if !bytes.Equal(again, b) {
			t.Fatalf("round trip differs: %x vs %x", again, b)
		}
	})
}
