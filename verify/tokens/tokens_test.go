package tokens

import (
	"encoding/hex"
	"regexp"
	"strings"
	"testing"
)

// The vectors of behaviour-verify.md §4 (computed there with Python's hmac,
// AUTH_SECRET=test-auth-secret, session vs_ + 64×a) that still apply: the
// handoff token is random here, so only its hash construction is checked,
// from upstream's token.
var (
	secret  = []byte("test-auth-secret")
	session = "vs_" + strings.Repeat("a", 64)
)

func TestVectors(t *testing.T) {
	cases := []struct{ name, got, want string }{
		{"token hash", HandoffTokenHash(secret, "48592ff0971dfa73d30942b161f6a7c0e8155a8d5831fe3954c58e56d317efc0"),
			"72aa9bcc862234514a1ee11fb3ceb24a1ed3737b6ec68846efee2d45bcdc9960"},
		{"cancel hash", CancelTokenHash(secret, strings.Repeat("c", 48)),
			"91b41d91fe9f8adb599d538b70d09a6647991208283ad3684aa98d1784eb258d"},
		{"device hash", DeviceHash(secret, "device-a"),
			"287ebf429fc25685a0d41a4702cffb82322e200511977266f2dd4bf353f026f2"},
		{"device hash, trimmed", DeviceHash(secret, " device-a\n"),
			"287ebf429fc25685a0d41a4702cffb82322e200511977266f2dd4bf353f026f2"},
		{"hello challenge", Base64URL(HelloChallenge(secret, session)), "Hkx_HKCysZT1gdrcbetYA4PlLBIix7uH0vJNXNpv_u0"},
		{"nfc challenge", Base64URL(NFCChallenge(secret, session)), "nIw7RqBks8tCsgIy6xGL81QuErYGFQVLAMJfGKSIOzA"},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("%s: %s, want %s", c.name, c.got, c.want)
		}
	}
}

func TestRandomTokens(t *testing.T) {
	hex64 := regexp.MustCompile(`^[0-9a-f]{64}$`)
	seen := map[string]bool{}
	for range 100 {
		tok, err := NewHandoffToken()
		if err != nil || !hex64.MatchString(tok) || seen[tok] {
			t.Fatalf("token %q %v (repeat %v)", tok, err, seen[tok])
		}
		seen[tok] = true
		c, err := NewAttestChallenge()
		if err != nil || !regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`).MatchString(c) || seen[c] {
			t.Fatalf("challenge %q %v", c, err)
		}
		seen[c] = true
	}
}

func TestKeyedAndDistinct(t *testing.T) {
	other := []byte("another-secret")
	if HandoffTokenHash(secret, "x") == HandoffTokenHash(other, "x") {
		t.Fatal("the hash ignores the secret")
	}
	// The purposes are domain-separated (one input, different values),
	// except the token and device hashes, which are both upstream's bare
	// HMAC: a token and a device id never meet in one column.
	if HandoffTokenHash(secret, "x") != DeviceHash(secret, "x") {
		t.Fatal("token and device hashes: upstream's construction changed")
	}
	vals := []string{HandoffTokenHash(secret, session), CancelTokenHash(secret, session),
		hex.EncodeToString(HelloChallenge(secret, session)), hex.EncodeToString(NFCChallenge(secret, session)), AttestChallengeHash(secret, session)}
	for i := range vals {
		for j := range i {
			if vals[i] == vals[j] {
				t.Fatalf("values %d and %d coincide", i, j)
			}
		}
	}
	if !Equal("abc", "abc") || Equal("abc", "abd") || Equal("abc", "ab") {
		t.Fatal("Equal")
	}
}
