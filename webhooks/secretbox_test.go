package webhooks

import (
	"bytes"
	"errors"
	"regexp"
	"strings"
	"testing"
)

var (
	keyA = bytes.Repeat([]byte("a"), 32)
	keyB = bytes.Repeat([]byte("b"), 32)
)

func fixedIV(b *SecretBox) {
	b.rand = bytes.NewReader([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11})
}

// The notes' vector: a database migrated from upstream opens.
func TestSecretBoxUpstreamVector(t *testing.T) {
	const stored = "AAECAwQFBgcICQoL.gLXKW_SqiSTj3rAgaM36yzUFaTvvZUmgLnPT5GIv64Qy"
	b, err := NewSecretBox(keyA)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Open(stored); !errors.Is(err, ErrSecretUnknownKey) {
		t.Fatalf("upstream form opened without AcceptUpstream: %v", err)
	}
	b.AcceptUpstream("auth-secret")
	plain, stale, err := b.Open(stored)
	if err != nil || plain != "whsec_test_secret" || !stale {
		t.Fatalf("Open = %q, stale %v, %v; want whsec_test_secret, stale", plain, stale, err)
	}
	b.AcceptUpstream("other-auth-secret")
	if _, _, err := b.Open(stored); !errors.Is(err, ErrSecretCorrupt) {
		t.Fatalf("opened under the wrong AUTH_SECRET: %v", err)
	}
}

func TestSecretBoxSealOpen(t *testing.T) {
	b, err := NewSecretBox(keyA)
	if err != nil {
		t.Fatal(err)
	}
	fixedIV(b)
	ct, err := b.Seal("whsec_test_secret")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^v1\.[0-9a-f]{8}\.AAECAwQFBgcICQoL\.[A-Za-z0-9_-]{44}$`).MatchString(ct) || !strings.HasPrefix(ct, "v1."+b.KeyID()+".") {
		t.Fatalf("Seal = %q", ct)
	}
	// Same key and IV: the same bytes (the construction is pinned).
	b2, _ := NewSecretBox(keyA)
	fixedIV(b2)
	if ct2, _ := b2.Seal("whsec_test_secret"); ct2 != ct {
		t.Fatalf("Seal not deterministic under a fixed IV: %q vs %q", ct2, ct)
	}
	plain, stale, err := b.Open(ct)
	if err != nil || plain != "whsec_test_secret" || stale {
		t.Fatalf("Open = %q, %v, %v", plain, stale, err)
	}
	// Fresh IVs otherwise.
	b3, _ := NewSecretBox(keyA)
	x, _ := b3.Seal("s")
	y, _ := b3.Seal("s")
	if x == y {
		t.Fatal("two seals gave the same ciphertext")
	}
}

func TestSecretBoxRotation(t *testing.T) {
	old, _ := NewSecretBox(keyA)
	ct, err := old.Seal("whsec_x")
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := NewSecretBox(keyB, keyA)
	if err != nil {
		t.Fatal(err)
	}
	if rotated.KeyID() == old.KeyID() {
		t.Fatal("different keys, same key id")
	}
	plain, stale, err := rotated.Open(ct)
	if err != nil || plain != "whsec_x" || !stale {
		t.Fatalf("Open under previous key = %q, stale %v, %v; want stale", plain, stale, err)
	}
	onlyB, _ := NewSecretBox(keyB)
	if _, _, err := onlyB.Open(ct); !errors.Is(err, ErrSecretUnknownKey) {
		t.Fatalf("opened after the key was dropped: %v", err)
	}
}

func TestSecretBoxRefuses(t *testing.T) {
	if _, err := NewSecretBox(keyA[:31]); !errors.Is(err, ErrSecretBoxKey) {
		t.Fatalf("31-byte key: %v", err)
	}
	if _, err := NewSecretBox(keyA, keyB[:5]); !errors.Is(err, ErrSecretBoxKey) {
		t.Fatalf("short previous key: %v", err)
	}
	b, _ := NewSecretBox(keyB, keyA)
	ct, _ := b.Seal("whsec_x")
	parts := strings.Split(ct, ".")
	a, _ := NewSecretBox(keyA)
	// The AAD binds the key id: relabelling to the other known key fails
	// authentication instead of decrypting under it.
	moved := strings.Join([]string{parts[0], a.KeyID(), parts[2], parts[3]}, ".")
	flipped := []byte(parts[3])
	flipped[0] ^= 1
	for name, bad := range map[string]string{
		"relabelled key id": moved,
		"v2":                strings.Join([]string{"v2", parts[1], parts[2], parts[3]}, "."),
		"ciphertext bit":    strings.Join([]string{parts[0], parts[1], parts[2], string(flipped)}, "."),
		"short iv":          strings.Join([]string{parts[0], parts[1], "AAEC", parts[3]}, "."),
		"not base64":        strings.Join([]string{parts[0], parts[1], parts[2], "!!"}, "."),
		"empty":             "",
		"five parts":        ct + ".x",
	} {
		if p, _, err := b.Open(bad); err == nil {
			t.Errorf("%s: opened to %q", name, p)
		}
	}
}
