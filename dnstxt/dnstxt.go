// Package dnstxt looks up the TXT records at a name through a configured
// resolver: plain DNS (host:port, UDP with TCP on truncation) or DNS over
// HTTPS (an https:// URL, RFC 8484 wire format). Several resolvers may be
// named; the next is tried only when the one before could not answer.
//
// Every lookup is bounded: each attempt has its own timeout, and the
// caller's context bounds the whole.
package dnstxt

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Looker finds the TXT records at a name. Each returned value is one
// record, its character-strings joined.
type Looker interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

// The outcomes other than an answer. A name that exists without TXT
// records is an answer: no values and no error.
var (
	// ErrNoSuchName: the resolver answered NXDOMAIN.
	ErrNoSuchName = errors.New("dnstxt: no such name")
	// ErrUnavailable: no resolver gave an answer (unreachable, timed out,
	// refused, SERVFAIL or another server-side failure). Worth retrying.
	ErrUnavailable = errors.New("dnstxt: resolver unavailable")
	// ErrBadResponse: a resolver replied with something that is not a
	// DNS answer to the question asked.
	ErrBadResponse = errors.New("dnstxt: malformed resolver response")
)

// DefaultResolvers is what upstream uses: Cloudflare's DNS over HTTPS,
// then Google's when Cloudflare cannot answer.
const DefaultResolvers = "https://cloudflare-dns.com/dns-query,https://dns.google/dns-query"

// DefaultTimeout bounds one attempt at one resolver (upstream's 5 s).
const DefaultTimeout = 5 * time.Second

// maxDoHBody caps a DNS-over-HTTPS answer: a DNS message is at most 64 KiB.
const maxDoHBody = 65535

// udpSize is the EDNS0 buffer size advertised over UDP (the DNS flag day
// 2020 value, which avoids IP fragmentation).
const udpSize = 1232

// Options tunes a Resolver.
type Options struct {
	// Timeout bounds each attempt at each resolver; 0 means DefaultTimeout.
	Timeout time.Duration
	// HTTPClient makes DNS-over-HTTPS requests; nil means a client of its
	// own. Its timeout is not used: each attempt has Timeout.
	HTTPClient *http.Client
}

// Resolver queries its resolvers in order, moving to the next only when
// one could not answer.
type Resolver struct {
	upstreams []upstream
	timeout   time.Duration
	http      *http.Client
}

var _ Looker = (*Resolver)(nil)

type upstream struct {
	addr string   // host:port for plain DNS
	doh  *url.URL // DNS-over-HTTPS endpoint
}

func (u upstream) String() string {
	if u.doh != nil {
		return u.doh.String()
	}
	return u.addr
}

// New parses a comma-separated list of resolvers: host:port for plain DNS
// or https:// URLs for DNS over HTTPS.
func New(spec string, opts Options) (*Resolver, error) {
	r := &Resolver{timeout: opts.Timeout, http: opts.HTTPClient}
	if r.timeout <= 0 {
		r.timeout = DefaultTimeout
	}
	if r.http == nil {
		r.http = &http.Client{Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			ForceAttemptHTTP2:   true,
			MaxIdleConnsPerHost: 4,
			IdleConnTimeout:     90 * time.Second,
			TLSHandshakeTimeout: r.timeout,
		}}
	}
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		u, err := parseUpstream(part)
		if err != nil {
			return nil, err
		}
		r.upstreams = append(r.upstreams, u)
	}
	if len(r.upstreams) == 0 {
		return nil, errors.New("dnstxt: no resolver given")
	}
	return r, nil
}

func parseUpstream(s string) (upstream, error) {
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.Fragment != "" {
			return upstream{}, fmt.Errorf("dnstxt: resolver %q: want host:port or an https:// URL", s)
		}
		return upstream{doh: u}, nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" || port == "" {
		return upstream{}, fmt.Errorf("dnstxt: resolver %q: want host:port or an https:// URL", s)
	}
	return upstream{addr: s}, nil
}

// String lists the resolvers, for logs.
func (r *Resolver) String() string {
	names := make([]string, len(r.upstreams))
	for i, u := range r.upstreams {
		names[i] = u.String()
	}
	return strings.Join(names, ",")
}

// LookupTXT asks each resolver in turn until one answers. When none does,
// the error joins every attempt's: it matches ErrUnavailable when any
// resolver was unavailable, and only ErrBadResponse when all of them
// answered nonsense.
func (r *Resolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	qname := dns.Fqdn(strings.ToLower(name))
	if _, ok := dns.IsDomainName(qname); !ok {
		return nil, fmt.Errorf("dnstxt: %q is not a domain name", name)
	}
	var errs []error
	for _, u := range r.upstreams {
		if err := ctx.Err(); err != nil {
			errs = append(errs, fmt.Errorf("%w: %v", ErrUnavailable, err))
			break
		}
		values, err := r.attempt(ctx, u, qname)
		if err == nil || errors.Is(err, ErrNoSuchName) {
			return values, err
		}
		errs = append(errs, fmt.Errorf("%s: %w", u, err))
	}
	return nil, errors.Join(errs...)
}

