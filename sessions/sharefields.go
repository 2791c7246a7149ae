package sessions

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"
	"unicode/utf8"
)

// Field is one claim of a share contract. Source is SourceCaller for the
// caller's entries and SourceDefault for generated ones.
type Field struct {
	Required bool   `json:"required"`
	Reason   string `json:"reason"`
	Source   string `json:"source"`
}

// A Field's Source.
const (
	SourceCaller  = "rc"
	SourceDefault = "default"
)

// Contract is a normalised share contract: claim key to field.
type Contract map[string]Field

// Limits of the share contract, in upstream's units.
const (
	MaxShareFields = 32
	// MaxReasonLength is in UTF-16 code units, of the reason as sent.
	MaxReasonLength = 200
	// maxNesting bounds the depth of an ignored value inside an entry;
	// upstream has no bound (JSON.parse), but nothing legitimate nests
	// this deep and the decoder's stack grows with it.
	maxNesting = 64
)

// ParseShareFields reads share_fields as sent and returns the contract to
// store. raw == nil means share_fields was omitted: the twelve static
// claims with default reasons. Otherwise raw is the JSON value as sent,
// checked in upstream's order: the request schema (an object of
// {required: boolean, reason: string of at most 200 code units}), then the
// semantic rules, then normalised. The error is an *Error.
//
// A key "__proto__" is ignored, as upstream's validator ignores it. Beyond
// upstream, raw that is not valid UTF-8 and reasons holding U+0000
// (which PostgreSQL's jsonb cannot store) are INVALID_SHARE_FIELDS.
func ParseShareFields(raw json.RawMessage) (Contract, error) {
	if raw == nil {
		return defaultContract(), nil
	}
	entries, err := decodeShareFields(raw)
	if err != nil {
		return nil, schemaStep(err)
	}
	if err := schemaError(entries); err != nil {
		return nil, schemaStep(err)
	}
	if err := checkEntries(entries); err != nil {
		return nil, err
	}
	return normalise(entries), nil
}

func defaultContract() Contract {
	c := make(Contract, len(claims))
	for _, cl := range claims {
		c[cl.key] = Field{Required: cl.key == KeyDocumentID, Reason: DefaultReason(cl.label), Source: SourceDefault}
	}
	return c
}

// Reason states as the schema sees them.
const (
	reasonInvalid = iota // missing, null or not a string
	reasonOK
	reasonTooLong
)

// entry is one share_fields entry as the schema sees it (the last
// occurrence of its key, as JSON.parse keeps).
type entry struct {
	key        string
	notObject  bool
	requiredOK bool
	required   bool
	reason     int
	text       string
}

// decodeShareFields reads the object's entries in JavaScript's property
// order. Only a syntax error, invalid UTF-8 or excessive nesting fails
// here; shape problems are recorded for schemaError.
func decodeShareFields(raw []byte) ([]entry, error) {
	if !utf8.Valid(raw) {
		return nil, errInvalidShareFields()
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, errInvalidShareFields()
	}
	var entries []entry
	index := map[string]int{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, errInvalidShareFields()
		}
		key, _ := tok.(string)
		e, err := decodeEntry(dec, key)
		if err != nil {
			return nil, errInvalidShareFields()
		}
		if key == "__proto__" {
			// Upstream's validator (zod 4) skips this key in a record: it
			// is neither checked nor kept nor counted.
			continue
		}
		if len(index) >= MaxShareFields {
			// The answer is an error now (a schema issue or too many
			// fields); the reason's text will not be needed.
			e.text = ""
		}
		// A repeated key keeps its first position and its last value.
		if i, ok := index[key]; ok {
			entries[i] = e
		} else {
			index[key] = len(entries)
			entries = append(entries, e)
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, errInvalidShareFields()
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errInvalidShareFields()
	}
	slices.SortStableFunc(entries, func(a, b entry) int { return compareJSKeys(a.key, b.key) })
	return entries, nil
}

func decodeEntry(dec *json.Decoder, key string) (entry, error) {
	e := entry{key: key}
	tok, err := dec.Token()
	if err != nil {
		return e, err
	}
	if tok != json.Delim('{') {
		e.notObject = true
		return e, skipRest(dec, tok, 1)
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return e, err
		}
		name, _ := tok.(string)
		if tok, err = dec.Token(); err != nil {
			return e, err
		}
		switch name {
		case "required":
			e.required, e.requiredOK = tok.(bool)
		case "reason":
			s, ok := tok.(string)
			switch {
			case !ok:
				e.reason, e.text = reasonInvalid, ""
			case utf16Len(s) > MaxReasonLength:
				e.reason, e.text = reasonTooLong, ""
			default:
				e.reason, e.text = reasonOK, s
			}
		}
		if err := skipRest(dec, tok, 2); err != nil {
			return e, err
		}
	}
	_, err = dec.Token() // the entry's closing brace
	return e, err
}

// skipRest reads the rest of a value whose first token was tok, at
// nesting depth depth, without keeping it.
func skipRest(dec *json.Decoder, tok json.Token, depth int) error {
	if tok != json.Delim('{') && tok != json.Delim('[') {
		return nil
	}
	open := 1
	for open > 0 {
		if depth+open > maxNesting {
			return errors.New("share_fields nests too deep")
		}
		t, err := dec.Token()
		if err != nil {
			return err
		}
		switch t {
		case json.Delim('{'), json.Delim('['):
			open++
		case json.Delim('}'), json.Delim(']'):
			open--
		}
	}
	return nil
}

