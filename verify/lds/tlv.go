package lds

import "fmt"

// BER-TLV as ICAO 9303-10 §4.1 and ISO/IEC 7816-4 §5.2 use it for the data
// group wrappers (77, 6E, 6F, 61, 5F1F, 7F61, …). Tags are kept as their
// encoded bytes read big-endian (0x5F1F, 0x7F61), the way the standards
// write them.

// Limits bound a TLV decode.
type Limits struct {
	MaxDepth int // nesting of constructed values; 1 = the outer TLV only
	MaxNodes int // TLVs in the whole tree
}

// DefaultLimits suit every data group: DG2 nests four levels and DG14
// holds tens of entries.
var DefaultLimits = Limits{MaxDepth: 16, MaxNodes: 4096}

// MaxObjectSize caps every object this package reads. The largest data
// groups (DG2 with a portrait) are tens of kilobytes; an SOD a few.
const MaxObjectSize = 1 << 20

// TLV is one decoded tag-length-value.
type TLV struct {
	Tag         uint32
	Constructed bool
	Value       []byte
	Raw         []byte // header and value as encoded
	Children    []TLV  // filled by Decode for constructed values
}

// ReadTLV reads one TLV from the front of b and returns it with the bytes
// after it. Only the definite length form with at most four length bytes
// is accepted; indefinite lengths are refused (ICAO 9303-10 §4.1 uses
// definite lengths only).
func ReadTLV(b []byte) (TLV, []byte, error) {
	if len(b) > MaxObjectSize {
		return TLV{}, nil, fmt.Errorf("%w: %d bytes", ErrTooLarge, len(b))
	}
	if len(b) < 2 {
		return TLV{}, nil, fmt.Errorf("%w: truncated TLV header", ErrMalformed)
	}
	i := 0
	first := b[i]
	i++
	tag := uint32(first)
	if first&0x1F == 0x1F {
		// High tag number form (X.690 §8.1.2.4): continuation bytes with
		// bit 8 set, no leading 0x80, at most two of them (three-byte tags
		// are the longest ICAO uses).
		for n := 0; ; n++ {
			if i >= len(b) {
				return TLV{}, nil, fmt.Errorf("%w: truncated tag", ErrMalformed)
			}
			c := b[i]
			i++
			if n == 0 && c == 0x80 {
				return TLV{}, nil, fmt.Errorf("%w: non-minimal tag", ErrMalformed)
			}
			if n == 0 && c < 0x1F {
				return TLV{}, nil, fmt.Errorf("%w: tag number below 31 in long form", ErrMalformed)
			}
			tag = tag<<8 | uint32(c)
			if c&0x80 == 0 {
				break
			}
			if n == 1 {
				return TLV{}, nil, fmt.Errorf("%w: tag longer than three bytes", ErrTooLarge)
			}
		}
	}
	if i >= len(b) {
		return TLV{}, nil, fmt.Errorf("%w: truncated length", ErrMalformed)
	}
	l := int(b[i])
	i++
	switch {
	case l == 0x80:
		return TLV{}, nil, fmt.Errorf("%w: indefinite length", ErrMalformed)
	case l > 0x84:
		return TLV{}, nil, fmt.Errorf("%w: length of %d bytes", ErrTooLarge, l-0x80)
	case l > 0x80:
		n := l - 0x80
		if len(b)-i < n {
			return TLV{}, nil, fmt.Errorf("%w: truncated length", ErrMalformed)
		}
		l = 0
		for _, c := range b[i : i+n] {
			l = l<<8 | int(c)
		}
		i += n
	}
	// Compare without adding so a length near 2^32 cannot overflow.
	if l > len(b)-i {
		return TLV{}, nil, fmt.Errorf("%w: length %d exceeds the %d bytes left", ErrMalformed, l, len(b)-i)
	}
	t := TLV{Tag: tag, Constructed: first&0x20 != 0, Value: b[i : i+l], Raw: b[:i+l]}
	return t, b[i+l:], nil
}

// Unwrap returns the value of b when b is exactly one TLV with the given
// tag (the ICAO data group wrappers: 0x77 for EF.SOD, 0x6E DG14, 0x6F DG15).
func Unwrap(b []byte, tag uint32) ([]byte, error) {
	t, rest, err := ReadTLV(b)
	if err != nil {
		return nil, err
	}
	if t.Tag != tag {
		return nil, fmt.Errorf("%w: tag %X, want %X", ErrMalformed, t.Tag, tag)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the %X object", ErrMalformed, len(rest), tag)
	}
	return t.Value, nil
}

// Decode reads b as one TLV, descending into constructed values within the
// limits, and refuses trailing bytes.
func Decode(b []byte, lim Limits) (TLV, error) {
	nodes := 0
	t, rest, err := decode(b, lim, 1, &nodes)
	if err != nil {
		return TLV{}, err
	}
	if len(rest) != 0 {
		return TLV{}, fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(rest))
	}
	return t, nil
}

func decode(b []byte, lim Limits, depth int, nodes *int) (TLV, []byte, error) {
	if depth > lim.MaxDepth {
		return TLV{}, nil, fmt.Errorf("%w: nesting deeper than %d", ErrTooLarge, lim.MaxDepth)
	}
	*nodes++
	if *nodes > lim.MaxNodes {
		return TLV{}, nil, fmt.Errorf("%w: more than %d TLVs", ErrTooLarge, lim.MaxNodes)
	}
	t, rest, err := ReadTLV(b)
	if err != nil {
		return TLV{}, nil, err
	}
	if t.Constructed {
		v := t.Value
		for len(v) > 0 {
			var c TLV
			c, v, err = decode(v, lim, depth+1, nodes)
			if err != nil {
				return TLV{}, nil, err
			}
			t.Children = append(t.Children, c)
		}
	}
	return t, rest, nil
}

// Find returns the first child with the tag (not recursive).
func (t TLV) Find(tag uint32) (TLV, bool) {
	for _, c := range t.Children {
		if c.Tag == tag {
			return c, true
		}
	}
	return TLV{}, false
}
