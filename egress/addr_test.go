package egress

import (
	"net/netip"
	"testing"
)

func TestCheckAddress(t *testing.T) {
	cases := []struct {
		addr            string
		refused         bool // with no options
		loopback, privy bool // admitted by AllowLoopback / AllowPrivate
	}{
		{"93.184.215.14", false, false, false},
		{"2606:2800:21f:cb07:6820:80da:af6b:8b2c", false, false, false},
		{"192.0.2.1", false, false, false}, // documentation range: not routed, not refused
		{"127.0.0.1", true, true, false},
		{"127.255.255.254", true, true, false},
		{"::1", true, true, false},
		{"10.0.0.1", true, false, true},
		{"172.16.0.1", true, false, true},
		{"172.31.255.255", true, false, true},
		{"192.168.1.1", true, false, true},
		{"100.64.0.1", true, false, true},
		{"100.127.255.255", true, false, true},
		{"fd00::1", true, false, true},
		{"fc00::1", true, false, true},
		{"169.254.169.254", true, false, false},
		{"169.254.1.1", true, false, false},
		{"fd00:ec2::254", true, false, false},
		{"fe80::1", true, false, false},
		{"fe80::1%eth0", true, false, false},
		{"fec0::1", true, false, false},
		{"224.0.0.1", true, false, false},
		{"239.255.255.250", true, false, false},
		{"ff02::1", true, false, false},
		{"0.0.0.0", true, false, false},
		{"0.1.2.3", true, false, false},
		{"::", true, false, false},
		{"255.255.255.255", true, false, false},
		{"240.0.0.1", true, false, false},
		{"192.0.0.8", true, false, false},
		{"198.18.0.1", true, false, false},
		{"198.19.255.255", true, false, false},
		{"100::1", true, false, false},
		{"2001:0:4136:e378:8000:63bf:3fff:fdd2", true, false, false}, // Teredo
		{"64:ff9b:1::a00:1", true, false, false},
		// Forms embedding a refused IPv4 address, refused whatever the
		// options; embedding a public one they pass.
		{"::ffff:127.0.0.1", true, false, false},
		{"::ffff:10.0.0.1", true, false, false},
		{"::ffff:169.254.169.254", true, false, false},
		{"::ffff:93.184.215.14", false, false, false},
		{"64:ff9b::a9fe:a9fe", true, false, false}, // NAT64 169.254.169.254
		{"64:ff9b::7f00:1", true, false, false},
		{"64:ff9b::5db8:d70e", false, false, false},
		{"2002:a00:1::1", true, false, false}, // 6to4 10.0.0.1
		{"2002:7f00:1::", true, false, false},
		{"2002:5db8:d70e::1", false, false, false},
		{"::7f00:1", true, false, false}, // IPv4-compatible 127.0.0.1
		{"::a00:1", true, false, false},
	}
	for _, c := range cases {
		a := netip.MustParseAddr(c.addr)
		if got := (Options{}).check(a); (got != "") != c.refused {
			t.Errorf("%s: check = %q, want refused %v", c.addr, got, c.refused)
		}
		if got := (Options{AllowLoopback: true}).check(a); (got == "") != (!c.refused || c.loopback) {
			t.Errorf("%s with AllowLoopback: check = %q", c.addr, got)
		}
		if got := (Options{AllowPrivate: true}).check(a); (got == "") != (!c.refused || c.privy) {
			t.Errorf("%s with AllowPrivate: check = %q", c.addr, got)
		}
	}
}
