package proto

import (
	"bytes"
	"errors"
	"testing"
)

func wantErr(t *testing.T, err error, code, message string) {
	t.Helper()
	var pe *Error
	if !errors.As(err, &pe) {
		t.Fatalf("got %v, want %s", err, code)
	}
	if pe.Code != code || message != "" && pe.Message != message {
		t.Fatalf("got %s %q, want %s %q", pe.Code, pe.Message, code, message)
	}
}

func wantAck(t *testing.T, ack string, err error, want string) {
	t.Helper()
	if err != nil || ack != want {
		t.Fatalf("got %q, %v; want ack %q", ack, err, want)
	}
}

// okAdd(t).ack(a.Add(…)) fails the test on an error and returns the ack.
type adder struct{ t *testing.T }

func okAdd(t *testing.T) adder { return adder{t} }

func (a adder) ack(ack string, err error) string {
	a.t.Helper()
	if err != nil || ack == "" {
		a.t.Fatalf("got %q, %v; want an ack", ack, err)
	}
	return ack
}

// Every refusal of §5.7, one case each, with the exact message.
func TestAssemblerErrors(t *testing.T) {
	big := make([]byte, MaxFrameBytes+1)
	cases := []struct {
		name    string
		phase   Phase
		p       DataPayload
		code    string
		message string
	}{
		{"NFC kind before nfc_reading", PhaseMRZComplete, DataPayload{Kind: KindDG1, Raw: []byte{1}}, CodeNFCDataPhaseRequired, "Scan your document when prompted."},
		{"NFC kind with no phase", PhaseNone, DataPayload{Kind: KindChipAuth, Raw: []byte{1}}, CodeNFCDataPhaseRequired, ""},
		{"video before liveness_capturing", PhaseNFCComplete, DataPayload{Kind: KindLivenessVideo, Raw: []byte{1}, Total: 1}, CodeLivenessDataPhaseRequired, "Follow the head-movement prompts to continue."},
		{"phase gate before size", PhaseNFCComplete, DataPayload{Kind: KindLivenessVideo, Raw: big, Total: 1}, CodeLivenessDataPhaseRequired, ""},
		{"raw over 256 KiB", PhaseNFCReading, DataPayload{Kind: KindDG2, Raw: big}, CodeFrameTooLarge, "Verify frame exceeds the maximum allowed size."},
		{"size before kind", PhaseNone, DataPayload{Kind: KindSelfie, Raw: big}, CodeFrameTooLarge, ""},
		{"selfie (no phase gate)", PhaseNone, DataPayload{Kind: KindSelfie, Raw: []byte{1}}, CodeLegacySelfieKindUnsupported, "Legacy three-still selfie uploads are no longer accepted. Upgrade the client and re-attempt verification."},
		{"unknown kind 9", PhaseLivenessComplete, DataPayload{Kind: 9}, CodeUnknownDataKind, "Unknown data kind."},
		{"unknown kind 65535", PhaseNone, DataPayload{Kind: 65535}, CodeUnknownDataKind, ""},
		{"NFC index 1", PhaseNFCReading, DataPayload{Kind: KindSOD, Index: 1, ChunkIndex: 0}, CodeDataChunkRetry, `{"kind":2,"index":1,"chunkIndex":0,"reason":"invalid_nfc_index"}`},
		{"video total 2", PhaseLivenessCapturing, DataPayload{Kind: KindLivenessVideo, Total: 2, ChunkIndex: 4, ChunkTotal: 9}, CodeDataChunkRetry, `{"kind":8,"index":0,"chunkIndex":4,"reason":"invalid_liveness_artifact_total"}`},
		{"video total 0", PhaseLivenessCapturing, DataPayload{Kind: KindLivenessVideo}, CodeDataChunkRetry, `{"kind":8,"index":0,"chunkIndex":0,"reason":"invalid_liveness_artifact_total"}`},
		{"video index 1", PhaseLivenessCapturing, DataPayload{Kind: KindLivenessVideo, Index: 1, Total: 1}, CodeDataChunkRetry, `{"kind":8,"index":1,"chunkIndex":0,"reason":"invalid_liveness_artifact_index"}`},
		{"chunkIndex = chunkTotal", PhaseNFCReading, DataPayload{Kind: KindDG15, ChunkIndex: 3, ChunkTotal: 3}, CodeDataChunkRetry, `{"kind":5,"index":0,"chunkIndex":3,"reason":"invalid_chunk_range"}`},
		{"chunkIndex 1 of chunkTotal 0 (read as 1)", PhaseNFCReading, DataPayload{Kind: KindDG14, ChunkIndex: 1}, CodeDataChunkRetry, `{"kind":4,"index":0,"chunkIndex":1,"reason":"invalid_chunk_range"}`},
		{"range before chunk total limit", PhaseNFCReading, DataPayload{Kind: KindDG2, ChunkIndex: 300, ChunkTotal: 257}, CodeDataChunkRetry, `{"kind":1,"index":0,"chunkIndex":300,"reason":"invalid_chunk_range"}`},
		{"chunkTotal 257", PhaseNFCReading, DataPayload{Kind: KindDG2, ChunkIndex: 0, ChunkTotal: 257}, CodeChunkTotalTooLarge, "chunkTotal exceeds the maximum allowed value."},
		{"activeAuth of 8 bytes", PhaseNFCReading, DataPayload{Kind: KindActiveAuth, Raw: make([]byte, 8)}, CodeActiveAuthPayloadInvalid, "Active authentication payload is invalid."},
		{"activeAuth empty", PhaseNFCReading, DataPayload{Kind: KindActiveAuth}, CodeActiveAuthPayloadInvalid, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := NewAssembler()
			ack, err := a.Add(c.phase, c.p)
			if ack != "" {
				t.Fatalf("ack %q with an error", ack)
			}
			wantErr(t, err, c.code, c.message)
			if _, ok := a.Artefact(c.p.Kind); ok {
				t.Fatal("a refused upload was stored")
			}
		})
	}
}