func (r *Resolver) attempt(ctx context.Context, u upstream, qname string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	q := new(dns.Msg)
	q.SetQuestion(qname, dns.TypeTXT)
	q.RecursionDesired = true
	var (
		resp *dns.Msg
		err  error
	)
	if u.doh != nil {
		resp, err = r.exchangeDoH(ctx, u.doh, q)
	} else {
		resp, err = exchangePlain(ctx, u.addr, q)
	}
	if err != nil {
		return nil, err
	}
	return answer(q, resp)
}

// exchangePlain asks over UDP and again over TCP when the answer was
// truncated.
func exchangePlain(ctx context.Context, addr string, q *dns.Msg) (*dns.Msg, error) {
	q.Id = dns.Id()
	q.SetEdns0(udpSize, false)
	c := &dns.Client{Net: "udp", UDPSize: udpSize}
	resp, _, err := c.ExchangeContext(ctx, q, addr)
	if err == nil && resp.Truncated {
		c = &dns.Client{Net: "tcp"}
		resp, _, err = c.ExchangeContext(ctx, q, addr)
	}
	if err != nil {
		return nil, classify(ctx, err)
	}
	return resp, nil
}

// classify tells a resolver that could not be reached or did not answer
// in time (unavailable) from one that sent bytes that are not a DNS
// message (bad response).
func classify(ctx context.Context, err error) error {
	var netErr net.Error
	switch {
	case ctx.Err() != nil, errors.As(err, &netErr), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, net.ErrClosed):
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return fmt.Errorf("%w: %v", ErrBadResponse, err)
}

// exchangeDoH asks over HTTPS with the RFC 8484 GET form (ID 0, so the
// answer is cacheable).
func (r *Resolver) exchangeDoH(ctx context.Context, endpoint *url.URL, q *dns.Msg) (*dns.Msg, error) {
	q.Id = 0
	wire, err := q.Pack()
	if err != nil {
		return nil, err
	}
	u := *endpoint
	vals := u.Query()
	vals.Set("dns", base64.RawURLEncoding.EncodeToString(wire))
	u.RawQuery = vals.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/dns-message")
	resp, err := r.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDoHBody))
		return nil, fmt.Errorf("%w: HTTP %d", ErrUnavailable, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDoHBody+1))
	if err != nil {
		return nil, classify(ctx, err)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(strings.ToLower(ct), "application/dns-message") {
		return nil, fmt.Errorf("%w: content type %q", ErrBadResponse, ct)
	}
	if len(body) > maxDoHBody {
		return nil, fmt.Errorf("%w: answer larger than a DNS message can be", ErrBadResponse)
	}
	m := new(dns.Msg)
	if err := m.Unpack(body); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadResponse, err)
	}
	if m.Id != q.Id {
		return nil, fmt.Errorf("%w: answer to another query", ErrBadResponse)
	}
	return m, nil
}

// answer reads the TXT values out of a reply to q: those at the name asked
// or at a name it is an alias of (a CNAME chain in the same answer), as a
// recursive resolver returns them.
func answer(q, resp *dns.Msg) ([]string, error) {
	if !resp.Response || len(resp.Question) != 1 || resp.Question[0].Qtype != dns.TypeTXT ||
		!strings.EqualFold(resp.Question[0].Name, q.Question[0].Name) {
		return nil, fmt.Errorf("%w: reply does not answer the question asked", ErrBadResponse)
	}
	switch resp.Rcode {
	case dns.RcodeSuccess:
	case dns.RcodeNameError:
		return nil, ErrNoSuchName
	case dns.RcodeServerFailure, dns.RcodeRefused, dns.RcodeNotImplemented:
		return nil, fmt.Errorf("%w: %s", ErrUnavailable, dns.RcodeToString[resp.Rcode])
	default:
		return nil, fmt.Errorf("%w: rcode %s", ErrBadResponse, dns.RcodeToString[resp.Rcode])
	}
	// The names the question reaches through the answer's aliases, in
	// whatever order the CNAME records come: one pass to index them, then
	// each name visited once.
	aliases := map[string][]string{}
	for _, rr := range resp.Answer {
		if c, ok := rr.(*dns.CNAME); ok {
			from := dns.CanonicalName(c.Hdr.Name)
			aliases[from] = append(aliases[from], dns.CanonicalName(c.Target))
		}
	}
	start := dns.CanonicalName(q.Question[0].Name)
	names := map[string]bool{start: true}
	for queue := []string{start}; len(queue) > 0; queue = queue[1:] {
		for _, to := range aliases[queue[0]] {
			if !names[to] {
				names[to] = true
				queue = append(queue, to)
			}
		}
	}
	var values []string
	for _, rr := range resp.Answer {
		if t, ok := rr.(*dns.TXT); ok && names[dns.CanonicalName(t.Hdr.Name)] {
			var b strings.Builder
			for _, chunk := range t.Txt {
				b.WriteString(unescape(chunk))
			}
			values = append(values, b.String())
		}
	}
	return values, nil
}

// unescape undoes the presentation escapes the DNS library adds to
// character-strings (\" \\ and \DDD), giving back the bytes on the wire.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		if i+3 < len(s) && isDigit(s[i+1]) && isDigit(s[i+2]) && isDigit(s[i+3]) {
			n := int(s[i+1]-'0')*100 + int(s[i+2]-'0')*10 + int(s[i+3]-'0')
			if n <= 255 {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i+1])
		i++
	}
	return b.String()
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
