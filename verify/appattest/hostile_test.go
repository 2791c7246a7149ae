package appattest_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/kayle-id/orgs-api/verify/appattest"
	"github.com/kayle-id/orgs-api/verify/appattest/attesttest"
)

// hostileCBOR is input no honest device sends, each aimed at a decoder's
// work bounds or at a way two parsers could read the same bytes apart.
func hostileCBOR(t *testing.T, valid []byte) map[string][]byte {
	t.Helper()
	deep := bytes.Repeat([]byte{0x81}, 60_000) // [[[[…
	deep = append(deep, 0x00)
	deepMap := bytes.Repeat([]byte{0xa1, 0x61, 'k'}, 20_000)
	deepMap = append(deepMap, 0x00)
	return map[string][]byte{
		"empty":                    {},
		"deep arrays":              deep,
		"deep maps":                deepMap,
		"byte string of 2^64-1":    {0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		"byte string of 2^32-1":    {0x5a, 0xff, 0xff, 0xff, 0xff, 0x00},
		"array of 2^32-1":          {0x9a, 0xff, 0xff, 0xff, 0xff, 0x00},
		"map of 2^64-1 pairs":      {0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		"array of 17":              append([]byte{0x91}, bytes.Repeat([]byte{0x00}, 17)...),
		"map of 17 pairs":          mapOf(17),
		"indefinite byte string":   {0x5f, 0x41, 0x00, 0xff},
		"indefinite map":           {0xbf, 0x63, 'f', 'm', 't', 0x60, 0xff},
		"tag around the object":    append([]byte{0xd8, 0x18}, valid...),
		"self-described CBOR tag":  append([]byte{0xd9, 0xd9, 0xf7}, valid...),
		"trailing byte":            append(bytes.Clone(valid), 0x00),
		"two objects":              append(bytes.Clone(valid), valid...),
		"truncated":                valid[:len(valid)-1],
		"duplicate key":            dupKey(valid),
		"key in other case":        replace(valid, "\x63fmt", "\x63FMT", "\x69signature", "\x69SIGNATURE"),
		"array instead of map":     {0x83, 0x00, 0x00, 0x00},
		"float":                    {0xfb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0},
		"invalid UTF-8 key":        {0xa1, 0x62, 0xff, 0xfe, 0x00},
		"reserved additional info": {0x1c},
		"break outside indefinite": {0xff},
		"unknown simple value":     {0xf8, 0x20},
		"text where bytes belong":  replace(valid, "\x68authData\x58", "\x68authData\x78", "\x69signature\x58", "\x69signature\x78"),
	}
}

// replace applies old/new pairs, and fails the test if none matched.
func replace(valid []byte, pairs ...string) []byte {
	out := bytes.Clone(valid)
	for i := 0; i < len(pairs); i += 2 {
		out = bytes.Replace(out, []byte(pairs[i]), []byte(pairs[i+1]), 1)
	}
	if bytes.Equal(out, valid) {
		panic("mutation matched nothing")
	}
	return out
}

func mapOf(n int) []byte {
	b := []byte{0xb1}
	for i := range n {
		b = append(b, byte(i), 0x00)
	}
	return b
}

// dupKey repeats the object's first key-value pair: {k1: v1, k1: v1, …}.
func dupKey(valid []byte) []byte {
	var k, v cbor.RawMessage
	rest, err := cbor.UnmarshalFirst(valid[1:], &k)
	if err != nil {
		panic(err)
	}
	if _, err := cbor.UnmarshalFirst(rest, &v); err != nil {
		panic(err)
	}
	out := []byte{valid[0] + 1} // a small map: the count is in the first byte
	out = append(out, k...)
	out = append(out, v...)
	return append(out, valid[1:]...)
}

func TestHostileCBORRefusedQuickly(t *testing.T) {
	key := attesttest.NewDeviceKey()
	h := cdh("hostile")
	att := mustAttest(t, key, h, attesttest.Options{})
	as := mustAssert(t, key, 1, h, attesttest.AssertionOptions{})
	cfg := attesttest.Default().Config(appattest.Production)
	keyID := attesttest.KeyID(&key.PublicKey)
	cose := attesttest.COSEKey(&key.PublicKey)

	// The valid objects pass, so a refusal below is the mutation's doing.
	if _, err := cfg.VerifyAttestation(keyID, att, h); err != nil {
		t.Fatal(err)
	}
	if _, err := cfg.VerifyAssertion(cose, 0, as, h); err != nil {
		t.Fatal(err)
	}
	for name, in := range hostileCBOR(t, att) {
		start := time.Now()
		_, err := cfg.VerifyAttestation(keyID, in, h)
		if !errors.Is(err, appattest.ErrMalformed) {
			t.Errorf("attestation, %s: err %v, want ErrMalformed", name, err)
		}
		if d := time.Since(start); d > 250*time.Millisecond {
			t.Errorf("attestation, %s: %v", name, d)
		}
	}
	for name, in := range hostileCBOR(t, as) {
		if len(in) > appattest.MaxAssertionSize {
			continue // the size cap answers first; checked below
		}
		start := time.Now()
		_, err := cfg.VerifyAssertion(cose, 0, in, h)
		if !errors.Is(err, appattest.ErrMalformed) {
			t.Errorf("assertion, %s: err %v, want ErrMalformed", name, err)
		}
		if d := time.Since(start); d > 250*time.Millisecond {
			t.Errorf("assertion, %s: %v", name, d)
		}
	}
	// Stored COSE keys are decoded under the same mode.
	for name, in := range map[string][]byte{"duplicate kty": {0xa2, 0x01, 0x02, 0x01, 0x02}, "tagged": append([]byte{0xc0}, cose...), "trailing": append(bytes.Clone(cose), 0x00)} {
		if _, err := cfg.VerifyAssertion(in, 0, as, h); !errors.Is(err, appattest.ErrCOSEKey) {
			t.Errorf("COSE key, %s: err %v", name, err)
		}
	}
}

func TestSizeCaps(t *testing.T) {
	cfg := attesttest.Default().Config(appattest.Production)
	key := attesttest.NewDeviceKey()
	h := cdh("size")
	big := attesttest.EncodeCBOR(map[string]any{"fmt": "apple-appattest", "attStmt": map[string]any{}, "authData": make([]byte, appattest.MaxAttestationSize)})
	if _, err := cfg.VerifyAttestation(attesttest.KeyID(&key.PublicKey), big, h); !errors.Is(err, appattest.ErrTooLarge) {
		t.Fatalf("attestation over 64 KiB: %v", err)
	}
	// A receipt that fills the object to exactly the cap is still read.
	var obj struct {
		Fmt     string `cbor:"fmt"`
		AttStmt struct {
			X5C     [][]byte `cbor:"x5c"`
			Receipt []byte   `cbor:"receipt"`
		} `cbor:"attStmt"`
		AuthData []byte `cbor:"authData"`
	}
	if err := decodeCBOR(mustAttest(t, key, h, attesttest.Options{}), &obj); err != nil {
		t.Fatal(err)
	}
	build := func(n int) []byte {
		obj.AttStmt.Receipt = bytes.Repeat([]byte("r"), n)
		return attesttest.EncodeCBOR(obj)
	}
	n := appattest.MaxAttestationSize - 6000
	n += appattest.MaxAttestationSize - len(build(n)) // the length header is 3 bytes throughout
	att := build(n)
	if len(att) != appattest.MaxAttestationSize {
		t.Fatalf("built %d bytes", len(att))
	}
	if _, err := cfg.VerifyAttestation(attesttest.KeyID(&key.PublicKey), att, h); err != nil {
		t.Fatalf("attestation of exactly 64 KiB: %v", err)
	}
	if _, err := cfg.VerifyAttestation(attesttest.KeyID(&key.PublicKey), build(n+1), h); !errors.Is(err, appattest.ErrTooLarge) {
		t.Fatalf("attestation of 64 KiB + 1: %v", err)
	}
	bigAs := attesttest.EncodeCBOR(map[string]any{"signature": make([]byte, appattest.MaxAssertionSize), "authenticatorData": []byte{}})
	if _, err := cfg.VerifyAssertion(attesttest.COSEKey(&key.PublicKey), 0, bigAs, h); !errors.Is(err, appattest.ErrTooLarge) {
		t.Fatalf("assertion over 4 KiB: %v", err)
	}
}

func decodeCBOR(b []byte, v any) error { return cbor.Unmarshal(b, v) }
