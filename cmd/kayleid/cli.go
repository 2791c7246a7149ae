package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strings"
	"time"

	"github.com/alecthomas/kong"

	"github.com/kayle-id/orgs-api/dnstxt"
)

// The command line. Each setting is one field: its flag (name), environment
// variable (envvar: read through run's getenv, not kong's env, so tests
// pass their own environment), default, type and help are declared there
// once; `kayleid serve --help` and the operators' configuration table are
// both made from these declarations. Help text writes code in braces,
// {like this} (a struct tag cannot hold a backtick): the table makes them
// code spans, the terminal help drops the braces.
//
// Tags of this command line's own: envvar; min and max (numbers and
// durations); oneof (a closed list of words); secret ("all": never
// repeated; "url": repeated without its password); raw ("true": not
// trimmed).
type cli struct {
	Serve   serveCmd   `cmd:"" help:"Serve the API."`
	Migrate migrateCmd `cmd:"" help:"Apply pending database migrations."`
	Users   struct {
		Create usersCreateCmd `cmd:"" help:"Create a user; prints {\"id\",\"email\",\"name\"}."`
	} `cmd:"" help:"Manage users."`
	Tokens struct {
		Create tokensCreateCmd `cmd:"" help:"Issue a session token; prints {\"token\",\"expiresAt\"}."`
		Revoke tokensRevokeCmd `cmd:"" help:"Revoke one session token at once (--token), or every session of a user (--email: sign out everywhere)."`
	} `cmd:"" help:"Manage session tokens."`
	Orgs struct {
		Purge         orgsPurgeCmd         `cmd:"" help:"Purge the organizations whose deletion time has passed."`
		OwnerVerified orgsOwnerVerifiedCmd `cmd:"" name:"owner-verified" help:"Record that an owner's identity was checked (sets owner_id_checked_at, audited); prints {\"id\",\"slug\",\"ownerIdCheckedAt\"}."`
	} `cmd:"" help:"Manage organizations."`
	Sessions struct {
		Recount sessionsRecountCmd `cmd:"" help:"Rebuild the analytics' per-day session counts from the sessions themselves (after a manual database change or a restore); prints {\"recounted\":true}."`
	} `cmd:"" help:"Manage verification sessions."`
	Webhooks struct {
		Reseal webhooksResealCmd `cmd:"" help:"After a rotation of {--webhook-secret-key}: seal every webhook signing secret (and held payload) still under an old key with the new one; prints {\"secrets\",\"heldPayloads\"} rewritten. Run it with the old keys in {--webhook-secret-keys-old}; then they can go."`
	} `cmd:"" help:"Manage webhooks."`
	Trust struct {
		Import trustImportCmd `cmd:"" help:"Import the document trust store from the ICAO PKD downloads (the objects file icaopkd-001 and the master lists file icaopkd-002, LDIF) and/or upstream's bundle JSON; each master list's signature is verified first. A re-import replaces that source's certificates; CRLs are merged, the newer kept. Prints the counts as JSON."`
	} `cmd:"" help:"Manage the document trust store."`
	Documents struct {
		Check documentsCheckCmd `cmd:"" help:"Check a travel document's chip data against the trust store in the database: DG1's MRZ, passive authentication (the SOD, its DSC and CSCA, revocation), active authentication when --dg15, --aa-challenge and --aa-signature are given, chip authentication when --ca-transcript is given, and the claims. Prints the report as JSON; exit status 0 when the document passes, 1 when it fails (a check that ran failed; a skipped one does not fail it), 2 for bad flags or unreadable files."`
	} `cmd:"" help:"Check travel documents."`
	Domains struct {
		Recheck domainsRecheckCmd `cmd:"" help:"Re-check the verified domains due for their daily check."`
	} `cmd:"" help:"Manage verified domains."`
	ConfigTable configTableCmd `cmd:"" name:"config-table" hidden:"" help:"Print the configuration table (markdown) of serve's settings, or rewrite it in a document."`
}

// defaultDatabase is DATABASE_URL's default, the one SQLite file created
// without --create-db.
const defaultDatabase = "kayle-id.db"

// dbFlags is what every command that opens the database takes.
type dbFlags struct {
	DatabaseURL databaseURL `name:"database-url" envvar:"DATABASE_URL" default:"kayle-id.db" secret:"url" help:"{postgres://…} or {postgresql://…} for PostgreSQL; any other {scheme://} is refused; anything else is a SQLite file path, which must exist unless it is the default or {--create-db} is given"`
	CreateDB    bool        `name:"create-db" envvar:"KAYLE_CREATE_DB" default:"false" help:"create the SQLite file when it does not exist (the default {kayle-id.db} is created without it); without it a missing file is an error, so a typo in its name does not start an empty database"`
}

