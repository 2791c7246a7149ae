package proto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Hand-built frames: Cap'n Proto pointers (encoding spec, "Pointers").

func structPtr(off int32, dataWords, ptrs uint16) uint64 {
	return uint64(uint32(off)<<2) | uint64(dataWords)<<32 | uint64(ptrs)<<48
}

const (
	elemByte = 2
	elemPtr  = 6
)

func listPtr(off int32, elemSize uint8, count uint32) uint64 {
	return 1 | uint64(uint32(off)<<2) | uint64(elemSize)<<32 | uint64(count)<<35
}

func farPtr(seg, off uint32, double bool) uint64 {
	p := 2 | uint64(off)<<3 | uint64(seg)<<32
	if double {
		p |= 4
	}
	return p
}

// textWords packs s plus its NUL into whole words.
func textWords(s string) []uint64 {
	b := append([]byte(s), 0)
	for len(b)%8 != 0 {
		b = append(b, 0)
	}
	w := make([]uint64, len(b)/8)
	for i := range w {
		w[i] = binary.LittleEndian.Uint64(b[8*i:])
	}
	return w
}

// frameOf lays segments out in the standard stream framing.
func frameOf(segs ...[]uint64) []byte {
	var b []byte
	b = binary.LittleEndian.AppendUint32(b, uint32(len(segs)-1))
	for _, s := range segs {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
	}
	if len(b)%8 != 0 {
		b = binary.LittleEndian.AppendUint32(b, 0)
	}
	for _, s := range segs {
		for _, w := range s {
			b = binary.LittleEndian.AppendUint64(b, w)
		}
	}
	return b
}

// phaseMessage is ClientMessage.phase{phase: s} in one segment.
func phaseWords(s string) []uint64 {
	t := textWords(s)
	w := []uint64{
		structPtr(0, 1, 1),                     // root → w1
		1,                                      // discriminant: phase
		structPtr(0, 0, 3),                     // → PhaseUpdate at w3
		listPtr(2, elemByte, uint32(len(s)+1)), // phase → w6
		0, 0,                                   // error, attestAssertion
	}
	return append(w, t...)
}

func TestDecodeHandBuiltFrames(t *testing.T) {
	phase := ClientMessage{Kind: ClientPhase, Phase: PhaseUpdate{Phase: "nfc_reading"}}
	seg1 := []uint64{structPtr(0, 1, 1), 1, structPtr(0, 0, 3), listPtr(2, elemByte, 12), 0, 0}
	seg1 = append(seg1, textWords("nfc_reading")...)
	seg2 := []uint64{1, structPtr(0, 0, 3), listPtr(2, elemByte, 12), 0, 0}
	seg2 = append(seg2, textWords("nfc_reading")...)
	for name, frame := range map[string][]byte{
		"one segment": frameOf(phaseWords("nfc_reading")),
		// Root through a far pointer into a second segment, as an encoder
		// does when a message outgrows its first segment.
		"far pointer": frameOf([]uint64{farPtr(1, 0, false)}, seg1),
		// Double-far: a two-word landing pad in segment 1, content in 2.
		"double-far pointer": frameOf([]uint64{farPtr(1, 0, true)}, []uint64{farPtr(2, 0, false), structPtr(0, 1, 1)}, seg2),
	} {
		t.Run(name, func(t *testing.T) {
			got, err := DecodeClient(frame)
			if err != nil || !reflect.DeepEqual(got, phase) {
				t.Fatalf("DecodeClient = %#v, %v; want %#v", got, err, phase)
			}
			// The independent reader agrees on the same bytes.
			if s := toolDecode(t, "ClientMessage", frame); s != `(phase = (phase = "nfc_reading"))` {
				t.Fatalf("capnp decode: %s", s)
			}
		})
	}
}

