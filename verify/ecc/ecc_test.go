package ecc_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/hex"
	"math/big"
	"os"
	"path/filepath"
	"testing"

	"github.com/kayle-id/orgs-api/internal/testtool"
	"github.com/kayle-id/orgs-api/verify/ecc"
)

func h(s string) *big.Int {
	v, ok := new(big.Int).SetString(s, 16)
	if !ok {
		panic(s)
	}
	return v
}

// RFC 7027 §A.1–A.3: the brainpool ECDH test vectors (also in pyca's
// cryptography vectors, asymmetric/ECDH/brainpool.txt).
var rfc7027 = []struct {
	curve                      *ecc.Curve
	dA, xA, yA, dB, xB, yB, xZ string
}{
	{ecc.BrainpoolP256r1,
		"81DB1EE100150FF2EA338D708271BE38300CB54241D79950F77B063039804F1D",
		"44106E913F92BC02A1705D9953A8414DB95E1AAA49E81D9E85F929A8E3100BE5",
		"8AB4846F11CACCB73CE49CBDD120F5A900A69FD32C272223F789EF10EB089BDC",
		"55E40BC41E37E3E2AD25C3C6654511FFA8474A91A0032087593852D3E7D76BD3",
		"8D2D688C6CF93E1160AD04CC4429117DC2C41825E1E9FCA0ADDD34E6F1B39F7B",
		"990C57520812BE512641E47034832106BC7D3E8DD0E4C7F1136D7006547CEC6A",
		"89AFC39D41D3B327814B80940B042590F96556EC91E6AE7939BCE31F3A18BF2B"},
	{ecc.BrainpoolP384r1,
		"1E20F5E048A5886F1F157C74E91BDE2B98C8B52D58E5003D57053FC4B0BD65D6F15EB5D1EE1610DF870795143627D042",
		"68B665DD91C195800650CDD363C625F4E742E8134667B767B1B476793588F885AB698C852D4A6E77A252D6380FCAF068",
		"55BC91A39C9EC01DEE36017B7D673A931236D2F1F5C83942D049E3FA20607493E0D038FF2FD30C2AB67D15C85F7FAA59",
		"032640BC6003C59260F7250C3DB58CE647F98E1260ACCE4ACDA3DD869F74E01F8BA5E0324309DB6A9831497ABAC96670",
		"4D44326F269A597A5B58BBA565DA5556ED7FD9A8A9EB76C25F46DB69D19DC8CE6AD18E404B15738B2086DF37E71D1EB4",
		"62D692136DE56CBE93BF5FA3188EF58BC8A3A0EC6C1E151A21038A42E9185329B5B275903D192F8D4E1F32FE9CC78C48",
		"0BD9D3A7EA0B3D519D09D8E48D0785FB744A6B355E6304BC51C229FBBCE239BBADF6403715C35D4FB2A5444F575D4F42"},
	{ecc.BrainpoolP512r1,
		"16302FF0DBBB5A8D733DAB7141C1B45ACBC8715939677F6A56850A38BD87BD59B09E80279609FF333EB9D4C061231FB26F92EEB04982A5F1D1764CAD57665422",
		"0A420517E406AAC0ACDCE90FCD71487718D3B953EFD7FBEC5F7F27E28C6149999397E91E029E06457DB2D3E640668B392C2A7E737A7F0BF04436D11640FD09FD",
		"72E6882E8DB28AAD36237CD25D580DB23783961C8DC52DFA2EC138AD472A0FCEF3887CF62B623B2A87DE5C588301EA3E5FC269B373B60724F5E82A6AD147FDE7",
		"230E18E1BCC88A362FA54E4EA3902009292F7F8033624FD471B5D8ACE49D12CFABBC19963DAB8E2F1EBA00BFFB29E4D72D13F2224562F405CB80503666B25429",
		"9D45F66DE5D67E2E6DB6E93A59CE0BB48106097FF78A081DE781CDB31FCE8CCBAAEA8DD4320C4119F1E9CD437A2EAB3731FA9668AB268D871DEDA55A5473199F",
		"2FDC313095BCDD5FB3A91636F07A959C8E86B5636A1E930E8396049CB481961D365CC11453A06C719835475B12CB52FC3C383BCE35E27EF194512B71876285FA",
		"A7927098655F1F9976FA50A9D566865DC530331846381C87256BAF3226244B76D36403C024D7BBF0AA0803EAFF405D3D24F11A9B5C0BEF679FE1454B21C4CD1F"},
}