// listenFlags is the listen address, which --public-url follows.
type listenFlags struct {
	Addr hostPort `name:"addr" envvar:"KAYLE_ADDR" default:"127.0.0.1:8787" help:"listen address, {host:port}; {--public-url} follows it unless set"`
}

// storageFlags is what reaching object storage takes (serve, migrate).
type storageFlags struct {
	StorageURL     string        `name:"storage-url" envvar:"KAYLE_STORAGE_URL" default:"storage" placeholder:"PATH|URL" help:"object storage for logos: a folder path (created if missing), or a {file://}, {s3://}, {gs://} or {azblob://} URL as gocloud.dev reads them; credentials come from each cloud's usual environment"`
	StorageTimeout time.Duration `name:"storage-timeout" envvar:"KAYLE_STORAGE_TIMEOUT" default:"10s" min:"1ns" help:"longest one object storage call may take (within the request's own time)"`
	PublicURL      httpURL       `name:"public-url" envvar:"KAYLE_PUBLIC_URL" help:"this server's URL as clients reach it; logo URLs are {<public-url>/logos/<id>} when no CDN URL is set, and the server serves them. Unset: {http://} and {--addr} ({127.0.0.1} for an address on every interface)"`
	CDNURL         httpURL       `name:"cdn-url" envvar:"KAYLE_CDN_URL" help:"URL where the storage's objects are served publicly (a CDN in front of the bucket); logo URLs are then {<cdn-url>/logos/<id>} and the server does not serve logos"`
}

// dnsFlags is how domain verification asks DNS (serve, domains recheck).
type dnsFlags struct {
	DNSResolver string        `name:"dns-resolver" envvar:"KAYLE_DNS_RESOLVER" default:"${dns_resolvers}" placeholder:"RESOLVERS" help:"resolvers that domain verification asks, comma-separated, each tried only when the one before could not answer: {host:port} for plain DNS (UDP, TCP when the answer is truncated) or an {https://} URL for DNS over HTTPS (RFC 8484). The default is upstream's"`
	DNSTimeout  time.Duration `name:"dns-timeout" envvar:"KAYLE_DNS_TIMEOUT" default:"5s" min:"1ms" max:"1m" help:"longest one resolver may take to answer one lookup (a verification's lookups together are bounded at 10s)"`
}