func TestDecodeClientRefusesHostileFrames(t *testing.T) {
	valid, err := EncodeHello(Hello{SessionID: "vs_abc", MobileWriteToken: strings.Repeat("a", 64), DeviceID: "d"})
	if err != nil {
		t.Fatal(err)
	}
	manyPtrs := func(n int, text string) []byte {
		// shareSelection whose key list has n pointers, all to one text:
		// reading it naively visits n × len(text) bytes.
		w := []uint64{structPtr(0, 1, 1), 3, structPtr(0, 0, 2), 0, listPtr(0, elemPtr, uint32(n))}
		for i := 0; i < n; i++ {
			w = append(w, listPtr(int32(n-1-i), elemByte, uint32(len(text)+1)))
		}
		return frameOf(append(w, textWords(text)...))
	}
	bigText := strings.Repeat("k", 64<<10)
	header := func(count uint32, sizes ...uint32) []byte {
		b := binary.LittleEndian.AppendUint32(nil, count)
		for _, s := range sizes {
			b = binary.LittleEndian.AppendUint32(b, s)
		}
		return b
	}
	cases := map[string][]byte{
		"empty":                        nil,
		"shorter than a table":         {0, 0, 0, 0, 1, 0, 0},
		"4 billion segments":           append(header(0xFFFFFFFF, 1), make([]byte, 64)...),
		"17 segments":                  append(header(16, make([]uint32, 17)...), make([]byte, 8)...),
		"segment larger than frame":    append(header(0, 1<<20), make([]byte, 8)...),
		"segment of 2^32-1 words":      append(header(0, 0xFFFFFFFF), make([]byte, 8)...),
		"trailing bytes":               append(append([]byte(nil), valid...), make([]byte, 8)...),
		"empty segment":                header(0, 0),
		"root is a list":               frameOf([]uint64{listPtr(0, elemByte, 8), 0}),
		"root is null":                 frameOf([]uint64{0}),
		"root past the segment":        frameOf([]uint64{structPtr(5, 1, 1), 0}),
		"root larger than its segment": frameOf([]uint64{structPtr(0, 65535, 65535), 0}),
		"union tag 4":                  frameOf([]uint64{structPtr(0, 1, 1), 4, 0}),
		"union tag 65535":              frameOf([]uint64{structPtr(0, 1, 1), 0xFFFF, 0}),
		"far pointer to no segment":    frameOf([]uint64{farPtr(5, 0, false)}),
		"far pointer past its segment": frameOf([]uint64{farPtr(1, 9, false)}, []uint64{0}),
		"double-far to no segment":     frameOf([]uint64{farPtr(1, 0, true)}, []uint64{farPtr(7, 0, false), structPtr(0, 1, 1)}),
		"far landing pad is far":       frameOf([]uint64{farPtr(1, 0, false)}, []uint64{farPtr(0, 0, false)}),
		// Wrong pointer types, which capnp-go alone reads as empty values.
		"hello is a list":           frameOf([]uint64{structPtr(0, 1, 1), 0, listPtr(0, elemByte, 8), 0}),
		"sessionId is a struct":     frameOf([]uint64{structPtr(0, 1, 1), 0, structPtr(0, 1, 6), 0, structPtr(5, 0, 0), 0, 0, 0, 0, 0}),
		"text without its NUL":      frameOf([]uint64{structPtr(0, 1, 1), 1, structPtr(0, 0, 3), listPtr(2, elemByte, 8), 0, 0, 0x6161616161616161}),
		"raw is a pointer list":     frameOf([]uint64{structPtr(0, 1, 1), 2, structPtr(0, 3, 1), 0, 0, 0, listPtr(0, elemPtr, 1), 0}),
		"keys is a byte list":       frameOf([]uint64{structPtr(0, 1, 1), 3, structPtr(0, 0, 2), 0, listPtr(0, elemByte, 2), 0x6100}),
		"key element is a struct":   frameOf([]uint64{structPtr(0, 1, 1), 3, structPtr(0, 0, 2), 0, listPtr(0, elemPtr, 1), structPtr(0, 1, 0), 0}),
		"keys nest lists 1000 deep": nestedLists(1000),
		// Lists claiming far more elements than the frame holds.
		"raw claims 2^29-1 bytes":                 frameOf([]uint64{structPtr(0, 1, 1), 2, structPtr(0, 3, 1), 0, 0, 0, listPtr(0, elemByte, 1<<29-1)}),
		"keys claim 2^29-1 pointers (~4e9 bytes)": frameOf([]uint64{structPtr(0, 1, 1), 3, structPtr(0, 0, 2), 0, listPtr(0, elemPtr, 1<<29-1)}),
		// 2,000 pointers to one 64 KiB text: 128 MiB to visit in a 80 KiB frame.
		"pointer amplification": manyPtrs(2000, bigText),
	}
	for i := 1; i < len(valid); i++ {
		cases["truncated to "+string(rune('0'+i/100))+string(rune('0'+i/10%10))+string(rune('0'+i%10))] = valid[:i]
	}
	for name, frame := range cases {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			got, err := DecodeClient(frame)
			if !errors.Is(err, ErrDecode) {
				t.Fatalf("DecodeClient = %#v, %v; want ErrDecode", got, err)
			}
			if d := time.Since(start); d > 500*time.Millisecond {
				t.Fatalf("refusal took %v", d)
			}
			// As a ServerMessage the same bytes may mean something else; it
			// only has to come back without panicking.
			_, _ = DecodeServer(frame)
		})
	}
	if _, err := DecodeClient(cases["pointer amplification"]); err == nil || !strings.Contains(err.Error(), "traversal limit") {
		t.Fatalf("amplification refused by %v, want the traversal limit", err)
	}
	// The same amplification within the bound is read: the limit is about
	// work, not about lists of pointers as such.
	if got, err := DecodeClient(manyPtrs(3, "given_name")); err != nil || !reflect.DeepEqual(got.ShareSelection.SelectedFieldKeys, []string{"given_name"}) {
		t.Fatalf("small shared-text list: %#v, %v", got, err)
	}
}