func TestAssemblerChunkTotalMismatch(t *testing.T) {
	a := NewAssembler()
	ack, err := a.Add(PhaseNFCReading, DataPayload{Kind: KindDG2, Raw: []byte{1}, ChunkIndex: 0, ChunkTotal: 3})
	wantAck(t, ack, err, "data_chunk_ok_1_0_0")
	_, err = a.Add(PhaseNFCReading, DataPayload{Kind: KindDG2, Raw: []byte{2}, ChunkIndex: 1, ChunkTotal: 4})
	wantErr(t, err, CodeDataChunkRetry, `{"kind":1,"index":0,"chunkIndex":1,"reason":"chunk_total_mismatch"}`)
	// A one-chunk upload of the same kind meets the pending entry too.
	_, err = a.Add(PhaseNFCReading, DataPayload{Kind: KindDG2, Raw: []byte{2}})
	wantErr(t, err, CodeDataChunkRetry, `{"kind":1,"index":0,"chunkIndex":0,"reason":"chunk_total_mismatch"}`)
	// Other kinds are not affected, and the entry still completes.
	ack, err = a.Add(PhaseNFCReading, DataPayload{Kind: KindDG1, Raw: []byte{9}})
	wantAck(t, ack, err, "data_ok_0_0")
	for i, want := range []string{"", "data_chunk_ok_1_0_1", "data_ok_1_0"} {
		if i == 0 {
			continue
		}
		ack, err = a.Add(PhaseNFCReading, DataPayload{Kind: KindDG2, Raw: []byte{byte(i + 1)}, ChunkIndex: uint32(i), ChunkTotal: 3})
		wantAck(t, ack, err, want)
	}
	if got, _ := a.Artefact(KindDG2); !bytes.Equal(got, []byte{1, 2, 3}) {
		t.Fatalf("dg2 = %v", got)
	}
}

func TestAssemblerOutOfOrderReassembly(t *testing.T) {
	a := NewAssembler()
	order := []uint32{3, 0, 2, 0, 1} // chunk 0 twice: the repeat replaces it
	parts := map[uint32][]byte{0: []byte("AA"), 1: []byte("B"), 2: []byte("CCC"), 3: []byte("")}
	for n, i := range order {
		raw := parts[i]
		if n == 3 {
			raw = []byte("aa")
		}
		ack, err := a.Add(PhaseNFCComplete, DataPayload{Kind: KindSOD, Raw: raw, Total: 7, ChunkIndex: i, ChunkTotal: 4})
		want := AckDataChunk(KindSOD, 0, i)
		if n == len(order)-1 {
			want = "data_ok_2_0"
		}
		wantAck(t, ack, err, want)
	}
	got, ok := a.Artefact(KindSOD)
	if !ok || string(got) != "aaBCCC" {
		t.Fatalf("sod = %q, %v", got, ok)
	}
	if a.Received() != 6 { // "", AA, CCC, B; the re-sent aa is the same size, counted once
		t.Fatalf("received %d", a.Received())
	}
}