type serveCmd struct {
	DB     dbFlags `embed:"" group:"database"`
	Server struct {
		listenFlags
		Validation      string        `name:"validation" envvar:"KAYLE_VALIDATION" default:"full" oneof:"full,requests,off" help:"contract validation: {full} (requests and responses), {requests}, or {off}"`
		LogFormat       string        `name:"log-format" envvar:"KAYLE_LOG_FORMAT" default:"json" oneof:"json,text" help:"log format: {json} or {text}"`
		BodyLimit       byteSize      `name:"body-limit" envvar:"KAYLE_BODY_LIMIT" default:"2M" help:"largest accepted request body, such as 512K or 4M (the largest valid one, an organization with a maximal logo, is about 1.4 MB)"`
		RequestTimeout  time.Duration `name:"request-timeout" envvar:"KAYLE_REQUEST_TIMEOUT" default:"15s" min:"1ns" help:"longest a request may take, database waits, outbound calls and reading its body included"`
		ShutdownTimeout time.Duration `name:"shutdown-timeout" envvar:"KAYLE_SHUTDOWN_TIMEOUT" default:"15s" help:"grace period for in-flight requests on SIGINT/SIGTERM"`
		ShutdownDrain   time.Duration `name:"shutdown-drain" envvar:"KAYLE_SHUTDOWN_DRAIN" default:"0s" help:"on SIGINT/SIGTERM, how long {/readyz} answers 503 while every other request is still served, before the listener closes. Behind a load balancer, set it longer than the balancer takes to notice"`
		TrustedProxies  cidrList      `name:"trusted-proxies" envvar:"KAYLE_TRUSTED_PROXIES" help:"comma-separated CIDRs (or single addresses) of the proxies in front. {X-Forwarded-For} is read from the right through hops in them only; the first address that is not one is the client, for the per-address limits and the request log. Unset: the connection's address, and {X-Forwarded-For} is ignored"`
		PurgeInterval   time.Duration `name:"purge-interval" envvar:"KAYLE_PURGE_INTERVAL" default:"1m" help:"how often due organizations are purged; {0} disables"`
		MetricsAddr     hostPort      `name:"metrics-addr" envvar:"KAYLE_METRICS_ADDR" help:"serve {/metrics} on this address (say a private interface); it is not on the main address unless {--metrics-public}"`
		MetricsPublic   bool          `name:"metrics-public" envvar:"KAYLE_METRICS_PUBLIC" default:"false" help:"also serve {/metrics} on the main address, to anyone who can reach the API"`
	} `embed:"" group:"server"`
	Limits struct {
		DBMaxConns      int     `name:"db-max-conns" envvar:"KAYLE_DB_MAX_CONNS" min:"1" help:"most database connections open at once; unset means the number of CPUs, at least 4. Requests beyond them wait their turn, first come first served (see BENCHMARKS.md)"`
		MaxInFlight     int     `name:"max-in-flight" envvar:"KAYLE_MAX_IN_FLIGHT" default:"128" help:"most requests served at once; beyond it the answer is 503 with {Retry-After} (health probes exempt); {0} means no cap. Request bodies held in memory are at most this many times {--body-limit}"`
		MaxConns        int     `name:"max-conns" envvar:"KAYLE_MAX_CONNS" default:"1024" help:"most client connections open at once; at it the oldest idle connection is closed to make room, and when none is idle a new one gets 503 and is closed; {0} means no cap"`
		MaxConnsAddr    int     `name:"max-conns-per-address" envvar:"KAYLE_MAX_CONNS_PER_ADDRESS" default:"64" help:"most connections one client address (IPv4, or IPv6 /64; four times as many per IPv6 /48) holds at once, its oldest idle one closed to make room; trusted proxies are exempt (the balancer caps per source); {0} means no cap"`
		MaxInFlightAddr int     `name:"max-in-flight-per-address" envvar:"KAYLE_MAX_IN_FLIGHT_PER_ADDRESS" default:"16" help:"most requests one client address (IPv6: per /64; four times as many per /48) has in flight before they are authenticated; beyond it the answer is 429; {0} means no cap"`
		MaxInFlightCred int     `name:"max-in-flight-per-credential" envvar:"KAYLE_MAX_IN_FLIGHT_PER_CREDENTIAL" default:"16" help:"most requests one user (all its sessions and provider sign-ins together) has in flight; beyond it the answer is 429; {0} means no cap"`
		RateLimit       float64 `name:"rate-limit" envvar:"KAYLE_RATE_LIMIT" default:"10" help:"write requests per second per user (all its sessions and sign-ins together, however the token is spelled); {0} disables"`
		RateLimitRead   float64 `name:"rate-limit-read" envvar:"KAYLE_RATE_LIMIT_READ" default:"50" help:"read requests ({GET}) per second per user; {0} disables"`
		RateLimitIP     float64 `name:"rate-limit-ip" envvar:"KAYLE_RATE_LIMIT_IP" default:"50" help:"requests per second per client address that carry no valid credential (anonymous, failed authentication, unknown paths), any method; IPv6 addresses count per /64 (the address: see {--trusted-proxies}); {0} disables. Once an address has spent it, even valid credentials from it wait"`
		RateBurst       int     `name:"rate-burst" envvar:"KAYLE_RATE_BURST" default:"20" min:"1" help:"requests allowed at once before a rate limit applies"`
		MaxOrgsPerUser  int     `name:"max-orgs-per-user" envvar:"KAYLE_MAX_ORGS_PER_USER" default:"50" help:"organizations a user may own (as an active owner) and still create another; beyond it {POST /v1/auth/orgs} answers 403 {ORGANIZATION_LIMIT_REACHED}; {0} means no limit"`
	} `embed:"" group:"limits"`
	Mail struct {
		MailDir  string      `name:"mail-dir" envvar:"KAYLE_MAIL_DIR" default:"mail-outbox" placeholder:"PATH" help:"where mail is written as {.eml} files when no SMTP server is set"`
		SMTPURL  smtpURL     `name:"smtp-url" envvar:"KAYLE_SMTP_URL" secret:"url" help:"{smtp://user:pass@host:port}; when set, mail goes there"`
		MailFrom mailAddress `name:"mail-from" envvar:"KAYLE_MAIL_FROM" default:"Kayle ID <no-reply@kayle.id>" help:"sender of outgoing mail"`
	} `embed:"" group:"mail"`
	Auth struct {
		OIDCIssuer   string `name:"oidc-issuer" envvar:"KAYLE_OIDC_ISSUER" placeholder:"URL" help:"identity provider whose JWTs are accepted as bearer tokens: the {iss} they must carry; its keys are found through {/.well-known/openid-configuration}. Unset: session tokens only. {https}, or {http} on loopback only"`
		OIDCAudience string `name:"oidc-audience" envvar:"KAYLE_OIDC_AUDIENCE" help:"the {aud} the provider's tokens must carry for this API; required with {--oidc-issuer}"`
		OIDCJWKSURL  string `name:"oidc-jwks-url" envvar:"KAYLE_OIDC_JWKS_URL" placeholder:"URL" help:"the provider's key set (JWKS), for providers that publish one without discovery; needs {--oidc-issuer}"`
		AuthSecret   string `name:"auth-secret" envvar:"KAYLE_AUTH_SECRET" secret:"all" raw:"true" placeholder:"SECRET" help:"key of the HMAC under which API keys are stored, at least 32 characters; set it through the environment (flags show in the process list). Unset: one is generated once and kept in the database (see docs/operators.md, API keys)"`
	} `embed:"" group:"auth"`
	DNS     dnsFlags `embed:"" group:"domains"`
	Domains struct {
		RecheckInterval time.Duration `name:"domain-recheck-interval" envvar:"KAYLE_DOMAIN_RECHECK_INTERVAL" default:"5m" help:"how often the server looks for verified domains last checked over 23 hours ago and checks their TXT record again; {0} disables (then run {kayleid domains recheck} from a scheduler)"`
	} `embed:"" group:"domains"`
	Sessions struct {
		VerifyURL         httpURL       `name:"verify-url" envvar:"KAYLE_VERIFY_URL" default:"http://localhost:2999" help:"the verification web app people are sent to: a session's {verification_url} is its origin and {/<session id>} (a path in it is replaced); {https} in production"`
		Production        bool          `name:"production" envvar:"KAYLE_PRODUCTION" default:"false" help:"production: redirect URLs on {localhost}/{127.0.0.1} need a verified domain like any other, the verify URL must be {https}, and the sandbox is refused"`
		Sandbox           bool          `name:"sandbox" envvar:"KAYLE_SANDBOX" default:"false" help:"sandbox for contract-test pipelines: serves {POST /v1/sessions/<id>/complete}, which ends a session as succeeded or failed without verifying anyone; every answer carries {Kayle-Sandbox: true}. Refused with {--production}"`
		ExpiryInterval    time.Duration `name:"session-expiry-interval" envvar:"KAYLE_SESSION_EXPIRY_INTERVAL" default:"1m" help:"how often verification sessions past their expiry are expired (one replica at a time); {0} disables (answers still expire them on touch)"`
		RetentionInterval time.Duration `name:"retention-interval" envvar:"KAYLE_RETENTION_INTERVAL" default:"1h" help:"how often session retention runs (ended sessions and events deleted after 30 days, session audit rows after 365), in bounded batches; {0} disables"`
	} `embed:"" group:"sessions"`
	WebhookKeys webhookKeyFlags `embed:"" group:"webhooks"`
	Webhooks    struct {
		AllowLoopback bool          `name:"webhook-allow-loopback" envvar:"KAYLE_WEBHOOK_ALLOW_LOOPBACK" default:"false" help:"development only: webhook endpoints on {localhost}/{127.0.0.1} (also {http://}) are accepted and reached; every other private or local address stays refused at dial time. Refused with {--production}"`
		Workers       int           `name:"webhook-workers" envvar:"KAYLE_WEBHOOK_WORKERS" default:"64" min:"1" help:"webhook deliveries sent at once by this replica"`
		PerEndpoint   int           `name:"webhook-endpoint-concurrency" envvar:"KAYLE_WEBHOOK_ENDPOINT_CONCURRENCY" default:"8" min:"1" help:"deliveries one endpoint receives at once from this replica; its others wait, so a receiver that hangs does not hold up the rest"`
		RescueAfter   time.Duration `name:"webhook-rescue-after" envvar:"KAYLE_WEBHOOK_RESCUE_AFTER" default:"1m" min:"31s" help:"how long a delivery may look in progress before another replica takes it over (its replica presumed dead); it is then sent again"`
		SweepInterval time.Duration `name:"webhook-sweep-interval" envvar:"KAYLE_WEBHOOK_SWEEP_INTERVAL" default:"1m" help:"how often undelivered webhook payloads past their retention are removed (their deliveries end failed, reason expired); {0} disables"`
	} `embed:"" group:"webhooks"`
	Verify  verifyFlags  `embed:"" group:"verify"`
	Storage storageFlags `embed:"" group:"logos"`
	Logos   struct {
		LogoGrace time.Duration `name:"logo-grace" envvar:"KAYLE_LOGO_GRACE" default:"24h" min:"1ns" help:"how long a logo upload not (or no longer) in use stays stored and served before it is deleted; an organization keeps at most 5 such"`
	} `embed:"" group:"logos"`
}

