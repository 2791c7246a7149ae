package webhooks

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"sync"
	"testing"
)

var (
	testKeyOnce sync.Once
	testKeyPriv *rsa.PrivateKey
)

// testKey is one RSA-2048 key for the package's tests (generation is slow).
func testKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	testKeyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		testKeyPriv = k
	})
	return testKeyPriv
}

func b64u(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// jwkWith is the test key's public JWK with members changed (nil deletes).
func jwkWith(t *testing.T, changes map[string]any) json.RawMessage {
	k := testKey(t)
	m := map[string]any{"kty": "RSA", "n": b64u(k.N.Bytes()), "e": "AQAB"}
	for name, v := range changes {
		if v == nil {
			delete(m, name)
		} else {
			m[name] = v
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type rawJSON string // a member value given as literal JSON

func (r rawJSON) MarshalJSON() ([]byte, error) { return []byte(r), nil }

func TestCheckJWKShape(t *testing.T) {
	long := strings.Repeat("x", 8193)
	cases := []struct {
		name    string
		changes map[string]any
		ok      bool
	}{
		{"plain", nil, true},
		{"no kty is a later check", map[string]any{"kty": nil}, true},
		{"everything a browser exports", map[string]any{"alg": "RSA-OAEP-256", "use": "enc", "ext": true, "key_ops": []string{"encrypt", "wrapKey"}, "kid": "k1", "x": 1.5}, true},
		{"kty EC", map[string]any{"kty": "EC"}, false},
		{"kty number", map[string]any{"kty": 1}, false},
		{"no n", map[string]any{"n": nil}, false},
		{"empty n", map[string]any{"n": ""}, false},
		{"n 8193", map[string]any{"n": long}, false},
		{"n number", map[string]any{"n": 5}, false},
		{"no e", map[string]any{"e": nil}, false},
		{"e 65", map[string]any{"e": strings.Repeat("A", 65)}, false},
		{"alg 65", map[string]any{"alg": strings.Repeat("A", 65)}, false},
		{"alg null", map[string]any{"alg": rawJSON("null")}, false},
		{"use 33", map[string]any{"use": strings.Repeat("u", 33)}, false},
		{"key_ops 9", map[string]any{"key_ops": []string{"a", "b", "c", "d", "e", "f", "g", "h", "i"}}, false},
		{"key_ops long", map[string]any{"key_ops": []string{strings.Repeat("o", 65)}}, false},
		{"key_ops string", map[string]any{"key_ops": "encrypt"}, false},
		{"other object", map[string]any{"x": map[string]string{}}, false},
		{"other null", map[string]any{"x": rawJSON("null")}, false},
		{"other long string", map[string]any{"x5u": long}, false},
		{"other 8192 string", map[string]any{"x5u": long[1:]}, true},
		{"x5c long entry", map[string]any{"x5c": []string{strings.Repeat("M", 65)}}, false},
		{"number beyond double", map[string]any{"x": rawJSON("1e400")}, false},
		{"array of numbers", map[string]any{"x": []int{1}}, false},
	}
	for _, c := range cases {
		err := CheckJWKShape(jwkWith(t, c.changes))
		if (err == nil) != c.ok {
			t.Errorf("%s: CheckJWKShape = %v, want ok %v", c.name, err, c.ok)
		}
		if err != nil && !errors.Is(err, ErrJWKShape) {
			t.Errorf("%s: %v is not ErrJWKShape", c.name, err)
		}
	}
	for _, notObject := range []string{`[]`, `null`, `"x"`, `1`, ``, `{`} {
		if err := CheckJWKShape(json.RawMessage(notObject)); !errors.Is(err, ErrJWKShape) {
			t.Errorf("CheckJWKShape(%s) = %v", notObject, err)
		}
	}
}

func TestCheckJWK(t *testing.T) {
	k := testKey(t)
	n := k.N.Bytes()
	std := base64.StdEncoding.EncodeToString(n)
	if !strings.HasSuffix(std, "==") {
		t.Fatal("256 bytes encode with padding") // so the case below tests it
	}
	// A 2040-bit modulus with a leading zero byte is 256 bytes as sent.
	small, err := rsa.GenerateKey(rand.Reader, 2040)
	if err != nil {
		t.Fatal(err)
	}
	padded := append([]byte{0}, small.N.Bytes()...)
	even := new(big.Int).Add(k.N, big.NewInt(1)).Bytes()
	cases := []struct {
		name    string
		changes map[string]any
		ok      bool
	}{
		{"plain", nil, true},
		{"alg, use, key_ops as a browser exports", map[string]any{"alg": "RSA-OAEP-256", "use": "enc", "key_ops": []string{"encrypt"}, "ext": true, "kid": "x"}, true},
		{"wrapKey and verify tolerated", map[string]any{"key_ops": []string{"encrypt", "wrapKey", "verify"}}, true},
		{"standard base64 with padding", map[string]any{"n": std}, true},
		{"leading zero counts", map[string]any{"n": b64u(padded)}, true},
		{"e 3", map[string]any{"e": b64u([]byte{3})}, true},
		{"no kty", map[string]any{"kty": nil}, false},
		{"blank n", map[string]any{"n": "   "}, false},
		{"blank e", map[string]any{"e": " "}, false},
		{"n 255 bytes", map[string]any{"n": b64u(n[1:])}, false},
		{"n 2040-bit without the zero", map[string]any{"n": b64u(small.N.Bytes())}, false},
		{"n not base64", map[string]any{"n": strings.Repeat("!", 400)}, false},
		{"alg RSA-OAEP", map[string]any{"alg": "RSA-OAEP"}, false},
		{"use sig", map[string]any{"use": "sig"}, false},
		{"private d", map[string]any{"d": "AQAB"}, false},
		{"private p", map[string]any{"p": "AQAB"}, false},
		{"private qi", map[string]any{"qi": "AQAB"}, false},
		{"private oth", map[string]any{"oth": []string{}}, false},
		{"key_ops without encrypt", map[string]any{"key_ops": []string{"wrapKey"}}, false},
		{"key_ops with decrypt", map[string]any{"key_ops": []string{"encrypt", "decrypt"}}, false},
		{"key_ops with unwrapKey", map[string]any{"key_ops": []string{"encrypt", "unwrapKey"}}, false},
		{"key_ops with sign", map[string]any{"key_ops": []string{"encrypt", "sign"}}, false},
		{"key_ops with deriveKey", map[string]any{"key_ops": []string{"encrypt", "deriveKey"}}, false},
		{"key_ops with deriveBits", map[string]any{"key_ops": []string{"encrypt", "deriveBits"}}, false},
		{"key_ops empty", map[string]any{"key_ops": []string{}}, false},
		// Stricter than Node's WebCrypto, which took e "!!!".
		{"e not base64", map[string]any{"e": "!!!"}, false},
		{"e even", map[string]any{"e": b64u([]byte{1, 0, 0})}, false},
		{"e 1", map[string]any{"e": b64u([]byte{1})}, false},
		{"e zero", map[string]any{"e": "AA"}, false},
		{"e beyond int32", map[string]any{"e": b64u([]byte{1, 0, 0, 0, 1})}, false},
		{"n even", map[string]any{"n": b64u(even)}, false},
		{"n zero", map[string]any{"n": b64u(make([]byte, 256))}, false},
	}
	for _, c := range cases {
		key, err := CheckJWK(jwkWith(t, c.changes))
		if (err == nil) != c.ok {
			t.Errorf("%s: CheckJWK = %v, want ok %v", c.name, err, c.ok)
			continue
		}
		if err != nil && !errors.Is(err, ErrJWKRejected) {
			t.Errorf("%s: %v is not ErrJWKRejected", c.name, err)
		}
		if err == nil {
			if _, err := key.PublicKey(); err != nil {
				t.Errorf("%s: accepted key has no public key: %v", c.name, err)
			}
		}
	}
	if _, err := CheckJWK(json.RawMessage(`[]`)); err == nil {
		t.Error("CheckJWK accepted an array")
	}
}

func TestJWKNormalized(t *testing.T) {
	raw := jwkWith(t, map[string]any{"n": "  will not pass but is kept as sent", "kid": "dropped", "use": "enc", "ext": true})
	var m struct{ N, E string }
	_ = json.Unmarshal(raw, &m)
	got := JWK{N: m.N, E: m.E}.Normalized()
	want := `{"alg":"RSA-OAEP-256","e":"AQAB","key_ops":["encrypt"],"kty":"RSA","n":"  will not pass but is kept as sent"}`
	if string(got) != want {
		t.Fatalf("Normalized = %s, want %s", got, want)
	}
	k := testKey(t)
	key, err := CheckJWK(jwkWith(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseJWK(key.Normalized())
	if err != nil || back != key {
		t.Fatalf("ParseJWK(Normalized) = %v, %v", back, err)
	}
	pub, err := back.PublicKey()
	if err != nil || !pub.Equal(&k.PublicKey) {
		t.Fatalf("PublicKey = %v, %v", pub, err)
	}
	if !bytes.Contains(key.Normalized(), []byte(`"n":"`+b64u(k.N.Bytes())+`"`)) {
		t.Fatal("n not kept")
	}
}
