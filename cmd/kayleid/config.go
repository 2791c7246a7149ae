package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kayle-id/orgs-api/blobstore"
	"github.com/kayle-id/orgs-api/dnstxt"
	"github.com/kayle-id/orgs-api/handlers"
	"github.com/kayle-id/orgs-api/idp"
	"github.com/kayle-id/orgs-api/validator"
)

// setting is one configuration knob: a flag, the environment variable that
// sets it, and its default. The README's configuration table lists these.
type setting struct {
	flag, env, def, usage string
}

var (
	sDatabaseURL     = setting{"database-url", "DATABASE_URL", "kayle-id.db", "PostgreSQL URL (postgres:// or postgresql://) or SQLite file path"}
	sDBMaxConns      = setting{"db-max-conns", "KAYLE_DB_MAX_CONNS", "", "most database connections open at once (unset: the number of CPUs, at least 4); requests beyond them wait their turn, first come first served"}
	sAddr            = setting{"addr", "KAYLE_ADDR", "127.0.0.1:8787", "address to listen on"}
	sValidation      = setting{"validation", "KAYLE_VALIDATION", "full", "contract validation: full (requests and responses), requests, or off"}
	sLogFormat       = setting{"log-format", "KAYLE_LOG_FORMAT", "json", "log format: json or text"}
	sMailDir         = setting{"mail-dir", "KAYLE_MAIL_DIR", "mail-outbox", "folder where mail is written as .eml files when no SMTP server is set"}
	sSMTPURL         = setting{"smtp-url", "KAYLE_SMTP_URL", "", "SMTP server as smtp://user:pass@host:port; when set, mail is sent there"}
	sMailFrom        = setting{"mail-from", "KAYLE_MAIL_FROM", "Kayle ID <no-reply@kayle.id>", "sender of outgoing mail"}
	sBodyLimit       = setting{"body-limit", "KAYLE_BODY_LIMIT", "2M", "largest accepted request body (e.g. 512K, 4M); the largest valid body is about 1.4 MB"}
	sRequestTimeout  = setting{"request-timeout", "KAYLE_REQUEST_TIMEOUT", "15s", "longest a request may take, database waits, outbound calls and reading its body included"}
	sShutdownTimeout = setting{"shutdown-timeout", "KAYLE_SHUTDOWN_TIMEOUT", "15s", "how long in-flight requests may finish after SIGINT/SIGTERM"}
	sShutdownDrain   = setting{"shutdown-drain", "KAYLE_SHUTDOWN_DRAIN", "0s", "after SIGINT/SIGTERM, how long /readyz answers 503 while requests are still served, before the listener closes; behind a load balancer, longer than it takes to notice"}
	sPurgeInterval   = setting{"purge-interval", "KAYLE_PURGE_INTERVAL", "1m", "how often organizations whose deletion time has passed are purged; 0 disables"}
	sMetricsAddr     = setting{"metrics-addr", "KAYLE_METRICS_ADDR", "", "serve /metrics on this address (it is not on the main one unless --metrics-public)"}
	sMetricsPublic   = setting{"metrics-public", "KAYLE_METRICS_PUBLIC", "false", "also serve /metrics on the main address, to anyone who can reach it"}
	sMaxInFlight     = setting{"max-in-flight", "KAYLE_MAX_IN_FLIGHT", "128", "most requests served at once; beyond it the answer is 503 with Retry-After; 0 means no cap"}
	sMaxConns        = setting{"max-conns", "KAYLE_MAX_CONNS", "1024", "most client connections open at once; at it the oldest idle connection is closed to make room, and when none is idle a new one gets 503 and is closed; 0 means no cap"}
	sMaxConnsPerAddr = setting{"max-conns-per-address", "KAYLE_MAX_CONNS_PER_ADDRESS", "64", "most connections one client address (IPv4, or IPv6 /64; four times as many per IPv6 /48) holds at once, its oldest idle one closed to make room; trusted proxies are exempt; 0 means no cap"}
	sMaxInFlightAddr = setting{"max-in-flight-per-address", "KAYLE_MAX_IN_FLIGHT_PER_ADDRESS", "16", "most requests one client address (IPv6: per /64; four times as many per /48) has in flight before they are authenticated; beyond it the answer is 429; 0 means no cap"}
	sMaxInFlightCred = setting{"max-in-flight-per-credential", "KAYLE_MAX_IN_FLIGHT_PER_CREDENTIAL", "16", "most requests one user (all its sessions together) has in flight; beyond it the answer is 429; 0 means no cap"}
	sMaxOrgsPerUser  = setting{"max-orgs-per-user", "KAYLE_MAX_ORGS_PER_USER", "50", "organizations a user may own (as an active owner) and still create another; 0 means no limit"}
	sRateLimit       = setting{"rate-limit", "KAYLE_RATE_LIMIT", "10", "write requests per second per user (all its sessions together); 0 disables"}
	sRateLimitRead   = setting{"rate-limit-read", "KAYLE_RATE_LIMIT_READ", "50", "read requests (GET) per second per user (all its sessions together); 0 disables"}
	sRateLimitIP     = setting{"rate-limit-ip", "KAYLE_RATE_LIMIT_IP", "50", "requests per second per client address (IPv6: per /64) that carry no valid credential, any method; 0 disables"}
	sRateBurst       = setting{"rate-burst", "KAYLE_RATE_BURST", "20", "requests allowed at once before a rate limit applies"}
	sDNSResolver     = setting{"dns-resolver", "KAYLE_DNS_RESOLVER", dnstxt.DefaultResolvers, "resolvers for domain verification, tried in order when one cannot answer: host:port (plain DNS) or https:// URLs (DNS over HTTPS)"}
	sDNSTimeout      = setting{"dns-timeout", "KAYLE_DNS_TIMEOUT", "5s", "longest one resolver may take to answer one lookup"}
	sRecheckInterval = setting{"domain-recheck-interval", "KAYLE_DOMAIN_RECHECK_INTERVAL", "5m", "how often verified domains last checked over 23h ago are checked again; 0 disables"}
	sOIDCIssuer      = setting{"oidc-issuer", "KAYLE_OIDC_ISSUER", "", "identity provider whose JWTs are accepted as bearer tokens (its iss; keys found through /.well-known/openid-configuration); unset: session tokens only"}
	sOIDCAudience    = setting{"oidc-audience", "KAYLE_OIDC_AUDIENCE", "", "the aud the provider's tokens must carry for this API; required with --oidc-issuer"}
	sOIDCJWKSURL     = setting{"oidc-jwks-url", "KAYLE_OIDC_JWKS_URL", "", "the provider's key set (JWKS) address, for providers without discovery; needs --oidc-issuer"}
	sTrustedProxies  = setting{"trusted-proxies", "KAYLE_TRUSTED_PROXIES", "", "comma-separated CIDRs of the proxies in front (e.g. 10.0.0.0/8); X-Forwarded-For is believed only through hops in them. Unset: the client is the connection's address"}
	sAuthSecret      = setting{"auth-secret", "KAYLE_AUTH_SECRET", "", "key of the HMAC under which API keys are stored, at least 32 characters (prefer the environment variable: flags show in the process list); unset: one is generated once and kept in the database"}
	sStorageURL      = setting{"storage-url", "KAYLE_STORAGE_URL", "storage", "object storage for logos: a folder path, or a file://, s3://, gs:// or azblob:// URL"}
	sStorageTimeout  = setting{"storage-timeout", "KAYLE_STORAGE_TIMEOUT", "10s", "longest one object storage call may take"}
	sPublicURL       = setting{"public-url", "KAYLE_PUBLIC_URL", "http://127.0.0.1:8787", "this server's URL as clients reach it; logo URLs start with it when no CDN URL is set"}
	sLogoGrace       = setting{"logo-grace", "KAYLE_LOGO_GRACE", "24h", "how long a logo upload not (or no longer) in use stays stored and served before it is deleted; an organization keeps at most 5 such"}
	sCDNURL          = setting{"cdn-url", "KAYLE_CDN_URL", "", "URL where the storage's objects are served publicly (a CDN); logo URLs are then <cdn-url>/logos/<id> and the server does not serve logos itself"}
	sVerifyURL       = setting{"verify-url", "KAYLE_VERIFY_URL", handlers.DefaultVerifyURL, "the verification web app people are sent to: verification_url is its origin + /<session id> (a path in it is replaced); https in production"}
	sProduction      = setting{"production", "KAYLE_PRODUCTION", "false", "production: redirect URLs on localhost/127.0.0.1 need a verified domain like any other, the verify URL must be https, and the sandbox is refused"}
	sSandbox         = setting{"sandbox", "KAYLE_SANDBOX", "false", "sandbox for contract-test pipelines: serves POST /v1/sessions/{id}/complete, which ends a session as succeeded or failed without verifying anyone; every answer carries Kayle-Sandbox: true. Refused with --production"}
	sExpiryInterval  = setting{"session-expiry-interval", "KAYLE_SESSION_EXPIRY_INTERVAL", "1m", "how often verification sessions past their expiry are expired (one replica at a time); 0 disables (answers still expire them on touch)"}
	sRetentionInt    = setting{"retention-interval", "KAYLE_RETENTION_INTERVAL", "1h", "how often session retention runs (ended sessions and events deleted after 30 days, session audit rows after 365); 0 disables"}
)