// helpGroups are serve's sections, in the order the help shows them.
var helpGroups = []kong.Group{
	{Key: "database", Title: "Database:"},
	{Key: "server", Title: "Server:"},
	{Key: "limits", Title: "Limits:"},
	{Key: "mail", Title: "Mail:"},
	{Key: "auth", Title: "Credentials and identity provider:"},
	{Key: "domains", Title: "Domain verification:"},
	{Key: "sessions", Title: "Relying-party API (verification sessions):"},
	{Key: "webhooks", Title: "Webhooks:"},
	{Key: "verify", Title: "Verification (the phone protocol and its checks):"},
	{Key: "logos", Title: "Logos and object storage:"},
}

type migrateCmd struct {
	DB      dbFlags      `embed:"" group:"database"`
	Listen  listenFlags  `embed:"" group:"logos"`
	Storage storageFlags `embed:"" group:"logos"`
}

type usersCreateCmd struct {
	DB    dbFlags `embed:"" group:"database"`
	Email string  `name:"email" placeholder:"EMAIL" help:"the user's email address (required)"`
	Name  string  `name:"name" placeholder:"NAME" help:"the user's display name, at most 200 characters (required)"`
}

type tokensCreateCmd struct {
	DB    dbFlags       `embed:"" group:"database"`
	Email string        `name:"email" placeholder:"EMAIL" help:"email of the user the token acts as (required)"`
	Org   string        `name:"org" placeholder:"ORG_ID" help:"organization id to select as the session's active organization (the user must be an active member)"`
	TTL   time.Duration `name:"ttl" default:"720h" min:"1ns" help:"how long the token is valid"`
}

