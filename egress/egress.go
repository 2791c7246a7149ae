// Package egress makes HTTP clients for calls to addresses users choose
// (webhook receivers now), so that a user cannot point the server at its
// own network: every address a name resolves to is checked at dial time,
// and the connection goes to the checked address, by IP, so there is no
// second lookup for a rebinding DNS server to answer differently.
package egress

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"time"
)

// Options configure New.
type Options struct {
	// AllowLoopback admits 127.0.0.0/8 and ::1: a development setting
	// for receivers on the same machine (the tests use it).
	AllowLoopback bool
	// AllowPrivate admits RFC 1918, CGNAT and ULA addresses, for a server
	// whose receivers live on its private network. Link-local and cloud
	// metadata stay refused.
	AllowPrivate bool
	// Resolver looks names up; nil is net.DefaultResolver.
	Resolver *net.Resolver
	// Timeout bounds the whole call and the wait for response headers;
	// 0 means none (callers set one).
	Timeout time.Duration
	// MaxIdlePerHost is http.Transport's MaxIdleConnsPerHost; 0 keeps its
	// default.
	MaxIdlePerHost int
	// RootCAs verifies servers; nil is the system pool (tests trust their
	// own server).
	RootCAs *x509.CertPool
}

// BlockedError is the refusal to connect to an address.
type BlockedError struct {
	Host   string     // as in the URL
	Addr   netip.Addr // the refused address
	Reason string
}

func (e *BlockedError) Error() string {
	if e.Host == e.Addr.String() {
		return fmt.Sprintf("egress: refusing to connect to %s: %s address", e.Addr, e.Reason)
	}
	return fmt.Sprintf("egress: refusing to connect to %s: it resolves to %s, a %s address", e.Host, e.Addr, e.Reason)
}

// New is an http.Client that connects only to checked addresses, takes no
// proxy from the environment, never follows a redirect (the 3xx is the
// answer), speaks TLS 1.2 or later, and gives up after o.Timeout.
func New(o Options) *http.Client {
	if o.Resolver == nil {
		o.Resolver = net.DefaultResolver
	}
	t := &http.Transport{
		Proxy:                 nil,
		DialContext:           o.dial,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: o.RootCAs},
		TLSHandshakeTimeout:   o.Timeout,
		ResponseHeaderTimeout: o.Timeout,
		MaxIdleConnsPerHost:   o.MaxIdlePerHost,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     false, // HTTP/1.1 to receivers, as upstream's fetch
	}
	return &http.Client{
		Transport: t,
		Timeout:   o.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// dial resolves host itself, refuses the lot if any address is refused
// (a name mixing public and private answers is an attack, not a fallback),
// and connects to the checked addresses in turn.
func (o Options) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	var addrs []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{ip}
	} else {
		addrs, err = o.Resolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, err
		}
		if len(addrs) == 0 {
			return nil, &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}
		}
	}
	for _, a := range addrs {
		if reason := o.check(a); reason != "" {
			return nil, &BlockedError{Host: host, Addr: a, Reason: reason}
		}
	}
	var d net.Dialer
	var errs []error
	for _, a := range addrs {
		c, err := d.DialContext(ctx, network, net.JoinHostPort(a.Unmap().String(), port))
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}

// MaxDiscard is how much of a response body Discard reads.
const MaxDiscard = 4 << 10

// Discard reads at most MaxDiscard bytes of resp's body (so a short body
// lets the connection be reused) and closes it; a receiver's answer is
// never read further.
func Discard(resp *http.Response) {
	if resp == nil || resp.Body == nil {
		return
	}
	_, _ = io.CopyN(io.Discard, resp.Body, MaxDiscard)
	_ = resp.Body.Close()
}
