package validator

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3"
)

// A compiled schema validates a JSON document straight from its bytes, in
// one pass and without building the document in memory. Responses are the
// large side of this API (an audit-log page is tens of kilobytes), and
// decoding them into interface values costs more than judging them, so
// response schemas are compiled once at start-up into this form. Schemas
// that use keywords it does not know are left to openapi3filter.
type node struct {
	kinds    kindSet // 0: any JSON value
	anyOf    []*node // a value passes if it passes one of these (and the node has nothing else)
	names    []string
	children []*node
	index    map[string]int
	required []int
	noExtra  bool  // additionalProperties: false
	extra    *node // additionalProperties schema; nil: any value
	items    *node
	enum     []any
	format   string
	match    func([]byte) bool // the format's check
	pattern  *regexp.Regexp
	minLen   int
	maxLen   int // -1: none
	min, max *float64
	// minItems and maxItems bound an array's length; maxItems -1: none.
	minItems, maxItems int
}

type kindSet uint8

const (
	kNull kindSet = 1 << iota
	kBool
	kInteger
	kNumber
	kString
	kArray
	kObject
)

var kindNames = map[string]kindSet{"null": kNull, "boolean": kBool, "integer": kInteger, "number": kNumber | kInteger, "string": kString, "array": kArray, "object": kObject}

// errUnsupported marks a schema this compiler leaves to openapi3filter.
var errUnsupported = errors.New("schema uses keywords the compiled validator does not support")

// memo holds the nodes compiled so far, shared between schemas. A schema
// that fails to compile leaves partly built nodes behind (they are memoized
// before their children, for recursive schemas); attempt/abandon forget
// everything a failed top-level compile added, so a later schema sharing
// those parts cannot pick up a half-built one.
type memo struct {
	nodes map[*openapi3.Schema]*node
	added []*openapi3.Schema
}

func newMemo() *memo { return &memo{nodes: map[*openapi3.Schema]*node{}} }

// compileTop compiles one response schema, keeping what it added to the
// memo only if it succeeds.
func (m *memo) compileTop(ref *openapi3.SchemaRef) (*node, error) {
	m.added = m.added[:0]
	n, err := compile(ref, m)
	if err != nil {
		for _, s := range m.added {
			delete(m.nodes, s)
		}
	}
	return n, err
}

func compile(ref *openapi3.SchemaRef, memo *memo) (*node, error) {
	if ref == nil || ref.Value == nil {
		return nil, errUnsupported
	}
	s := ref.Value
	if n, ok := memo.nodes[s]; ok {
		return n, nil
	}
	if len(s.AnyOf) > 0 {
		return compileAnyOf(s, memo)
	}
	if len(s.AllOf) > 0 || len(s.OneOf) > 0 || s.Not != nil ||
		s.ExclusiveMin.IsSet() || s.ExclusiveMax.IsSet() || s.MultipleOf != nil ||
		s.UniqueItems || s.MinProps != 0 || s.MaxProps != nil || s.ReadOnly || s.WriteOnly || unproven(s) {
		return nil, errUnsupported
	}
	n := &node{minLen: int(s.MinLength), maxLen: -1, format: s.Format, min: s.Min, max: s.Max, minItems: int(s.MinItems), maxItems: -1}
	memo.nodes[s] = n
	memo.added = append(memo.added, s)
	if s.MaxLength != nil {
		n.maxLen = int(*s.MaxLength)
	}
	if s.MaxItems != nil {
		n.maxItems = int(*s.MaxItems)
	}
	if s.Type != nil {
		for _, t := range *s.Type {
			k, ok := kindNames[t]
			if !ok {
				return nil, errUnsupported
			}
			n.kinds |= k
		}
	}
	switch s.Format {
	case "", "int32", "int64", "float", "double":
	case "uuid":
		n.match = isUUID[[]byte]
	case "email":
		n.match = isEmail[[]byte]
	case "date-time":
		n.match = isDateTime[[]byte]
	default:
		if _, checked := openapi3.SchemaStringFormats[s.Format]; checked {
			return nil, errUnsupported // a format we would not check the way openapi3filter does
		}
		// A format kin-openapi has no validator for (uri, as upstream's
		// verification_url has) is not checked there either.
	}
	if s.Pattern != "" {
		re, err := regexp.Compile(s.Pattern)
		if err != nil {
			return nil, errUnsupported
		}
		n.pattern = re
	}
	n.enum = s.Enum
	if len(s.Properties) > 0 || len(s.Required) > 0 {
		n.index = map[string]int{}
		for name, p := range s.Properties {
			c, err := compile(p, memo)
			if err != nil {
				return nil, err
			}
			n.index[name] = len(n.children)
			n.names = append(n.names, name)
			n.children = append(n.children, c)
		}
		for _, r := range s.Required {
			i, ok := n.index[r]
			if !ok {
				// Required but undeclared: still has to be present.
				i = len(n.children)
				n.index[r] = i
				n.names = append(n.names, r)
				n.children = append(n.children, &node{maxLen: -1})
			}
			n.required = append(n.required, i)
		}
		if len(n.children) > 64 {
			return nil, errUnsupported
		}
	}
	if ap := s.AdditionalProperties; ap.Has != nil && !*ap.Has {
		n.noExtra = true
	} else if ap.Schema != nil {
		c, err := compile(ap.Schema, memo)
		if err != nil {
			return nil, err
		}
		n.extra = c
	}
	if s.Items != nil {
		c, err := compile(s.Items, memo)
		if err != nil {
			return nil, err
		}
		n.items = c
	}
	return n, nil
}