type tokensRevokeCmd struct {
	DB    dbFlags `embed:"" group:"database"`
	Token string  `name:"token" placeholder:"TOKEN|-" secret:"all" help:"the token to revoke; {-} reads it from standard input, keeping it out of the process list"`
	Email string  `name:"email" placeholder:"EMAIL" help:"revoke every session of the user with this email (sign out everywhere); prints {\"revoked\",\"sessions\"}"`
}

type orgsPurgeCmd struct {
	DB dbFlags `embed:"" group:"database"`
}

type orgsOwnerVerifiedCmd struct {
	DB  dbFlags   `embed:"" group:"database"`
	Org string    `name:"org" placeholder:"ORG_ID|SLUG" help:"the organization, by id or slug (required)"`
	At  time.Time `name:"at" placeholder:"RFC3339" help:"when the check was made, such as 2026-05-20T09:30:00Z (default: now)"`
	By  string    `name:"by" default:"cli" help:"who or what made the check, kept in the audit row (1 to 200 characters)"`
}

// webhookKeyFlags are the webhook data key settings, read by serve and by
// `webhooks reseal`.
type webhookKeyFlags struct {
	SecretKey      string `name:"webhook-secret-key" envvar:"KAYLE_WEBHOOK_SECRET_KEY" secret:"all" raw:"true" placeholder:"SECRET" help:"key under which webhook signing secrets (and payloads held for an endpoint without a key) are encrypted at rest, at least 32 characters; set it through the environment. Unset: derived from the API keys' secret (see docs/operators.md, Webhooks)"`
	SecretKeysOld  string `name:"webhook-secret-keys-old" envvar:"KAYLE_WEBHOOK_SECRET_KEYS_OLD" secret:"all" raw:"true" placeholder:"SECRETS" help:"keys {--webhook-secret-key} replaced, comma-separated: still read, never written, until {kayleid webhooks reseal} has sealed every secret anew"`
	UpstreamSecret string `name:"webhook-upstream-auth-secret" envvar:"KAYLE_WEBHOOK_UPSTREAM_AUTH_SECRET" secret:"all" raw:"true" placeholder:"SECRET" help:"for a database moved from upstream Kayle ID: upstream's {AUTH_SECRET}, under whose SHA-256 its signing secrets were sealed; they are then read, and {kayleid webhooks reseal} seals them under {--webhook-secret-key}, after which this can go"`
}

type webhooksResealCmd struct {
	DB         dbFlags         `embed:"" group:"database"`
	Keys       webhookKeyFlags `embed:"" group:"webhooks"`
	AuthSecret string          `name:"auth-secret" envvar:"KAYLE_AUTH_SECRET" secret:"all" raw:"true" placeholder:"SECRET" help:"the server's {--auth-secret}, from which the data key is derived when {--webhook-secret-key} is not set"`
}

