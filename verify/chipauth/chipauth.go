package chipauth

import (
	"crypto/subtle"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"

	"github.com/kayle-id/orgs-api/verify/ecc"
)

// Object identifiers (TR-03110-3 §A.1.1.2; ICAO 9303-11 §9.2.5).
var (
	oidCADH   = asn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 2, 2, 3, 1}
	oidCAECDH = asn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 2, 2, 3, 2}
	// OIDPKDH and OIDPKECDH name ChipAuthenticationPublicKeyInfo keys.
	OIDPKDH   = asn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 2, 2, 1, 1}
	OIDPKECDH = asn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 2, 2, 1, 2}
)

// Errors, one per way the check fails (the reference's reasons, §6.5).
var (
	ErrAlgorithmUnsupported = errors.New("chipauth: algorithm unsupported")
	ErrInfoNotFound         = errors.New("chipauth: no ChipAuthenticationInfo for the transcript")
	ErrChipKeyNotFound      = errors.New("chipauth: no chip public key for the transcript")
	ErrTerminalKeyInvalid   = errors.New("chipauth: terminal key invalid")
	ErrKeyAgreement         = errors.New("chipauth: key agreement failed")
	ErrTokenMismatch        = errors.New("chipauth: authentication token mismatch")
)

// Algorithm is a CA protocol: id-CA-DH-* or id-CA-ECDH-* with its cipher.
type Algorithm struct {
	OID    asn1.ObjectIdentifier
	DH     bool // false: ECDH
	Cipher Cipher
}

// AlgorithmByOID resolves id-CA-{DH,ECDH}-{3DES-CBC-CBC, AES-CBC-CMAC-128,
// -192, -256} (arcs 1–4 under each).
func AlgorithmByOID(oid asn1.ObjectIdentifier) (Algorithm, error) {
	if len(oid) == len(oidCADH)+1 {
		last := oid[len(oid)-1]
		prefix := oid[:len(oid)-1]
		if last >= 1 && last <= 4 && (prefix.Equal(oidCADH) || prefix.Equal(oidCAECDH)) {
			return Algorithm{OID: oid, DH: prefix.Equal(oidCADH), Cipher: Cipher(last)}, nil
		}
	}
	return Algorithm{}, fmt.Errorf("%w: %v", ErrAlgorithmUnsupported, oid)
}

func (a Algorithm) pkOID() asn1.ObjectIdentifier {
	if a.DH {
		return OIDPKDH
	}
	return OIDPKECDH
}

// Info is a ChipAuthenticationInfo from DG14 (TR-03110-3 §A.1.1.2).
type Info struct {
	OID     asn1.ObjectIdentifier
	Version int
	KeyID   *big.Int // nil: absent
}

// PublicKey is a ChipAuthenticationPublicKeyInfo: the chip's static key,
// EC (any verify/ecc curve) or DH (the group from its parameters).
type PublicKey struct {
	KeyID *big.Int // nil: absent
	EC    *ecc.PublicKey
	DH    *DHPublicKey
}

// DHPublicKey is y = g^x mod p with X9.42 domain parameters (q may be nil
// for PKCS #3 parameters).
type DHPublicKey struct {
	P, G, Q, Y *big.Int
}

// Requirement says whether a document's chip authentication must be
// checked, from DG14's ChipAuthenticationInfos (behaviour notes §6.5).
type Requirement int

const (
	// Skipped: no ChipAuthenticationInfo, or version 1 only (CA v1 leaves
	// no token to check after the fact).
	Skipped Requirement = iota
	// Required: some ChipAuthenticationInfo is version 2 or later.
	Required
)

// RequirementOf applies that rule.
func RequirementOf(infos []Info) Requirement {
	for _, i := range infos {
		if i.Version >= 2 {
			return Required
		}
	}
	return Skipped
}