// compileAnyOf compiles a schema that is nothing but a list of
// alternatives (such as a map of string, number or boolean values): a
// value passes if it passes one. anyOf beside other keywords is left to
// openapi3filter.
func compileAnyOf(s *openapi3.Schema, memo *memo) (*node, error) {
	bare := *s
	bare.AnyOf = nil
	// Annotations only: a default is not applied to responses.
	bare.Description, bare.Title, bare.Extensions, bare.Default = "", "", nil, nil
	if !bare.IsEmpty() || len(bare.AllOf) > 0 || len(bare.OneOf) > 0 || bare.Not != nil || len(bare.Properties) > 0 || unproven(&bare) {
		return nil, errUnsupported
	}
	n := &node{maxLen: -1}
	memo.nodes[s] = n
	memo.added = append(memo.added, s)
	for _, alt := range s.AnyOf {
		c, err := compile(alt, memo)
		if err != nil {
			return nil, err
		}
		n.anyOf = append(n.anyOf, c)
	}
	return n, nil
}

// Violation is where and why a document breaks a compiled schema.
type Violation struct {
	Pointer []string // JSON pointer of the value (of the object, for a missing property)
	Keyword string
	Reason  string
}

func (v *Violation) Error() string {
	return fmt.Sprintf("at /%s: %s", strings.Join(v.Pointer, "/"), v.Reason)
}

// syntaxError is a body that is not JSON.
type syntaxError struct{ offset int }

func (e *syntaxError) Error() string { return fmt.Sprintf("invalid JSON at byte %d", e.offset) }

type scanner struct {
	b    []byte
	i    int
	path []step // where the scanner is; turned into strings only for an error
	buf  []byte
}

// step is one level of the current JSON pointer: an object key or an index.
type step struct {
	key   []byte
	index int
}

// validateJSON checks the first JSON value in b against n. As
// encoding/json's Decoder (which openapi3filter uses) does, bytes after
// that value are not looked at.
func validateJSON(n *node, b []byte) error {
	s := &scanner{b: b}
	return s.value(n)
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) fail(keyword, format string, args ...any) error {
	ptr := make([]string, len(s.path))
	for i, st := range s.path {
		if st.key != nil {
			ptr[i] = string(st.key)
		} else {
			ptr[i] = strconv.Itoa(st.index)
		}
	}
	return &Violation{Pointer: ptr, Keyword: keyword, Reason: fmt.Sprintf(format, args...)}
}

func (s *scanner) value(n *node) error {
	s.ws()
	if s.i >= len(s.b) {
		return &syntaxError{s.i}
	}
	if n != nil && len(n.anyOf) > 0 {
		return s.alternatives(n)
	}
	switch c := s.b[s.i]; {
	case c == '{':
		return s.object(n)
	case c == '[':
		return s.array(n)
	case c == '"':
		str, err := s.str()
		if err != nil {
			return err
		}
		return s.checkString(n, str)
	case c == 't' || c == 'f':
		v := c == 't'
		lit := "false"
		if v {
			lit = "true"
		}
		if !bytes.HasPrefix(s.b[s.i:], []byte(lit)) {
			return &syntaxError{s.i}
		}
		s.i += len(lit)
		if n == nil {
			return nil
		}
		if n.kinds != 0 && n.kinds&kBool == 0 {
			return s.fail("type", "value must be %s", n.kinds)
		}
		return s.checkEnum(n, v)
	case c == 'n':
		if !bytes.HasPrefix(s.b[s.i:], []byte("null")) {
			return &syntaxError{s.i}
		}
		s.i += 4
		if n == nil {
			return nil
		}
		if n.kinds != 0 && n.kinds&kNull == 0 {
			return s.fail("type", "value must not be null")
		}
		return s.checkEnum(n, nil)
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number(n)
	}
	return &syntaxError{s.i}
}

