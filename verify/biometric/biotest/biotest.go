// Package biotest is a biometric verifier on loopback that speaks the
// contract of behaviour-verify §6.7, for tests of the server's liveness
// step (the real verifier needs face models this machine cannot fetch).
//
// It checks the shared secret (either header, in constant time, as the
// real worker does) and parses the multipart body with Go's
// mime/multipart, refusing what the real worker refuses; it answers the
// worker's test-stub verdicts for a video starting with
// KAYLE_TEST_STUB::<verdict>::, and otherwise what the test programmed.
// It records every request so a test can assert what arrived.
package biotest

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The worker's limits, repeated here rather than imported so that the
// server under test is checked against the contract, not against itself.
const (
	maxDG2     = 4 << 20
	maxVideo   = 16 << 20
	maxRequest = maxDG2 + maxVideo + 256<<10
)

// StubPrefix starts a video that asks for a canned verdict.
const StubPrefix = "KAYLE_TEST_STUB::"

// The stub verdicts.
const (
	Accept                     = "accept"
	RejectFaceMismatch         = "reject_face_mismatch"
	RejectFaceScoreUnavailable = "reject_face_score_unavailable"
	RejectLiveness             = "reject_liveness"
	RejectPAD                  = "reject_pad"
)

// StubVideo is a video asking for verdict.
func StubVideo(verdict string) []byte {
	return []byte(StubPrefix + verdict + "::not really a video")
}

// Answer is a /verify answer as JSON would carry it.
type Answer struct {
	LivenessPassed     bool     `json:"livenessPassed"`
	LivenessScore      *float64 `json:"livenessScore"`
	FaceMatchPassed    bool     `json:"faceMatchPassed"`
	FaceMatchScore     *float64 `json:"faceMatchScore"`
	PADPassed          bool     `json:"padPassed"`
	PADScore           *float64 `json:"padScore"`
	UsedFallback       bool     `json:"usedFallback"`
	Reason             *string  `json:"reason"`
	FaceMatchAlignment *string  `json:"faceMatchAlignment"`
}

func f(v float64) *float64 { return &v }
func s(v string) *string   { return &v }

// Stub is the canned answer for verdict, and whether there is one. The
// scores are this package's choice (upstream's are not published beyond
// accept's 0.95); each rejection fails exactly one of the three checks.
func Stub(verdict string) (Answer, bool) {
	a := Answer{
		LivenessPassed: true, LivenessScore: f(0.95),
		FaceMatchPassed: true, FaceMatchScore: f(0.95),
		PADPassed: true, PADScore: f(0.95),
		FaceMatchAlignment: s("mesh"),
	}
	switch verdict {
	case Accept:
	case RejectFaceMismatch:
		a.FaceMatchPassed, a.FaceMatchScore, a.Reason = false, f(0.2), s("face_mismatch")
	case RejectFaceScoreUnavailable:
		a.FaceMatchPassed, a.FaceMatchScore, a.FaceMatchAlignment, a.Reason = false, nil, nil, s("face_score_unavailable")
	case RejectLiveness:
		a.LivenessPassed, a.LivenessScore, a.Reason = false, f(0.1), s("liveness_failed")
	case RejectPAD:
		a.PADPassed, a.PADScore, a.Reason = false, f(0.1), s("pad_failed")
	default:
		return Answer{}, false
	}
	return a, true
}

// Reply is a programmed /verify answer.
type Reply struct {
	Status      int           // 0 is 200
	ContentType string        // "" is application/json
	Body        []byte        // sent as is; nil sends Answer as JSON
	Answer      Answer        // used when Body is nil
	Delay       time.Duration // before answering (ends early if the client goes)
}

// Request is what one /verify request carried.
type Request struct {
	Method, Path string
	// BearerOK and HeaderOK say whether each auth header held the secret.
	BearerOK, HeaderOK bool
	// The fields; FileNames and ContentTypes are per field name.
	DG2, Video, Nonce []byte
	Threshold         string
	FileNames         map[string]string
	ContentTypes      map[string]string
	// Refused is why the server answered 4xx ("" when it did not).
	Refused string
}

// Server is the fake verifier.
type Server struct {
	// URL is the base URL to configure the client with.
	URL    *url.URL
	srv    *httptest.Server
	secret string
	stop   chan struct{}
	once   sync.Once

	mu        sync.Mutex
	requests  []Request
	reply     func(Request) Reply
	notReady  int // /health answers not ready this many more times
	neverUp   bool
	health    int
	prewarms  int
	overrides map[string]http.Handler
}

