package biometric_test

import (
	"bytes"
	"io"
	"net/http"
	"runtime"
	"testing"

	"github.com/kayle-id/orgs-api/verify/biometric"
	"github.com/kayle-id/orgs-api/verify/biometric/biotest"
)

// drainingVerifier answers accept after reading and dropping the body, so
// what is measured is the client's side.
func drainingVerifier(tb testing.TB) *biotest.Server {
	srv := biotest.New(tb, secret)
	srv.SetHandler("/verify", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"livenessPassed":true,"livenessScore":0.95,"faceMatchPassed":true,"faceMatchScore":0.95,"padPassed":true,"padScore":0.95,"usedFallback":false,"reason":null,"faceMatchAlignment":"mesh"}`))
	}))
	return srv
}

func largest() biometric.Input {
	return biometric.Input{
		DG2:       bytes.Repeat([]byte{1}, biometric.MaxDG2),
		Video:     bytes.Repeat([]byte{2}, biometric.MaxVideo),
		Nonce:     []byte{1, 2, 3, 4},
		Threshold: 0.8,
	}
}

// The body is streamed from the caller's slices: sending the largest
// inputs (20 MiB) allocates a small fraction of them.
func TestVerifyDoesNotCopyInputs(t *testing.T) {
	srv := drainingVerifier(t)
	cl := newClient(t, srv.URL)
	in := largest()
	if _, err := cl.Verify(t.Context(), in); err != nil { // warm the connection and the ready cache
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if _, err := cl.Verify(t.Context(), in); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > 4<<20 {
		t.Fatalf("one Verify of %d bytes allocated %d bytes", len(in.DG2)+len(in.Video), n)
	}
}

// BenchmarkVerify is one /verify of the largest inputs over loopback.
func BenchmarkVerify(b *testing.B) {
	srv := drainingVerifier(b)
	cl, err := biometric.New(biometric.Config{BaseURL: srv.URL, Secret: secret, AllowPrivate: true})
	if err != nil {
		b.Fatal(err)
	}
	in := largest()
	b.SetBytes(int64(len(in.DG2) + len(in.Video)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := cl.Verify(b.Context(), in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifySmall is the per-call overhead with stub-sized inputs.
func BenchmarkVerifySmall(b *testing.B) {
	srv := drainingVerifier(b)
	cl, err := biometric.New(biometric.Config{BaseURL: srv.URL, Secret: secret, AllowPrivate: true})
	if err != nil {
		b.Fatal(err)
	}
	in := input(biotest.StubVideo(biotest.Accept))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := cl.Verify(b.Context(), in); err != nil {
			b.Fatal(err)
		}
	}
}