// storageSettings are what reaching object storage takes (serve, migrate).
var storageSettings = []setting{sStorageURL, sStorageTimeout, sPublicURL, sCDNURL}

// serveSettings are the settings `kayleid serve` reads, in help order.
var serveSettings = append([]setting{sDatabaseURL, sDBMaxConns, sAddr, sValidation, sLogFormat, sMailDir, sSMTPURL, sMailFrom,
	sBodyLimit, sRequestTimeout, sMaxInFlight, sMaxInFlightAddr, sMaxInFlightCred, sMaxConns, sMaxConnsPerAddr, sShutdownTimeout, sShutdownDrain, sPurgeInterval, sMaxOrgsPerUser,
	sMetricsAddr, sMetricsPublic, sRateLimit, sRateLimitRead, sRateLimitIP, sRateBurst, sOIDCIssuer, sOIDCAudience, sOIDCJWKSURL, sTrustedProxies,
	sDNSResolver, sDNSTimeout, sRecheckInterval,
	sAuthSecret, sLogoGrace, sVerifyURL, sProduction, sSandbox, sExpiryInterval, sRetentionInt}, storageSettings...)

// Config is read once, in main, from flags over environment over defaults.
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
	Storage         StorageConfig
	VerifyURL       *url.URL
	Production      bool
	Sandbox         bool
	ExpiryInterval  time.Duration
	RetentionInt    time.Duration
}

