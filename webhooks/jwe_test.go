package webhooks

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

func TestEncryptLayout(t *testing.T) {
	k := testKey(t)
	key := JWK{N: b64u(k.N.Bytes()), E: "AQAB"}
	plain, err := Payload(EventExpired, "evt_1", "vs_1", ExpiredData{})
	if err != nil {
		t.Fatal(err)
	}
	jwe, err := Encrypt(plain, key, "k1")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(jwe, ".")
	if len(parts) != 5 {
		t.Fatalf("%d parts", len(parts))
	}
	header, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		t.Fatal(err)
	}
	if string(header) != `{"alg":"RSA-OAEP-256","enc":"A256GCM","kid":"k1"}` {
		t.Fatalf("protected header %s", header)
	}
	// The notes' lengths for a 2048-bit key and kid k1.
	if len(parts[0]) != 66 || len(parts[1]) != 342 || len(parts[2]) != 16 || len(parts[4]) != 22 {
		t.Fatalf("part lengths %d %d %d %d", len(parts[0]), len(parts[1]), len(parts[2]), len(parts[4]))
	}
	for _, p := range parts {
		if strings.ContainsAny(p, "=+/") {
			t.Fatalf("part %q is not unpadded base64url", p)
		}
	}
	// go-jose decrypts it, refusing any other algorithm.
	obj, err := jose.ParseEncryptedCompact(jwe, []jose.KeyAlgorithm{jose.RSA_OAEP_256}, []jose.ContentEncryption{jose.A256GCM})
	if err != nil {
		t.Fatal(err)
	}
	got, err := obj.Decrypt(k)
	if err != nil || string(got) != string(plain) {
		t.Fatalf("Decrypt = %q, %v", got, err)
	}
	// A fresh CEK and IV each time.
	again, _ := Encrypt(plain, key, "k1")
	if strings.Split(again, ".")[1] == parts[1] || strings.Split(again, ".")[2] == parts[2] {
		t.Fatal("encrypted key or IV repeated")
	}
	// The header is the additional data: another kid in the same envelope
	// does not decrypt.
	other := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RSA-OAEP-256","enc":"A256GCM","kid":"k2"}`))
	forged, _ := jose.ParseEncryptedCompact(other+jwe[len(parts[0]):], []jose.KeyAlgorithm{jose.RSA_OAEP_256}, []jose.ContentEncryption{jose.A256GCM})
	if _, err := forged.Decrypt(k); err == nil {
		t.Fatal("decrypted with a swapped protected header")
	}
}

// A kid needing JSON escaping still gives a header that parses to it.
func TestEncryptEscapedKid(t *testing.T) {
	k := testKey(t)
	key := JWK{N: b64u(k.N.Bytes()), E: "AQAB"}
	for _, kid := range []string{`quote"back\slash`, "tab\tnl\n", "<script>&", "é😀\u2028"} {
		jwe, err := Encrypt([]byte("{}"), key, kid)
		if err != nil {
			t.Fatal(err)
		}
		header, _ := base64.RawURLEncoding.DecodeString(strings.Split(jwe, ".")[0])
		var h map[string]string
		if err := json.Unmarshal(header, &h); err != nil || h["kid"] != kid || len(h) != 3 || h["alg"] != "RSA-OAEP-256" || h["enc"] != "A256GCM" {
			t.Fatalf("kid %q: header %s (%v)", kid, header, err)
		}
		if !strings.HasPrefix(string(header), `{"alg":"RSA-OAEP-256","enc":"A256GCM","kid":"`) {
			t.Fatalf("member order: %s", header)
		}
	}
}

func TestEncryptRefusesBadKey(t *testing.T) {
	if _, err := Encrypt([]byte("{}"), JWK{N: "AQAB", E: "!!!"}, "k1"); err == nil {
		t.Fatal("encrypted to an unusable key")
	}
}
