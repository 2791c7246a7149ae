package mrz

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

const td3Specimen = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<L898902C36UTO7408122F1204159ZE184226B<<<<<10"

func TestDG1Encoding(t *testing.T) {
	dg1 := EncodeDG1(td3Specimen)
	// ICAO 9303-10 §4.7.1: 61 5B 5F1F 58 <88 bytes>.
	if !bytes.Equal(dg1[:5], []byte{0x61, 0x5B, 0x5F, 0x1F, 0x58}) || len(dg1) != 5+88 {
		t.Fatalf("% X", dg1[:5])
	}
	// TD1 (90 bytes) still fits the short form; long forms are accepted.
	long := append([]byte{0x61, 0x81, 0x5C, 0x5F, 0x1F, 0x82, 0x00, 0x58}, td3Specimen...)
	long[2] = byte(len(long) - 3)
	if m, err := ParseDG1(long); err != nil || m.DocumentNumber != "L898902C3" {
		t.Fatal(m, err)
	}
}

func TestDG1Malformed(t *testing.T) {
	good := EncodeDG1(td3Specimen)
	with := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	for name, dg1 := range map[string][]byte{
		"empty":              {},
		"wrong outer tag":    with(func(b []byte) []byte { b[0] = 0x62; return b }),
		"wrong inner tag":    with(func(b []byte) []byte { b[3] = 0x1E; return b }),
		"trailing byte":      append(append([]byte(nil), good...), 0),
		"short":              good[:len(good)-1],
		"indefinite":         append([]byte{0x61, 0x80}, good[2:]...),
		"five length bytes":  append([]byte{0x61, 0x85, 0, 0, 0, 0, 0x5B}, good[2:]...),
		"length 2^31":        append([]byte{0x61, 0x84, 0x80, 0, 0, 0}, good[2:]...),
		"length 2^32-1":      append([]byte{0x61, 0x84, 0xFF, 0xFF, 0xFF, 0xFF}, good[2:]...),
		"inner beyond outer": with(func(b []byte) []byte { b[4]++; return b }),
		"extra inner TLV":    append([]byte{0x61, good[1] + 2}, append(append([]byte(nil), good[2:]...), 0x04, 0x00)...),
		"tag too long":       {0x7F, 0x81, 0x81, 0x01, 0x00},
		"tag truncated":      {0x7F, 0x81},
		"no length":          {0x61},
		"oversize":           append([]byte{0x61, 0x82, 0x10, 0x00}, make([]byte, 0x1000)...),
	} {
		if _, err := ParseDG1(dg1); !errors.Is(err, ErrTLV) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// The reference falls back to reading the bytes as text; this does
	// not: the MRZ alone, without its TLV, is no DG1.
	if _, err := ParseDG1([]byte(td3Specimen)); !errors.Is(err, ErrTLV) {
		t.Fatal(err)
	}
	// A well-formed TLV around text that is not an MRZ is ErrFormat.
	if _, err := ParseDG1(EncodeDG1(strings.Repeat("<", 89))); !errors.Is(err, ErrFormat) {
		t.Fatal(err)
	}
}

func TestReadTLVTags(t *testing.T) {
	for _, tc := range []struct {
		in   []byte
		tag  uint32
		rest int
	}{
		{[]byte{0x04, 0x01, 0xAA, 0xBB}, 0x04, 1},
		{[]byte{0x5F, 0x1F, 0x00}, 0x5F1F, 0},
		{[]byte{0x7F, 0x81, 0x01, 0x00}, 0x7F8101, 0},
		{[]byte{0x30, 0x81, 0x01, 0xCC}, 0x30, 0},
	} {
		v, rest, err := ReadTLV(tc.in)
		if err != nil || v.Tag != tc.tag || len(rest) != tc.rest {
			t.Errorf("% X: %X %d %v", tc.in, v.Tag, len(rest), err)
		}
	}
}

// seeds common to the fuzz targets: the specimens, generated documents
// and the malformed inputs above run in every go test.
func fuzzSeeds() [][]byte {
	seeds := [][]byte{EncodeDG1(td3Specimen), {0x61, 0x84, 0x80, 0, 0, 0}, {0x7F, 0xFF, 0xFF}, {}}
	for _, s := range specimens {
		seeds = append(seeds, EncodeDG1(strings.Join(s.lines, "")))
	}
	return seeds
}

// No input panics, and the work is bounded by the input: ParseDG1 looks
// at MaxDG1Size bytes at most and allocates only the small MRZ struct.
func FuzzParseDG1(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseDG1(b)
		if err == nil {
			// Whatever parsed re-encodes to the same DG1 when it was in
			// the shortest form, and always re-parses to the same MRZ.
			again, err := ParseDG1(EncodeDG1(strings.Join(m.Lines, "")))
			if err != nil || again.DocumentNumber != m.DocumentNumber || again.Surname != m.Surname {
				t.Fatalf("re-parse: %v", err)
			}
		}
	})
}

func FuzzReadTLV(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for i := 0; len(b) > 0 && i <= len(b); i++ {
			v, rest, err := ReadTLV(b)
			if err != nil {
				return
			}
			if len(v.Value)+len(rest) >= len(b) {
				t.Fatalf("no progress: %d + %d of %d", len(v.Value), len(rest), len(b))
			}
			b = rest
		}
	})
}

func FuzzParse(f *testing.F) {
	for _, s := range specimens {
		f.Add(strings.Join(s.lines, ""))
		f.Add(strings.Join(s.lines, "\n"))
	}
	f.Add("I<UTOD23145890<7349<<<<<<<<<<<3407127M9507122UTO<<<<<<<<<<<2STEVENSON<<PETER<JOHN<<<<<<<<<")
	f.Fuzz(func(t *testing.T, s string) {
		m, err := Parse(s)
		if err != nil {
			return
		}
		// A parsed MRZ's claims and threshold never panic either.
		if _, err := m.FaceMatchThreshold(now2026); err != nil && !errors.Is(err, ErrImpossibleDate) {
			t.Fatalf("threshold: %v", err)
		}
		if _, err := m.Claims([]string{"date_of_birth", "document_expiry_date", "age_over_18", "kayle_document_id"}, ClaimContext{Now: now2026}); err != nil && !errors.Is(err, ErrImpossibleDate) {
			t.Fatalf("claims: %v", err)
		}
	})
}
