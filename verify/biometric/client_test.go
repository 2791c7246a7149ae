package biometric_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kayle-id/orgs-api/egress"
	"github.com/kayle-id/orgs-api/verify/biometric"
	"github.com/kayle-id/orgs-api/verify/biometric/biotest"
)

const secret = "verifier-secret-for-tests"

func newClient(t *testing.T, base *url.URL, mod ...func(*biometric.Config)) *biometric.Client {
	t.Helper()
	c := biometric.Config{BaseURL: base, Secret: secret, AllowPrivate: true, ReadyWait: 2 * time.Second, Timeout: 5 * time.Second}
	for _, m := range mod {
		m(&c)
	}
	cl, err := biometric.New(c)
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

func input(video []byte) biometric.Input {
	return biometric.Input{
		DG2:       []byte("\x75\x82\x00\x04DG2!"),
		Video:     video,
		Nonce:     []byte{0x8b, 0x57, 0xe2, 0xfe},
		Threshold: 0.6875,
	}
}

func wantUnavailable(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, biometric.ErrUnavailable) {
		t.Fatalf("error %v does not wrap ErrUnavailable", err)
	}
}

func score(p *float64) string {
	if p == nil {
		return "null"
	}
	return fmt.Sprint(*p)
}

// Each stub verdict of §6.7 arrives as a Verdict, not an error: a
// negative verdict is the person's failed try.
func TestStubVerdicts(t *testing.T) {
	srv := biotest.New(t, secret)
	cl := newClient(t, srv.URL)
	cases := []struct {
		verdict                     string
		liveness, face, pad, fallbk bool
		faceScore, align            string
	}{
		{biotest.Accept, true, true, true, false, "0.95", "mesh"},
		{biotest.RejectFaceMismatch, true, false, true, false, "0.2", "mesh"},
		{biotest.RejectFaceScoreUnavailable, true, false, true, false, "null", ""},
		{biotest.RejectLiveness, false, true, true, false, "0.95", "mesh"},
		{biotest.RejectPAD, true, true, false, false, "0.95", "mesh"},
	}
	for _, c := range cases {
		t.Run(c.verdict, func(t *testing.T) {
			v, err := cl.Verify(t.Context(), input(biotest.StubVideo(c.verdict)))
			if err != nil {
				t.Fatal(err)
			}
			got := fmt.Sprint(v.LivenessPassed, v.FaceMatchPassed, v.PADPassed, v.UsedFallback, score(v.FaceMatchScore), v.FaceMatchAlignment)
			want := fmt.Sprint(c.liveness, c.face, c.pad, c.fallbk, c.faceScore, c.align)
			if got != want {
				t.Fatalf("verdict %s, want %s (%+v)", got, want, v)
			}
			if c.verdict != biotest.Accept && v.Reason == "" {
				t.Fatal("a rejection carries no reason")
			}
		})
	}
}

// The body arrives as §6.7 describes it, read by Go's mime/multipart on
// the other side: the fields, their filenames and content types, the
// bytes unchanged, the threshold as decimal text, both auth headers.
func TestMultipartAsReceived(t *testing.T) {
	srv := biotest.New(t, secret)
	cl := newClient(t, srv.URL)
	in := input(biotest.StubVideo(biotest.Accept))
	in.DG2 = bytes.Repeat([]byte{0x00, 0xff, '\r', '\n', '-', '-'}, 1000) // framing look-alikes
	if _, err := cl.Verify(t.Context(), in); err != nil {
		t.Fatal(err)
	}
	reqs := srv.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	r := reqs[0]
	if !r.BearerOK || !r.HeaderOK {
		t.Errorf("auth headers: bearer %v, x-kayle-biometric-verifier-auth %v", r.BearerOK, r.HeaderOK)
	}
	if !bytes.Equal(r.DG2, in.DG2) || !bytes.Equal(r.Video, in.Video) || !bytes.Equal(r.Nonce, in.Nonce) {
		t.Error("the bytes received differ from the bytes sent")
	}
	if r.Threshold != "0.6875" {
		t.Errorf("threshold %q", r.Threshold)
	}
	wantFiles := map[string]string{"dg2": "dg2.bin", "video": "liveness.mp4", "challengeNonce": "challenge-nonce.bin", "faceMatchThreshold": ""}
	wantTypes := map[string]string{"dg2": "application/octet-stream", "video": "application/octet-stream", "challengeNonce": "application/octet-stream", "faceMatchThreshold": ""}
	if fmt.Sprint(r.FileNames) != fmt.Sprint(wantFiles) || fmt.Sprint(r.ContentTypes) != fmt.Sprint(wantTypes) {
		t.Errorf("files %v types %v", r.FileNames, r.ContentTypes)
	}
}