// compareJSKeys orders property keys as JavaScript does for an ordinary
// object: array indices ascending first, then the rest in insertion order
// (a stable sort keeps that).
func compareJSKeys(a, b string) int {
	ai, aok := arrayIndex(a)
	bi, bok := arrayIndex(b)
	switch {
	case aok && bok:
		return cmpUint(ai, bi)
	case aok:
		return -1
	case bok:
		return 1
	}
	return 0
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// arrayIndex reports whether k is an array index (ECMA-262: the canonical
// decimal form of an integer 0..2^32-2).
func arrayIndex(k string) (uint64, bool) {
	if k == "" || len(k) > 10 || (k[0] == '0' && len(k) > 1) {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(k); i++ {
		if k[i] < '0' || k[i] > '9' {
			return 0, false
		}
		n = n*10 + uint64(k[i]-'0')
	}
	return n, n <= 1<<32-2
}

// CheckShareFieldsShape is ParseShareFields's first step alone: the
// request schema's verdict on share_fields (nil: omitted or well formed).
// Upstream answers it before anything else about the body, and over any
// other schema error in it, so callers run it first.
func CheckShareFieldsShape(raw json.RawMessage) error {
	if raw == nil {
		return nil
	}
	entries, err := decodeShareFields(raw)
	if err != nil {
		return schemaStep(err)
	}
	return schemaStep(schemaError(entries))
}

// schemaError maps the request schema's issues as upstream does: the first
// issue whose path ends in "reason" is REASON_TOO_LONG or REASON_REQUIRED;
// any other issue is INVALID_SHARE_FIELDS. An entry that is not an object
// is an issue at its own key, so a non-object entry named "reason" is
// REASON_REQUIRED.
func schemaError(entries []entry) error {
	other := false
	for _, e := range entries {
		switch {
		case e.notObject && e.key == "reason":
			return errReasonRequired()
		case e.notObject:
			other = true
			continue
		}
		if !e.requiredOK {
			other = true
		}
		switch e.reason {
		case reasonInvalid:
			return errReasonRequired()
		case reasonTooLong:
			return errReasonTooLong()
		}
	}
	if other {
		return errInvalidShareFields()
	}
	return nil
}

// checkEntries applies the semantic rules in upstream's order.
func checkEntries(entries []entry) error {
	if len(entries) > MaxShareFields {
		return errTooManyShareFields()
	}
	hasDOB := slices.ContainsFunc(entries, func(e entry) bool { return e.key == KeyDateOfBirth })
	gates := 0
	for _, e := range entries {
		reason := jsTrim(e.text)
		isGate := strings.HasPrefix(e.key, AgeGatePrefix)
		if reason == "" && !(isGate && hasDOB) {
			return errReasonRequired()
		}
		if utf16Len(reason) > MaxReasonLength {
			return errReasonTooLong()
		}
		if isGate {
			if _, ok := ParseAgeGate(e.key); !ok {
				return errInvalidAgeGateKey()
			}
		} else if _, ok := staticLabel(e.key); !ok {
			return errUnknownClaimKey()
		}
		if isGate {
			if gates++; gates > 1 {
				return errMultipleAgeGates()
			}
		}
		if strings.ContainsRune(reason, 0) {
			return errInvalidShareFields()
		}
	}
	return nil
}

func normalise(entries []entry) Contract {
	c := make(Contract, len(entries)+1)
	gate := ""
	for _, e := range entries {
		c[e.key] = Field{Required: e.required, Reason: collapseSpace(jsTrim(e.text)), Source: SourceCaller}
		if strings.HasPrefix(e.key, AgeGatePrefix) {
			gate = e.key
		}
	}
	if f, ok := c[KeyDocumentID]; ok {
		f.Required = true
		c[KeyDocumentID] = f
	} else {
		label, _ := staticLabel(KeyDocumentID)
		c[KeyDocumentID] = Field{Required: true, Reason: DefaultReason(label), Source: SourceDefault}
	}
	dob, hasDOB := c[KeyDateOfBirth]
	if g, ok := c[gate]; ok && hasDOB && (g.Required || dob.Required) {
		g.Required, dob.Required = true, true
		c[gate], c[KeyDateOfBirth] = g, dob
	}
	return c
}

// AgeGate is the contract's age gate, if it has one.
func (c Contract) AgeGate() (key string, years int, ok bool) {
	for k := range c {
		if n, valid := ParseAgeGate(k); valid {
			return k, n, true
		}
	}
	return "", 0, false
}

// AgeOnly reports whether the contract reveals no more than an age: one
// age gate and otherwise only kayle_document_id and kayle_human_id.
// Defaults and {} are not age-only.
func (c Contract) AgeOnly() bool {
	gates := 0
	for k := range c {
		switch {
		case k == KeyDocumentID || k == KeyHumanID:
		case strings.HasPrefix(k, AgeGatePrefix):
			if _, ok := ParseAgeGate(k); !ok {
				return false
			}
			gates++
		default:
			return false
		}
	}
	return gates == 1
}