type trustImportCmd struct {
	DB          dbFlags `embed:"" group:"database"`
	Objects     string  `name:"objects" placeholder:"FILE.ldif" help:"the PKD objects file (DSCs and CRLs); a file with CRLs only refreshes them and keeps the DSCs"`
	MasterLists string  `name:"master-lists" placeholder:"FILE.ldif" help:"the PKD master lists file (CSCAs)"`
	Bundle      string  `name:"bundle" placeholder:"FILE.json" help:"upstream's version-2 trust bundle; its CSCAs carry no signature, so import one only from a source you trust"`
}

type documentsCheckCmd struct {
	DB           dbFlags `embed:"" group:"database"`
	DG1          string  `name:"dg1" required:"" placeholder:"FILE" help:"DG1 as read from the chip (tag 61)"`
	SOD          string  `name:"sod" required:"" placeholder:"FILE" help:"EF.SOD as read (tag 77)"`
	DG2          string  `name:"dg2" placeholder:"FILE" help:"DG2 as read; passive authentication needs it"`
	DG14         string  `name:"dg14" placeholder:"FILE" help:"DG14 as read (chip authentication's keys; the active-authentication hash)"`
	DG15         string  `name:"dg15" placeholder:"FILE" help:"DG15 as read (the active-authentication key)"`
	AAChallenge  string  `name:"aa-challenge" placeholder:"HEX" help:"the active-authentication challenge the chip signed, in hex"`
	AASignature  string  `name:"aa-signature" placeholder:"FILE" help:"the chip's active-authentication signature (raw bytes)"`
	CATranscript string  `name:"ca-transcript" placeholder:"FILE" help:"the chip-authentication transcript the phone recorded"`
	At           string  `name:"at" placeholder:"RFC3339" help:"judge certificates, CRLs and dates at this time instead of now"`
	AllowUnknown bool    `name:"allow-unknown-revocation" help:"pass a DSC for which no current CRL exists (reported revocation_unknown); a listed DSC still fails"`
	RequireAA    bool    `name:"require-aa" help:"fail active authentication, instead of skipping it, when the SOD declares DG15 and no challenge and signature are given (the verify flow's rule)"`
	RequireCA    bool    `name:"require-ca" help:"fail chip authentication, instead of skipping it, when the SOD declares DG14, DG14 declares chip authentication version 2 and no transcript is given (the verify flow's rule)"`
	Org          string  `name:"org" placeholder:"ID" help:"the organization kayle_document_id is computed for"`
	AuthSecret   string  `name:"auth-secret" envvar:"KAYLE_AUTH_SECRET" secret:"all" raw:"true" placeholder:"SECRET" help:"the server's {--auth-secret}, which kayle_document_id is keyed with"`
}

type sessionsRecountCmd struct {
	DB dbFlags `embed:"" group:"database"`
}

type domainsRecheckCmd struct {
	DB  dbFlags  `embed:"" group:"database"`
	DNS dnsFlags `embed:"" group:"domains"`
}

// runEnv is what a command's Run gets: the process without the process.
type runEnv struct {
	ctx            context.Context
	stdout, stderr io.Writer
	getenv         func(string) string
	// fromEnv maps a flag's name to the variable that set it, so errors
	// name what the user actually wrote.
	fromEnv map[string]string
}

// name is how an error names a setting: its variable when the value came
// from the environment, else its flag.
func (e *runEnv) name(flag string) string {
	if env, ok := e.fromEnv[flag]; ok {
		return env
	}
	return "--" + flag
}

// kongExit is kong asking to exit (after --help), carried out by run.
type kongExit int

// newParser builds the command line over c. Help goes to stdout; errors
// are run's to print.
func newParser(c *cli, e *runEnv) (*kong.Kong, error) {
	opts := []kong.Option{
		kong.Name("kayleid"),
		kong.Description("The Kayle ID organizations server and its admin command line. " +
			"Every setting can also be set by its environment variable (shown in each command's help); flags win. " +
			"Exit status: 0 success, 1 failure, 2 bad flags or input (nothing opened or written)."),
		kong.Writers(e.stdout, e.stderr),
		kong.Exit(func(code int) { panic(kongExit(code)) }),
		kong.Resolvers(envResolver(e)),
		kong.ValueFormatter(helpValue(e.getenv)),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true, NoExpandSubcommands: false, WrapUpperBound: 100}),
		kong.ExplicitGroups(helpGroups),
		kong.Vars{"dns_resolvers": dnstxt.DefaultResolvers},
	}
	return kong.New(c, append(opts, mappers()...)...)
}

