package truststore

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
)

// LDIF content records as RFC 2849 defines them. The reader accepts every
// form the grammar allows for a value (attr: SAFE-STRING, attr:: BASE64,
// attr:< URL), folded lines (a line starting with one space continues the
// previous one), comments (lines starting with #, folded or not), an
// optional "version: 1" first, LF or CRLF line ends, and change records
// whose changetype is add (the same thing as a content record). URL values
// are refused: an import must not read files (or anything else) an LDIF
// from outside names. Work is bounded by Limits.

// Errors callers can tell apart with errors.Is.
var (
	// ErrLDIF: the input is not RFC 2849 LDIF.
	ErrLDIF = errors.New("truststore: malformed LDIF")
	// ErrLDIFLimit: a line, a record or an attribute count exceeds Limits.
	ErrLDIFLimit = errors.New("truststore: LDIF exceeds limits")
	// ErrLDIFURL: a value given as a URL (attr:< file:///…), which is refused.
	ErrLDIFURL = errors.New("truststore: LDIF URL values are refused")
)

// Limits bound the reader's work on hostile input.
type Limits struct {
	MaxLine   int // bytes of one unfolded line (attribute description and value)
	MaxRecord int // bytes of one record's lines together
	MaxAttrs  int // attribute lines in one record
}

// DefaultLimits fit the ICAO PKD downloads: the largest value is a master
// list (a few MB of base64 on one folded line); records hold a handful of
// attributes.
var DefaultLimits = Limits{MaxLine: 24 << 20, MaxRecord: 32 << 20, MaxAttrs: 1024}

// Attribute is one attrval-spec: its type, its options (";binary"), and the
// value's bytes, base64-decoded when it came that way.
type Attribute struct {
	Type    string
	Options []string
	Value   []byte
}

// Record is one LDIF content record.
type Record struct {
	DN    string
	Attrs []Attribute
	Line  int // the line its dn: is on, for messages
}

// Values returns the values of the attributes of the type (case-insensitive,
// any options).
func (r *Record) Values(typ string) [][]byte {
	var out [][]byte
	for _, a := range r.Attrs {
		if strings.EqualFold(a.Type, typ) {
			out = append(out, a.Value)
		}
	}
	return out
}

// LDIFReader reads records one by one.
type LDIFReader struct {
	br      *bufio.Reader
	lim     Limits
	line    int  // physical lines read
	started bool // past the optional version-spec
}

// NewLDIFReader reads LDIF from r within lim (zero fields take
// DefaultLimits' values).
func NewLDIFReader(r io.Reader, lim Limits) *LDIFReader {
	if lim.MaxLine <= 0 {
		lim.MaxLine = DefaultLimits.MaxLine
	}
	if lim.MaxRecord <= 0 {
		lim.MaxRecord = DefaultLimits.MaxRecord
	}
	if lim.MaxAttrs <= 0 {
		lim.MaxAttrs = DefaultLimits.MaxAttrs
	}
	return &LDIFReader{br: bufio.NewReaderSize(r, 64<<10), lim: lim}
}

// physical reads one line without its LF or CRLF; io.EOF when none is left.
func (r *LDIFReader) physical(budget int) ([]byte, error) {
	var out []byte
	for {
		chunk, err := r.br.ReadSlice('\n')
		if len(out)+len(chunk) > budget+2 {
			return nil, fmt.Errorf("%w: line %d is longer than %d bytes", ErrLDIFLimit, r.line+1, budget)
		}
		out = append(out, chunk...)
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == io.EOF && len(out) == 0 {
			return nil, io.EOF
		}
		if err != nil && err != io.EOF {
			return nil, err
		}
		r.line++
		out = bytes.TrimSuffix(out, []byte("\n"))
		out = bytes.TrimSuffix(out, []byte("\r"))
		return out, nil
	}
}

