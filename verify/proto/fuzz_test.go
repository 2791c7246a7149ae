package proto

import (
	"encoding/binary"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func seedFrames(t testing.TB) [][]byte {
	var out [][]byte
	for _, f := range []func() ([]byte, error){
		func() ([]byte, error) {
			return EncodeHello(Hello{SessionID: "vs_a", MobileWriteToken: "t", DeviceID: "d", HelloAssertion: []byte{1, 2}})
		},
		func() ([]byte, error) {
			return EncodePhase(PhaseUpdate{Phase: "nfc_complete", AttestAssertion: []byte{3}})
		},
		func() ([]byte, error) {
			return EncodeData(DataPayload{Kind: KindDG2, Raw: []byte("chunk"), ChunkIndex: 1, ChunkTotal: 3})
		},
		func() ([]byte, error) {
			return EncodeShareSelection(ShareSelection{SessionID: "vs_a", SelectedFieldKeys: []string{"a", " b", "a"}})
		},
	} {
		b, err := f()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	out = append(out,
		frameOf([]uint64{farPtr(1, 0, true)}, []uint64{farPtr(2, 0, false), structPtr(0, 1, 1)}, []uint64{1, structPtr(0, 0, 3), listPtr(2, elemByte, 3), 0, 0, 0x6162}),
		frameOf([]uint64{structPtr(0, 1, 1), 3, structPtr(0, 0, 2), 0, listPtr(0, elemPtr, 1<<29-1)}),
		frameOf([]uint64{structPtr(0, 1, 1), 4, 0}),
	)
	return out
}

// FuzzDecodeClient: hostile bytes never panic inside capnp-go (the decoder
// would contain it, but each such input wants its own guard), and whatever
// decodes re-encodes to the same message.
func FuzzDecodeClient(f *testing.F) {
	for _, s := range seedFrames(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		m, err := DecodeClient(frame)
		if err != nil {
			if strings.Contains(err.Error(), "capnp panic") {
				t.Fatalf("capnp-go panicked: %v", err)
			}
			return
		}
		var again []byte
		switch m.Kind {
		case ClientHello:
			again, err = EncodeHello(m.Hello)
		case ClientPhase:
			again, err = EncodePhase(m.Phase)
		case ClientData:
			again, err = EncodeData(m.Data)
		case ClientShareSelection:
			again, err = EncodeShareSelection(m.ShareSelection)
		default:
			t.Fatalf("decoded kind %d", m.Kind)
		}
		if err != nil {
			t.Fatal(err)
		}
		m2, err := DecodeClient(again)
		if err != nil || !reflect.DeepEqual(m, m2) {
			t.Fatalf("re-encoded %#v decodes as %#v, %v", m, m2, err)
		}
	})
}

func FuzzDecodeServer(f *testing.F) {
	for _, c := range serverCases() {
		b, err := c.enc()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		if _, err := DecodeServer(frame); err != nil && strings.Contains(err.Error(), "capnp panic") {
			t.Fatalf("capnp-go panicked: %v", err)
		}
	})
}

// FuzzAssembler drives an Assembler with a stream of small uploads (8 bytes
// an operation) and checks its invariants after each.
func FuzzAssembler(f *testing.F) {
	f.Add([]byte{3, 1, 0, 1, 0, 3, 4, 0, 3, 1, 0, 1, 2, 3, 1, 0, 3, 1, 0, 1, 1, 3, 9, 0})
	f.Add([]byte{5, 8, 0, 1, 0, 2, 10, 0, 6, 8, 0, 1, 1, 2, 3, 1, 4, 6, 0, 0, 0, 0, 8, 0})
	f.Add([]byte{0, 3, 0, 0, 0, 0, 1, 0, 3, 0, 1, 0, 0, 250, 1, 0, 3, 2, 0, 0, 4, 2, 0, 0})
	f.Fuzz(func(t *testing.T, ops []byte) {
		a := NewAssembler()
		okCodes := map[string]bool{
			CodeNFCDataPhaseRequired: true, CodeLivenessDataPhaseRequired: true, CodeFrameTooLarge: true,
			CodeLegacySelfieKindUnsupported: true, CodeUnknownDataKind: true, CodeTransferTooLarge: true,
			CodeDataChunkRetry: true, CodeChunkTotalTooLarge: true, CodeArtifactTooLarge: true,
			CodeActiveAuthPayloadInvalid: true,
		}
		var last uint64
		for len(ops) >= 8 {
			op := ops[:8]
			ops = ops[8:]
			chunkTotal := uint32(op[5] % 8)
			if op[5] >= 250 {
				chunkTotal = uint32(op[5]) + 6 // 256…261: around the limit
			}
			p := DataPayload{
				Kind: DataKind(op[1] % 11), Index: uint32(op[2] % 3), Total: uint32(op[3] % 3),
				ChunkIndex: uint32(op[4] % 9), ChunkTotal: chunkTotal,
				Raw: make([]byte, int(binary.LittleEndian.Uint16(op[6:]))%600),
			}
			phase := Phase(int(op[0]%8) - 1)
			ack, err := a.Add(phase, p)
			switch {
			case err != nil && ack != "", err == nil && ack == "":
				t.Fatalf("ack %q and error %v", ack, err)
			case err != nil:
				pe, ok := err.(*Error)
				if !ok || !okCodes[pe.Code] {
					t.Fatalf("error %v", err)
				}
				if pe.Code == CodeDataChunkRetry && !json.Valid([]byte(pe.Message)) {
					t.Fatalf("retry message %q", pe.Message)
				}
			case strings.HasPrefix(ack, "data_ok_"):
				if _, ok := a.Artefact(p.Kind); !ok {
					t.Fatalf("%s but nothing stored", ack)
				}
			case ack != AckDataChunk(p.Kind, p.Index, p.ChunkIndex):
				t.Fatalf("ack %q", ack)
			}
			if a.Received() < last || a.Received() > MaxConnectionBytes {
				t.Fatalf("received %d after %d", a.Received(), last)
			}
			last = a.Received()
			var held uint64
			for k := range numKinds {
				held += uint64(len(a.artefacts[k]))
				if len(a.artefacts[k]) > MaxArtefactBytes {
					t.Fatalf("artefact of %d bytes", len(a.artefacts[k]))
				}
			}
			for _, e := range a.pending {
				held += e.bytes
				if e.chunkTotal < 2 || e.chunkTotal > MaxChunkTotal || e.index != 0 || e.count >= int(e.chunkTotal) {
					t.Fatalf("pending entry %+v", e)
				}
			}
			if held > a.Received() {
				t.Fatalf("holds %d bytes on a budget of %d", held, a.Received())
			}
			for _, err := range []error{a.MissingNFC(), a.MissingLiveness()} {
				if err != nil && !json.Valid([]byte(err.(*Error).Message)) {
					t.Fatalf("missing message %q", err.(*Error).Message)
				}
			}
		}
	})
}
