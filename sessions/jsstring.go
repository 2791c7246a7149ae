package sessions

import (
	"strings"
	"unicode/utf16"
)

// Upstream measures and trims strings as JavaScript does; Go's len counts
// bytes and unicode.IsSpace is a different set (it has U+0085 and lacks
// U+FEFF), so these follow ECMAScript instead.

// isJSSpace reports whether r is in ECMAScript's WhiteSpace or
// LineTerminator (ECMA-262 §12.2, §12.3): the set of String.prototype.trim
// and of the RegExp class \s, with or without the u flag.
func isJSSpace(r rune) bool {
	switch r {
	case '\t', '\n', '\v', '\f', '\r', ' ', // ASCII
		0x00A0, 0xFEFF, // NO-BREAK SPACE, ZERO WIDTH NO-BREAK SPACE
		0x1680, 0x202F, 0x205F, 0x3000, // the rest of Zs
		0x2028, 0x2029: // LINE SEPARATOR, PARAGRAPH SEPARATOR
		return true
	}
	return r >= 0x2000 && r <= 0x200A // Zs: EN QUAD .. HAIR SPACE
}

// jsTrim is String.prototype.trim.
func jsTrim(s string) string { return strings.TrimFunc(s, isJSSpace) }

// collapseSpace replaces every run of JavaScript whitespace with one
// space (upstream's reason.replace(/\s+/gu, " ")).
func collapseSpace(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	inRun := false
	for _, r := range s {
		if isJSSpace(r) {
			if !inRun {
				b.WriteByte(' ')
			}
			inRun = true
			continue
		}
		inRun = false
		b.WriteRune(r)
	}
	return b.String()
}

// utf16Len is JavaScript's String.prototype.length: UTF-16 code units. A
// rune Go cannot encode (an invalid byte decodes as U+FFFD) counts one.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += max(1, utf16.RuneLen(r))
	}
	return n
}
