package store

import (
	"strings"
	"unicode"
)

// Text rules as upstream applies them: its limits count JavaScript string
// length (UTF-16 code units, so an emoji counts 2) and it trims with
// JavaScript's String.prototype.trim.

// utf16Len is the JavaScript length of s.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return n
}

// jsTrim trims what JavaScript's trim() trims: its WhiteSpace (tab,
// vertical tab, form feed, space, no-break space, BOM and the Zs category)
// and LineTerminator (LF, CR, U+2028, U+2029). Not U+0085.
func jsTrim(s string) string {
	return strings.TrimFunc(s, func(r rune) bool {
		switch r {
		case '\t', '\n', '\v', '\f', '\r', ' ', 0xA0, 0xFEFF, 0x2028, 0x2029:
			return true
		}
		return unicode.Is(unicode.Zs, r)
	})
}

// hasC0Control reports U+0000-U+001F or U+007F (C1 controls pass, as upstream).
func hasC0Control(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7F })
}

// asciiLower folds A-Z and keeps every other byte as it is: the one case
// rule for emails (NormalizeEmail) and audit search (foldedLike makes both
// databases fold the same). strings.ToLower would fold look-alikes such as
// the Kelvin sign or U+0130 into ASCII letters, so text that differs would
// compare equal.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
