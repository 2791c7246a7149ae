package proto

import "testing"

// The iOS app's chunk: one 224 KiB data frame decoded (one copy of raw).
func BenchmarkDecodeData224KiB(b *testing.B) {
	frame, err := EncodeData(DataPayload{Kind: KindDG2, Raw: make([]byte, 224<<10), ChunkIndex: 1, ChunkTotal: 5})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeClient(frame); err != nil {
			b.Fatal(err)
		}
	}
}

// A 1 MiB artefact in 224 KiB chunks, decoded and assembled, per connection.
func BenchmarkAssemble1MiB(b *testing.B) {
	const size, chunk = 1 << 20, 224 << 10
	var frames [][]byte
	total := uint32((size + chunk - 1) / chunk)
	for i := uint32(0); i < total; i++ {
		n := min(chunk, size-int(i)*chunk)
		f, err := EncodeData(DataPayload{Kind: KindLivenessVideo, Raw: make([]byte, n), Total: 1, ChunkIndex: i, ChunkTotal: total})
		if err != nil {
			b.Fatal(err)
		}
		frames = append(frames, f)
	}
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		a := NewAssembler()
		for _, f := range frames {
			m, err := DecodeClient(f)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := a.Add(PhaseLivenessCapturing, m.Data); err != nil {
				b.Fatal(err)
			}
		}
		if v, ok := a.Artefact(KindLivenessVideo); !ok || len(v) != size {
			b.Fatal("not assembled")
		}
	}
}
