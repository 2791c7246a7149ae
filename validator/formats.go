package validator

import (
	"errors"

	"github.com/getkin/kin-openapi/openapi3"
)

// formats are checked in bodies and parameters; kin-openapi leaves uuid and
// email unchecked unless told. Each check is a hand-written matcher for
// exactly the strings kin-openapi's pattern for that format accepts
// (formats_test.go holds them equal, fuzzing included): a response carries
// hundreds of uuids and timestamps, and a regular expression apiece was the
// largest cost of checking one.
var formats = map[string]openapi3.StringFormatValidator{
	"uuid":      formatOf(isUUID[string], "is not a UUID"),
	"email":     formatOf(isEmail[string], "is not an email address"),
	"date-time": formatOf(isDateTime[string], "is not an RFC 3339 date-time"),
}

// text is what the matchers read: a parameter's string or a body's bytes.
type text interface{ ~string | ~[]byte }

func formatOf(match func(string) bool, complaint string) openapi3.StringFormatValidator {
	return openapi3.NewCallbackValidator(func(s string) error {
		if !match(s) {
			return errors.New(complaint)
		}
		return nil
	})
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// isUUID matches openapi3.FormatOfStringForUUIDOfRFC9562: versions 1-8 with
// the RFC variant, the nil UUID and the max UUID.
func isUUID[T text](s T) bool {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return false
	}
	allOf := func(want byte) bool {
		for i := 0; i < 36; i++ {
			if i == 8 || i == 13 || i == 18 || i == 23 {
				continue
			}
			c := s[i]
			if want == 'f' && c == 'F' {
				c = 'f'
			}
			if c != want {
				return false
			}
		}
		return true
	}
	if allOf('0') || allOf('f') {
		return true
	}
	for i := 0; i < 36; i++ {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			continue
		}
		if !isHex(s[i]) {
			return false
		}
	}
	v := s[14]
	switch s[19] {
	case '8', '9', 'a', 'b', 'A', 'B':
	default:
		return false
	}
	return v >= '1' && v <= '8'
}

// isEmail matches openapi3.FormatOfStringForEmail: ^[^@]+@[^@<>",\s]+$
// (\s being Go's [\t\n\f\r ]).
func isEmail[T text](s T) bool {
	at := -1
	for i := 0; i < len(s); i++ {
		if s[i] == '@' {
			if at >= 0 {
				return false
			}
			at = i
		}
	}
	if at <= 0 || at == len(s)-1 {
		return false
	}
	for i := at + 1; i < len(s); i++ {
		switch s[i] {
		case '<', '>', '"', ',', '\t', '\n', '\f', '\r', ' ':
			return false
		}
	}
	return true
}

// isDateTime matches openapi3.FormatOfStringDateTime:
// YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM), months 01-12, days 01-31,
// hours 00-23, seconds 00-60.
func isDateTime[T text](s T) bool {
	if len(s) < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return false
	}
	for _, i := range []int{0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18} {
		if !isDigit(s[i]) {
			return false
		}
	}
	two := func(i int) int { return int(s[i]-'0')*10 + int(s[i+1]-'0') }
	if m := two(5); m < 1 || m > 12 {
		return false
	}
	if d := two(8); d < 1 || d > 31 {
		return false
	}
	if two(11) > 23 || two(14) > 59 || two(17) > 60 {
		return false
	}
	rest := s[19:]
	if len(rest) == 0 {
		return false
	}
	if rest[0] == '.' {
		k := 1
		for k < len(rest) && isDigit(rest[k]) {
			k++
		}
		if k == 1 {
			return false
		}
		rest = rest[k:]
	}
	if len(rest) == 1 && rest[0] == 'Z' {
		return true
	}
	if len(rest) != 6 || (rest[0] != '+' && rest[0] != '-') || rest[3] != ':' ||
		!isDigit(rest[1]) || !isDigit(rest[2]) || !isDigit(rest[4]) || !isDigit(rest[5]) {
		return false
	}
	h := int(rest[1]-'0')*10 + int(rest[2]-'0')
	return h <= 23 && rest[4] <= '5'
}