// The limits are inclusive: a 4 MiB DG2 and a 16 MiB video go through
// whole.
func TestLargestInputs(t *testing.T) {
	srv := biotest.New(t, secret)
	cl := newClient(t, srv.URL)
	in := input(append(biotest.StubVideo(biotest.Accept), make([]byte, biometric.MaxVideo-len(biotest.StubVideo(biotest.Accept)))...))
	in.DG2 = bytes.Repeat([]byte{7}, biometric.MaxDG2)
	if _, err := cl.Verify(t.Context(), in); err != nil {
		t.Fatal(err)
	}
	r := srv.Requests()[0]
	if len(r.DG2) != biometric.MaxDG2 || len(r.Video) != biometric.MaxVideo {
		t.Fatalf("received %d and %d bytes", len(r.DG2), len(r.Video))
	}
}

// Inputs outside the contract are refused before anything is sent.
func TestInputsRefused(t *testing.T) {
	srv := biotest.New(t, secret)
	cl := newClient(t, srv.URL)
	ok := input(biotest.StubVideo(biotest.Accept))
	cases := map[string]func(*biometric.Input){
		"empty DG2":      func(in *biometric.Input) { in.DG2 = nil },
		"DG2 over 4 MiB": func(in *biometric.Input) { in.DG2 = make([]byte, biometric.MaxDG2+1) },
		"empty video":    func(in *biometric.Input) { in.Video = []byte{} },
		"video over 16 MiB": func(in *biometric.Input) {
			in.Video = make([]byte, biometric.MaxVideo+1)
		},
		"no nonce":       func(in *biometric.Input) { in.Nonce = nil },
		"nonce too long": func(in *biometric.Input) { in.Nonce = make([]byte, biometric.MaxNonce+1) },
		"threshold 1.5":  func(in *biometric.Input) { in.Threshold = 1.5 },
		"threshold -0.1": func(in *biometric.Input) { in.Threshold = -0.1 },
		"threshold NaN":  func(in *biometric.Input) { in.Threshold = math.NaN() },
		"threshold +Inf": func(in *biometric.Input) { in.Threshold = math.Inf(1) },
	}
	for name, mod := range cases {
		in := ok
		mod(&in)
		_, err := cl.Verify(t.Context(), in)
		if !errors.Is(err, biometric.ErrInvalidInput) {
			t.Errorf("%s: error %v is not ErrInvalidInput", name, err)
		}
		wantUnavailable(t, err)
	}
	if n := len(srv.Requests()) + srv.HealthCalls(); n != 0 {
		t.Fatalf("%d requests reached the verifier", n)
	}
}

func f(v float64) *float64 { return &v }