// StorageConfig is where logos are kept and how their URLs start.
type StorageConfig struct {
	URL       string
	Timeout   time.Duration
	PublicURL string // without a trailing slash
	CDNURL    string // without a trailing slash; empty: the server serves logos
}

// register adds the settings as flags whose defaults come from the environment.
func register(fs *flag.FlagSet, getenv func(string) string, settings ...setting) map[string]*string {
	vals := map[string]*string{}
	for _, s := range settings {
		def := s.def
		if v, ok := lookup(getenv, s.env); ok {
			def = v
		}
		usage := fmt.Sprintf("%s (env %s", s.usage, s.env)
		if s.def != "" {
			usage += fmt.Sprintf(", default %q", s.def)
		}
		vals[s.flag] = fs.String(s.flag, def, usage+")")
	}
	return vals
}

func lookup(getenv func(string) string, key string) (string, bool) {
	v := getenv(key)
	return v, v != ""
}

// usageError is bad flags or input: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

func parseDuration(name, v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, usagef("invalid --%s %q: want a duration such as 30s or 5m", name, v)
	}
	return d, nil
}

// buildConfig validates flag values into a Config.
func buildConfig(v map[string]*string) (Config, error) {
	get := func(s setting) string {
		if p, ok := v[s.flag]; ok {
			return trimmed(p)
		}
		return s.def
	}
	c := Config{
		DatabaseURL: get(sDatabaseURL), Addr: get(sAddr), LogFormat: strings.ToLower(get(sLogFormat)),
		MailDir: get(sMailDir), SMTPURL: get(sSMTPURL), MailFrom: get(sMailFrom), BodyLimit: get(sBodyLimit),
		MetricsAddr: get(sMetricsAddr),
		OIDCIssuer:  get(sOIDCIssuer), OIDCAudience: get(sOIDCAudience), OIDCJWKSURL: get(sOIDCJWKSURL),
	}
	var err error
	if c.DatabaseURL == "" {
		return c, usagef("DATABASE_URL must not be empty")
	}
	if v := get(sDBMaxConns); v != "" {
		if c.DBMaxConns, err = strconv.Atoi(v); err != nil || c.DBMaxConns < 1 {
			return c, usagef("invalid KAYLE_DB_MAX_CONNS %q: want a whole number of at least 1", v)
		}
	}
	if c.Validation, err = validator.ParseMode(get(sValidation)); err != nil {
		return c, usagef("invalid KAYLE_VALIDATION: %v", err)
	}
	if c.LogFormat != "json" && c.LogFormat != "text" {
		return c, usagef("invalid KAYLE_LOG_FORMAT %q: want json or text", c.LogFormat)
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return c, usagef("invalid KAYLE_ADDR %q: want host:port", c.Addr)
	}
	if c.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			return c, usagef("invalid KAYLE_METRICS_ADDR %q: want host:port", c.MetricsAddr)
		}
	}
	if c.MetricsPublic, err = parseBool(sMetricsPublic, get(sMetricsPublic)); err != nil {
		return c, err
	}
	if !validBodyLimit(c.BodyLimit) {
		return c, usagef("invalid KAYLE_BODY_LIMIT %q: want a size such as 512K or 1M", c.BodyLimit)
	}
	if c.RequestTimeout, err = parseDuration(sRequestTimeout.flag, get(sRequestTimeout)); err != nil {
		return c, err
	}
	for _, n := range []struct {
		s   setting
		dst *int
	}{{sMaxInFlight, &c.MaxInFlight}, {sMaxInFlightAddr, &c.MaxInFlightAddr}, {sMaxInFlightCred, &c.MaxInFlightCred},
		{sMaxConns, &c.MaxConns}, {sMaxConnsPerAddr, &c.MaxConnsAddr}, {sMaxOrgsPerUser, &c.MaxOrgsPerUser}} {
		v, err := strconv.Atoi(get(n.s))
		if err != nil || v < 0 {
			return c, usagef("invalid %s %q: want a whole number, 0 for no limit", n.s.env, get(n.s))
		}
		*n.dst = v
	}
	if c.ShutdownTimeout, err = parseDuration(sShutdownTimeout.flag, get(sShutdownTimeout)); err != nil {
		return c, err
	}
	if c.ShutdownDrain, err = parseDuration(sShutdownDrain.flag, get(sShutdownDrain)); err != nil {
		return c, err
	}
	if c.PurgeInterval, err = parseDuration(sPurgeInterval.flag, get(sPurgeInterval)); err != nil {
		return c, err
	}
	if c.LogoGrace, err = parseDuration(sLogoGrace.flag, get(sLogoGrace)); err != nil {
		return c, err
	}
	if c.LogoGrace == 0 {
		return c, usagef("KAYLE_LOGO_GRACE must be positive")
	}
	for _, r := range []struct {
		s   setting
		dst *float64
	}{{sRateLimit, &c.RateLimit}, {sRateLimitRead, &c.RateLimitRead}, {sRateLimitIP, &c.RateLimitIP}} {
		v, err := strconv.ParseFloat(get(r.s), 64)
		if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
			return c, usagef("invalid %s %q: want a number of requests per second, 0 to disable", r.s.env, get(r.s))
		}
		*r.dst = v
	}
	if c.RateBurst, err = strconv.Atoi(get(sRateBurst)); err != nil || c.RateBurst < 1 {
		return c, usagef("invalid KAYLE_RATE_BURST %q: want a whole number of at least 1", get(sRateBurst))
	}
	if c.RequestTimeout == 0 {
		return c, usagef("KAYLE_REQUEST_TIMEOUT must be positive")
	}
	if err := dnsConfig(&c, get); err != nil {
		return c, err
	}
	if c.RecheckInterval, err = parseDuration(sRecheckInterval.flag, get(sRecheckInterval)); err != nil {
		return c, err
	}
	if c.OIDCIssuer == "" && (c.OIDCAudience != "" || c.OIDCJWKSURL != "") {
		return c, usagef("KAYLE_OIDC_AUDIENCE and KAYLE_OIDC_JWKS_URL need KAYLE_OIDC_ISSUER: tokens are only accepted from a named issuer")
	}
	if c.OIDCIssuer != "" {
		if _, err := c.identityProvider(nil); err != nil {
			return c, usagef("invalid identity provider settings: %v", err)
		}
	}
	if c.TrustedProxies, err = parseTrustedProxies(get(sTrustedProxies)); err != nil {
		return c, err
	}
	// Not trimmed: a secret is taken exactly as given.
	if p, ok := v[sAuthSecret.flag]; ok {
		c.AuthSecret = *p
	}
	if c.AuthSecret != "" && len(c.AuthSecret) < 32 {
		return c, usagef("KAYLE_AUTH_SECRET is too short: use at least 32 characters (for example: openssl rand -hex 32)")
	}
	if c.Storage, err = buildStorage(get); err != nil {
		return c, err
	}
	if err := sessionConfig(&c, get); err != nil {
		return c, err
	}
	return c, nil
}