// envResolver reads a flag's variable through getenv. The value is parsed
// here first so that an error names the variable, not the flag.
func envResolver(e *runEnv) kong.ResolverFunc {
	return func(_ *kong.Context, _ *kong.Path, f *kong.Flag) (any, error) {
		env := f.Tag.Get("envvar")
		if env == "" {
			return nil, nil
		}
		v := e.getenv(env)
		if v == "" {
			return nil, nil
		}
		scratch := reflect.New(f.Target.Type()).Elem()
		scan := kong.ScanFromTokens(kong.Token{Type: kong.FlagValueToken, Value: v})
		if err := f.Mapper.Decode(&kong.DecodeContext{Value: f.Value, Scan: scan}, scratch); err != nil {
			var ve *valueError
			if errors.As(err, &ve) {
				ve.name = env
				return nil, ve
			}
			return nil, &valueError{name: env, value: shown(f.Tag, v), want: err.Error()}
		}
		e.fromEnv[f.Name] = env
		return v, nil
	}
}

// helpValue is a flag's help: its text, then its one default and its
// variable (with the value the environment gives it, when it does).
func helpValue(getenv func(string) string) kong.HelpValueFormatter {
	return func(v *kong.Value) string {
		help := codeSpan.ReplaceAllString(v.Help, "$1")
		var notes []string
		if v.HasDefault && v.Default != "" && !(v.IsBool() && v.Default == "false") {
			notes = append(notes, "default "+v.Default)
		}
		if env := v.Tag.Get("envvar"); env != "" {
			note := "env " + env
			if val := getenv(env); val != "" {
				note += " is set: " + shown(v.Tag, val)
			}
			notes = append(notes, note)
		}
		if len(notes) == 0 {
			return help
		}
		return help + " (" + strings.Join(notes, "; ") + ")"
	}
}

// codeSpan is {code} in help text.
var codeSpan = regexp.MustCompile(`\{([^{}"]+)\}`)

// helpHint ends an error: where to read about the command.
func helpHint(command string) string {
	if command == "" {
		return "see kayleid --help"
	}
	return "see kayleid " + command + " --help"
}

// commandOf is the command a (possibly failed) parse reached.
func commandOf(kctx *kong.Context) string {
	if kctx == nil {
		return ""
	}
	var names []string
	for _, p := range kctx.Path {
		if p.Command != nil {
			names = append(names, p.Command.Name)
		}
	}
	return strings.Join(names, " ")
}

func parseAndRun(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) (code int) {
	e := &runEnv{ctx: ctx, stdout: stdout, stderr: stderr, getenv: getenv, fromEnv: map[string]string{}}
	var c cli
	parser, err := newParser(&c, e)
	if err != nil {
		// The declarations above are wrong: a bug, not the user's.
		fmt.Fprintf(stderr, "kayleid: %v\n", err)
		return 1
	}
	defer func() {
		if r := recover(); r != nil {
			exit, ok := r.(kongExit)
			if !ok {
				panic(r)
			}
			code = int(exit)
		}
	}()
	switch {
	case len(args) == 0:
		// As a bare `kayleid` always has: the overview, on stderr, status 2.
		kctx, _ := kong.Trace(parser, nil)
		kctx.Stdout = stderr
		_ = kctx.PrintUsage(false)
		fmt.Fprintln(stderr, "kayleid: no command given")
		return 2
	case args[0] == "help":
		// `kayleid help [command...]` is `kayleid [command...] --help`.
		args = append(append([]string{}, args[1:]...), "--help")
	}
	kctx, err := parser.Parse(args)
	if err != nil {
		var pe *kong.ParseError
		cmd := ""
		if errors.As(err, &pe) {
			cmd = commandOf(pe.Context)
		}
		fmt.Fprintf(stderr, "kayleid: %s (%s)\n", parseMessage(err), helpHint(cmd))
		return 2
	}
	err = kctx.Run(e)
	var ue *usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		if ue.hint {
			fmt.Fprintf(stderr, "kayleid: %v (%s)\n", err, helpHint(kctx.Command()))
		} else {
			fmt.Fprintf(stderr, "kayleid: %v\n", err)
		}
		return 2
	default:
		fmt.Fprintf(stderr, "kayleid: %v\n", err)
		return 1
	}
}

// parseMessage is a parse error as the user should read it: a bad value
// alone (kong prefixes the flag's name, which the value error names
// already, or the variable instead).
func parseMessage(err error) string {
	var ve *valueError
	if errors.As(err, &ve) {
		return ve.Error()
	}
	return err.Error()
}