// New starts a verifier on loopback, stopped when t ends.
func New(t testing.TB, secret string) *Server {
	t.Helper()
	s := &Server{secret: secret, stop: make(chan struct{}), overrides: map[string]http.Handler{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL, _ = url.Parse(s.srv.URL)
	t.Cleanup(s.Close)
	return s
}

// Listen starts a verifier on addr ("127.0.0.1:0" for any free port) for
// tools and walkthroughs, outside a test; Close stops it. It keeps every
// /verify request for Requests, so it is for short runs.
func Listen(addr, secret string) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Server{secret: secret, stop: make(chan struct{}), overrides: map[string]http.Handler{}}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	_ = s.srv.Listener.Close()
	s.srv.Listener = ln
	s.srv.Start()
	s.URL, _ = url.Parse(s.srv.URL)
	return s, nil
}

// Stop is closed when the server shuts down: a hanging handler set with
// SetHandler should return on it.
func (s *Server) Stop() <-chan struct{} { return s.stop }

// Close stops the server (a test of a verifier that went away); it also
// runs when the test ends.
func (s *Server) Close() {
	s.once.Do(func() {
		close(s.stop) // releases delayed and hanging handlers
		s.srv.CloseClientConnections()
		s.srv.Close()
	})
}

// SetReply programs the /verify answer for videos that are not stubs.
func (s *Server) SetReply(fn func(Request) Reply) {
	s.mu.Lock()
	s.reply = fn
	s.mu.Unlock()
}

// SetHandler replaces the handling of path ("/health", "/prewarm",
// "/verify") entirely, auth included; nil restores it.
func (s *Server) SetHandler(path string, h http.Handler) {
	s.mu.Lock()
	if h == nil {
		delete(s.overrides, path)
	} else {
		s.overrides[path] = h
	}
	s.mu.Unlock()
}

// SetNotReady makes /health answer not ready n times, then ready.
func (s *Server) SetNotReady(n int) {
	s.mu.Lock()
	s.notReady = n
	s.mu.Unlock()
}

// SetNeverReady makes /health answer not ready for good.
func (s *Server) SetNeverReady() {
	s.mu.Lock()
	s.neverUp = true
	s.mu.Unlock()
}

// Requests is every /verify request so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// HealthCalls and PrewarmCalls count those requests.
func (s *Server) HealthCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.health
}

func (s *Server) PrewarmCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.prewarms
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	h := s.overrides[r.URL.Path]
	s.mu.Unlock()
	if h != nil {
		h.ServeHTTP(w, r)
		return
	}
	switch {
	case r.URL.Path == "/health" && r.Method == http.MethodGet:
		s.serveHealth(w)
	case r.URL.Path == "/prewarm" && r.Method == http.MethodPost:
		s.servePrewarm(w, r)
	case r.URL.Path == "/verify" && r.Method == http.MethodPost:
		s.serveVerify(w, r)
	default:
		writeJSON(w, http.StatusNotFound, errorBody("NOT_FOUND", "no such route"))
	}
}

func (s *Server) serveHealth(w http.ResponseWriter) {
	s.mu.Lock()
	s.health++
	ready := !s.neverUp && s.notReady <= 0
	if s.notReady > 0 {
		s.notReady--
	}
	s.mu.Unlock()
	status := http.StatusOK
	if !ready {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, map[string]any{"data": map[string]any{"ready": ready, "status": map[bool]string{true: "ok", false: "starting"}[ready]}})
}

func (s *Server) servePrewarm(w http.ResponseWriter, r *http.Request) {
	bearer, header := s.auth(r)
	if !bearer && !header {
		writeJSON(w, http.StatusUnauthorized, errorBody("UNAUTHORIZED", "Unauthorized biometric verifier request."))
		return
	}
	s.mu.Lock()
	s.prewarms++
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"data": map[string]any{"triggered": true}})
}

// auth says whether each header holds the secret, compared in constant
// time as the worker does.
func (s *Server) auth(r *http.Request) (bearer, header bool) {
	eq := func(a string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(s.secret)) == 1 }
	if v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		bearer = eq(strings.TrimSpace(v))
	}
	return bearer, eq(r.Header.Get("X-Kayle-Biometric-Verifier-Auth"))
}

