package appattest_test

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kayle-id/orgs-api/verify/appattest"
)

// A real device's attestation and assertion (testdata/ORIGIN.md), checked
// against the embedded Apple root at the time they were made.
func TestRealDeviceAttestationAndAssertion(t *testing.T) {
	att := readB64(t, "testdata/apple-device-ios14.4.att.b64")
	assertion := readB64(t, "testdata/apple-device-ios14.4.assert.b64")
	keyID, _ := base64.StdEncoding.DecodeString("YmbJO4x5nEHUvncp9zdWuVZjNBEMgJn3cdSToAXQe3M=")
	h := sha256.Sum256([]byte("wurzelpfropf"))
	made := time.Date(2021, 1, 23, 12, 13, 33, 0, time.UTC)
	cfg := appattest.Config{
		Roots:       appattest.AppleRoot(),
		AppID:       "6MURL8TA57.de.vincent-haupert.apple-appattest-poc",
		Environment: appattest.Development,
		Now:         func() time.Time { return made },
	}
	key, err := cfg.VerifyAttestation(keyID, att, h)
	if err != nil {
		t.Fatal(err)
	}
	if len(key.Receipt) < 1000 || len(key.PublicKeyCOSE) != 77 {
		t.Fatalf("receipt %d bytes, COSE key %d bytes", len(key.Receipt), len(key.PublicKeyCOSE))
	}
	n, err := cfg.VerifyAssertion(key.PublicKeyCOSE, 0, assertion, h)
	if err != nil || n != 1 {
		t.Fatalf("assertion: counter %d, err %v", n, err)
	}
	// The same bytes, each property changed in the configuration.
	refused := []struct {
		name string
		edit func(*appattest.Config)
		want error
	}{
		{"production", func(c *appattest.Config) { c.Environment = appattest.Production }, appattest.ErrAAGUID},
		{"after the leaf expired", func(c *appattest.Config) { c.Now = func() time.Time { return made.Add(72 * time.Hour) } }, appattest.ErrChain},
		{"another app", func(c *appattest.Config) { c.AppID = "6MURL8TA57.de.vincent-haupert.other" }, appattest.ErrRPID},
	}
	for _, tc := range refused {
		c := cfg
		tc.edit(&c)
		if _, err := c.VerifyAttestation(keyID, att, h); !errors.Is(err, tc.want) {
			t.Errorf("%s: err %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := cfg.VerifyAttestation(keyID, att, sha256.Sum256([]byte("wurzel"))); !errors.Is(err, appattest.ErrNonce) {
		t.Errorf("other clientDataHash: err %v", err)
	}
	if _, err := cfg.VerifyAssertion(key.PublicKeyCOSE, 1, assertion, h); !errors.Is(err, appattest.ErrCounter) {
		t.Errorf("replayed assertion: err %v", err)
	}
	if _, err := cfg.VerifyAssertion(key.PublicKeyCOSE, 0, assertion, sha256.Sum256([]byte("wurzel"))); !errors.Is(err, appattest.ErrSignature) {
		t.Errorf("assertion over another hash: err %v", err)
	}
}

func readB64(t testing.TB, path string) []byte {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