// Every answer short of a well-formed verdict is ErrUnavailable.
func TestFailClosed(t *testing.T) {
	good := `{"livenessPassed":true,"livenessScore":0.9,"faceMatchPassed":true,"faceMatchScore":0.9,"padPassed":true,"padScore":0.9,"usedFallback":false,"reason":null,"faceMatchAlignment":"mesh"}`
	bodies := map[string]string{
		"invalid JSON":                 `{"livenessPassed":true,`,
		"not an object":                `[` + good + `]`,
		"missing faceMatchAlignment":   strings.Replace(good, `,"faceMatchAlignment":"mesh"`, ``, 1),
		"faceMatchAlignment other":     strings.Replace(good, `"mesh"`, `"dlib"`, 1),
		"score 1.5":                    strings.Replace(good, `"faceMatchScore":0.9`, `"faceMatchScore":1.5`, 1),
		"score negative":               strings.Replace(good, `"padScore":0.9`, `"padScore":-0.01`, 1),
		"score as string":              strings.Replace(good, `"livenessScore":0.9`, `"livenessScore":"0.9"`, 1),
		"extra key":                    strings.Replace(good, `{`, `{"approved":true,`, 1),
		"key in other case":            strings.Replace(good, `"padPassed"`, `"PadPassed"`, 1),
		"duplicate key":                strings.Replace(good, `{`, `{"livenessPassed":false,`, 1),
		"passed as null":               strings.Replace(good, `"padPassed":true`, `"padPassed":null`, 1),
		"passed as 1":                  strings.Replace(good, `"padPassed":true`, `"padPassed":1`, 1),
		"missing usedFallback":         strings.Replace(good, `"usedFallback":false,`, ``, 1),
		"trailing data":                good + `{}`,
		"reason a number":              strings.Replace(good, `"reason":null`, `"reason":7`, 1),
		"passed without a score":       strings.Replace(good, `"faceMatchScore":0.9`, `"faceMatchScore":null`, 1),
		"passed below the threshold":   strings.Replace(good, `"faceMatchScore":0.9`, `"faceMatchScore":0.3`, 1),
		"verifier reports unavailable": `{"livenessPassed":false,"livenessScore":null,"faceMatchPassed":false,"faceMatchScore":null,"padPassed":false,"padScore":null,"usedFallback":true,"reason":"biometric_verifier_unavailable:container_http_503","faceMatchAlignment":null}`,
	}
	cases := map[string]biotest.Reply{
		"500":               {Status: 500, Body: []byte(good)},
		"503":               {Status: 503, Body: []byte(`{"error":{"code":"BIOMETRIC_VERIFIER_UNAVAILABLE"}}`)},
		"422":               {Status: 422, Body: []byte(good)},
		"204":               {Status: 204, Body: []byte{}},
		"text/plain answer": {ContentType: "text/plain", Body: []byte(good)},
		"no content type":   {ContentType: "application/octet-stream", Body: []byte(good)},
		"empty body":        {Body: []byte{}},
	}
	for name, b := range bodies {
		cases[name] = biotest.Reply{Body: []byte(b)}
	}
	srv := biotest.New(t, secret)
	var mu sync.Mutex
	var reply biotest.Reply
	srv.SetReply(func(biotest.Request) biotest.Reply { mu.Lock(); defer mu.Unlock(); return reply })
	cl := newClient(t, srv.URL)
	// The good answer itself passes, so each case fails for its change.
	mu.Lock()
	reply = biotest.Reply{Body: []byte(good)}
	mu.Unlock()
	if v, err := cl.Verify(t.Context(), input([]byte("video"))); err != nil || !v.FaceMatchPassed || *v.FaceMatchScore != 0.9 {
		t.Fatalf("the good answer: %+v, %v", v, err)
	}
	for name, r := range cases {
		mu.Lock()
		reply = r
		mu.Unlock()
		v, err := cl.Verify(t.Context(), input([]byte("video")))
		if !errors.Is(err, biometric.ErrUnavailable) {
			t.Errorf("%s: got %+v, %v; want ErrUnavailable", name, v, err)
		}
	}
}

// A verifier that refuses our secret (401) is unavailable, not a
// negative verdict; the wrong secret reached it in both headers.
func TestWrongSecret(t *testing.T) {
	srv := biotest.New(t, secret)
	cl := newClient(t, srv.URL, func(c *biometric.Config) { c.Secret = "not-the-secret" })
	_, err := cl.Verify(t.Context(), input(biotest.StubVideo(biotest.Accept)))
	wantUnavailable(t, err)
	if !strings.Contains(err.Error(), "401") {
		t.Errorf("error %v does not name the status", err)
	}
	r := srv.Requests()
	if len(r) != 1 || r[0].Refused != "unauthorized" || r[0].BearerOK || r[0].HeaderOK {
		t.Fatalf("requests %+v", r)
	}
	if err := cl.Prewarm(t.Context()); !errors.Is(err, biometric.ErrUnavailable) || srv.PrewarmCalls() != 0 {
		t.Fatalf("prewarm with the wrong secret: %v, %d calls", err, srv.PrewarmCalls())
	}
}