// alternatives scans the value once per alternative, from the same place,
// until one passes. A body that is not JSON fails at once.
func (s *scanner) alternatives(n *node) error {
	start, depth := s.i, len(s.path)
	for _, alt := range n.anyOf {
		s.i, s.path = start, s.path[:depth]
		err := s.value(alt)
		var syn *syntaxError
		if err == nil || errors.As(err, &syn) {
			return err
		}
	}
	s.path = s.path[:depth]
	return s.fail("anyOf", "value doesn't match any schema from anyOf")
}

func (s *scanner) object(n *node) error {
	s.i++ // {
	var seen uint64
	for first := true; ; first = false {
		s.ws()
		if s.i >= len(s.b) {
			return &syntaxError{s.i}
		}
		if s.b[s.i] == '}' {
			s.i++
			break
		}
		if !first {
			if s.b[s.i] != ',' {
				return &syntaxError{s.i}
			}
			s.i++
			s.ws()
		}
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			return &syntaxError{s.i}
		}
		key, err := s.str()
		if err != nil {
			return err
		}
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return &syntaxError{s.i}
		}
		s.i++
		var child *node
		if n != nil {
			if i, ok := n.index[string(key)]; ok {
				child = n.children[i]
				seen |= 1 << uint(i)
			} else if n.noExtra && n.kinds&kObject != 0 {
				return s.fail("additionalProperties", "property %q is unsupported", key)
			} else {
				child = n.extra
			}
		}
		if len(key) > 0 && len(s.buf) > 0 && &key[0] == &s.buf[0] {
			key = bytes.Clone(key) // unescaped into the shared buffer: keep a copy
		}
		s.path = append(s.path, step{key: key})
		if err := s.value(child); err != nil {
			return err
		}
		s.path = s.path[:len(s.path)-1]
	}
	if n == nil {
		return nil
	}
	if n.kinds != 0 && n.kinds&kObject == 0 {
		return s.fail("type", "value must be %s", n.kinds)
	}
	for _, r := range n.required {
		if seen&(1<<uint(r)) == 0 {
			return s.fail("required", "property %q is missing", n.names[r])
		}
	}
	return nil
}

func (s *scanner) array(n *node) error {
	s.i++ // [
	var items *node
	if n != nil {
		items = n.items
	}
	count := 0
	for k, first := 0, true; ; k, first = k+1, false {
		s.ws()
		if s.i >= len(s.b) {
			return &syntaxError{s.i}
		}
		if s.b[s.i] == ']' {
			s.i++
			break
		}
		if !first {
			if s.b[s.i] != ',' {
				return &syntaxError{s.i}
			}
			s.i++
		}
		s.path = append(s.path, step{index: k})
		if err := s.value(items); err != nil {
			return err
		}
		s.path = s.path[:len(s.path)-1]
		count++
	}
	if n != nil && n.kinds != 0 && n.kinds&kArray == 0 {
		return s.fail("type", "value must be %s", n.kinds)
	}
	if n != nil {
		if count < n.minItems {
			return s.fail("minItems", "minimum number of items is %d", n.minItems)
		}
		if n.maxItems >= 0 && count > n.maxItems {
			return s.fail("maxItems", "maximum number of items is %d", n.maxItems)
		}
	}
	return nil
}