// nestedLists is a shareSelection whose one key is a list of a list of …
// n deep: the reader follows the schema, not the pointers, so it stops at
// the first level (not text) instead of descending.
func nestedLists(n int) []byte {
	w := []uint64{structPtr(0, 1, 1), 3, structPtr(0, 0, 2), 0, listPtr(0, elemPtr, 1)}
	for i := 0; i < n; i++ {
		w = append(w, listPtr(0, elemPtr, 1))
	}
	return frameOf(append(w, 0))
}

func TestDecodeClientPointerCycle(t *testing.T) {
	// hello's pointer points at itself: read by the schema, its first text
	// field is that struct pointer again, which is not text.
	frame := frameOf([]uint64{structPtr(0, 1, 1), 0, structPtr(-1, 0, 1)})
	if got, err := DecodeClient(frame); !errors.Is(err, ErrDecode) {
		t.Fatalf("%#v, %v", got, err)
	}
}

func TestRoundTrips(t *testing.T) {
	raw := bytes.Repeat([]byte{0xAB}, 224<<10)
	clients := []ClientMessage{
		{Kind: ClientHello, Hello: Hello{SessionID: "vs_" + strings.Repeat("a", 64), MobileWriteToken: strings.Repeat("b", 64), DeviceID: "device-a", AppVersion: "1.6.0", AttestKeyID: "kid", HelloAssertion: []byte{1}, RuntimeIntegritySignal: 2}},
		{Kind: ClientPhase, Phase: PhaseUpdate{Phase: "liveness_capturing"}},
		{Kind: ClientData, Data: DataPayload{Kind: KindLivenessVideo, Raw: raw, Total: 1, ChunkIndex: 3, ChunkTotal: 9}},
		{Kind: ClientData, Data: DataPayload{Kind: 200, Raw: []byte{1}}},
		{Kind: ClientShareSelection, ShareSelection: ShareSelection{SessionID: "vs_x", SelectedFieldKeys: []string{"b", "a"}}},
	}
	for _, m := range clients {
		var frame []byte
		var err error
		switch m.Kind {
		case ClientHello:
			frame, err = EncodeHello(m.Hello)
		case ClientPhase:
			frame, err = EncodePhase(m.Phase)
		case ClientData:
			frame, err = EncodeData(m.Data)
		case ClientShareSelection:
			frame, err = EncodeShareSelection(m.ShareSelection)
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(frame) > MaxFrameBytes {
			t.Fatalf("%d-byte frame", len(frame))
		}
		sent := bytes.Clone(frame)
		got, err := DecodeClient(frame)
		if err != nil || !reflect.DeepEqual(got, m) {
			t.Fatalf("round trip of kind %d: %v", m.Kind, err)
		}
		// Decoding leaves the frame alone (capnp-go's Message.Release would
		// have zeroed it into a buffer pool).
		if !bytes.Equal(frame, sent) {
			t.Fatalf("DecodeClient changed its frame")
		}
		// The copy is ours: changing the frame afterwards changes nothing.
		for i := range frame {
			frame[i] = 0xFF
		}
		if !reflect.DeepEqual(got, m) {
			t.Fatalf("decoded message aliases its frame")
		}
	}
	for _, c := range serverCases() {
		frame, err := c.enc()
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeServer(frame)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Fatalf("%s: %#v, %v", c.name, got, err)
		}
	}
}

// A 224 KiB chunk (the iOS app's size) in a frame stays under the limit,
// with room for the header and fields.
func TestLargestChunkFits(t *testing.T) {
	frame, err := EncodeData(DataPayload{Kind: KindDG2, Raw: make([]byte, 224<<10), ChunkTotal: 256, ChunkIndex: 255})
	if err != nil {
		t.Fatal(err)
	}
	if len(frame) > MaxFrameBytes {
		t.Fatalf("%d bytes", len(frame))
	}
	if _, err := DecodeClient(frame); err != nil {
		t.Fatal(err)
	}
}

func TestJSTrim(t *testing.T) {
	for in, want := range map[string]string{
		" \t\n\v\f\r a \u00a0": "a",
		"\ufeffa\u2028":        "a",
		"\u0085a":              "\u0085a", // NEL is not JavaScript whitespace
		"\u2000\u200aa\u3000":  "a",
		"a b":                  "a b",
	} {
		if got := jsTrim(in); got != want {
			t.Errorf("jsTrim(%q) = %q, want %q", in, got, want)
		}
	}
}