// An answer larger than MaxAnswer is refused after reading MaxAnswer+1
// bytes, whether or not it declares its length.
func TestOversizedAnswer(t *testing.T) {
	for _, declared := range []bool{true, false} {
		srv := biotest.New(t, secret)
		var sent int64
		var mu sync.Mutex
		srv.SetHandler("/verify", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			const size = 10 << 20
			w.Header().Set("Content-Type", "application/json")
			if declared {
				w.Header().Set("Content-Length", fmt.Sprint(size))
			}
			chunk := bytes.Repeat([]byte(" "), 32<<10)
			chunk[0] = '{'
			for n := 0; n < size; n += len(chunk) {
				k, err := w.Write(chunk)
				mu.Lock()
				sent += int64(k)
				mu.Unlock()
				if err != nil {
					return
				}
				chunk[0] = ' '
			}
		}))
		cl := newClient(t, srv.URL)
		_, err := cl.Verify(t.Context(), input([]byte("video")))
		wantUnavailable(t, err)
		if !strings.Contains(err.Error(), "over") {
			t.Errorf("declared %v: error %v", declared, err)
		}
		srv.Close()
		mu.Lock()
		if sent >= 10<<20 {
			t.Errorf("declared %v: the client read the whole 10 MB answer", declared)
		}
		mu.Unlock()
	}
}

// A verifier that never answers is cut at Timeout.
func TestHangingVerifier(t *testing.T) {
	srv := biotest.New(t, secret)
	srv.SetHandler("/verify", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-srv.Stop():
		}
	}))
	cl := newClient(t, srv.URL, func(c *biometric.Config) { c.Timeout = 300 * time.Millisecond })
	start := time.Now()
	_, err := cl.Verify(t.Context(), input([]byte("video")))
	wantUnavailable(t, err)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v is not the deadline", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("took %v", d)
	}
}

// A slow answer within Timeout is fine; the caller's own deadline still
// wins when it is shorter.
func TestCallerDeadline(t *testing.T) {
	srv := biotest.New(t, secret)
	srv.SetReply(func(biotest.Request) biotest.Reply {
		a, _ := biotest.Stub(biotest.Accept)
		return biotest.Reply{Answer: a, Delay: 200 * time.Millisecond}
	})
	cl := newClient(t, srv.URL)
	if _, err := cl.Verify(t.Context(), input([]byte("video"))); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err := cl.Verify(ctx, input([]byte("video")))
	wantUnavailable(t, err)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v is not the deadline", err)
	}
}

// A verifier that never says ready is unavailable after ReadyWait, and
// /verify is never called.
func TestNeverReady(t *testing.T) {
	srv := biotest.New(t, secret)
	srv.SetNeverReady()
	cl := newClient(t, srv.URL, func(c *biometric.Config) { c.ReadyWait = 800 * time.Millisecond })
	start := time.Now()
	_, err := cl.Verify(t.Context(), input(biotest.StubVideo(biotest.Accept)))
	wantUnavailable(t, err)
	if d := time.Since(start); d < 700*time.Millisecond || d > 3*time.Second {
		t.Errorf("gave up after %v, want about 800ms", d)
	}
	if n := srv.HealthCalls(); n < 3 || n > 5 {
		t.Errorf("%d /health polls in 800ms, want about one per 250ms", n)
	}
	if len(srv.Requests()) != 0 {
		t.Fatal("/verify was called")
	}
}

