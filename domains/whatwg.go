package domains

import (
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// webURL is an http or https URL as the WHATWG URL Standard's basic URL
// parser reads it (https://url.spec.whatwg.org/#concept-basic-url-parser),
// the parser behind JavaScript's new URL(), which upstream checks redirect
// URLs with. Only the special schemes http and https without a base URL
// are read; anything else fails.
type webURL struct {
	scheme             string
	username, password string // percent-encoded
	hostname           string // serialised host: domain, dotted IPv4 or [IPv6]
	port               string // "" when null or the scheme's default
	path               string // serialised, starting with "/"
	query, fragment    *string
}

// href is the URL's serialisation (the URL Standard's "URL serializer"),
// without the credentials, which callers refuse.
func (u *webURL) href() string {
	var b strings.Builder
	b.WriteString(u.scheme + "://" + u.hostname)
	if u.port != "" {
		b.WriteString(":" + u.port)
	}
	b.WriteString(u.path)
	if u.query != nil {
		b.WriteString("?" + *u.query)
	}
	if u.fragment != nil {
		b.WriteString("#" + *u.fragment)
	}
	return b.String()
}

// parseWebURL runs the basic URL parser on s with no base.
func parseWebURL(s string) (*webURL, bool) {
	// Leading and trailing C0 controls and spaces are stripped, tabs and
	// newlines anywhere removed.
	s = strings.TrimFunc(s, func(r rune) bool { return r <= 0x20 })
	s = strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return -1
		}
		return r
	}, s)

	colon := strings.IndexByte(s, ':')
	if colon < 1 || !isAlpha(s[0]) {
		return nil, false
	}
	for i := 1; i < colon; i++ {
		c := s[i]
		if !isAlpha(c) && !isDigit(c) && c != '+' && c != '-' && c != '.' {
			return nil, false
		}
	}
	u := &webURL{scheme: strings.ToLower(s[:colon])}
	defaultPort := map[string]string{"http": "80", "https": "443"}[u.scheme]
	if defaultPort == "" {
		return nil, false
	}
	// Special authority (ignore) slashes: any run of / and \ is skipped.
	rest := strings.TrimLeft(s[colon+1:], `/\`)
	end := strings.IndexAny(rest, `/\?#`)
	if end < 0 {
		end = len(rest)
	}
	authority, rest := rest[:end], rest[end:]
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		userinfo := authority[:at]
		authority = authority[at+1:]
		user, pass, _ := strings.Cut(userinfo, ":")
		u.username = percentEncode(user, userinfoSet)
		u.password = percentEncode(pass, userinfoSet)
	}
	hostPart, portPart, hasPort := splitHostPort(authority)
	if hostPart == "" {
		return nil, false
	}
	host, ok := parseWebHost(hostPart)
	if !ok {
		return nil, false
	}
	u.hostname = host
	if hasPort && portPart != "" {
		for i := 0; i < len(portPart); i++ {
			if !isDigit(portPart[i]) {
				return nil, false
			}
		}
		digits := strings.TrimLeft(portPart, "0")
		if len(digits) > 5 {
			return nil, false
		}
		n, _ := strconv.Atoi(digits)
		if n > 65535 {
			return nil, false
		}
		if p := strconv.Itoa(n); p != defaultPort {
			u.port = p
		}
	}

	pathPart := rest
	if i := strings.IndexAny(rest, "?#"); i >= 0 {
		pathPart, rest = rest[:i], rest[i:]
	} else {
		rest = ""
	}
	u.path = webPath(pathPart)
	if strings.HasPrefix(rest, "?") {
		q, frag, hasFrag := strings.Cut(rest[1:], "#")
		q = percentEncode(q, specialQuerySet)
		u.query = &q
		rest = ""
		if hasFrag {
			rest = "#" + frag
		}
	}
	if strings.HasPrefix(rest, "#") {
		f := percentEncode(rest[1:], fragmentSet)
		u.fragment = &f
	}
	return u, true
}