func TestAssemblerReplaceOnComplete(t *testing.T) {
	a := NewAssembler()
	okAdd(t).ack(a.Add(PhaseNFCReading, DataPayload{Kind: KindDG1, Raw: []byte("first")}))
	// A second upload, chunked this time, replaces the first once complete.
	ack, err := a.Add(PhaseLivenessComplete, DataPayload{Kind: KindDG1, Raw: []byte("sec"), ChunkTotal: 2})
	wantAck(t, ack, err, "data_chunk_ok_0_0_0")
	if got, _ := a.Artefact(KindDG1); string(got) != "first" {
		t.Fatalf("replaced before completion: %q", got)
	}
	okAdd(t).ack(a.Add(PhaseLivenessComplete, DataPayload{Kind: KindDG1, Raw: []byte("ond"), ChunkIndex: 1, ChunkTotal: 2}))
	if got, _ := a.Artefact(KindDG1); string(got) != "second" {
		t.Fatalf("dg1 = %q", got)
	}
	// activeAuth splits into the signed challenge and the signature.
	okAdd(t).ack(a.Add(PhaseNFCReading, DataPayload{Kind: KindActiveAuth, Raw: []byte("12345678sig")}))
	c, s, ok := a.ActiveAuth()
	if !ok || string(c) != "12345678" || string(s) != "sig" {
		t.Fatalf("ActiveAuth = %q %q %v", c, s, ok)
	}
}

func TestAssemblerTransferBudget(t *testing.T) {
	a := NewAssembler()
	full := make([]byte, MaxFrameBytes)
	// 192 full chunks are exactly 48 MiB.
	for i := uint32(0); i < MaxConnectionBytes/MaxFrameBytes; i++ {
		ack, err := a.Add(PhaseNFCReading, DataPayload{Kind: KindDG2, Raw: full, ChunkIndex: i, ChunkTotal: 256})
		wantAck(t, ack, err, AckDataChunk(KindDG2, 0, i))
	}
	if a.Received() != MaxConnectionBytes {
		t.Fatalf("received %d", a.Received())
	}
	// One byte more is refused, before any other rule (index 1 would be a
	// retry error otherwise), and for every kind.
	_, err := a.Add(PhaseNFCReading, DataPayload{Kind: KindDG1, Raw: []byte{1}, Index: 1})
	wantErr(t, err, CodeTransferTooLarge, "Verify transfer exceeds the maximum allowed size.")
	_, err = a.Add(PhaseLivenessCapturing, DataPayload{Kind: KindLivenessVideo, Raw: []byte{1}, Total: 1})
	wantErr(t, err, CodeTransferTooLarge, "")
	// An empty chunk costs nothing; a re-sent chunk of the same size is
	// counted once.
	okAdd(t).ack(a.Add(PhaseNFCReading, DataPayload{Kind: KindDG2, ChunkIndex: 200, ChunkTotal: 256}))
	ack, err := a.Add(PhaseNFCReading, DataPayload{Kind: KindDG2, Raw: full, ChunkIndex: 7, ChunkTotal: 256})
	wantAck(t, ack, err, "data_chunk_ok_1_0_7")
	// Shrinking a chunk gives nothing back, and growing it again is counted.
	okAdd(t).ack(a.Add(PhaseNFCReading, DataPayload{Kind: KindDG2, Raw: []byte{1}, ChunkIndex: 7, ChunkTotal: 256}))
	_, err = a.Add(PhaseNFCReading, DataPayload{Kind: KindDG2, Raw: full, ChunkIndex: 7, ChunkTotal: 256})
	wantErr(t, err, CodeTransferTooLarge, "")
	// Rewinds clear buffers, not the counter.
	a.ClearNFC()
	if a.Received() != MaxConnectionBytes {
		t.Fatalf("received %d after ClearNFC", a.Received())
	}
	_, err = a.Add(PhaseNFCReading, DataPayload{Kind: KindDG1, Raw: []byte{1}})
	wantErr(t, err, CodeTransferTooLarge, "")
}