// /health answers that are not "2xx JSON with data.ready true" are all
// "not ready".
func TestHealthAnswers(t *testing.T) {
	answers := []struct {
		status int
		ct     string
		body   string
	}{
		{200, "application/json", `{"data":{"ready":"true"}}`},
		{200, "application/json", `{"data":{"ready":1}}`},
		{200, "application/json", `{"ready":true}`},
		{200, "application/json", `{"data":{"ready":true,"ready":false}}`},
		{200, "text/plain", `{"data":{"ready":true}}`},
		{503, "application/json", `{"data":{"ready":true}}`},
		{200, "application/json", `{"data":{"ready":true}`},
	}
	for _, a := range answers {
		srv := biotest.New(t, secret)
		srv.SetHandler("/health", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", a.ct)
			w.WriteHeader(a.status)
			_, _ = w.Write([]byte(a.body))
		}))
		cl := newClient(t, srv.URL, func(c *biometric.Config) { c.ReadyWait = 300 * time.Millisecond })
		_, err := cl.Verify(t.Context(), input(biotest.StubVideo(biotest.Accept)))
		if !errors.Is(err, biometric.ErrUnavailable) || len(srv.Requests()) != 0 {
			t.Errorf("%d %s %s: %v after %d /verify", a.status, a.ct, a.body, err, len(srv.Requests()))
		}
	}
}

// Not ready, then ready: Verify waits and goes through.
func TestReadyAfterWarmUp(t *testing.T) {
	srv := biotest.New(t, secret)
	srv.SetNotReady(3)
	cl := newClient(t, srv.URL)
	if _, err := cl.Verify(t.Context(), input(biotest.StubVideo(biotest.Accept))); err != nil {
		t.Fatal(err)
	}
	if n := srv.HealthCalls(); n != 4 {
		t.Fatalf("%d /health polls, want 4", n)
	}
}

// A caller that gives up while /health is polled gets its answer at
// once; the poll goes on for the others.
func TestCallerGivesUpWaitingForHealth(t *testing.T) {
	srv := biotest.New(t, secret)
	srv.SetNotReady(4) // about a second
	cl := newClient(t, srv.URL)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_, err := cl.Verify(ctx, input(biotest.StubVideo(biotest.Accept)))
	wantUnavailable(t, err)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v", err)
	}
	if _, err := cl.Verify(t.Context(), input(biotest.StubVideo(biotest.Accept))); err != nil {
		t.Fatal(err)
	}
	if n := srv.HealthCalls(); n != 5 {
		t.Fatalf("%d /health polls, want 5 (one poll shared by both calls)", n)
	}
}

// After a 5xx the cached "ready" is dropped, so the next call polls.
func TestReadyForgottenAfterServerError(t *testing.T) {
	srv := biotest.New(t, secret)
	fail := true
	var mu sync.Mutex
	srv.SetReply(func(biotest.Request) biotest.Reply {
		mu.Lock()
		defer mu.Unlock()
		if fail {
			fail = false
			return biotest.Reply{Status: 502, Body: []byte(`{}`)}
		}
		a, _ := biotest.Stub(biotest.Accept)
		return biotest.Reply{Answer: a}
	})
	cl := newClient(t, srv.URL)
	_, err := cl.Verify(t.Context(), input([]byte("video")))
	wantUnavailable(t, err)
	if _, err := cl.Verify(t.Context(), input([]byte("video"))); err != nil {
		t.Fatal(err)
	}
	if n := srv.HealthCalls(); n != 2 {
		t.Fatalf("%d /health polls, want 2", n)
	}
}

func TestConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cl := newClient(t, &url.URL{Scheme: "http", Host: addr}, func(c *biometric.Config) { c.ReadyWait = 300 * time.Millisecond })
	_, err = cl.Verify(t.Context(), input(biotest.StubVideo(biotest.Accept)))
	wantUnavailable(t, err)
	if !strings.Contains(err.Error(), "refused") {
		t.Errorf("error %v", err)
	}
	wantUnavailable(t, cl.Prewarm(t.Context()))
}