// str reads a JSON string and returns its unescaped bytes (valid until the
// next call).
func (s *scanner) str() ([]byte, error) {
	s.i++ // opening quote
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		if c == '"' {
			out := s.b[start:s.i]
			s.i++
			return out, nil
		}
		if c == '\\' {
			break
		}
		if c < 0x20 {
			return nil, &syntaxError{s.i}
		}
		s.i++
	}
	// Slow path: escapes.
	s.buf = append(s.buf[:0], s.b[start:s.i]...)
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return s.buf, nil
		case c < 0x20:
			return nil, &syntaxError{s.i}
		case c != '\\':
			s.buf = append(s.buf, c)
			s.i++
			continue
		}
		if s.i+1 >= len(s.b) {
			return nil, &syntaxError{s.i}
		}
		e := s.b[s.i+1]
		s.i += 2
		switch e {
		case '"', '\\', '/':
			s.buf = append(s.buf, e)
		case 'b':
			s.buf = append(s.buf, '\b')
		case 'f':
			s.buf = append(s.buf, '\f')
		case 'n':
			s.buf = append(s.buf, '\n')
		case 'r':
			s.buf = append(s.buf, '\r')
		case 't':
			s.buf = append(s.buf, '\t')
		case 'u':
			r, ok := s.hex4()
			if !ok {
				return nil, &syntaxError{s.i}
			}
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if s.i+1 < len(s.b) && s.b[s.i] == '\\' && s.b[s.i+1] == 'u' {
					s.i += 2
					if r2, ok = s.hex4(); !ok {
						return nil, &syntaxError{s.i}
					}
				}
				if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
					r = d
				} else {
					r = utf8.RuneError
				}
			}
			s.buf = utf8.AppendRune(s.buf, r)
		default:
			return nil, &syntaxError{s.i}
		}
	}
	return nil, &syntaxError{s.i}
}

func (s *scanner) hex4() (rune, bool) {
	if s.i+4 > len(s.b) {
		return 0, false
	}
	v, err := strconv.ParseUint(string(s.b[s.i:s.i+4]), 16, 32)
	if err != nil {
		return 0, false
	}
	s.i += 4
	return rune(v), true
}

func (s *scanner) checkString(n *node, b []byte) error {
	if n == nil {
		return nil
	}
	if n.kinds != 0 && n.kinds&kString == 0 {
		return s.fail("type", "value must be %s", n.kinds)
	}
	if n.minLen > 0 || n.maxLen >= 0 {
		l := utf8.RuneCount(b)
		if l < n.minLen {
			return s.fail("minLength", "minimum string length is %d", n.minLen)
		}
		if n.maxLen >= 0 && l > n.maxLen {
			return s.fail("maxLength", "maximum string length is %d", n.maxLen)
		}
	}
	if n.pattern != nil && !n.pattern.Match(b) {
		return s.fail("pattern", "string doesn't match the regular expression %q", n.pattern.String())
	}
	if n.match != nil && !n.match(b) {
		return s.fail("format", "string doesn't match the format %q", n.format)
	}
	if len(n.enum) > 0 {
		for _, e := range n.enum {
			if e, ok := e.(string); ok && e == string(b) {
				return nil
			}
		}
		return s.fail("enum", "value is not one of the allowed values")
	}
	return nil
}

func (s *scanner) number(n *node) error {
	start := s.i
	if s.b[s.i] == '-' {
		s.i++
	}
	digits := func() int {
		k := 0
		for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
			s.i++
			k++
		}
		return k
	}
	if s.i < len(s.b) && s.b[s.i] == '0' {
		s.i++
	} else if digits() == 0 {
		return &syntaxError{s.i}
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if digits() == 0 {
			return &syntaxError{s.i}
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if digits() == 0 {
			return &syntaxError{s.i}
		}
	}
	if n == nil {
		return nil
	}
	f, err := strconv.ParseFloat(string(s.b[start:s.i]), 64)
	if err != nil {
		return s.fail("type", "number out of range")
	}
	isInt := f == math.Trunc(f) && !math.IsInf(f, 0)
	switch {
	case n.kinds == 0:
	case n.kinds&kNumber != 0:
	case n.kinds&kInteger != 0 && isInt:
	default:
		return s.fail("type", "value must be %s", n.kinds)
	}
	if n.min != nil && f < *n.min {
		return s.fail("minimum", "number must be at least %g", *n.min)
	}
	if n.max != nil && f > *n.max {
		return s.fail("maximum", "number must be at most %g", *n.max)
	}
	if len(n.enum) > 0 {
		return s.checkEnum(n, f)
	}
	return nil
}

func (s *scanner) checkEnum(n *node, v any) error {
	if len(n.enum) == 0 {
		return nil
	}
	for _, e := range n.enum {
		switch e := e.(type) {
		case float64:
			if f, ok := v.(float64); ok && f == e {
				return nil
			}
		default:
			if e == v {
				return nil
			}
		}
	}
	return s.fail("enum", "value is not one of the allowed values")
}

func (k kindSet) String() string {
	var names []string
	for _, name := range []string{"null", "boolean", "integer", "number", "string", "array", "object"} {
		if k&kindNames[name] == kindNames[name] && !(name == "integer" && k&kNumber != 0) {
			names = append(names, name)
		}
	}
	return "of type " + strings.Join(names, " or ")
}
