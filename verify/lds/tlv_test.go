package lds_test

import (
	"bytes"
	"testing"

	"github.com/kayle-id/orgs-api/verify/lds"
)

func TestReadTLV(t *testing.T) {
	long := bytes.Repeat([]byte{0xAB}, 300)
	for _, c := range []struct {
		name        string
		in          []byte
		tag         uint32
		constructed bool
		value       []byte
		rest        []byte
	}{
		{"one-byte tag", []byte{0x61, 0x01, 0x41, 0x99}, 0x61, true, []byte{0x41}, []byte{0x99}},
		{"two-byte tag 5F1F", []byte{0x5F, 0x1F, 0x02, 'P', '<'}, 0x5F1F, false, []byte("P<"), nil},
		{"two-byte tag 7F61", []byte{0x7F, 0x61, 0x00}, 0x7F61, true, []byte{}, nil},
		{"three-byte tag", []byte{0x5F, 0x81, 0x01, 0x00}, 0x5F8101, false, []byte{}, nil},
		{"81 length", append([]byte{0x04, 0x81, 0x80}, long[:128]...), 0x04, false, long[:128], nil},
		{"82 length", append([]byte{0x04, 0x82, 0x01, 0x2C}, long...), 0x04, false, long, nil},
		// Non-minimal long lengths occur on chips and are read (definite, bounded).
		{"non-minimal 82", []byte{0x04, 0x82, 0x00, 0x01, 0x07}, 0x04, false, []byte{0x07}, nil},
	} {
		tl, rest, err := lds.ReadTLV(c.in)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if tl.Tag != c.tag || tl.Constructed != c.constructed || !bytes.Equal(tl.Value, c.value) || !bytes.Equal(rest, c.rest) ||
			len(tl.Raw) != len(c.in)-len(c.rest) {
			t.Fatalf("%s: %+v rest %x", c.name, tl, rest)
		}
	}
	for name, in := range map[string][]byte{
		"empty":               {},
		"tag only":            {0x04},
		"truncated long tag":  {0x5F},
		"tag 80 continuation": {0x5F, 0x80, 0x01, 0x00},
		"low number long":     {0x5F, 0x1E, 0x00},
		"four-byte tag":       {0x5F, 0x81, 0x81, 0x01, 0x00},
		"indefinite":          {0x30, 0x80, 0x00, 0x00},
		"five length bytes":   {0x04, 0x85, 0, 0, 0, 0, 1},
		"truncated length":    {0x04, 0x82, 0x01},
		"value past end":      {0x04, 0x05, 0x01},
		"4 GiB":               {0x04, 0x84, 0xff, 0xff, 0xff, 0xff},
	} {
		if _, _, err := lds.ReadTLV(in); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// A DG2-shaped tree (ICAO 9303-10 §4.7.2: 75 { 7F61 { 02, 7F60 { A1, 5F2E } } }) decodes.
func TestDecodeTree(t *testing.T) {
	bio := []byte{0x5F, 0x2E, 0x03, 'F', 'A', 'C'}
	hdr := []byte{0xA1, 0x03, 0x80, 0x01, 0x01}
	inst := append(append([]byte{0x7F, 0x60, byte(len(hdr) + len(bio))}, hdr...), bio...)
	grp := append([]byte{0x02, 0x01, 0x01}, inst...)
	grp = append([]byte{0x7F, 0x61, byte(len(grp))}, grp...)
	dg2 := append([]byte{0x75, byte(len(grp))}, grp...)
	tree, err := lds.Decode(dg2, lds.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	g, ok := tree.Find(0x7F61)
	if !ok {
		t.Fatal("7F61 missing")
	}
	i, ok := g.Find(0x7F60)
	if !ok {
		t.Fatal("7F60 missing")
	}
	b, ok := i.Find(0x5F2E)
	if !ok || string(b.Value) != "FAC" {
		t.Fatalf("5F2E %+v", b)
	}
	if _, err := lds.Decode(append(dg2, 0), lds.DefaultLimits); err == nil {
		t.Fatal("trailing byte accepted")
	}
	if v, err := lds.Unwrap(dg2, 0x75); err != nil || !bytes.Equal(v, grp) {
		t.Fatalf("Unwrap: %v", err)
	}
	if _, err := lds.Unwrap(dg2, 0x77); err == nil {
		t.Fatal("Unwrap with the wrong tag")
	}
}
