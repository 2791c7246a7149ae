package terms_test

import (
	"testing"

	"github.com/kayle-id/orgs-api/terms"
)

func TestHashOf(t *testing.T) {
	// SHA-256 test vectors (FIPS 180-2).
	for text, want := range map[string]string{
		"":    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"abc": "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
	} {
		if got := terms.HashOf(text); got != want {
			t.Errorf("HashOf(%q) = %s", text, got)
		}
	}
	if terms.HashOf("a\nb") == terms.HashOf("a\nb\n") {
		t.Error("a trailing newline does not change the hash")
	}
}
