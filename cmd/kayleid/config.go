package main

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/kayle-id/orgs-api/blobstore"
	"github.com/kayle-id/orgs-api/dnstxt"
	"github.com/kayle-id/orgs-api/idp"
	"github.com/kayle-id/orgs-api/store"
	"github.com/kayle-id/orgs-api/validator"
	"github.com/kayle-id/orgs-api/verify/appattest"
	"github.com/kayle-id/orgs-api/verify/biometric"
	"github.com/kayle-id/orgs-api/verify/flow"
	"github.com/kayle-id/orgs-api/verify/passiveauth"
)

// Config is serve's settings, read once from flags over environment over
// defaults and checked before anything is opened.
type Config struct {
	DatabaseURL     string
	DBMaxConns      int
	Addr            string
	Validation      validator.Mode
	LogFormat       string
	MailDir         string
	SMTPURL         string
	MailFrom        string
	BodyLimit       string
	RequestTimeout  time.Duration
	MaxInFlight     int
	MaxInFlightAddr int
	MaxInFlightCred int
	MaxConns        int
	MaxConnsAddr    int
	MaxOrgsPerUser  int
	ShutdownTimeout time.Duration
	ShutdownDrain   time.Duration
	PurgeInterval   time.Duration
	LogoGrace       time.Duration
	MetricsAddr     string
	MetricsPublic   bool
	RateLimit       float64
	RateLimitRead   float64
	RateLimitIP     float64
	RateBurst       int
	DNSResolver     string
	DNSTimeout      time.Duration
	DNS             *dnstxt.Resolver // built from the two above
	RecheckInterval time.Duration
	OIDCIssuer      string
	OIDCAudience    string
	OIDCJWKSURL     string
	TrustedProxies  []*net.IPNet
	AuthSecret      string
	VerifyURL       *url.URL
	Production      bool
	Sandbox         bool
	ExpiryInterval  time.Duration
	RetentionInt    time.Duration
	Storage         StorageConfig
	Webhooks        WebhookConfig
	Verify          VerifyConfig
}

// VerifyConfig is the verify socket's configuration.
type VerifyConfig struct {
	TrustStoreRequired bool
	Revocation         passiveauth.RevocationPolicy
	RequireAttestation bool
	AppAttest          appattest.Config
	MinAppVersion      string
	BufferBudget       int64             // bytes
	Verifier           *biometric.Client // nil: none configured
	Limits             flow.Limits
}

// WebhookConfig is the delivery pipeline's configuration.
type WebhookConfig struct {
	SecretKey      []byte
	SecretKeysOld  [][]byte
	UpstreamSecret string
	AllowLoopback  bool
	Workers        int
	PerEndpoint    int
	RescueAfter    time.Duration
	SweepInterval  time.Duration
}

// StorageConfig is where logos are kept and how their URLs start.
type StorageConfig struct {
	URL       string
	Timeout   time.Duration
	PublicURL string // without a trailing slash
	CDNURL    string // without a trailing slash; empty: the server serves logos
}

// usageError is bad flags or input: exit status 2. hint: the message ends
// pointing to the command's --help (a bad value does; "that user already
// exists" does not).
type usageError struct {
	msg  string
	hint bool
}

func (e *usageError) Error() string { return e.msg }

// usagef is a bad setting or flag.
func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...), true} }

// inputf is input the command refuses, help or not.
func inputf(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...), false} }

// database checks the database setting against the file system: a SQLite
// file that does not exist is an error unless it is the default or
// --create-db asks for it, so a typo does not start an empty database.
func (d dbFlags) database(e *runEnv) (string, error) {
	v := string(d.DatabaseURL)
	if store.DialectFor(v) == store.Postgres {
		return v, nil
	}
	name := e.name("database-url")
	fi, err := os.Stat(v)
	switch {
	case err == nil && fi.IsDir():
		return "", usagef("invalid %s %q: a folder, not a SQLite file", name, v)
	case err == nil:
		return v, nil
	case !errors.Is(err, fs.ErrNotExist):
		// Unreadable and the like: opening it says what is wrong.
		return v, nil
	}
	if !d.CreateDB && v != defaultDatabase {
		return "", usagef("%s %q: no such SQLite file; to create it, add --create-db (or KAYLE_CREATE_DB=true)", name, v)
	}
	if dir := filepath.Dir(v); dir != "." {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			return "", usagef("%s %q: the folder %s does not exist", name, v, dir)
		}
	}
	return v, nil
}