// The verifier went away after a successful call: the kept-alive
// connection and the cached "ready" do not hide it.
func TestVerifierGoesAway(t *testing.T) {
	srv := biotest.New(t, secret)
	cl := newClient(t, srv.URL, func(c *biometric.Config) { c.ReadyWait = 300 * time.Millisecond })
	if _, err := cl.Verify(t.Context(), input(biotest.StubVideo(biotest.Accept))); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	_, err := cl.Verify(t.Context(), input(biotest.StubVideo(biotest.Accept)))
	wantUnavailable(t, err)
}

// Without AllowPrivate the default client refuses the loopback verifier
// at dial time; nothing reaches it.
func TestPrivateAddressRefused(t *testing.T) {
	srv := biotest.New(t, secret)
	cl := newClient(t, srv.URL, func(c *biometric.Config) { c.AllowPrivate = false })
	start := time.Now()
	_, err := cl.Verify(t.Context(), input(biotest.StubVideo(biotest.Accept)))
	wantUnavailable(t, err)
	if d := time.Since(start); d > time.Second {
		t.Errorf("a refused address was retried for %v", d)
	}
	var blocked *egress.BlockedError
	if !errors.As(err, &blocked) {
		t.Fatalf("error %v is not egress's refusal", err)
	}
	err = cl.Prewarm(t.Context())
	if !errors.As(err, &blocked) {
		t.Fatalf("prewarm error %v is not egress's refusal", err)
	}
	if n := srv.HealthCalls() + srv.PrewarmCalls() + len(srv.Requests()); n != 0 {
		t.Fatalf("%d requests reached the verifier", n)
	}
}

// A redirect is the answer, not followed, even with a caller's client.
func TestRedirectNotFollowed(t *testing.T) {
	target := biotest.New(t, secret)
	srv := biotest.New(t, secret)
	srv.SetHandler("/verify", http.RedirectHandler(target.URL.JoinPath("verify").String(), http.StatusTemporaryRedirect))
	for name, hc := range map[string]*http.Client{"egress": nil, "caller's": {}} {
		cl := newClient(t, srv.URL, func(c *biometric.Config) { c.HTTPClient = hc })
		_, err := cl.Verify(t.Context(), input(biotest.StubVideo(biotest.Accept)))
		wantUnavailable(t, err)
		if len(target.Requests()) != 0 {
			t.Fatalf("%s client followed the redirect", name)
		}
	}
}

func TestPrewarm(t *testing.T) {
	srv := biotest.New(t, secret)
	cl := newClient(t, srv.URL)
	if err := cl.Prewarm(t.Context()); err != nil {
		t.Fatal(err)
	}
	if srv.PrewarmCalls() != 1 {
		t.Fatalf("%d prewarms", srv.PrewarmCalls())
	}
	srv.SetHandler("/prewarm", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-srv.Stop():
		}
	}))
	cl = newClient(t, srv.URL, func(c *biometric.Config) { c.PrewarmTimeout = 200 * time.Millisecond })
	if err := cl.Prewarm(t.Context()); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a hanging prewarm: %v", err)
	}
}