// Select finds the ChipAuthenticationInfo and public key the transcript
// used: the info with the transcript's OID and key id (without a key id in
// the transcript: the only one with that OID, else the one without a key
// id); then the key of the matching type with the info's key id (or,
// without one, the only key of that type, else the one without a key id).
func Select(infos []Info, keys []PublicKey, t *Transcript) (Info, PublicKey, error) {
	var tid *big.Int
	if t.KeyID != nil {
		tid = new(big.Int).SetBytes(t.KeyID)
	}
	var cands []Info
	for _, i := range infos {
		if i.OID.Equal(t.OID) {
			cands = append(cands, i)
		}
	}
	info, ok := pick(cands, tid, func(i Info) *big.Int { return i.KeyID })
	if !ok {
		return Info{}, PublicKey{}, ErrInfoNotFound
	}
	alg, err := AlgorithmByOID(info.OID)
	if err != nil {
		return Info{}, PublicKey{}, err
	}
	var kc []PublicKey
	for _, k := range keys {
		if (alg.DH && k.DH != nil) || (!alg.DH && k.EC != nil) {
			kc = append(kc, k)
		}
	}
	key, ok := pick(kc, info.KeyID, func(k PublicKey) *big.Int { return k.KeyID })
	if !ok {
		return Info{}, PublicKey{}, ErrChipKeyNotFound
	}
	return info, key, nil
}

func pick[T any](cands []T, id *big.Int, idOf func(T) *big.Int) (T, bool) {
	var zero T
	if id != nil {
		for _, c := range cands {
			if k := idOf(c); k != nil && k.Cmp(id) == 0 {
				return c, true
			}
		}
		return zero, false
	}
	if len(cands) == 1 {
		return cands[0], true
	}
	for _, c := range cands {
		if idOf(c) == nil {
			return c, true
		}
	}
	return zero, false
}

// Options changes the check for compatibility.
type Options struct {
	// ReferenceTokenOID puts id-PK-ECDH/id-PK-DH in the token's public key
	// object, as the reference does, instead of the protocol OID the
	// standard names. Only the reference's own vectors need it; a real
	// chip computes the token with the protocol OID.
	ReferenceTokenOID bool
}

// Verify checks a CA version 2 transcript against the chip's key:
// K = KA(sk_PCD, PK_PICC); K_MAC = KDF(K, r_PICC, 2);
// T_PICC = MAC(K_MAC, TokenInput(PK_PCD)) truncated to 8 bytes
// (TR-03110-2 §3.4.1; TR-03110-3 §A.2.4.2).
func Verify(t *Transcript, chip PublicKey, opts Options) error {
	alg, err := AlgorithmByOID(t.OID)
	if err != nil {
		return err
	}
	var k []byte
	switch {
	case alg.DH && chip.DH != nil:
		k, err = agreeDH(chip.DH, t.TerminalPrivate, t.TerminalPublic)
	case !alg.DH && chip.EC != nil:
		k, err = agreeECDH(chip.EC, t.TerminalPrivate, t.TerminalPublic)
	default:
		return ErrChipKeyNotFound
	}
	if err != nil {
		return err
	}
	oid := alg.OID
	if opts.ReferenceTokenOID {
		oid = alg.pkOID()
	}
	want, err := Token(alg.Cipher, KDF(k, t.Nonce, CounterMAC, alg.Cipher), TokenInput(oid, alg.DH, t.TerminalPublic))
	if err != nil {
		return err
	}
	if len(t.Token) != len(want) || subtle.ConstantTimeCompare(want, t.Token) != 1 {
		return ErrTokenMismatch
	}
	return nil
}

// Token is the 8-byte authentication token over input: AES-CMAC truncated
// to 8 bytes, or the 3DES retail MAC (TR-03110-3 §A.2.4.2, §F).
func Token(c Cipher, kMAC, input []byte) ([]byte, error) {
	if c == TripleDES {
		return retailMAC(kMAC, input)
	}
	m, err := CMAC(kMAC, input)
	if err != nil {
		return nil, err
	}
	return m[:8], nil
}