func TestBrainpoolRFC7027ECDH(t *testing.T) {
	for _, v := range rfc7027 {
		t.Run(v.curve.Name, func(t *testing.T) {
			a, err := ecc.NewPrivateKey(v.curve, h(v.dA))
			if err != nil {
				t.Fatal(err)
			}
			b, err := ecc.NewPrivateKey(v.curve, h(v.dB))
			if err != nil {
				t.Fatal(err)
			}
			if a.X.Cmp(h(v.xA)) != 0 || a.Y.Cmp(h(v.yA)) != 0 || b.X.Cmp(h(v.xB)) != 0 || b.Y.Cmp(h(v.yB)) != 0 {
				t.Fatal("public keys differ from RFC 7027")
			}
			for _, pair := range [][2]*ecc.PrivateKey{{a, b}, {b, a}} {
				pub, err := ecc.ParsePoint(v.curve, pair[1].PublicKey.Bytes())
				if err != nil {
					t.Fatal(err)
				}
				z, err := ecc.ECDH(pair[0], pub)
				if err != nil {
					t.Fatal(err)
				}
				if hex.EncodeToString(z) != lower(v.xZ) {
					t.Fatalf("Z = %x, want %s", z, v.xZ)
				}
			}
		})
	}
}

func lower(s string) string { return hex.EncodeToString(h(s).FillBytes(make([]byte, len(s)/2))) }

// Every named curve satisfies its own invariants and round-trips through
// FromExplicit to itself (so explicit parameters equal to a named curve get
// its name and OID).
func TestNamedCurvesRoundTripExplicit(t *testing.T) {
	for _, c := range ecc.Curves() {
		got, err := ecc.FromExplicit(c.P, c.A, c.B, c.Gx, c.Gy, c.N, nil)
		if err != nil || got != c {
			t.Fatalf("%s: FromExplicit = %v, %v", c.Name, got, err)
		}
		if byOID, ok := ecc.ByOID(c.OID); !ok || byOID != c {
			t.Fatalf("%s: ByOID", c.Name)
		}
		// The same parameters with one bit of b changed are not a curve
		// through G any more.
		b := new(big.Int).Xor(c.B, big.NewInt(1))
		if _, err := ecc.FromExplicit(c.P, c.A, b, c.Gx, c.Gy, c.N, nil); err == nil {
			t.Fatalf("%s: changed b accepted", c.Name)
		}
	}
}

func TestPointValidation(t *testing.T) {
	for _, c := range ecc.Curves() {
		k, err := ecc.NewPrivateKey(c, big.NewInt(7))
		if err != nil {
			t.Fatal(err)
		}
		enc := k.PublicKey.Bytes()
		if p, err := ecc.ParsePoint(c, enc); err != nil || !p.Equal(&k.PublicKey) {
			t.Fatalf("%s: uncompressed: %v", c.Name, err)
		}
		comp := append([]byte{2 | byte(k.Y.Bit(0))}, enc[1:1+c.ByteLen()]...)
		if p, err := ecc.ParsePoint(c, comp); err != nil || !p.Equal(&k.PublicKey) {
			t.Fatalf("%s: compressed: %v", c.Name, err)
		}
		bad := bytes.Clone(enc)
		bad[len(bad)-1] ^= 1
		for name, b := range map[string][]byte{
			"off curve": bad, "infinity": {0}, "short": enc[:len(enc)-1], "empty": nil,
			"x = p":  append([]byte{2}, c.P.FillBytes(make([]byte, c.ByteLen()))...),
			"hybrid": append([]byte{6}, enc[1:]...),
		} {
			if _, err := ecc.ParsePoint(c, b); err == nil {
				t.Fatalf("%s: %s accepted", c.Name, name)
			}
		}
	}
}

