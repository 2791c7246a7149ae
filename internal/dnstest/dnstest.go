// Package dnstest is a real DNS server for tests: authoritative for every
// name, on loopback, over UDP and TCP on one port, and over HTTPS (RFC 8484)
// on request. Records and failure modes change while it runs, so a test
// can publish a record, take it away, or make the server misbehave.
package dnstest

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/miekg/dns"
)

// Mode is how the server answers queries for a name.
type Mode int

const (
	// Normal answers from the records: TXT, A or AAAA records when there
	// are some, an empty answer (NODATA) when the name has none of the
	// type asked, NXDOMAIN when the name is unknown.
	Normal Mode = iota
	// NXDomain answers NXDOMAIN whatever the records.
	NXDomain
	// ServFail answers SERVFAIL.
	ServFail
	// Refused answers REFUSED.
	Refused
	// Silent never answers.
	Silent
	// Garbage answers bytes that are not a DNS message.
	Garbage
	// Truncate answers over UDP with the TC bit and no records, so the
	// client must ask again over TCP, where it gets the full answer.
	Truncate
	// WrongQuestion answers a question other than the one asked.
	WrongQuestion
)

// Server is a running test DNS server.
type Server struct {
	// Addr is host:port, for UDP and TCP.
	Addr string

	udp, tcp *dns.Server
	doh      *httptest.Server

	mu    sync.Mutex
	txt   map[string][][]string // canonical name -> records -> character-strings
	cname map[string]string
	modes map[string]Mode
	all   *Mode // overrides every name's mode when set
	addrs map[string]*addrAnswers

	udpQueries, tcpQueries, dohQueries atomic.Int64
}

// Start listens on a free loopback port (UDP and TCP) and serves until Close.
func Start() (*Server, error) {
	s := &Server{txt: map[string][][]string{}, cname: map[string]string{}, modes: map[string]Mode{}, addrs: map[string]*addrAnswers{}}
	// Find a port free for both protocols: take a UDP port, then try the
	// same number over TCP.
	var (
		pc  net.PacketConn
		ln  net.Listener
		err error
	)
	for range 20 {
		pc, err = net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ln, err = net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			break
		}
		pc.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("dnstest: no port free for both UDP and TCP: %w", err)
	}
	s.Addr = pc.LocalAddr().String()
	started := make(chan struct{}, 2)
	notify := func() { started <- struct{}{} }
	s.udp = &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(s.serveUDP), NotifyStartedFunc: notify}
	s.tcp = &dns.Server{Listener: ln, Handler: dns.HandlerFunc(s.serveTCP), NotifyStartedFunc: notify}
	go func() { _ = s.udp.ActivateAndServe() }()
	go func() { _ = s.tcp.ActivateAndServe() }()
	<-started
	<-started
	return s, nil
}

// Close stops the server.
func (s *Server) Close() {
	_ = s.udp.Shutdown()
	_ = s.tcp.Shutdown()
	if s.doh != nil {
		s.doh.Close()
	}
}

func canonical(name string) string { return dns.CanonicalName(name) }

// AddTXT publishes one TXT record at name made of the given
// character-strings (one string for most records; several when a value is
// split, as long values must be).
func (s *Server) AddTXT(name string, chunks ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := canonical(name)
	s.txt[n] = append(s.txt[n], chunks)
}

// SetTXT replaces the TXT records at name with one record per value.
func (s *Server) SetTXT(name string, values ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := canonical(name)
	s.txt[n] = nil
	for _, v := range values {
		s.txt[n] = append(s.txt[n], []string{v})
	}
}

// RemoveTXT takes away every TXT record at name (the name becomes unknown).
func (s *Server) RemoveTXT(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.txt, canonical(name))
}

// addrAnswers are a name's A and AAAA records: first for the first query
// of each type, then for every later one (the same unless SetRebinding).
type addrAnswers struct {
	first, then []netip.Addr
	asked       map[uint16]bool
}

// SetAddrs publishes A (IPv4) and AAAA (IPv6, IPv4-mapped included)
// records at name, replacing any; none makes the name known with no
// addresses.
func (s *Server) SetAddrs(name string, addrs ...netip.Addr) {
	s.SetRebinding(name, addrs, addrs)
}

// SetRebinding answers the first A query and the first AAAA query for
// name from first, and every later one from then, as a DNS-rebinding
// attacker's server does (a public answer for the check, a private one
// for the connection).
func (s *Server) SetRebinding(name string, first, then []netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addrs[canonical(name)] = &addrAnswers{first: first, then: then, asked: map[uint16]bool{}}
}

// records are the A or AAAA records to answer qtype with.
func (a *addrAnswers) records(name string, qtype uint16) []dns.RR {
	set := a.then
	if !a.asked[qtype] {
		set = a.first
		a.asked[qtype] = true
	}
	var out []dns.RR
	for _, ip := range set {
		hdr := dns.RR_Header{Name: name, Class: dns.ClassINET, Ttl: 0} // nothing to cache
		switch {
		case qtype == dns.TypeA && ip.Is4():
			hdr.Rrtype = dns.TypeA
			out = append(out, &dns.A{Hdr: hdr, A: ip.AsSlice()})
		case qtype == dns.TypeAAAA && !ip.Is4():
			hdr.Rrtype = dns.TypeAAAA
			out = append(out, &dns.AAAA{Hdr: hdr, AAAA: ip.AsSlice()})
		}
	}
	return out
}