func TestAssemblerArtefactSize(t *testing.T) {
	a := NewAssembler()
	full := make([]byte, MaxFrameBytes)
	// 64 full chunks are exactly 16 MiB: accepted.
	for i := uint32(0); i < 64; i++ {
		if _, err := a.Add(PhaseNFCReading, DataPayload{Kind: KindDG2, Raw: full, ChunkIndex: i, ChunkTotal: 64}); err != nil {
			t.Fatal(err)
		}
	}
	if got, ok := a.Artefact(KindDG2); !ok || len(got) != MaxArtefactBytes {
		t.Fatalf("16 MiB artefact: %d, %v", len(got), ok)
	}
	// One byte more, on completion: refused and the entry dropped.
	b := NewAssembler()
	for i := uint32(0); i < 65; i++ {
		raw := full
		if i == 64 {
			raw = []byte{1}
		}
		ack, err := b.Add(PhaseNFCReading, DataPayload{Kind: KindSOD, Raw: raw, ChunkIndex: i, ChunkTotal: 65})
		if i < 64 {
			wantAck(t, ack, err, AckDataChunk(KindSOD, 0, i))
			continue
		}
		wantErr(t, err, CodeArtifactTooLarge, "Verify artifact exceeds the maximum allowed size.")
	}
	if _, ok := b.Artefact(KindSOD); ok {
		t.Fatal("oversized artefact stored")
	}
	wantErr(t, b.MissingNFC(), CodeNFCRequiredDataMissing, `{"missing_artifacts":["dg1","dg2","sod"],"missing_chunks":[]}`)
}

func TestAssemblerMissingReports(t *testing.T) {
	a := NewAssembler()
	// §5.6 step 2's example, exactly.
	for i := uint32(0); i < 2; i++ {
		if _, err := a.Add(PhaseNFCReading, DataPayload{Kind: KindDG2, Raw: []byte{1}, ChunkIndex: i, ChunkTotal: 3}); err != nil {
			t.Fatal(err)
		}
	}
	wantErr(t, a.MissingNFC(), CodeNFCRequiredDataMissing,
		`{"missing_artifacts":["dg1","dg2","sod"],"missing_chunks":[{"kind":1,"index":0,"chunk_total":3,"missing_chunk_indices":[2]}]}`)
	wantErr(t, a.MissingLiveness(), CodeNFCRequiredDataMissing, "")
	for _, k := range []DataKind{KindDG1, KindSOD} {
		if _, err := a.Add(PhaseNFCReading, DataPayload{Kind: k, Raw: []byte{1}}); err != nil {
			t.Fatal(err)
		}
	}
	// A half-received optional artefact also blocks, listed in arrival order.
	if _, err := a.Add(PhaseNFCReading, DataPayload{Kind: KindDG15, Raw: []byte{1}, ChunkIndex: 3, ChunkTotal: 5}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, a.MissingNFC(), CodeNFCRequiredDataMissing,
		`{"missing_artifacts":["dg2"],"missing_chunks":[{"kind":1,"index":0,"chunk_total":3,"missing_chunk_indices":[2]},{"kind":5,"index":0,"chunk_total":5,"missing_chunk_indices":[0,1,2,4]}]}`)
	if _, err := a.Add(PhaseNFCReading, DataPayload{Kind: KindDG2, Raw: []byte{1}, ChunkIndex: 2, ChunkTotal: 3}); err != nil {
		t.Fatal(err)
	}
	a.ClearNFC()
	wantErr(t, a.MissingNFC(), CodeNFCRequiredDataMissing, `{"missing_artifacts":["dg1","dg2","sod"],"missing_chunks":[]}`)
	for _, k := range []DataKind{KindDG1, KindDG2, KindSOD} {
		if _, err := a.Add(PhaseNFCReading, DataPayload{Kind: k, Raw: []byte{1}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.MissingNFC(); err != nil {
		t.Fatal(err)
	}
	wantErr(t, a.MissingLiveness(), CodeLivenessRequiredDataMissing, `{"received_bytes":0,"missing_chunks":[]}`)
	if _, err := a.Add(PhaseLivenessCapturing, DataPayload{Kind: KindLivenessVideo, Raw: []byte("abcde"), Total: 1, ChunkIndex: 1, ChunkTotal: 3}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, a.MissingLiveness(), CodeLivenessRequiredDataMissing, `{"received_bytes":5,"missing_chunks":[{"kind":8,"index":0,"chunk_total":3,"missing_chunk_indices":[0,2]}]}`)
	a.ClearLivenessVideo()
	wantErr(t, a.MissingLiveness(), CodeLivenessRequiredDataMissing, `{"received_bytes":0,"missing_chunks":[]}`)
	okAdd(t).ack(a.Add(PhaseLivenessComplete, DataPayload{Kind: KindLivenessVideo, Raw: []byte("v"), Total: 1}))
	if err := a.MissingLiveness(); err != nil {
		t.Fatal(err)
	}
	if _, ok := a.Artefact(KindDG1); !ok {
		t.Fatal("ClearLivenessVideo dropped dg1")
	}
}