func TestFromExplicitRefuses(t *testing.T) {
	c := ecc.BrainpoolP256r1
	one := big.NewInt(1)
	cases := map[string][]*big.Int{
		"p composite":    {new(big.Int).Add(c.P, big.NewInt(2)), c.A, c.B, c.Gx, c.Gy, c.N, one},
		"n composite":    {c.P, c.A, c.B, c.Gx, c.Gy, new(big.Int).Add(c.N, big.NewInt(2)), one},
		"wrong cofactor": {c.P, c.A, c.B, c.Gx, c.Gy, c.N, big.NewInt(2)},
		"G off curve":    {c.P, c.A, c.B, c.Gx, new(big.Int).Add(c.Gy, one), c.N, one},
		"a not reduced":  {c.P, new(big.Int).Add(c.A, c.P), c.B, c.Gx, c.Gy, c.N, one},
		"tiny field":     {big.NewInt(23), one, one, big.NewInt(3), big.NewInt(10), big.NewInt(7), one},
		"huge field":     {new(big.Int).Lsh(one, 2000), c.A, c.B, c.Gx, c.Gy, c.N, one},
		"negative b":     {c.P, c.A, new(big.Int).Neg(c.B), c.Gx, c.Gy, c.N, one},
		"order not n":    {c.P, c.A, c.B, c.Gx, c.Gy, new(big.Int).Sub(c.N, big.NewInt(30)), one},
	}
	for name, v := range cases {
		if _, err := ecc.FromExplicit(v[0], v[1], v[2], v[3], v[4], v[5], v[6]); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
}

func TestPlainAndDERForms(t *testing.T) {
	c := ecc.BrainpoolP256r1
	if _, _, err := ecc.ParsePlainSignature(c, make([]byte, 63)); err == nil {
		t.Fatal("short plain signature accepted")
	}
	for name, der := range map[string]string{
		"trailing":    "3006020101020101" + "00",
		"negative r":  "30060201ff020101",
		"non-minimal": "3007020200010201" + "01",
		"wrong tag":   "3106020101020101",
		"extra int":   "3009020101020101020101",
	} {
		b, _ := hex.DecodeString(der)
		if _, _, err := ecc.ParseDERSignature(b); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	if r, s, err := ecc.ParseDERSignature([]byte{0x30, 6, 2, 1, 5, 2, 1, 9}); err != nil || r.Int64() != 5 || s.Int64() != 9 {
		t.Fatalf("minimal DER: %v %v %v", r, s, err)
	}
}

// --- OpenSSL, an implementation nobody here wrote ---

var run = testtool.Run

// opensslCurves: named brainpool and NIST curves, and two curves the
// package does not name, so their explicit parameters take the generic
// path: secp256k1 (a = 0) and secp224r1 (a = −3).
var opensslCurves = []struct {
	name     string
	explicit bool
	want     *ecc.Curve // nil: an unnamed explicit curve
}{
	{"brainpoolP256r1", false, ecc.BrainpoolP256r1},
	{"brainpoolP384r1", false, ecc.BrainpoolP384r1},
	{"brainpoolP512r1", false, ecc.BrainpoolP512r1},
	{"brainpoolP256t1", false, ecc.BrainpoolP256t1},
	{"brainpoolP320r1", true, nil},
	{"brainpoolP256r1", true, ecc.BrainpoolP256r1},
	{"prime256v1", false, ecc.P256},
	{"secp384r1", true, ecc.P384},
	{"secp521r1", false, ecc.P521},
	{"secp256k1", true, nil},
	{"secp224r1", true, nil},
}

type sec1Key struct {
	Version    int
	PrivateKey []byte
	Params     asn1.RawValue  `asn1:"optional,tag:0"`
	PublicKey  asn1.BitString `asn1:"optional,explicit,tag:1"`
}

// opensslKey makes a key with openssl and returns its file, scalar and
// public key as parsed here.
func opensslKey(t *testing.T, openssl, dir, curve string, explicit bool, name string) (string, *big.Int, *ecc.PublicKey) {
	t.Helper()
	enc := "named_curve"
	if explicit {
		enc = "explicit"
	}
	key := filepath.Join(dir, name+".pem")
	run(t, dir, openssl, "ecparam", "-name", curve, "-genkey", "-noout", "-param_enc", enc, "-out", key)
	der := run(t, dir, openssl, "ec", "-in", key, "-param_enc", enc, "-outform", "DER")
	var sk sec1Key
	if _, err := asn1.Unmarshal(der, &sk); err != nil {
		t.Fatal(err)
	}
	spki := run(t, dir, openssl, "ec", "-in", key, "-param_enc", enc, "-pubout", "-outform", "DER")
	pub, err := ecc.ParseSubjectPublicKeyInfo(spki)
	if err != nil {
		t.Fatalf("%s: parse openssl SPKI: %v", curve, err)
	}
	run(t, dir, openssl, "ec", "-in", key, "-param_enc", enc, "-pubout", "-out", filepath.Join(dir, name+".pub.pem"))
	return key, new(big.Int).SetBytes(sk.PrivateKey), pub
}

func TestOpenSSLSignaturesVerify(t *testing.T) {
	openssl := testtool.Require(t, "openssl")
	for _, tc := range opensslCurves {
		t.Run(tc.name+map[bool]string{true: "-explicit", false: ""}[tc.explicit], func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			key, _, pub := opensslKey(t, openssl, dir, tc.name, tc.explicit, "k")
			if tc.want != nil && pub.Curve != tc.want {
				t.Fatalf("curve = %s, want %s", pub.Curve, tc.want)
			}
			if tc.want == nil && pub.Curve.Named() {
				t.Fatalf("unnamed curve recognised as %s", pub.Curve)
			}
			msg := []byte("active authentication challenge")
			if err := os.WriteFile(filepath.Join(dir, "msg"), msg, 0o600); err != nil {
				t.Fatal(err)
			}
			sig := run(t, dir, openssl, "dgst", "-sha256", "-sign", key, "msg")
			digest := sha256.Sum256(msg)
			if err := ecc.VerifyDER(pub, digest[:], sig); err != nil {
				t.Fatalf("openssl signature refused: %v", err)
			}
			// The same signature in TR-03111's plain form.
			r, s, err := ecc.ParseDERSignature(sig)
			if err != nil {
				t.Fatal(err)
			}
			l := pub.Curve.OrderLen()
			plain := append(r.FillBytes(make([]byte, l)), s.FillBytes(make([]byte, l))...)
			if err := ecc.VerifyPlain(pub, digest[:], plain); err != nil {
				t.Fatalf("plain form refused: %v", err)
			}
			digest[0] ^= 1
			if ecc.VerifyDER(pub, digest[:], sig) == nil || ecc.VerifyPlain(pub, digest[:], plain) == nil {
				t.Fatal("signature over another hash accepted")
			}
		})
	}
}

func TestOpenSSLDeriveAgrees(t *testing.T) {
	openssl := testtool.Require(t, "openssl")
	for _, tc := range opensslCurves {
		t.Run(tc.name+map[bool]string{true: "-explicit", false: ""}[tc.explicit], func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			aFile, aD, aPub := opensslKey(t, openssl, dir, tc.name, tc.explicit, "a")
			_, _, bPub := opensslKey(t, openssl, dir, tc.name, tc.explicit, "b")
			want := run(t, dir, openssl, "pkeyutl", "-derive", "-inkey", aFile, "-peerkey", "b.pub.pem")
			a, err := ecc.NewPrivateKey(aPub.Curve, aD)
			if err != nil {
				t.Fatal(err)
			}
			if !a.PublicKey.Equal(aPub) {
				t.Fatal("scalar and public key disagree")
			}
			got, err := ecc.ECDH(a, bPub)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("ECDH = %x, openssl %x", got, want)
			}
		})
	}
}