func (s *Server) serveVerify(w http.ResponseWriter, r *http.Request) {
	req := Request{Method: r.Method, Path: r.URL.Path, FileNames: map[string]string{}, ContentTypes: map[string]string{}}
	req.BearerOK, req.HeaderOK = s.auth(r)
	record := func() {
		s.mu.Lock()
		s.requests = append(s.requests, req)
		s.mu.Unlock()
	}
	if !req.BearerOK && !req.HeaderOK {
		req.Refused = "unauthorized"
		record()
		writeJSON(w, http.StatusUnauthorized, errorBody("UNAUTHORIZED", "Unauthorized biometric verifier request."))
		return
	}
	if err := parseForm(r, &req); err != nil {
		req.Refused = err.Error()
		record()
		status := http.StatusBadRequest
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			status = http.StatusRequestEntityTooLarge
		}
		writeJSON(w, status, errorBody("INVALID_REQUEST", "Biometric verifier request payload is invalid."))
		return
	}
	record()
	var reply Reply
	if v, ok := strings.CutPrefix(string(req.Video[:min(len(req.Video), 64)]), StubPrefix); ok {
		verdict, _, _ := strings.Cut(v, "::")
		a, known := Stub(verdict)
		if !known {
			writeJSON(w, http.StatusBadRequest, errorBody("INVALID_REQUEST", "unknown stub verdict "+strconv.Quote(verdict)))
			return
		}
		reply = Reply{Answer: a}
	} else {
		s.mu.Lock()
		fn := s.reply
		s.mu.Unlock()
		if fn == nil {
			writeJSON(w, http.StatusInternalServerError, errorBody("NO_REPLY", "biotest: no reply programmed for a non-stub video"))
			return
		}
		reply = fn(req)
	}
	if reply.Delay > 0 {
		t := time.NewTimer(reply.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return
		case <-s.stop:
			return
		}
	}
	body := reply.Body
	if body == nil {
		body, _ = json.Marshal(reply.Answer)
	}
	ct := reply.ContentType
	if ct == "" {
		ct = "application/json"
	}
	status := reply.Status
	if status == 0 {
		status = http.StatusOK
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// parseForm reads the multipart body as the worker does: bounded, the
// two files required and non-empty within their limits, the nonce a
// file, the threshold decimal text in 0–1. Stricter than the worker, it
// refuses unknown and repeated fields, so a client sending anything
// else is noticed.
func parseForm(r *http.Request, req *Request) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" {
		return fmt.Errorf("content type %q is not multipart/form-data", r.Header.Get("Content-Type"))
	}
	r.Body = http.MaxBytesReader(nil, r.Body, maxRequest)
	mr, err := r.MultipartReader()
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		name := p.FormName()
		if seen[name] {
			return fmt.Errorf("field %q repeated", name)
		}
		seen[name] = true
		req.FileNames[name] = p.FileName()
		req.ContentTypes[name] = p.Header.Get("Content-Type")
		limit := map[string]int64{"dg2": maxDG2, "video": maxVideo, "challengeNonce": 1 << 10, "faceMatchThreshold": 64}[name]
		if limit == 0 {
			return fmt.Errorf("unknown field %q", name)
		}
		data, err := io.ReadAll(io.LimitReader(p, limit+1))
		if err != nil {
			return err
		}
		if int64(len(data)) > limit {
			return fmt.Errorf("field %q over %d bytes", name, limit)
		}
		switch name {
		case "dg2":
			req.DG2 = data
		case "video":
			req.Video = data
		case "challengeNonce":
			req.Nonce = data
		case "faceMatchThreshold":
			req.Threshold = string(data)
		}
	}
	switch {
	case !seen["dg2"] || req.FileNames["dg2"] == "" || len(req.DG2) == 0:
		return errors.New("dg2 missing, not a file or empty")
	case !seen["video"] || req.FileNames["video"] == "" || len(req.Video) == 0:
		return errors.New("video missing, not a file or empty")
	case seen["challengeNonce"] && req.FileNames["challengeNonce"] == "":
		return errors.New("challengeNonce is not a file")
	}
	if seen["faceMatchThreshold"] {
		if req.FileNames["faceMatchThreshold"] != "" {
			return errors.New("faceMatchThreshold is a file")
		}
		t, err := strconv.ParseFloat(strings.TrimSpace(req.Threshold), 64)
		if err != nil || t < 0 || t > 1 {
			return fmt.Errorf("faceMatchThreshold %q is not a number in 0–1", req.Threshold)
		}
	}
	return nil
}

func errorBody(code, message string) map[string]any {
	return map[string]any{"error": map[string]string{"code": code, "message": message}}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(bytes.TrimSpace(b))
}
