// Command webhookreceiver is a complete Kayle ID webhook receiver, small
// enough to copy: it checks X-Kayle-Signature as the documentation says
// (HMAC-SHA256 keyed with the whole whsec_ secret over "<t>.<raw body>",
// constant-time comparison, |now - t| <= 300 s), decrypts the compact JWE
// body with go-jose and your private RSA key (RSA-OAEP-256 + A256GCM
// only), prints one line per delivery and answers 200.
//
//	webhookreceiver -genkey key.jwk > public.jwk   # make a key pair
//	WEBHOOK_SECRET=whsec_… webhookreceiver -key key.jwk -addr 127.0.0.1:8787
//
// Upload public.jwk as the endpoint's encryption key. -fail N answers 500
// to the first N deliveries, to watch the retries. Deliveries come at
// least once: dedupe on metadata.event_id (or X-Kayle-Delivery-Id).
package main

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8787", "address to listen on")
	secret := flag.String("secret", "", "the endpoint's signing secret (default $WEBHOOK_SECRET)")
	keyFile := flag.String("key", "", "private key file: an RSA JWK or PEM (PKCS#1 or PKCS#8)")
	fail := flag.Int("fail", 0, "answer 500 to the first N deliveries")
	genkey := flag.String("genkey", "", "write a new RSA-2048 private JWK to this file, print the public JWK and exit")
	flag.Parse()

	if *genkey != "" {
		pub, err := generateKey(*genkey)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(string(pub))
		return
	}
	if *secret == "" {
		*secret = os.Getenv("WEBHOOK_SECRET")
	}
	if *secret == "" || *keyFile == "" {
		log.Fatal("need -secret (or WEBHOOK_SECRET) and -key")
	}
	key, err := loadKey(*keyFile)
	if err != nil {
		log.Fatal(err)
	}
	r := &receiver{secret: *secret, key: key, fail: *fail, out: os.Stdout, now: time.Now}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("listening on %s", ln.Addr())
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.Serve(ln))
}

// tolerance is how far the signature's t may be from our clock.
const tolerance = 300 * time.Second

// receiver handles deliveries.
type receiver struct {
	secret string
	key    *rsa.PrivateKey
	fail   int
	out    io.Writer
	now    func() time.Time

	mu     sync.Mutex
	failed int
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	// The signature covers the exact bytes: read them raw, before any
	// parsing.
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		http.Error(w, "unreadable body", http.StatusBadRequest)
		return
	}
	id, event := req.Header.Get("X-Kayle-Delivery-Id"), req.Header.Get("X-Kayle-Event")
	if err := verify(req.Header.Get("X-Kayle-Signature"), body, r.secret, r.now()); err != nil {
		r.printf("%s %s - rejected: %v\n", id, event, err)
		http.Error(w, "bad signature", http.StatusBadRequest)
		return
	}
	if r.shouldFail() {
		r.printf("%s %s - answering 500 (-fail)\n", id, event)
		http.Error(w, "failing on purpose", http.StatusInternalServerError)
		return
	}
	plain, err := decrypt(string(body), r.key)
	if err != nil {
		r.printf("%s %s - rejected: %v\n", id, event, err)
		http.Error(w, "cannot decrypt", http.StatusBadRequest)
		return
	}
	var payload struct {
		Type     string `json:"type"`
		Metadata struct {
			EventID string `json:"event_id"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(plain, &payload); err != nil || payload.Type != event {
		r.printf("%s %s - rejected: payload type %q does not match the header\n", id, event, payload.Type)
		http.Error(w, "bad payload", http.StatusBadRequest)
		return
	}
	r.printf("%s %s %s ok\n%s\n", id, event, payload.Metadata.EventID, plain)
	w.WriteHeader(http.StatusOK)
}

func (r *receiver) shouldFail() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failed < r.fail {
		r.failed++
		return true
	}
	return false
}

func (r *receiver) printf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(r.out, format, args...)
}

// verify checks "t=<unix seconds>,v1=<hex HMAC-SHA256>".
func verify(header string, body []byte, secret string, now time.Time) error {
	var ts, v1 string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			v1 = v
		}
	}
	t, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || v1 == "" {
		return errors.New("malformed X-Kayle-Signature")
	}
	mac := hmac.New(sha256.New, []byte(secret)) // the whole whsec_… string is the key
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	got, err := hex.DecodeString(v1)
	if err != nil || !hmac.Equal(got, mac.Sum(nil)) {
		return errors.New("signature mismatch")
	}
	if d := time.Duration(now.Unix()-t) * time.Second; d > tolerance || d < -tolerance {
		return errors.New("signature timestamp too far from now")
	}
	return nil
}

// decrypt opens the compact JWE, accepting only RSA-OAEP-256 + A256GCM.
func decrypt(compact string, key *rsa.PrivateKey) ([]byte, error) {
	obj, err := jose.ParseEncryptedCompact(compact, []jose.KeyAlgorithm{jose.RSA_OAEP_256}, []jose.ContentEncryption{jose.A256GCM})
	if err != nil {
		return nil, err
	}
	return obj.Decrypt(key)
}

// loadKey reads a private RSA key as a JWK or PEM.
func loadKey(path string) (*rsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(strings.TrimSpace(string(b)), "{") {
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON(b); err != nil {
			return nil, err
		}
		if k, ok := jwk.Key.(*rsa.PrivateKey); ok {
			return k, nil
		}
		return nil, errors.New("the JWK is not a private RSA key")
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("neither a JWK nor PEM")
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	if rk, ok := k.(*rsa.PrivateKey); ok {
		return rk, nil
	}
	return nil, errors.New("the PEM key is not RSA")
}

// generateKey writes a new private JWK to path (mode 0600, never
// overwriting) and returns the public JWK to upload.
func generateKey(path string) ([]byte, error) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	priv := jose.JSONWebKey{Key: k, Algorithm: "RSA-OAEP-256", Use: "enc"}
	b, err := priv.MarshalJSON()
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	return priv.Public().MarshalJSON()
}