// splitHostPort splits at the first colon outside brackets (the host
// state).
func splitHostPort(a string) (host, port string, hasPort bool) {
	inBrackets := false
	for i := 0; i < len(a); i++ {
		switch a[i] {
		case '[':
			inBrackets = true
		case ']':
			inBrackets = false
		case ':':
			if !inBrackets {
				return a[:i], a[i+1:], true
			}
		}
	}
	return a, "", false
}

// webPath parses and serialises a special URL's path: \ is /, "." and ".."
// segments (also percent-encoded) are resolved, the rest percent-encoded
// with the path percent-encode set.
func webPath(p string) string {
	var segs []string
	if p != "" {
		p = p[1:] // the path start state consumes the leading / or \
	}
	for {
		i := strings.IndexAny(p, `/\`)
		seg, last := p, i < 0
		if !last {
			seg, p = p[:i], p[i+1:]
		}
		switch strings.ToLower(seg) {
		case "..", ".%2e", "%2e.", "%2e%2e":
			if len(segs) > 0 {
				segs = segs[:len(segs)-1]
			}
			if last {
				segs = append(segs, "")
			}
		case ".", "%2e":
			if last {
				segs = append(segs, "")
			}
		default:
			segs = append(segs, percentEncode(seg, pathSet))
		}
		if last {
			return "/" + strings.Join(segs, "/")
		}
	}
}

// The percent-encode sets (beyond the C0 control set, which every set
// includes: below U+0020 and above U+007E).
const (
	fragmentSet     = ` "<>` + "`"
	querySet        = ` "#<>`
	specialQuerySet = querySet + `'`
	// The Standard added ^ to the path set in 2024; node (ada) and the
	// runtimes upstream runs on do not encode it yet, and agreeing with
	// them is the point.
	pathSet     = querySet + "?`{}"
	userinfoSet = pathSet + `/:;=@[\]^|`
)

func percentEncode(s, set string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r < 0x20 || r > 0x7E || strings.ContainsRune(set, r) {
			// Invalid UTF-8 is read as U+FFFD, as a JavaScript string
			// decoded from it would hold.
			var enc [utf8.UTFMax]byte
			n := utf8.EncodeRune(enc[:], r)
			for _, c := range enc[:n] {
				b.WriteByte('%')
				b.WriteByte(hex[c>>4])
				b.WriteByte(hex[c&15])
			}
		} else {
			b.WriteRune(r)
		}
		i += size
	}
	return b.String()
}

// webIDNA is UTS #46 ToASCII as the URL Standard's "domain to ASCII" asks
// (beStrict false): non-transitional, CheckBidi and CheckJoiners on,
// CheckHyphens, UseSTD3ASCIIRules and VerifyDnsLength off.
var webIDNA = idna.New(idna.MapForLookup(), idna.BidiRule(), idna.CheckJoiners(true), idna.CheckHyphens(false),
	idna.StrictDomainName(false), idna.Transitional(false), idna.VerifyDNSLength(false))

// parseWebHost is the host parser for a special URL; the result is the
// serialised host.
func parseWebHost(h string) (string, bool) {
	if strings.HasPrefix(h, "[") {
		if !strings.HasSuffix(h, "]") {
			return "", false
		}
		return parseWebIPv6(h[1 : len(h)-1])
	}
	domain := percentDecode(h)
	if !utf8.ValidString(domain) {
		domain = strings.ToValidUTF8(domain, "\uFFFD")
	}
	ascii, ok := domainToASCII(domain)
	if !ok || ascii == "" {
		return "", false
	}
	for i := 0; i < len(ascii); i++ {
		if c := ascii[i]; c <= 0x20 || c == 0x7F || strings.IndexByte(`#%/:<>?@[\]^|`, c) >= 0 {
			return "", false
		}
	}
	if endsInNumber(ascii) {
		return parseWebIPv4(ascii)
	}
	return ascii, true
}

func domainToASCII(d string) (string, bool) {
	fast := true
	for i := 0; i < len(d); i++ {
		if d[i] >= 0x80 {
			fast = false
			break
		}
	}
	if fast {
		for _, l := range strings.Split(d, ".") {
			if len(l) >= 4 && strings.EqualFold(l[:4], "xn--") {
				fast = false
			}
		}
	}
	if fast {
		return strings.ToLower(d), true
	}
	a, err := webIDNA.ToASCII(d)
	return a, err == nil
}

func percentDecode(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			n, _ := strconv.ParseUint(s[i+1:i+3], 16, 8)
			b.WriteByte(byte(n))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// endsInNumber is the URL Standard's "ends in a number checker".
func endsInNumber(h string) bool {
	parts := strings.Split(h, ".")
	if parts[len(parts)-1] == "" {
		if len(parts) == 1 {
			return false
		}
		parts = parts[:len(parts)-1]
	}
	last := parts[len(parts)-1]
	if last != "" && strings.Trim(last, "0123456789") == "" {
		return true
	}
	_, ok := ipv4Number(last)
	return ok
}

// ipv4Number parses one part of an IPv4 host: decimal, 0x hex or 0
// octal. Values beyond 2^32 are clamped (they fail the range check).
func ipv4Number(s string) (uint64, bool) {
	if s == "" {
		return 0, false
	}
	base := uint64(10)
	switch {
	case len(s) >= 2 && (s[:2] == "0x" || s[:2] == "0X"):
		s, base = s[2:], 16
	case len(s) >= 2 && s[0] == '0':
		s, base = s[1:], 8
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		var d uint64
		switch c := s[i]; {
		case isDigit(c):
			d = uint64(c - '0')
		case base == 16 && isHex(c):
			d = uint64(c|0x20-'a') + 10
		default:
			return 0, false
		}
		if d >= base {
			return 0, false
		}
		n = min(n*base+d, 1<<40)
	}
	return n, true
}

func parseWebIPv4(h string) (string, bool) {
	parts := strings.Split(h, ".")
	if parts[len(parts)-1] == "" && len(parts) > 1 {
		parts = parts[:len(parts)-1]
	}
	if len(parts) > 4 {
		return "", false
	}
	nums := make([]uint64, len(parts))
	for i, p := range parts {
		n, ok := ipv4Number(p)
		if !ok {
			return "", false
		}
		nums[i] = n
	}
	var ip uint64
	for i, n := range nums[:len(nums)-1] {
		if n > 255 {
			return "", false
		}
		ip |= n << (8 * (3 - i))
	}
	last := nums[len(nums)-1]
	if last >= 1<<(8*(5-len(nums))) {
		return "", false
	}
	ip += last
	return strconv.Itoa(int(ip>>24)) + "." + strconv.Itoa(int(ip>>16&255)) + "." + strconv.Itoa(int(ip>>8&255)) + "." + strconv.Itoa(int(ip&255)), true
}

// parseWebIPv6 parses an IPv6 literal (no zone: % is not allowed in a
// URL's IPv6 host) and serialises it as the URL Standard does: lower-case
// hex, the first longest run of two or more zero pieces compressed, no
// embedded IPv4 form.
func parseWebIPv6(s string) (string, bool) {
	if strings.Contains(s, "%") {
		return "", false
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is6() {
		return "", false
	}
	b := a.As16()
	var pieces [8]uint16
	for i := range pieces {
		pieces[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
	}
	start, length := -1, 1
	for i := 0; i < 8; {
		j := i
		for j < 8 && pieces[j] == 0 {
			j++
		}
		if j-i > length {
			start, length = i, j-i
		}
		i = max(j, i+1)
	}
	var out strings.Builder
	out.WriteByte('[')
	for i := 0; i < 8; i++ {
		if i == start {
			out.WriteString("::")
			i += length - 1
			continue
		}
		if i > 0 && i != start+length {
			out.WriteByte(':')
		}
		out.WriteString(strconv.FormatUint(uint64(pieces[i]), 16))
	}
	out.WriteByte(']')
	return out.String(), true
}

func isAlpha(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isHex(c byte) bool   { return isDigit(c) || c|0x20 >= 'a' && c|0x20 <= 'f' }