// 100 verifications at once share one /health poll.
func TestConcurrentVerifications(t *testing.T) {
	srv := biotest.New(t, secret)
	srv.SetNotReady(1) // the burst arrives while the verifier warms up
	cl := newClient(t, srv.URL)
	const n = 100
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			in := input(biotest.StubVideo(biotest.Accept))
			in.DG2 = fmt.Appendf(nil, "dg2-%d", i)
			v, err := cl.Verify(t.Context(), in)
			if err == nil && !v.FaceMatchPassed {
				err = errors.New("not passed")
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if h := srv.HealthCalls(); h != 2 {
		t.Errorf("%d /health polls for %d verifications, want 2 (not ready, ready)", h, n)
	}
	seen := map[string]bool{}
	for _, r := range srv.Requests() {
		seen[string(r.DG2)] = true
	}
	if len(seen) != n {
		t.Fatalf("%d distinct DG2s received, want %d", len(seen), n)
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	u, _ := url.Parse("http://127.0.0.1:8787")
	bad := map[string]biometric.Config{
		"no URL":             {Secret: secret},
		"relative URL":       {BaseURL: &url.URL{Path: "/x"}, Secret: secret},
		"ftp":                {BaseURL: &url.URL{Scheme: "ftp", Host: "h"}, Secret: secret},
		"credentials in URL": {BaseURL: &url.URL{Scheme: "http", Host: "h", User: url.User("u")}, Secret: secret},
		"no secret":          {BaseURL: u},
		"secret with CRLF":   {BaseURL: u, Secret: "a\r\nX-Evil: 1"},
		"secret with spaces": {BaseURL: u, Secret: " a"},
		"negative timeout":   {BaseURL: u, Secret: secret, Timeout: -1},
	}
	for name, c := range bad {
		if _, err := biometric.New(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// A base URL with a path prefixes the contract's paths.
func TestBaseURLPath(t *testing.T) {
	srv := biotest.New(t, secret)
	var got []string
	var mu sync.Mutex
	srv.SetHandler("/bio/health", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.URL.Path)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"data":{"ready":true}}`))
	}))
	cl := newClient(t, srv.URL.JoinPath("bio"))
	_, err := cl.Verify(t.Context(), input(biotest.StubVideo(biotest.Accept)))
	wantUnavailable(t, err) // /bio/verify is not served
	if len(got) != 1 {
		t.Fatalf("health paths %v", got)
	}
}

// A ready answer is trusted for ReadyFor, then asked again.
func TestReadyCached(t *testing.T) {
	srv := biotest.New(t, secret)
	cl := newClient(t, srv.URL, func(c *biometric.Config) { c.ReadyFor = 300 * time.Millisecond })
	for range 3 {
		if _, err := cl.Verify(t.Context(), input(biotest.StubVideo(biotest.Accept))); err != nil {
			t.Fatal(err)
		}
	}
	if n := srv.HealthCalls(); n != 1 {
		t.Fatalf("%d /health polls for three calls within ReadyFor, want 1", n)
	}
	time.Sleep(350 * time.Millisecond)
	if _, err := cl.Verify(t.Context(), input(biotest.StubVideo(biotest.Accept))); err != nil {
		t.Fatal(err)
	}
	if n := srv.HealthCalls(); n != 2 {
		t.Fatalf("%d /health polls after ReadyFor passed, want 2", n)
	}
}

// Each stub verdict maps to §5.9's failure code and §6.8's risk.
func TestStubOutcomes(t *testing.T) {
	srv := biotest.New(t, secret)
	cl := newClient(t, srv.URL)
	cases := []struct {
		verdict, failure string
		risk             float64
	}{
		{biotest.Accept, "", 1 - 0.95},
		{biotest.RejectFaceMismatch, biometric.FailureFaceMismatch, 1 - 0.2},
		{biotest.RejectFaceScoreUnavailable, biometric.FailureFaceMismatch, 1},
		{biotest.RejectLiveness, biometric.FailureLiveness, 1},
		{biotest.RejectPAD, biometric.FailureLiveness, 1},
	}
	for _, c := range cases {
		v, err := cl.Verify(t.Context(), input(biotest.StubVideo(c.verdict)))
		if err != nil {
			t.Fatal(err)
		}
		if got := v.Failure(true); got != c.failure {
			t.Errorf("%s: failure %q, want %q", c.verdict, got, c.failure)
		}
		if got := v.RiskScore(true); math.Abs(got-c.risk) > 1e-12 {
			t.Errorf("%s: risk %v, want %v", c.verdict, got, c.risk)
		}
	}
	// A fallback match passes outside production only.
	fb := biometric.Verdict{LivenessPassed: true, PADPassed: true, FaceMatchPassed: true, UsedFallback: true, FaceMatchScore: f(0.9)}
	if fb.Failure(false) != "" || fb.Failure(true) != biometric.FailureFaceMismatch || fb.RiskScore(true) != 1 {
		t.Errorf("fallback: %q %q %v", fb.Failure(false), fb.Failure(true), fb.RiskScore(true))
	}
}