// storage is the object storage settings, checked; the public URL follows
// addr unless set.
func (s storageFlags) storage(e *runEnv, addr hostPort) (StorageConfig, error) {
	c := StorageConfig{URL: s.StorageURL, Timeout: s.StorageTimeout, PublicURL: string(s.PublicURL), CDNURL: string(s.CDNURL)}
	if c.URL == "" {
		return c, usagef("%s must not be empty", e.name("storage-url"))
	}
	if scheme, ok := blobstore.Scheme(c.URL); ok && !blobstore.Supported(scheme) {
		return c, usagef("invalid %s %q: %s:// is not supported; use a folder path or a file://, s3://, gs:// or azblob:// URL", e.name("storage-url"), c.URL, scheme)
	}
	if c.PublicURL == "" {
		c.PublicURL = publicURLFor(addr)
	}
	return c, nil
}

// publicURLFor is the URL a server listening on addr is reached at from
// this machine: an address on every interface is reached on loopback.
func publicURLFor(addr hostPort) string {
	host, port, _ := net.SplitHostPort(string(addr))
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// resolver builds the DNS resolver from its settings.
func (d dnsFlags) resolver(e *runEnv) (*dnstxt.Resolver, error) {
	r, err := dnstxt.New(d.DNSResolver, dnstxt.Options{Timeout: d.DNSTimeout})
	if err != nil {
		return nil, usagef("invalid %s %q: want host:port or https:// URLs, comma-separated", e.name("dns-resolver"), d.DNSResolver)
	}
	return r, nil
}

// config checks what the parse could not check field by field and builds
// serve's Config. Nothing is opened.
func (s *serveCmd) config(e *runEnv) (Config, error) {
	sv, lim, m, a := s.Server, s.Limits, s.Mail, s.Auth
	c := Config{
		DBMaxConns: lim.DBMaxConns, Addr: string(sv.Addr), LogFormat: sv.LogFormat,
		MailDir: m.MailDir, SMTPURL: string(m.SMTPURL), MailFrom: string(m.MailFrom),
		BodyLimit:      strconv.FormatInt(int64(sv.BodyLimit), 10),
		RequestTimeout: sv.RequestTimeout, ShutdownTimeout: sv.ShutdownTimeout, ShutdownDrain: sv.ShutdownDrain,
		PurgeInterval: sv.PurgeInterval, LogoGrace: s.Logos.LogoGrace,
		MetricsAddr: string(sv.MetricsAddr), MetricsPublic: sv.MetricsPublic,
		MaxInFlight: lim.MaxInFlight, MaxInFlightAddr: lim.MaxInFlightAddr, MaxInFlightCred: lim.MaxInFlightCred,
		MaxConns: lim.MaxConns, MaxConnsAddr: lim.MaxConnsAddr, MaxOrgsPerUser: lim.MaxOrgsPerUser,
		RateLimit: lim.RateLimit, RateLimitRead: lim.RateLimitRead, RateLimitIP: lim.RateLimitIP, RateBurst: lim.RateBurst,
		DNSResolver: s.DNS.DNSResolver, DNSTimeout: s.DNS.DNSTimeout, RecheckInterval: s.Domains.RecheckInterval,
		OIDCIssuer: a.OIDCIssuer, OIDCAudience: a.OIDCAudience, OIDCJWKSURL: a.OIDCJWKSURL,
		TrustedProxies: sv.TrustedProxies, AuthSecret: a.AuthSecret,
	}
	var err error
	if c.Validation, err = validator.ParseMode(sv.Validation); err != nil {
		return c, usagef("invalid %s: %v", e.name("validation"), err)
	}
	if c.DNS, err = s.DNS.resolver(e); err != nil {
		return c, err
	}
	if c.OIDCIssuer == "" && (c.OIDCAudience != "" || c.OIDCJWKSURL != "") {
		var set []string
		if c.OIDCAudience != "" {
			set = append(set, e.name("oidc-audience"))
		}
		if c.OIDCJWKSURL != "" {
			set = append(set, e.name("oidc-jwks-url"))
		}
		return c, usagef("%s needs --oidc-issuer (KAYLE_OIDC_ISSUER): tokens are only accepted from a named issuer", strings.Join(set, " and "))
	}
	if c.OIDCIssuer != "" {
		// One at a time, so that the message names the setting at fault.
		if c.OIDCAudience == "" {
			return c, usagef("%s needs --oidc-audience (KAYLE_OIDC_AUDIENCE) too: without it, a token the provider issued to any other application would be accepted", e.name("oidc-issuer"))
		}
		if _, err := idp.New(idp.Config{Issuer: c.OIDCIssuer, Audience: c.OIDCAudience}); err != nil {
			return c, usagef("invalid %s %q: %v", e.name("oidc-issuer"), c.OIDCIssuer, strings.TrimPrefix(err.Error(), "idp: issuer: "))
		}
		if _, err := c.identityProvider(nil); err != nil {
			return c, usagef("invalid %s %q: %v", e.name("oidc-jwks-url"), c.OIDCJWKSURL, strings.TrimPrefix(err.Error(), "idp: key set URL: "))
		}
	}
	if c.AuthSecret != "" && len(c.AuthSecret) < 32 {
		return c, usagef("%s is too short: use at least 32 characters (for example: openssl rand -hex 32)", e.name("auth-secret"))
	}
	rp := s.Sessions
	c.Production, c.Sandbox = rp.Production, rp.Sandbox
	c.ExpiryInterval, c.RetentionInt = rp.ExpiryInterval, rp.RetentionInterval
	if c.Sandbox && c.Production {
		return c, usagef("%s cannot be used with %s: a sandbox completes sessions without verifying anyone", e.name("sandbox"), e.name("production"))
	}
	if c.VerifyURL, err = url.Parse(string(rp.VerifyURL)); err != nil {
		return c, usagef("invalid %s %q: %v", e.name("verify-url"), rp.VerifyURL, err)
	}
	if c.Production && c.VerifyURL.Scheme != "https" {
		return c, usagef("%s must be an https URL in production (%s)", e.name("verify-url"), e.name("production"))
	}
	wh := s.Webhooks
	c.Webhooks = WebhookConfig{AllowLoopback: wh.AllowLoopback, Workers: wh.Workers, PerEndpoint: wh.PerEndpoint,
		RescueAfter: wh.RescueAfter, SweepInterval: wh.SweepInterval}
	if wh.AllowLoopback && c.Production {
		return c, usagef("%s cannot be used with %s: production webhooks go to public addresses only", e.name("webhook-allow-loopback"), e.name("production"))
	}
	if c.Webhooks.SecretKey, c.Webhooks.SecretKeysOld, err = s.WebhookKeys.keys(e); err != nil {
		return c, err
	}
	c.Webhooks.UpstreamSecret = s.WebhookKeys.UpstreamSecret
	if c.Storage, err = s.Storage.storage(e, sv.Addr); err != nil {
		return c, err
	}
	if c.Verify, err = s.Verify.config(e, c.Production); err != nil {
		return c, err
	}
	// Last: the only check that looks at the file system.
	if c.DatabaseURL, err = s.DB.database(e); err != nil {
		return c, err
	}
	return c, nil
}

// keys checks and returns the webhook data key and the keys it replaced.
func (f webhookKeyFlags) keys(e *runEnv) (current []byte, old [][]byte, err error) {
	if f.SecretKey != "" {
		if len(f.SecretKey) < 32 {
			return nil, nil, usagef("%s is too short: use at least 32 characters (for example: openssl rand -hex 32)", e.name("webhook-secret-key"))
		}
		current = []byte(f.SecretKey)
	}
	for _, k := range strings.Split(f.SecretKeysOld, ",") {
		if k = strings.TrimSpace(k); k == "" {
			continue
		}
		if len(k) < 32 {
			return nil, nil, usagef("%s: every key is at least 32 characters", e.name("webhook-secret-keys-old"))
		}
		old = append(old, []byte(k))
	}
	if len(old) > 0 && current == nil {
		return nil, nil, usagef("%s needs %s: old keys are read while a new one seals", e.name("webhook-secret-keys-old"), e.name("webhook-secret-key"))
	}
	return current, old, nil
}

// identityProvider builds the configured provider's verifier (no network
// call); nil when none is configured.
func (c Config) identityProvider(log *slog.Logger) (*idp.Provider, error) {
	if c.OIDCIssuer == "" {
		return nil, nil
	}
	return idp.New(idp.Config{Issuer: c.OIDCIssuer, Audience: c.OIDCAudience, JWKSURL: c.OIDCJWKSURL, Logger: log})
}

// parseTrustedProxies reads a comma-separated list of CIDRs; a bare address
// stands for itself alone.
func parseTrustedProxies(v string) ([]*net.IPNet, error) {
	var out []*net.IPNet
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' }) {
		_, n, err := net.ParseCIDR(f)
		if err != nil {
			ip := net.ParseIP(f)
			if ip == nil {
				return nil, fmt.Errorf("the entry %q is neither a CIDR such as 10.0.0.0/8 nor an address", f)
			}
			bits := 8 * len(ip)
			if v4 := ip.To4(); v4 != nil {
				ip, bits = v4, 32
			}
			n = &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)}
		}
		if ones, _ := n.Mask.Size(); ones == 0 {
			// Every address a proxy would let any client name its own address.
			return nil, fmt.Errorf("the entry %q trusts every address, which lets any client choose its own", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func newLogger(w io.Writer, format string) *slog.Logger {
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, nil))
	}
	return slog.New(slog.NewJSONHandler(w, nil))
}

