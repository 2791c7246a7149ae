// Command devidp is an OpenID provider for trying the server and testing
// it end to end, built on zitadel/oidc's provider (op) package: discovery,
// a key set, the authorization code flow with PKCE and a login form,
// refresh tokens, and RS256 JWT access tokens whose aud is the API and
// which carry email, email_verified, name and the provider session (sid).
//
// Users and their passwords come from a JSON file (users.json beside this
// file is the default). Keys are generated at start, or kept in a file
// (-keys) so a restarted provider signs with the same ones; POST
// /dev/rotate-keys rotates them. Everything else is in memory.
//
// It is its own module, so that the server's dependency graph does not
// carry it. For development and tests only: passwords are plain text.
package main

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/zitadel/oidc/v3/pkg/op"
)

//go:embed users.json
var defaultUsers []byte

func main() {
	if err := run(os.Args[1:]); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "devidp:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("devidp", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:9998", "listen address")
	issuer := fs.String("issuer", "", "issuer (iss of the tokens); default http://ADDR")
	audience := fs.String("audience", "http://127.0.0.1:8787", "aud of the access tokens: the API's --oidc-audience")
	clientID := fs.String("client-id", "kayle-web", "the public client's id")
	redirects := fs.String("redirect-uri", "http://127.0.0.1/callback", "the client's redirect URIs, comma-separated (a loopback one matches any port)")
	usersFile := fs.String("users", "", "users JSON file: [{username, password, subject, email, emailVerified, name}]; default the built-in users.json")
	keysFile := fs.String("keys", "", "file keeping the signing keys across restarts; default: new keys in memory")
	ttl := fs.Duration("access-token-ttl", 5*time.Minute, "lifetime of access tokens")
	if err := fs.Parse(args); err != nil {
		return err
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, nil)))

	rawUsers := defaultUsers
	if *usersFile != "" {
		var err error
		if rawUsers, err = os.ReadFile(*usersFile); err != nil {
			return err
		}
	}
	users, err := parseUsers(rawUsers)
	if err != nil {
		return err
	}
	keys, err := openKeyring(*keysFile)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	if *issuer == "" {
		*issuer = "http://" + ln.Addr().String()
	}
	*issuer = strings.TrimSuffix(*issuer, "/")

	c := &client{id: *clientID, loginURL: *issuer + "/login"}
	for _, u := range strings.Split(*redirects, ",") {
		if u = strings.TrimSpace(u); u != "" {
			c.redirectURIs = append(c.redirectURIs, u)
		}
	}
	store := newStorage(c, *audience, *ttl, users, keys)
	var cryptoKey [32]byte
	if _, err := rand.Read(cryptoKey[:]); err != nil {
		return err
	}
	provider, err := op.NewProvider(&op.Config{
		CryptoKey:             cryptoKey,
		CodeMethodS256:        true,
		GrantTypeRefreshToken: true,
	}, store, op.StaticIssuer(*issuer), op.WithAllowInsecure())
	if err != nil {
		return err
	}

	mux := http.NewServeMux()
	interceptor := op.NewIssuerInterceptor(provider.IssuerFromRequest)
	mux.Handle("/login", interceptor.Handler(&login{store: store, path: "/login", callback: op.AuthCallbackURL(provider)}))
	mux.HandleFunc("POST /dev/rotate-keys", func(w http.ResponseWriter, r *http.Request) {
		kid, err := keys.rotate()
		if err != nil {
			slog.Error("rotating keys", "err", err)
			http.Error(w, "rotation failed", http.StatusInternalServerError)
			return
		}
		slog.Info("keys rotated", "kid", kid)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"kid": kid})
	})
	mux.Handle("/", provider)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	slog.Info("serving", "issuer", *issuer, "audience", *audience, "client_id", c.id, "redirect_uris", c.redirectURIs, "kid", keys.signer().id)
	fmt.Printf("devidp: issuer %s, audience %s, client %s; users:", *issuer, *audience, c.id)
	for _, u := range users {
		fmt.Printf(" %s (email %s, verified %t)", u.Username, u.Email, u.EmailVerified)
	}
	fmt.Println()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}

func parseUsers(raw []byte) ([]user, error) {
	var users []user
	if err := json.Unmarshal(raw, &users); err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	seen := map[string]bool{}
	for i := range users {
		u := &users[i]
		if u.Username == "" || u.Password == "" {
			return nil, errors.New("users: each needs a username and a password")
		}
		if u.Subject == "" {
			u.Subject = u.Username
		}
		if seen["u:"+u.Username] || seen["s:"+u.Subject] {
			return nil, fmt.Errorf("users: %s appears twice", u.Username)
		}
		seen["u:"+u.Username], seen["s:"+u.Subject] = true, true
	}
	return users, nil
}
