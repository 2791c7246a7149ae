package egress

import (
	"net/netip"
)

// A class of addresses the client refuses, with why.
type class struct {
	prefix netip.Prefix
	reason string
	kind   kind
}

type kind int

const (
	never    kind = iota // refused whatever the options
	loopback             // admitted by AllowLoopback
	private              // admitted by AllowPrivate
)

func p(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// The IPv4 ranges that are not the public internet. Cloud metadata
// (169.254.169.254) is link-local.
var v4Classes = []class{
	{p("0.0.0.0/8"), "in 0.0.0.0/8 (this network)", never},
	{p("10.0.0.0/8"), "private (RFC 1918)", private},
	{p("100.64.0.0/10"), "shared address space (CGNAT, RFC 6598)", private},
	{p("127.0.0.0/8"), "loopback", loopback},
	{p("169.254.0.0/16"), "link-local (cloud metadata lives here)", never},
	{p("172.16.0.0/12"), "private (RFC 1918)", private},
	{p("192.0.0.0/24"), "IETF protocol assignments (192.0.0.0/24)", never},
	{p("192.168.0.0/16"), "private (RFC 1918)", private},
	{p("198.18.0.0/15"), "benchmarking (198.18.0.0/15)", never},
	{p("224.0.0.0/4"), "multicast", never},
	{p("240.0.0.0/4"), "reserved (240.0.0.0/4, broadcast included)", never},
}

// The IPv6 ranges, after the forms that embed an IPv4 address were
// unwrapped to it.
var v6Classes = []class{
	{p("::1/128"), "loopback", loopback},
	{p("::/128"), "unspecified", never},
	{p("fd00:ec2::254/128"), "cloud metadata (fd00:ec2::254)", never},
	{p("fc00::/7"), "unique local (ULA)", private},
	{p("fe80::/10"), "link-local", never},
	{p("fec0::/10"), "site-local (deprecated)", never},
	{p("ff00::/8"), "multicast", never},
	{p("64:ff9b:1::/48"), "local-use NAT64 (RFC 8215)", never},
	// Teredo hides an obfuscated IPv4 address; no webhook receiver needs it.
	{p("2001::/32"), "Teredo", never},
	{p("100::/64"), "discard-only (RFC 6666)", never},
}

var (
	nat64   = p("64:ff9b::/96")
	sixTo4  = p("2002::/16")
	compat4 = p("::/96") // IPv4-compatible ::a.b.c.d (deprecated)
)

// embeddedV4 is the IPv4 address an IPv6 address stands for, if it is
// one of the forms that reach IPv4: mapped ::ffff:a.b.c.d, NAT64
// 64:ff9b::a.b.c.d, 6to4 2002:aabb:ccdd::, compatible ::a.b.c.d.
func embeddedV4(a netip.Addr) (netip.Addr, string, bool) {
	b := a.As16()
	switch {
	case a.Is4In6():
		return a.Unmap(), "IPv4-mapped", true
	case nat64.Contains(a):
		return netip.AddrFrom4([4]byte(b[12:16])), "NAT64", true
	case sixTo4.Contains(a):
		return netip.AddrFrom4([4]byte(b[2:6])), "6to4", true
	case compat4.Contains(a) && a != netip.IPv6Unspecified() && a != netip.IPv6Loopback():
		return netip.AddrFrom4([4]byte(b[12:16])), "IPv4-compatible", true
	}
	return netip.Addr{}, "", false
}

// check says why the client must not connect to a ("" when it may). The
// Allow options admit the plain forms only: no receiver needs to be
// reached as ::ffff:127.0.0.1 or through NAT64, and refusing them keeps a
// development setting from opening more than it says.
func (o Options) check(a netip.Addr) string {
	a = a.WithZone("")
	via := ""
	if v4, form, ok := embeddedV4(a); ok {
		a, via = v4, " ("+form+")"
	}
	classes := v6Classes
	if a.Is4() {
		classes = v4Classes
	}
	for _, c := range classes {
		if !c.prefix.Contains(a) {
			continue
		}
		switch {
		case c.kind == loopback && o.AllowLoopback && via == "":
			return ""
		case c.kind == private && o.AllowPrivate && via == "":
			return ""
		}
		return c.reason + via
	}
	return ""
}
