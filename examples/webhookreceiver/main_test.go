package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kayle-id/orgs-api/egress"
	"github.com/kayle-id/orgs-api/webhooks"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The server's own sender (webhooks + egress) against this receiver, over
// real HTTP: every event type is verified and decrypted, -fail answers
// 500 first, and bad signatures are refused.
func TestReceiverEndToEnd(t *testing.T) {
	dir := t.TempDir()
	keyPath := filepath.Join(dir, "key.jwk")
	pubJSON, err := generateKey(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	// The printed public key is one the API accepts.
	if err := webhooks.CheckJWKShape(pubJSON); err != nil {
		t.Fatalf("public JWK %s: %v", pubJSON, err)
	}
	pub, err := webhooks.CheckJWK(pubJSON)
	if err != nil {
		t.Fatalf("public JWK %s: %v", pubJSON, err)
	}
	if bytes.Contains(pubJSON, []byte(`"d"`)) {
		t.Fatal("public JWK carries d")
	}
	if _, err := generateKey(keyPath); err == nil {
		t.Fatal("-genkey overwrote an existing key")
	}
	if fi, _ := os.Stat(keyPath); fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v", fi.Mode())
	}
	key, err := loadKey(keyPath)
	if err != nil {
		t.Fatal(err)
	}

	secret, _ := webhooks.NewSigningSecret()
	out := &syncBuffer{}
	srv := httptest.NewServer(&receiver{secret: secret, key: key, fail: 1, out: out, now: time.Now})
	t.Cleanup(srv.Close)
	client := egress.New(egress.Options{AllowLoopback: true, Timeout: webhooks.AttemptTimeout})
	send := func(id, typ, jwe, secret string, at time.Time) int {
		req, err := webhooks.NewDeliveryRequest(context.Background(), srv.URL+"/kayle", id, typ, jwe, secret, at)
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

	data := []struct {
		typ  string
		data any
	}{
		{webhooks.EventSucceeded, webhooks.SucceededData{Claims: webhooks.Claims{{Key: "family_name", Value: "DOE"}}, SelectedFieldKeys: []string{"family_name"}}},
		{webhooks.EventFailed, webhooks.FailedData{FailureCode: "liveness_failed", LivenessTriesUsed: 3}},
		{webhooks.EventExpired, webhooks.ExpiredData{}},
		{webhooks.EventCancelled, webhooks.CancelledData{Outcome: "not_verified", Reason: "cancelled"}},
	}
	for i, d := range data {
		evt, _ := webhooks.NewID(webhooks.EventIDPrefix, webhooks.LongIDChars)
		id, _ := webhooks.NewID(webhooks.DeliveryIDPrefix, webhooks.LongIDChars)
		plain, err := webhooks.Payload(d.typ, evt, "vs_1", d.data)
		if err != nil {
			t.Fatal(err)
		}
		jwe, err := webhooks.Encrypt(plain, pub, "k1")
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			// -fail 1: the first delivery is answered 500; the retry, with
			// a fresh t over the same body, goes through.
			if code := send(id, d.typ, jwe, secret, time.Now()); code != http.StatusInternalServerError {
				t.Fatalf("first delivery answered %d, want 500", code)
			}
		}
		if code := send(id, d.typ, jwe, secret, time.Now()); code != http.StatusOK {
			t.Fatalf("%s answered %d\n%s", d.typ, code, out)
		}
		if want := id + " " + d.typ + " " + evt + " ok\n" + string(plain) + "\n"; !strings.Contains(out.String(), want) {
			t.Fatalf("output lacks %q:\n%s", want, out)
		}
	}

	plain, _ := webhooks.Payload(webhooks.EventExpired, "evt_x", "vs_1", webhooks.ExpiredData{})
	jwe, _ := webhooks.Encrypt(plain, pub, "k1")
	other, _ := webhooks.NewSigningSecret()
	for name, c := range map[string]struct {
		secret string
		at     time.Time
		typ    string
	}{
		"wrong secret":  {other, time.Now(), webhooks.EventExpired},
		"stale t":       {secret, time.Now().Add(-301 * time.Second), webhooks.EventExpired},
		"type mismatch": {secret, time.Now(), webhooks.EventSucceeded},
	} {
		if code := send("whd_"+strings.ReplaceAll(name, " ", "_"), c.typ, jwe, c.secret, c.at); code != http.StatusBadRequest {
			t.Fatalf("%s answered %d, want 400", name, code)
		}
		if !strings.Contains(out.String(), "whd_"+strings.ReplaceAll(name, " ", "_")+" "+c.typ+" - rejected") {
			t.Fatalf("%s not reported:\n%s", name, out)
		}
	}
	// Another key's JWE: signed correctly, but not ours to decrypt.
	otherPath := filepath.Join(dir, "other.jwk")
	otherPub, _ := generateKey(otherPath)
	otherKey, _ := webhooks.CheckJWK(otherPub)
	foreign, _ := webhooks.Encrypt(plain, otherKey, "k2")
	if code := send("whd_foreign", webhooks.EventExpired, foreign, secret, time.Now()); code != http.StatusBadRequest {
		t.Fatalf("foreign JWE answered %d", code)
	}
}

func TestLoadKeyPEM(t *testing.T) {
	dir := t.TempDir()
	jwkPath := filepath.Join(dir, "k.jwk")
	if _, err := generateKey(jwkPath); err != nil {
		t.Fatal(err)
	}
	k, err := loadKey(jwkPath)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(k)
	for name, block := range map[string]*pem.Block{
		"pkcs1": {Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)},
		"pkcs8": {Type: "PRIVATE KEY", Bytes: pkcs8},
	} {
		p := filepath.Join(dir, name+".pem")
		if err := os.WriteFile(p, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := loadKey(p)
		if err != nil || !got.Equal(k) {
			t.Fatalf("%s: %v", name, err)
		}
	}
	// A public JWK is refused: the receiver needs the private half.
	var pub map[string]any
	b, _ := os.ReadFile(jwkPath)
	_ = json.Unmarshal(b, &pub)
	for _, m := range []string{"d", "p", "q", "dp", "dq", "qi"} {
		delete(pub, m)
	}
	b, _ = json.Marshal(pub)
	pubPath := filepath.Join(dir, "pub.jwk")
	_ = os.WriteFile(pubPath, b, 0o600)
	if _, err := loadKey(pubPath); err == nil {
		t.Fatal("loaded a public JWK as the private key")
	}
}
