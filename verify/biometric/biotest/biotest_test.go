package biotest_test

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strings"
	"testing"

	"github.com/kayle-id/orgs-api/verify/biometric/biotest"
)

type part struct{ name, filename, value string }

func post(t *testing.T, srv *biotest.Server, auth string, parts ...part) (int, string) {
	t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		cd := `form-data; name="` + p.name + `"`
		if p.filename != "" {
			cd += `; filename="` + p.filename + `"`
			h.Set("Content-Type", "application/octet-stream")
		}
		h.Set("Content-Disposition", cd)
		pw, _ := w.CreatePart(h)
		_, _ = pw.Write([]byte(p.value))
	}
	_ = w.Close()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL.JoinPath("verify").String(), &body)
	req.Header.Set("Content-Type", w.FormDataContentType())
	if auth != "" {
		req.Header.Set("X-Kayle-Biometric-Verifier-Auth", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The fake refuses what the worker refuses (and, stricter, unknown or
// repeated fields), so a server sending a wrong body is caught by it.
func TestRefusals(t *testing.T) {
	srv := biotest.New(t, "k")
	dg2 := part{"dg2", "dg2.bin", "D"}
	video := part{"video", "liveness.mp4", string(biotest.StubVideo(biotest.Accept))}
	nonce := part{"challengeNonce", "challenge-nonce.bin", "\x01\x02\x03\x04"}
	thr := part{"faceMatchThreshold", "", "0.8"}
	cases := []struct {
		name   string
		auth   string
		parts  []part
		status int
	}{
		{"accepted", "k", []part{dg2, video, nonce, thr}, 200},
		{"no auth", "", []part{dg2, video, nonce, thr}, 401},
		{"wrong auth", "K", []part{dg2, video, nonce, thr}, 401},
		{"no dg2", "k", []part{video, nonce, thr}, 400},
		{"empty video", "k", []part{dg2, {"video", "liveness.mp4", ""}, nonce, thr}, 400},
		{"dg2 not a file", "k", []part{{"dg2", "", "D"}, video, nonce, thr}, 400},
		{"threshold 1.5", "k", []part{dg2, video, nonce, {"faceMatchThreshold", "", "1.5"}}, 400},
		{"threshold text", "k", []part{dg2, video, nonce, {"faceMatchThreshold", "", "high"}}, 400},
		{"repeated field", "k", []part{dg2, dg2, video, nonce, thr}, 400},
		{"unknown field", "k", []part{dg2, video, nonce, thr, {"skipFaceMatch", "", "1"}}, 400},
		{"unknown stub", "k", []part{dg2, {"video", "liveness.mp4", "KAYLE_TEST_STUB::approve::"}, nonce, thr}, 400},
		{"not a stub, nothing programmed", "k", []part{dg2, {"video", "liveness.mp4", "mp4"}, nonce, thr}, 500},
	}
	for _, c := range cases {
		if status, body := post(t, srv, c.auth, c.parts...); status != c.status {
			t.Errorf("%s: %d %s, want %d", c.name, status, body, c.status)
		}
	}
	reqs := srv.Requests()
	if len(reqs) != len(cases) { // refused ones too, with why
		t.Fatalf("%d requests recorded, want %d", len(reqs), len(cases))
	}
	if reqs[0].Refused != "" || !strings.Contains(reqs[3].Refused, "dg2") {
		t.Errorf("recorded refusals %q, %q", reqs[0].Refused, reqs[3].Refused)
	}
}