// SetCNAME makes name an alias of target.
func (s *Server) SetCNAME(name, target string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cname[canonical(name)] = canonical(target)
}

// SetMode sets how queries for name are answered.
func (s *Server) SetMode(name string, m Mode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.modes[canonical(name)] = m
}

// SetModeAll sets how every query is answered, whatever SetMode said;
// Normal restores per-name modes.
func (s *Server) SetModeAll(m Mode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m == Normal {
		s.all = nil
		return
	}
	s.all = &m
}

// Queries counts the queries received over UDP, TCP and HTTPS.
func (s *Server) Queries() (udp, tcp, doh int64) {
	return s.udpQueries.Load(), s.tcpQueries.Load(), s.dohQueries.Load()
}

func (s *Server) mode(name string) Mode {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.all != nil {
		return *s.all
	}
	return s.modes[canonical(name)]
}

// reply builds the answer to req; raw is set instead for Garbage, and
// neither for Silent.
func (s *Server) reply(req *dns.Msg, overUDP bool) (resp *dns.Msg, raw []byte) {
	if len(req.Question) != 1 {
		m := new(dns.Msg)
		m.SetRcode(req, dns.RcodeFormatError)
		return m, nil
	}
	q := req.Question[0]
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	switch s.mode(q.Name) {
	case Silent:
		return nil, nil
	case Garbage:
		return nil, []byte("\x00\x01this is not a DNS message at all")
	case NXDomain:
		m.Rcode = dns.RcodeNameError
		return m, nil
	case ServFail:
		m.Rcode = dns.RcodeServerFailure
		return m, nil
	case Refused:
		m.Rcode = dns.RcodeRefused
		return m, nil
	case WrongQuestion:
		m.Question[0].Name = "unrelated.example."
		return m, nil
	case Truncate:
		if overUDP {
			m.Truncated = true
			return m, nil
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	name := canonical(q.Name)
	known := false
	for range 8 { // follow a short CNAME chain, as a recursive resolver would
		target, ok := s.cname[name]
		if !ok {
			break
		}
		known = true
		m.Answer = append(m.Answer, &dns.CNAME{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: 60}, Target: target})
		name = target
	}
	records, ok := s.txt[name]
	known = known || ok
	if a, ok := s.addrs[name]; ok {
		known = true
		if q.Qtype == dns.TypeA || q.Qtype == dns.TypeAAAA {
			m.Answer = append(m.Answer, a.records(name, q.Qtype)...)
		}
	}
	if q.Qtype == dns.TypeTXT || q.Qtype == dns.TypeANY {
		for _, chunks := range records {
			m.Answer = append(m.Answer, &dns.TXT{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60}, Txt: escape(chunks)})
		}
	}
	if !known {
		m.Rcode = dns.RcodeNameError
	}
	return m, nil
}

// escape puts character-strings into the library's presentation form.
func escape(chunks []string) []string {
	out := make([]string, len(chunks))
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	for i, c := range chunks {
		out[i] = r.Replace(c)
	}
	return out
}

func (s *Server) serveUDP(w dns.ResponseWriter, req *dns.Msg) {
	s.udpQueries.Add(1)
	s.serve(w, req, true)
}

func (s *Server) serveTCP(w dns.ResponseWriter, req *dns.Msg) {
	s.tcpQueries.Add(1)
	s.serve(w, req, false)
}

func (s *Server) serve(w dns.ResponseWriter, req *dns.Msg, overUDP bool) {
	resp, raw := s.reply(req, overUDP)
	switch {
	case raw != nil:
		_, _ = w.Write(raw) // over TCP the library adds the length prefix
	case resp != nil:
		if overUDP {
			// As a real server does: what does not fit the client's buffer
			// is cut, with the TC bit set.
			size := dns.MinMsgSize
			if opt := req.IsEdns0(); opt != nil {
				size = int(opt.UDPSize())
			}
			resp.Truncate(size)
		}
		_ = w.WriteMsg(resp)
	default:
		if !overUDP {
			// Hold the connection open without answering until the client
			// gives up, as a wedged server would.
			w.Hijack()
		}
	}
}

// DoH serves the same records over HTTPS (RFC 8484, GET and POST) on a
// loopback TLS server. It returns the endpoint URL and a client that
// trusts the server's certificate.
func (s *Server) DoH() (string, *http.Client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.doh == nil {
		s.doh = httptest.NewTLSServer(http.HandlerFunc(s.serveDoH))
	}
	return s.doh.URL + "/dns-query", s.doh.Client()
}

func (s *Server) serveDoH(w http.ResponseWriter, r *http.Request) {
	s.dohQueries.Add(1)
	var wire []byte
	var err error
	switch r.Method {
	case http.MethodGet:
		wire, err = base64.RawURLEncoding.DecodeString(r.URL.Query().Get("dns"))
	case http.MethodPost:
		wire, err = io.ReadAll(io.LimitReader(r.Body, 65536))
	default:
		err = errors.New("method")
	}
	req := new(dns.Msg)
	if err == nil {
		err = req.Unpack(wire)
	}
	if err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	resp, raw := s.reply(req, false)
	switch {
	case raw != nil:
		w.Header().Set("Content-Type", "application/dns-message")
		_, _ = w.Write(raw)
	case resp != nil:
		out, err := resp.Pack()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/dns-message")
		_, _ = w.Write(out)
	default:
		// Silent: hang until the client goes away, then drop the
		// connection without an answer (returning would send an empty 200).
		<-r.Context().Done()
		panic(http.ErrAbortHandler)
	}
}