// config checks the verify settings; production turns on App Attest and
// the strict revocation policy unless told otherwise.
func (f verifyFlags) config(e *runEnv, production bool) (VerifyConfig, error) {
	c := VerifyConfig{TrustStoreRequired: f.TrustRequired, RequireAttestation: f.RequireAttest || production, MinAppVersion: strings.TrimSpace(f.MinAppVersion), BufferBudget: f.BufferMiB << 20,
		Limits: flow.Limits{PerAddress: f.SocketsPerAddress, Total: f.Sockets, HelloTimeout: f.HelloTimeout, IdleTimeout: f.IdleTimeout}}
	switch f.Revocation {
	case "require":
		c.Revocation = passiveauth.RequireRevocationStatus
	case "allow-unknown":
		c.Revocation = passiveauth.AllowUnknownRevocation
	default:
		c.Revocation = passiveauth.AllowUnknownRevocation
		if production {
			c.Revocation = passiveauth.RequireRevocationStatus
		}
	}
	c.AppAttest = appattest.Config{AppID: f.AppAttestAppID, Roots: appattest.AppleRoot(), Environment: appattest.Development}
	if f.AppAttestEnv == "production" || f.AppAttestEnv == "auto" && production {
		c.AppAttest.Environment = appattest.Production
	}
	if strings.Count(f.AppAttestAppID, ".") < 1 || strings.ContainsAny(f.AppAttestAppID, " /") {
		return c, usagef("invalid %s %q: the App Attest RP ID is <Team ID>.<bundle id>", e.name("app-attest-app-id"), f.AppAttestAppID)
	}
	if f.AppAttestRoot != "" {
		pem, err := os.ReadFile(f.AppAttestRoot)
		if err != nil {
			return c, usagef("%s: %v", e.name("app-attest-root"), err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return c, usagef("%s %q holds no PEM certificate", e.name("app-attest-root"), f.AppAttestRoot)
		}
		c.AppAttest.Roots = pool
	}
	if f.VerifierURL == "" {
		if f.VerifierSecret != "" {
			return c, usagef("%s needs %s", e.name("biometric-verifier-secret"), e.name("biometric-verifier-url"))
		}
		return c, nil
	}
	u, err := url.Parse(f.VerifierURL)
	if err != nil {
		return c, usagef("invalid %s %q: %v", e.name("biometric-verifier-url"), f.VerifierURL, err)
	}
	if f.VerifierSecret == "" {
		return c, usagef("%s needs %s (KAYLE_BIOMETRIC_VERIFIER_SECRET): the verifier refuses calls without it", e.name("biometric-verifier-url"), e.name("biometric-verifier-secret"))
	}
	if c.Verifier, err = biometric.New(biometric.Config{BaseURL: u, Secret: f.VerifierSecret, Timeout: f.VerifierTimeout,
		AllowPrivate: f.VerifierPrivate}); err != nil {
		return c, usagef("invalid %s: %v", e.name("biometric-verifier-url"), err)
	}
	return c, nil
}