// sessionConfig validates the relying-party API's settings.
func sessionConfig(c *Config, get func(setting) string) error {
	var err error
	if c.Production, err = parseBool(sProduction, get(sProduction)); err != nil {
		return err
	}
	if c.Sandbox, err = parseBool(sSandbox, get(sSandbox)); err != nil {
		return err
	}
	if c.Sandbox && c.Production {
		return usagef("KAYLE_SANDBOX cannot be used with KAYLE_PRODUCTION: a sandbox completes sessions without verifying anyone")
	}
	u, err := url.Parse(get(sVerifyURL))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return usagef("invalid KAYLE_VERIFY_URL %q: want an absolute http(s) URL such as https://verify.kayle.id", get(sVerifyURL))
	}
	if c.Production && u.Scheme != "https" {
		return usagef("KAYLE_VERIFY_URL must be https in production")
	}
	c.VerifyURL = u
	if c.ExpiryInterval, err = parseDuration(sExpiryInterval.flag, get(sExpiryInterval)); err != nil {
		return err
	}
	c.RetentionInt, err = parseDuration(sRetentionInt.flag, get(sRetentionInt))
	return err
}

// buildStorage validates the object storage settings.
func buildStorage(get func(setting) string) (StorageConfig, error) {
	c := StorageConfig{URL: get(sStorageURL)}
	var err error
	if c.URL == "" {
		return c, usagef("KAYLE_STORAGE_URL must not be empty")
	}
	if scheme, ok := blobstore.Scheme(c.URL); ok && !blobstore.Supported(scheme) {
		return c, usagef("invalid KAYLE_STORAGE_URL: %s:// is not supported; use a folder path or a file://, s3://, gs:// or azblob:// URL", scheme)
	}
	if c.Timeout, err = parseDuration(sStorageTimeout.flag, get(sStorageTimeout)); err != nil {
		return c, err
	}
	if c.Timeout == 0 {
		return c, usagef("KAYLE_STORAGE_TIMEOUT must be positive")
	}
	if c.PublicURL, err = baseURL(sPublicURL, get(sPublicURL)); err != nil {
		return c, err
	}
	if v := get(sCDNURL); v != "" {
		if c.CDNURL, err = baseURL(sCDNURL, v); err != nil {
			return c, err
		}
	}
	return c, nil
}

