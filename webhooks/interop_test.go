package webhooks_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/kayle-id/orgs-api/egress"
	"github.com/kayle-id/orgs-api/internal/testtool"
	"github.com/kayle-id/orgs-api/webhooks"
)

// nodeReceiver runs testdata/node-receiver, a receiver nobody here wrote
// the crypto of (node:crypto and the jose package), and returns its URL
// and its output lines.
func nodeReceiver(t *testing.T, secret string, priv *rsa.PrivateKey, env ...string) (string, <-chan map[string]any) {
	t.Helper()
	node := testtool.Require(t, "node")
	dir, err := filepath.Abs("testdata/node-receiver")
	if err != nil {
		t.Fatal(err)
	}
	testtool.NPMCI(t, dir, "jose")
	keyJSON, err := jose.JSONWebKey{Key: priv, Algorithm: "RSA-OAEP-256", Use: "enc"}.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "private.jwk")
	if err := os.WriteFile(keyFile, keyJSON, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, "receiver.mjs", "0")
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "WEBHOOK_SECRET="+secret, "PRIVATE_JWK_FILE="+keyFile), env...)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	if !sc.Scan() || !strings.HasPrefix(sc.Text(), "listening ") {
		t.Fatalf("receiver did not start: %q %v", sc.Text(), sc.Err())
	}
	port := strings.TrimPrefix(sc.Text(), "listening ")
	lines := make(chan map[string]any, 16)
	go func() {
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				lines <- m
			}
		}
		close(lines)
	}()
	return "http://127.0.0.1:" + port + "/webhooks/kayle#not-sent", lines
}

func nextLine(t *testing.T, lines <-chan map[string]any) map[string]any {
	t.Helper()
	select {
	case m, ok := <-lines:
		if !ok {
			t.Fatal("receiver exited")
		}
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("receiver printed nothing")
	}
	return nil
}

// interopPayloads are the four event types, with bytes that trip naive
// encoders: non-ASCII, <, >, &, and claims in a non-alphabetical order.
func interopPayloads(t *testing.T) map[string][]byte {
	t.Helper()
	data := map[string]any{
		webhooks.EventSucceeded: webhooks.SucceededData{
			Claims:            webhooks.Claims{{Key: "given_name", Value: "Zoë <&> \"Ann\""}, {Key: "age_over_18", Value: true}, {Key: "family_name", Value: nil}},
			SelectedFieldKeys: []string{"given_name", "age_over_18"},
		},
		webhooks.EventFailed:    webhooks.FailedData{FailureCode: "selfie_face_mismatch", NfcTriesUsed: 3},
		webhooks.EventExpired:   webhooks.ExpiredData{},
		webhooks.EventCancelled: webhooks.CancelledData{Outcome: "not_verified", Reason: "cancelled_after_failed_check", LivenessTriesUsed: 1},
	}
	out := map[string][]byte{}
	for typ, d := range data {
		evt, _ := webhooks.NewID(webhooks.EventIDPrefix, webhooks.LongIDChars)
		b, err := webhooks.Payload(typ, evt, "vs_interop", d)
		if err != nil {
			t.Fatal(err)
		}
		out[typ] = b
	}
	return out
}

