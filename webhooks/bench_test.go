package webhooks

import (
	"testing"
)

// The per-delivery costs: Encrypt once at fan-out, Open and Sign once per
// attempt.
func BenchmarkEncrypt(b *testing.B) {
	k := testKey(b)
	key := JWK{N: b64u(k.N.Bytes()), E: "AQAB"}
	plain, _ := Payload(EventSucceeded, "evt_1", "vs_1", SucceededData{Claims: Claims{{"family_name", "DOE"}, {"given_name", "JANE"}}, SelectedFieldKeys: []string{"family_name", "given_name"}})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Encrypt(plain, key, "k1"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSign(b *testing.B) {
	body := make([]byte, 1200) // about a succeeded payload's JWE
	b.ReportAllocs()
	for b.Loop() {
		Sign("whsec_0123456789abcdefghijklmnopqrstuv", 1742404800, body)
	}
}

func BenchmarkSecretBoxOpen(b *testing.B) {
	box, _ := NewSecretBox(keyA)
	ct, _ := box.Seal("whsec_0123456789abcdefghijklmnopqrstuv")
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := box.Open(ct); err != nil {
			b.Fatal(err)
		}
	}
}
