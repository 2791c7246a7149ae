package mrz

import (
	"errors"
	"fmt"
)

// ErrTLV reports DG1 bytes that are not the strict TLV ICAO 9303-10
// prescribes.
var ErrTLV = errors.New("mrz: malformed DG1 TLV")

// Bounds on hostile input. A DG1 is one 61 template holding one 5F1F of at
// most 90 characters: nothing legitimate comes near these.
const (
	// MaxDG1Size bounds the bytes ParseDG1 looks at.
	MaxDG1Size = 1024
	// maxTagBytes: ISO/IEC 7816-4 §5.2.2.1 tags are one to three bytes.
	maxTagBytes = 3
	// maxLengthBytes: 0x81..0x84 (BER long form with 1..4 length bytes).
	maxLengthBytes = 4
)

// DG1 tags (ICAO 9303-10 §4.7.1).
const (
	TagDG1 = 0x61
	TagMRZ = 0x5F1F
)

// TLV is one BER-TLV element; Value aliases the input.
type TLV struct {
	Tag   uint32
	Value []byte
}

func tlvErr(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrTLV, fmt.Sprintf(format, a...))
}

// ReadTLV reads one BER-TLV element (ISO/IEC 7816-4 §5.2.2, X.690 §8.1)
// from the front of b and returns it and the bytes after it. It accepts
// definite lengths only (short form, or long form with one to four length
// bytes) and never reads or allocates past b: a length beyond what b holds
// is an error, not a wait for more.
func ReadTLV(b []byte) (TLV, []byte, error) {
	if len(b) == 0 {
		return TLV{}, nil, tlvErr("empty input")
	}
	// Tag: low five bits all set means more tag bytes follow, each with
	// bit 8 set while another follows (X.690 §8.1.2.4).
	tag := uint32(b[0])
	n := 1
	if b[0]&0x1F == 0x1F {
		for {
			if n >= len(b) {
				return TLV{}, nil, tlvErr("tag truncated")
			}
			if n >= maxTagBytes {
				return TLV{}, nil, tlvErr("tag longer than %d bytes", maxTagBytes)
			}
			c := b[n]
			tag = tag<<8 | uint32(c)
			n++
			if c&0x80 == 0 {
				break
			}
		}
	}
	if n >= len(b) {
		return TLV{}, nil, tlvErr("length missing")
	}
	l := int(b[n])
	n++
	switch {
	case l == 0x80:
		return TLV{}, nil, tlvErr("indefinite length")
	case l > 0x80:
		k := l & 0x7F
		if k > maxLengthBytes {
			return TLV{}, nil, tlvErr("length of %d bytes", k)
		}
		if n+k > len(b) {
			return TLV{}, nil, tlvErr("length truncated")
		}
		l = 0
		for _, c := range b[n : n+k] {
			// Checked each step so four bytes cannot overflow int on
			// 32-bit platforms.
			if l > (len(b) >> 8) {
				return TLV{}, nil, tlvErr("length beyond input")
			}
			l = l<<8 | int(c)
		}
		n += k
	}
	if l > len(b)-n {
		return TLV{}, nil, tlvErr("length %d beyond the %d bytes left", l, len(b)-n)
	}
	return TLV{Tag: tag, Value: b[n : n+l]}, b[n+l:], nil
}

// MRZFromDG1 returns the MRZ bytes of a DG1: exactly one 61 template, with
// nothing after it, holding exactly one 5F1F element and nothing else.
func MRZFromDG1(dg1 []byte) ([]byte, error) {
	if len(dg1) > MaxDG1Size {
		return nil, tlvErr("DG1 of %d bytes (at most %d)", len(dg1), MaxDG1Size)
	}
	outer, rest, err := ReadTLV(dg1)
	if err != nil {
		return nil, err
	}
	if outer.Tag != TagDG1 {
		return nil, tlvErr("tag %X, want 61", outer.Tag)
	}
	if len(rest) != 0 {
		return nil, tlvErr("%d bytes after the 61 template", len(rest))
	}
	inner, rest, err := ReadTLV(outer.Value)
	if err != nil {
		return nil, err
	}
	if inner.Tag != TagMRZ {
		return nil, tlvErr("tag %X inside 61, want 5F1F", inner.Tag)
	}
	if len(rest) != 0 {
		return nil, tlvErr("%d bytes after 5F1F", len(rest))
	}
	return inner.Value, nil
}

// EncodeDG1 wraps MRZ text in the DG1 TLV (61 { 5F1F }), with the
// shortest length forms; it is what a chip stores and what tests build.
func EncodeDG1(mrz string) []byte {
	inner := appendTLV(nil, []byte{0x5F, 0x1F}, []byte(mrz))
	return appendTLV(nil, []byte{TagDG1}, inner)
}

func appendTLV(dst, tag, value []byte) []byte {
	dst = append(dst, tag...)
	switch l := len(value); {
	case l < 0x80:
		dst = append(dst, byte(l))
	case l <= 0xFF:
		dst = append(dst, 0x81, byte(l))
	default:
		dst = append(dst, 0x82, byte(l>>8), byte(l))
	}
	return append(dst, value...)
}
