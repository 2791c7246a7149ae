package appattest_test

import (
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/kayle-id/orgs-api/verify/appattest"
)

// Vectors computed with Python's hashlib from the constructions in
// behaviour-verify.md §6.6, over §4's session id and challenges.
func TestClientDataHashVectors(t *testing.T) {
	sid := "vs_" + strings.Repeat("a", 64)
	hello, _ := base64.RawURLEncoding.DecodeString("Hkx_HKCysZT1gdrcbetYA4PlLBIix7uH0vJNXNpv_u0")
	nfc, _ := base64.RawURLEncoding.DecodeString("nIw7RqBks8tCsgIy6xGL81QuErYGFQVLAMJfGKSIOzA")
	reg := make([]byte, 32)
	for i := range reg {
		reg[i] = byte(i)
	}
	cases := []struct {
		name string
		got  [32]byte
		want string
	}{
		{"hello", appattest.HelloClientDataHash(sid, "device-a", "1.2.3", hello), "4bad9f279e0fda56785620341b00269cc7d95f8a14afde512b89f1718defcb0b"},
		{"nfc, DG14/DG15/CA/AA absent", appattest.NFCClientDataHash(sid, appattest.NFCArtefacts{DG1: []byte("dg1"), DG2: []byte("dg2"), SOD: []byte("sod")}, nfc), "b7b132fa9b04e0f9a160848202b333326dd9e0547e17a70daf14c3ecc7e69d72"},
		{"nfc, all present", appattest.NFCClientDataHash(sid, appattest.NFCArtefacts{
			DG1: []byte("dg1"), DG2: []byte("dg2"), DG14: []byte("dg14"), DG15: []byte("dg15"),
			SOD: []byte("sod"), CATranscript: []byte("ca"), AASignature: []byte("aa"),
		}, nfc), "3af2d48b0fcff29e6182d543b14c8041af69442d1afd14ff5a791a3122c44bf5"},
		{"registration", appattest.RegistrationClientDataHash(reg), "630dcd2966c4336691125448bbb25b4ff412a49c732db2c8abc1b8581bd710dd"},
	}
	for _, tc := range cases {
		if got := hex.EncodeToString(tc.got[:]); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
	// Each artefact is its own slot: moving bytes between slots changes the hash.
	a := appattest.NFCClientDataHash(sid, appattest.NFCArtefacts{DG14: []byte("x")}, nfc)
	b := appattest.NFCClientDataHash(sid, appattest.NFCArtefacts{DG15: []byte("x")}, nfc)
	if a == b {
		t.Fatal("DG14 and DG15 slots collide")
	}
}