// baseURL accepts an absolute http(s) URL with no query or fragment and
// drops a trailing slash.
func baseURL(s setting, v string) (string, error) {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", usagef("invalid %s %q: want an http:// or https:// URL without query or fragment", s.env, v)
	}
	return strings.TrimRight(v, "/"), nil
}

func trimmed(p *string) string { return strings.TrimSpace(*p) }

// dnsConfig reads the resolver settings, which `domains recheck` shares.
func dnsConfig(c *Config, get func(setting) string) error {
	var err error
	c.DNSResolver = get(sDNSResolver)
	if c.DNSTimeout, err = parseDuration(sDNSTimeout.flag, get(sDNSTimeout)); err != nil {
		return err
	}
	if c.DNSTimeout == 0 || c.DNSTimeout > time.Minute {
		return usagef("invalid KAYLE_DNS_TIMEOUT %q: want a duration between 1ms and 1m", get(sDNSTimeout))
	}
	if c.DNS, err = dnstxt.New(c.DNSResolver, dnstxt.Options{Timeout: c.DNSTimeout}); err != nil {
		return usagef("invalid KAYLE_DNS_RESOLVER %q: want host:port or https:// URLs, comma-separated", c.DNSResolver)
	}
	return nil
}

func parseBool(s setting, v string) (bool, error) {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, usagef("invalid %s %q: want true or false", s.env, v)
	}
	return b, nil
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
				return nil, usagef("invalid KAYLE_TRUSTED_PROXIES entry %q: want a CIDR such as 10.0.0.0/8 or an address", f)
			}
			bits := 8 * len(ip)
			if v4 := ip.To4(); v4 != nil {
				ip, bits = v4, 32
			}
			n = &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)}
		}
		if ones, _ := n.Mask.Size(); ones == 0 {
			// Every address a proxy would let any client name its own address.
			return nil, usagef("invalid KAYLE_TRUSTED_PROXIES entry %q: trusting every address lets any client choose its own", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func validBodyLimit(s string) bool {
	s = strings.ToUpper(s)
	if s == "" {
		return false
	}
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return false
	}
	switch s[i:] {
	case "", "B", "K", "KB", "M", "MB", "G", "GB":
		return true
	}
	return false
}

func newLogger(w io.Writer, format string) *slog.Logger {
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, nil))
	}
	return slog.New(slog.NewJSONHandler(w, nil))
}

var errHelp = errors.New("help requested")

// parseFlags parses args, turning flag errors into usage errors.
func parseFlags(fs *flag.FlagSet, args []string, help io.Writer) error {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(help)
			fs.Usage()
			return errHelp
		}
		return usagef("%s: %v", fs.Name(), err)
	}
	if fs.NArg() > 0 {
		return usagef("%s: unexpected argument %q", fs.Name(), fs.Arg(0))
	}
	return nil
}