// logical reads one unfolded line: the physical line and every following
// line that starts with a space, that space removed (RFC 2849 note 2).
func (r *LDIFReader) logical(budget int) ([]byte, error) {
	l, err := r.physical(min(budget, r.lim.MaxLine))
	if err != nil {
		return nil, err
	}
	if len(l) == 0 {
		return l, nil // a separator is never folded
	}
	for {
		next, err := r.br.Peek(1)
		if err != nil || next[0] != ' ' {
			return l, nil
		}
		cont, err := r.physical(min(budget, r.lim.MaxLine) - len(l))
		if err != nil {
			return nil, err
		}
		l = append(l, cont[1:]...)
	}
}

// Next returns the next record, or io.EOF after the last.
func (r *LDIFReader) Next() (*Record, error) {
	var rec *Record
	used := 0
	changeRecord := false
	for {
		l, err := r.logical(r.lim.MaxRecord - used)
		if err == io.EOF {
			if rec == nil {
				return nil, io.EOF
			}
			return rec, nil
		}
		if err != nil {
			return nil, err
		}
		used += len(l)
		if len(l) == 0 { // SEP: ends a record, or a run of blank lines
			if rec != nil {
				return rec, nil
			}
			used = 0
			continue
		}
		if l[0] == '#' {
			continue
		}
		typ, opts, val, err := r.attrval(l)
		if err != nil {
			return nil, err
		}
		if rec == nil {
			if !r.started && strings.EqualFold(typ, "version") {
				r.started = true
				if string(val) != "1" {
					return nil, fmt.Errorf("%w: line %d: version %q (only 1 is defined)", ErrLDIF, r.line, val)
				}
				continue
			}
			r.started = true
			if !strings.EqualFold(typ, "dn") || len(opts) > 0 {
				return nil, fmt.Errorf("%w: line %d: a record starts with dn:, not %q", ErrLDIF, r.line, typ)
			}
			rec = &Record{DN: string(val), Line: r.line}
			continue
		}
		switch {
		case strings.EqualFold(typ, "changetype") && len(rec.Attrs) == 0:
			if !strings.EqualFold(string(val), "add") {
				return nil, fmt.Errorf("%w: line %d: changetype %q (a trust set is content, only add is read)", ErrLDIF, r.line, val)
			}
			changeRecord = true
			continue
		case strings.EqualFold(typ, "control") && len(rec.Attrs) == 0 && !changeRecord:
			// RFC 2849: controls precede the changetype of a change record.
			continue
		}
		if len(rec.Attrs) == r.lim.MaxAttrs {
			return nil, fmt.Errorf("%w: record at line %d has more than %d attributes", ErrLDIFLimit, rec.Line, r.lim.MaxAttrs)
		}
		rec.Attrs = append(rec.Attrs, Attribute{Type: typ, Options: opts, Value: val})
	}
}

// attrval splits one unfolded line: AttributeDescription value-spec.
func (r *LDIFReader) attrval(l []byte) (string, []string, []byte, error) {
	i := bytes.IndexByte(l, ':')
	if i <= 0 {
		return "", nil, nil, fmt.Errorf("%w: line %d: no attribute description before ':'", ErrLDIF, r.line)
	}
	desc := string(l[:i])
	parts := strings.Split(desc, ";")
	for _, p := range parts {
		if p == "" || strings.IndexFunc(p, func(c rune) bool {
			return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.')
		}) >= 0 {
			return "", nil, nil, fmt.Errorf("%w: line %d: attribute description %q", ErrLDIF, r.line, desc)
		}
	}
	rest := l[i+1:]
	var val []byte
	switch {
	case len(rest) > 0 && rest[0] == ':':
		b64 := bytes.TrimLeft(rest[1:], " ")
		val = make([]byte, base64.StdEncoding.DecodedLen(len(b64)))
		n, err := base64.StdEncoding.Decode(val, b64)
		if err != nil {
			return "", nil, nil, fmt.Errorf("%w: line %d: base64 value of %s: %v", ErrLDIF, r.line, desc, err)
		}
		val = val[:n]
	case len(rest) > 0 && rest[0] == '<':
		return "", nil, nil, fmt.Errorf("%w: line %d: %s:< %s", ErrLDIFURL, r.line, desc, bytes.TrimLeft(rest[1:], " "))
	default:
		val = bytes.Clone(bytes.TrimLeft(rest, " "))
	}
	return parts[0], parts[1:], val, nil
}