// verifyFlags configure the verify socket: the document checks' trust and
// revocation policy, App Attest, the biometric verifier and the socket's
// limits.
type verifyFlags struct {
	TrustRequired     bool          `name:"trust-store-required" envvar:"KAYLE_TRUST_STORE_REQUIRED" default:"false" help:"{/readyz} answers 503 while the document trust store is empty (nothing imported): no document can pass then. Off, an empty store is reported and the server stays ready"`
	Revocation        string        `name:"verify-revocation" envvar:"KAYLE_VERIFY_REVOCATION" enum:"auto,require,allow-unknown" default:"auto" help:"a document whose signer's revocation status is unknown (no current CRL covers it): {require} fails it, {allow-unknown} passes it; {auto} is {require} with {--production}, else {allow-unknown}. A revoked signer always fails"`
	RequireAttest     bool          `name:"verify-require-attestation" envvar:"KAYLE_VERIFY_REQUIRE_ATTESTATION" default:"false" help:"require App Attest at hello and at {nfc_complete} (always on with {--production}); off, App Attest is skipped and a scan is not shown to come from a genuine app"`
	AppAttestAppID    string        `name:"app-attest-app-id" envvar:"KAYLE_APP_ATTEST_APP_ID" default:"K667TL7H29.kayle.id" help:"the App Attest RP ID, {<Team ID>.<bundle id>} of the iOS app that verifies against this server (upstream's app by default)"`
	AppAttestEnv      string        `name:"app-attest-environment" envvar:"KAYLE_APP_ATTEST_ENVIRONMENT" enum:"auto,production,development" default:"auto" help:"which App Attest keys are accepted: {production} (App Store and TestFlight builds) or {development} (debug builds); {auto} is {production} with {--production}, else {development}"`
	AppAttestRoot     string        `name:"app-attest-root" envvar:"KAYLE_APP_ATTEST_ROOT" placeholder:"PEM-FILE" help:"PEM file of the root App Attest attestations must chain to; unset: Apple's App Attestation Root CA (built in)"`
	MinAppVersion     string        `name:"min-app-version" envvar:"KAYLE_MIN_APP_VERSION" help:"hello refuses apps older than this version (MIN_APP_VERSION_REQUIRED); unset: no check"`
	VerifierURL       string        `name:"biometric-verifier-url" envvar:"KAYLE_BIOMETRIC_VERIFIER_URL" placeholder:"URL" help:"the biometric verifier (liveness and face match; its {/health}, {/prewarm} and {/verify}). Unset: every liveness check answers {LIVENESS_CHALLENGE_UNAVAILABLE} and no session can succeed"`
	VerifierSecret    string        `name:"biometric-verifier-secret" envvar:"KAYLE_BIOMETRIC_VERIFIER_SECRET" secret:"all" raw:"true" placeholder:"SECRET" help:"the secret shared with the biometric verifier; set it through the environment"`
	VerifierPrivate   bool          `name:"biometric-verifier-allow-private" envvar:"KAYLE_BIOMETRIC_VERIFIER_ALLOW_PRIVATE" default:"false" help:"allow the verifier on a loopback or private address (it usually is); link-local and metadata addresses stay refused"`
	VerifierTimeout   time.Duration `name:"biometric-verifier-timeout" envvar:"KAYLE_BIOMETRIC_VERIFIER_TIMEOUT" default:"60s" min:"1s" help:"how long one liveness check may take at the verifier"`
	SocketsPerAddress int           `name:"verify-sockets-per-address" envvar:"KAYLE_VERIFY_SOCKETS_PER_ADDRESS" default:"8" min:"1" help:"most verify sockets one client address holds open"`
	Sockets           int           `name:"verify-sockets" envvar:"KAYLE_VERIFY_SOCKETS" default:"1024" min:"1" help:"most verify sockets open at once; each may buffer up to 48 MiB of chip data and video once its hello passed"`
	BufferMiB         int64         `name:"verify-buffer-mib" envvar:"KAYLE_VERIFY_BUFFER_MIB" default:"1536" min:"48" help:"MiB of chip data and video all verify sockets may hold at once (each at most 48); an upload beyond it answers {TRANSFER_TOO_LARGE}"`
	HelloTimeout      time.Duration `name:"verify-hello-timeout" envvar:"KAYLE_VERIFY_HELLO_TIMEOUT" default:"15s" min:"1s" help:"how long a verify socket may stay open without a successful hello"`
	IdleTimeout       time.Duration `name:"verify-idle-timeout" envvar:"KAYLE_VERIFY_IDLE_TIMEOUT" default:"5m" min:"1s" help:"a verify socket that sends nothing for this long is closed"`
}
