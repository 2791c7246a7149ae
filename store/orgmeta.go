package store

import (
	"bytes"
	"encoding/json"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/kayle-id/orgs-api/domains"
	"golang.org/x/text/cases"
	"golang.org/x/text/language"
)

// Organization metadata: the public profile and the relying-party
// compliance profile, thirteen keys that upstream's auth library stores as
// one JSON object and that the session gate reads. The rules are upstream's
// policy (normalizeOrganizationMetadata) with this server's limits added.

// metaKind is how a metadata key's value is checked.
type metaKind int

const (
	metaText  metaKind = iota // a string kept as sent
	metaURL                   // an http(s) URL, stored in its WHATWG form
	metaEmail                 // the support address, trimmed and lower-cased
	metaFlag                  // true, false or null
)

// MetadataKey is one allowed key. Max (text keys) is this server's limit in
// UTF-16 code units; upstream has none.
type MetadataKey struct {
	Name string
	Kind metaKind
	Max  int
}

// MaxMetadataURLLength bounds a stored metadata URL (upstream: no limit).
const MaxMetadataURLLength = 2048

// MetadataKeys are the allowed keys in upstream's order of checks, which is
// also the order they are stored in.
var MetadataKeys = []MetadataKey{
	{"article6Basis", metaText, 1000},
	{"article9Condition", metaText, 1000},
	{"controllerJurisdiction", metaText, 120},
	{"description", metaText, 2000},
	{"legalControllerName", metaText, 200},
	{"website", metaURL, MaxMetadataURLLength},
	{"privacyPolicyUrl", metaURL, MaxMetadataURLLength},
	{"termsOfServiceUrl", metaURL, MaxMetadataURLLength},
	{"fallbackIdvUrl", metaURL, MaxMetadataURLLength},
	{"appealUrl", metaURL, MaxMetadataURLLength},
	{"complaintsUrl", metaURL, MaxMetadataURLLength},
	{"supportEmail", metaEmail, MaxEmailLength},
	{"usesKayleForConsequentialDecisions", metaFlag, 0},
}

// MetadataError is metadata the store refuses. Field is the key at fault,
// "" for upstream's generic refusal (an unknown key, a value of the wrong
// type). TooLong marks this server's own refusal of a text value over its
// limit or holding a control character or U+FFFD, or of a URL over its
// limit.
type MetadataError struct {
	Field   string
	TooLong bool
}

func (e *MetadataError) Error() string {
	if e.Field == "" {
		return "store: unsupported organization metadata"
	}
	return "store: invalid organization metadata " + e.Field
}

// protoKey is dropped without a word, as upstream's schema (a JavaScript
// record) drops it.
const protoKey = "__proto__"

// normalizeMetadata checks sent metadata as upstream does, first failure
// wins: unknown keys, then each key in MetadataKeys order. It returns the
// JSON text to store: the keys sent, in that order, with "" and null as
// null. The whole object replaces what is stored.
func normalizeMetadata(in map[string]any) (string, error) {
	for k := range in {
		if k != protoKey && !slices.ContainsFunc(MetadataKeys, func(m MetadataKey) bool { return m.Name == k }) {
			return "", &MetadataError{}
		}
	}
	var parts []string
	for _, key := range MetadataKeys {
		v, sent := in[key.Name]
		if !sent {
			continue
		}
		out, err := key.normalize(v)
		if err != nil {
			return "", err
		}
		parts = append(parts, jsonText(key.Name)+":"+jsonText(out))
	}
	return "{" + strings.Join(parts, ",") + "}", nil
}

// jsonText is v as JSON.stringify writes it for the strings, booleans and
// null stored here: no HTML escaping.
func jsonText(v any) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // strings, booleans and nil always encode
	return strings.TrimSuffix(buf.String(), "\n")
}