// TokenInput is the public key data object the token covers
// (TR-03110-3 §D.3.4): 7F49 { 06 OID, 86 point } for EC, 7F49 { 06 OID,
// 84 y } for DH, PK_PCD as the terminal sent it.
func TokenInput(oid asn1.ObjectIdentifier, dh bool, pk []byte) []byte {
	oidDER, _ := asn1.Marshal(oid) // 06 L arcs
	tag := byte(0x86)
	if dh {
		tag = 0x84
	}
	inner := append(append([]byte{}, oidDER...), tlv([]byte{tag}, pk)...)
	return tlv([]byte{0x7F, 0x49}, inner)
}

func tlv(tag, v []byte) []byte {
	out := append([]byte{}, tag...)
	switch n := len(v); {
	case n < 0x80:
		out = append(out, byte(n))
	case n < 0x100:
		out = append(out, 0x81, byte(n))
	default:
		out = append(out, 0x82, byte(n>>8), byte(n))
	}
	return append(out, v...)
}

// agreeECDH: PK_PCD must be a valid point of the chip key's curve and the
// public half of sk_PCD; K is the x-coordinate of sk_PCD·PK_PICC.
func agreeECDH(chip *ecc.PublicKey, sk, pk []byte) ([]byte, error) {
	c := chip.Curve
	if len(pk) == 0 || pk[0] != 4 {
		return nil, ErrTerminalKeyInvalid
	}
	tpub, err := ecc.ParsePoint(c, pk)
	if err != nil {
		return nil, ErrTerminalKeyInvalid
	}
	if len(sk) > c.OrderLen() {
		return nil, ErrTerminalKeyInvalid
	}
	priv, err := ecc.NewPrivateKey(c, new(big.Int).SetBytes(sk))
	if err != nil || !priv.PublicKey.Equal(tpub) {
		return nil, ErrTerminalKeyInvalid
	}
	k, err := ecc.ECDH(priv, chip)
	if err != nil {
		return nil, ErrKeyAgreement
	}
	return k, nil
}

// maxDHBits bounds the modular exponentiations one transcript can cost.
const maxDHBits = 4096

// agreeDH (TR-03110-3 §A.2.2, PKCS #3): 1 < y < p − 1 for both keys,
// y^q = 1 when q is known, PK_PCD = g^sk; K = PK_PICC^sk mod p as an octet
// string of p's length.
func agreeDH(chip *DHPublicKey, sk, pk []byte) ([]byte, error) {
	p := chip.P
	if p == nil || chip.G == nil || chip.Y == nil || p.BitLen() > maxDHBits || p.BitLen() < 1024 || p.Bit(0) == 0 {
		return nil, ErrKeyAgreement
	}
	if !dhValid(chip.Y, chip) {
		return nil, ErrKeyAgreement
	}
	l := (p.BitLen() + 7) / 8
	if len(pk) > l || len(sk) > l {
		return nil, ErrTerminalKeyInvalid
	}
	x := new(big.Int).SetBytes(sk)
	y := new(big.Int).SetBytes(pk)
	if x.Sign() == 0 || !dhValid(y, chip) || new(big.Int).Exp(chip.G, x, p).Cmp(y) != 0 {
		return nil, ErrTerminalKeyInvalid
	}
	k := new(big.Int).Exp(chip.Y, x, p)
	return k.FillBytes(make([]byte, l)), nil
}

func dhValid(y *big.Int, g *DHPublicKey) bool {
	pm1 := new(big.Int).Sub(g.P, big.NewInt(1))
	if y.Cmp(big.NewInt(1)) <= 0 || y.Cmp(pm1) >= 0 {
		return false
	}
	if g.Q != nil && g.Q.Sign() > 0 && g.Q.BitLen() <= maxDHBits {
		return new(big.Int).Exp(y, g.Q, g.P).Cmp(big.NewInt(1)) == 0
	}
	return true
}
