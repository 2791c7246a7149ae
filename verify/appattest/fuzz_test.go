package appattest_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/kayle-id/orgs-api/verify/appattest"
	"github.com/kayle-id/orgs-api/verify/appattest/attesttest"
)

// The fuzz targets hold the verifiers to three things on any input: no
// panic, an error that matches ErrInvalid, and no success for bytes the
// real key did not produce for this hash.
func FuzzVerifyAttestation(f *testing.F) {
	key := attesttest.NewDeviceKey()
	h := cdh("fuzz")
	keyID := attesttest.KeyID(&key.PublicKey)
	cfg := attesttest.Default().Config(appattest.Production)
	valid := mustAttest(f, key, h, attesttest.Options{})
	f.Add(valid)
	f.Add(readB64(f, "testdata/apple-device-ios14.4.att.b64"))
	f.Add(mustAttest(f, key, h, attesttest.Options{Counter: 1}))
	f.Add([]byte{0xa0})
	f.Add([]byte{0x81, 0x81, 0x81, 0x81, 0x81, 0x00})
	f.Fuzz(func(t *testing.T, in []byte) {
		k, err := cfg.VerifyAttestation(keyID, in, h)
		if err != nil {
			if !errors.Is(err, appattest.ErrInvalid) {
				t.Fatalf("error %v does not match ErrInvalid", err)
			}
			return
		}
		if !bytes.Equal(k.KeyID, keyID) || !bytes.Equal(k.PublicKeyCOSE, attesttest.COSEKey(&key.PublicKey)) {
			t.Fatalf("accepted a key that is not the device's: %+v", k)
		}
	})
}

func FuzzVerifyAssertion(f *testing.F) {
	key := attesttest.NewDeviceKey()
	h := cdh("fuzz")
	cose := attesttest.COSEKey(&key.PublicKey)
	cfg := attesttest.Default().Config(appattest.Production)
	f.Add(mustAssert(f, key, 1, h, attesttest.AssertionOptions{}), uint32(0))
	f.Add(mustAssert(f, key, 9, h, attesttest.AssertionOptions{Flags: 0x40}), uint32(8))
	f.Add(readB64(f, "testdata/apple-device-ios14.4.assert.b64"), uint32(0))
	f.Add([]byte{0xa2, 0x69, 's', 'i', 'g', 'n', 'a', 't', 'u', 'r', 'e', 0x40}, uint32(0))
	f.Fuzz(func(t *testing.T, in []byte, stored uint32) {
		n, err := cfg.VerifyAssertion(cose, stored, in, h)
		if err != nil {
			if !errors.Is(err, appattest.ErrInvalid) {
				t.Fatalf("error %v does not match ErrInvalid", err)
			}
			return
		}
		if n <= stored {
			t.Fatalf("accepted counter %d over stored %d", n, stored)
		}
	})
}