// normalize checks one value and returns what is stored for it (nil for null).
func (k MetadataKey) normalize(v any) (any, error) {
	generic := &MetadataError{}
	if v == nil {
		return nil, nil
	}
	if k.Kind == metaFlag {
		b, ok := v.(bool)
		if !ok {
			return nil, generic
		}
		return b, nil
	}
	s, ok := v.(string)
	if !ok {
		return nil, generic
	}
	if s == "" {
		return nil, nil
	}
	// U+FFFD is what invalid UTF-8 and lone surrogates decode to: never
	// profile text, always a broken encoding, so it is refused everywhere.
	broken := strings.ContainsRune(s, utf8.RuneError)
	switch k.Kind {
	case metaText:
		if broken || utf16Len(s) > k.Max || hasControlBesidesLineBreaks(s) {
			return nil, &MetadataError{Field: k.Name, TooLong: true}
		}
		return s, nil
	case metaURL:
		u, ok := normalizeMetadataURL(s)
		if broken || !ok {
			return nil, &MetadataError{Field: k.Name}
		}
		if utf16Len(u) > k.Max {
			return nil, &MetadataError{Field: k.Name, TooLong: true}
		}
		return u, nil
	default:
		e, ok := normalizeSupportEmail(s)
		if broken || !ok {
			return nil, &MetadataError{Field: k.Name}
		}
		return e, nil
	}
}

// hasControlBesidesLineBreaks reports a C0 control other than tab, LF and
// CR, or DEL: a description may run over lines, but nothing shown to people
// being verified should hold a NUL or an escape.
func hasControlBesidesLineBreaks(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool {
		return (r < 0x20 && r != '\t' && r != '\n' && r != '\r') || r == 0x7F
	})
}

// normalizeMetadataURL is upstream's rule: JavaScript-trimmed, parsed by
// the WHATWG URL standard with no base, http: or https: only, no username
// or password (empty ones pass, as they serialise away), and stored as the
// standard serialises it (host lower-cased and in ASCII, default port
// dropped, dot segments resolved, query and fragment kept). Go's net/url
// writes none of these forms, hence the WHATWG parser, the same one the
// session redirect rule reads with.
func normalizeMetadataURL(s string) (string, bool) {
	u, ok := domains.ParseWebURL(jsTrim(s))
	if !ok || u.Username() != "" || u.Password() != "" {
		return "", false
	}
	return u.Href(false), true
}

// jsWhitespace is JavaScript's \s (what trim() removes); RE2's \s is only
// [\t\n\f\r ].
const jsWhitespace = `\t\n\v\f\r \x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}\x{feff}`

// supportEmailPattern is upstream's /^[^@\s]+@[^@\s]+\.[^@\s]+$/u.
var supportEmailPattern = regexp.MustCompile(`^[^@` + jsWhitespace + `]+@[^@` + jsWhitespace + `]+\.[^@` + jsWhitespace + `]+$`)

// normalizeSupportEmail is upstream's rule: JavaScript trim, then
// toLowerCase (full Unicode: U+0130 becomes two code points, a final sigma
// becomes ς), then at most 254 UTF-16 units, no space, and the pattern.
func normalizeSupportEmail(s string) (string, bool) {
	e := cases.Lower(language.Und).String(jsTrim(s))
	if utf16Len(e) > MaxEmailLength || strings.Contains(e, " ") || !supportEmailPattern.MatchString(e) {
		return "", false
	}
	return e, true
}

// MetadataObject reads stored metadata text back as an object; ok is
// false when there is none or it is not an object (readers treat both as
// no metadata).
func MetadataObject(text *string) (m map[string]any, ok bool) {
	if text == nil {
		return nil, false
	}
	if json.Unmarshal([]byte(*text), &m) != nil || m == nil {
		return nil, false
	}
	return m, true
}

// changedMetadataKeys names, in MetadataKeys order, the keys whose stored
// value differs between two metadata texts (added, removed or changed):
// what the audit row records, names only.
func changedMetadataKeys(before *string, after string) []string {
	old, _ := MetadataObject(before)
	cur, _ := MetadataObject(&after)
	var keys []string
	for _, k := range MetadataKeys {
		ov, oSent := old[k.Name]
		nv, nSent := cur[k.Name]
		if oSent != nSent || !reflect.DeepEqual(ov, nv) {
			keys = append(keys, k.Name)
		}
	}
	return keys
}

// Text reports a key whose value is free text kept as sent.
func (k MetadataKey) Text() bool { return k.Kind == metaText }
