package passiveauth_test

import (
	"testing"
	"time"

	pa "github.com/kayle-id/orgs-api/verify/passiveauth"
)

// Hostile SODs and certificates: no input makes Verify or the certificate
// parser panic; the seeds (a valid SOD, its DSC and CSCA, and truncations)
// run in every `go test`.
func FuzzVerify(f *testing.F) {
	w := newWorld(f)
	dsc := newDSC(f, w.ecCSCA, "p256b", "UT", nil)
	dgs := dataGroups()
	for _, attrs := range []bool{false, true} {
		sod := buildSOD(f, dsc.cert, dsc.key, dgs, sodSpec{Embed: true, SignedAttrs: attrs})
		f.Add(sod)
		f.Add(sod[:len(sod)/2])
	}
	f.Add([]byte{0x77, 0x00})
	f.Fuzz(func(t *testing.T, sod []byte) {
		start := time.Now()
		res, err := verify(sod, dgs, w.store, opts())
		if err == nil && res == nil {
			t.Fatal("nil result without error")
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("took %v", d)
		}
	})
}

func FuzzParseCertificate(f *testing.F) {
	w := newWorld(f)
	f.Add(w.ecCSCA.cert.Raw)
	f.Add(w.rsaCSCA.cert.Raw)
	f.Add(newDSC(f, w.ecCSCA, "p256b", "UT", nil).cert.Raw)
	f.Fuzz(func(t *testing.T, der []byte) {
		c, err := pa.ParseCertificate(der)
		if err == nil && (c.RawTBS == nil || c.SPKI == nil) {
			t.Fatal("parsed without TBS or key")
		}
	})
}