// The four payload types, encrypted, signed and sent with the egress
// client, are verified and decrypted by the Node receiver to the exact
// bytes; go-jose decrypts the same JWEs.
func TestInteropNodeReceiver(t *testing.T) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := webhooks.CheckJWK(json.RawMessage(`{"kty":"RSA","n":"` + base64.RawURLEncoding.EncodeToString(priv.N.Bytes()) + `","e":"AQAB","alg":"RSA-OAEP-256","use":"enc","key_ops":["encrypt"]}`))
	if err != nil {
		t.Fatal(err)
	}
	secret, err := webhooks.NewSigningSecret()
	if err != nil {
		t.Fatal(err)
	}
	stored, lines := nodeReceiver(t, secret, priv)
	if err := webhooks.CheckURL(stored, true); err != nil {
		t.Fatal(err)
	}
	url, err := webhooks.SendURL(stored)
	if err != nil {
		t.Fatal(err)
	}
	client := egress.New(egress.Options{AllowLoopback: true, Timeout: webhooks.AttemptTimeout})
	send := func(deliveryID, typ, jwe, secret string, now time.Time) int {
		req, err := webhooks.NewDeliveryRequest(context.Background(), url, deliveryID, typ, jwe, secret, now)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		egress.Discard(resp)
		return resp.StatusCode
	}

	for typ, plain := range interopPayloads(t) {
		jwe, err := webhooks.Encrypt(plain, pub, "rsa-key-1")
		if err != nil {
			t.Fatal(err)
		}
		id, _ := webhooks.NewID(webhooks.DeliveryIDPrefix, webhooks.LongIDChars)
		if code := send(id, typ, jwe, secret, time.Now()); code != http.StatusOK {
			t.Fatalf("%s: receiver answered %d", typ, code)
		}
		got := nextLine(t, lines)
		if got["rejected"] != nil || got["delivery_id"] != id || got["event"] != typ || got["kid"] != "rsa-key-1" || got["content_type"] != "application/jose" {
			t.Fatalf("%s: receiver saw %v", typ, got)
		}
		if got["plaintext"] != string(plain) {
			t.Fatalf("%s: node decrypted\n%s\nwant\n%s", typ, got["plaintext"], plain)
		}
		obj, err := jose.ParseEncryptedCompact(jwe, []jose.KeyAlgorithm{jose.RSA_OAEP_256}, []jose.ContentEncryption{jose.A256GCM})
		if err != nil {
			t.Fatal(err)
		}
		if p, err := obj.Decrypt(priv); err != nil || string(p) != string(plain) {
			t.Fatalf("%s: go-jose decrypted %q, %v", typ, p, err)
		}
	}

	// What the receiver must refuse: a signature of another body, a t
	// older than 300 s, another secret.
	plain := interopPayloads(t)[webhooks.EventExpired]
	jwe, _ := webhooks.Encrypt(plain, pub, "rsa-key-1")
	other, _ := webhooks.NewSigningSecret()
	for name, c := range map[string]struct {
		secret string
		now    time.Time
		want   string
	}{
		"stale t":       {secret, time.Now().Add(-301 * time.Second), "stale"},
		"wrong secret":  {other, time.Now(), "mismatch"},
		"future t":      {secret, time.Now().Add(400 * time.Second), "stale"},
		"within window": {secret, time.Now().Add(-250 * time.Second), ""},
	} {
		code := send("whd_"+strings.ReplaceAll(name, " ", "_"), webhooks.EventExpired, jwe, c.secret, c.now)
		got := nextLine(t, lines)
		if c.want == "" {
			if code != http.StatusOK || got["plaintext"] != string(plain) {
				t.Fatalf("%s: %d %v", name, code, got)
			}
			continue
		}
		if code != http.StatusBadRequest || got["rejected"] != c.want {
			t.Fatalf("%s: answered %d, %v; want 400 %s", name, code, got, c.want)
		}
	}
	// A tampered signature header (one hex digit changed) on a good body.
	req, _ := webhooks.NewDeliveryRequest(context.Background(), url, "whd_tampered", webhooks.EventExpired, jwe, secret, time.Now())
	sig := req.Header.Get(webhooks.SignatureHeader)
	last := sig[len(sig)-1]
	req.Header.Set(webhooks.SignatureHeader, sig[:len(sig)-1]+map[bool]string{true: "0", false: "1"}[last != '0'])
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	egress.Discard(resp)
	if got := nextLine(t, lines); resp.StatusCode != http.StatusBadRequest || got["rejected"] != "mismatch" {
		t.Fatalf("tampered signature: %d %v", resp.StatusCode, got)
	}
}

// The request carries upstream's headers and nothing of Go's own.
func TestDeliveryRequestHeaders(t *testing.T) {
	var got http.Header
	var body []byte
	srv := http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		body, _ = io.ReadAll(r.Body)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	now := time.Unix(1742404800, 0)
	req, err := webhooks.NewDeliveryRequest(context.Background(), "http://"+ln.Addr().String()+"/h", "whd_1", webhooks.EventFailed, "encrypted-payload", "whsec_test_secret", now)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := egress.New(egress.Options{AllowLoopback: true, Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	egress.Discard(resp)
	want := map[string]string{
		"Content-Type":        "application/jose",
		"X-Kayle-Delivery-Id": "whd_1",
		"X-Kayle-Event":       "verification.session.failed",
		"X-Kayle-Signature":   "t=1742404800,v1=4e4a7ec092b53b027f0b504e4f1c0383af4dc960d2a869d9961d50586f46105b",
	}
	for k, v := range want {
		if got.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, got.Get(k), v)
		}
	}
	if ua, ok := got["User-Agent"]; ok {
		t.Errorf("User-Agent sent: %q", ua)
	}
	if string(body) != "encrypted-payload" {
		t.Errorf("body %q", body)
	}
}

// RESPONSE_STATUS makes the Node receiver answer a good delivery with
// another status, for tests of retries.
func TestNodeReceiverStatus(t *testing.T) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	secret, _ := webhooks.NewSigningSecret()
	stored, lines := nodeReceiver(t, secret, priv, "RESPONSE_STATUS=503")
	url, _ := webhooks.SendURL(stored)
	jwe, err := webhooks.Encrypt([]byte(`{"x":1}`), webhooks.JWK{N: base64.RawURLEncoding.EncodeToString(priv.N.Bytes()), E: "AQAB"}, "k1")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := webhooks.NewDeliveryRequest(context.Background(), url, "whd_1", webhooks.EventExpired, jwe, secret, time.Now())
	resp, err := egress.New(egress.Options{AllowLoopback: true, Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	egress.Discard(resp)
	if got := nextLine(t, lines); resp.StatusCode != http.StatusServiceUnavailable || got["plaintext"] != `{"x":1}` {
		t.Fatalf("answered %d, %v", resp.StatusCode, got)
	}
}
