// Package store is the persistence layer: one API over PostgreSQL and SQLite,
// GORM underneath. Every state change and its audit row commit in one
// transaction, and rules that must hold under concurrency (the last active
// owner) are checked inside that transaction, under a lock.
package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx" for the queue's pool
	"github.com/ncruces/go-sqlite3"
	_ "github.com/ncruces/go-sqlite3/driver" // registers "sqlite3" for the migration pool
	"github.com/ncruces/go-sqlite3/gormlite"
	"github.com/pressly/goose/v3"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/kayle-id/orgs-api/internal/keyed"
)

//go:embed migrations
var migrations embed.FS

// migrationFiles is what Migrate applies (tests substitute their own).
var migrationFiles fs.FS = migrations

// Dialect names the database behind a Store.
type Dialect string

const (
	Postgres Dialect = "postgres"
	SQLite   Dialect = "sqlite"
)

// sqliteTimeLayout is fixed-width UTC with microseconds, so that text
// comparison in SQLite orders timestamps chronologically (keyset pagination
// relies on it) and values round-trip at PostgreSQL's precision.
const sqliteTimeLayout = "2006-01-02T15:04:05.000000Z07:00"

// Options tunes a Store. The zero value is usable.
type Options struct {
	// MaxOpenConns caps the connection pool; 0 means the number of CPUs,
	// at least 4 (pgx's own pool default). Database work beyond it waits
	// its turn in arrival order.
	MaxOpenConns int
	// Now overrides the clock (tests).
	Now func() time.Time
	// OnEvent, when set, is told of each audit event after its transaction
	// commits (metrics).
	OnEvent func(event string)
	// MaxOwnedOrganizations is how many organizations a user may own (as an
	// active owner) and still create another; 0 means no limit.
	MaxOwnedOrganizations int
	// AuthSecret keys the HMAC under which API keys are stored. Empty means
	// a random secret generated once and kept in the database.
	AuthSecret string
	// MoveLogo, when set, lets Migrate move logos that older versions kept
	// in organization rows to object storage (see logos.go).
	MoveLogo LogoMover
	// WebhookSecretKey is the key material (at least 32 bytes) under which
	// webhook signing secrets and held payloads are sealed; empty derives
	// one from the API keys' HMAC secret. WebhookSecretKeysOld are keys it
	// replaced, still read until every row is sealed anew.
	WebhookSecretKey     []byte
	WebhookSecretKeysOld [][]byte
	// WebhookUpstreamSecret, for a database moved from upstream, is
	// upstream's AUTH_SECRET: its sealed signing secrets are then read
	// (and resealed by ResealWebhookSecrets).
	WebhookUpstreamSecret string
	// LogoGrace is how long a logo object no longer (or never) in use is
	// kept before the cleanup deletes it; 0 means DefaultLogoGrace.
	LogoGrace time.Duration
}

// Store is the persistence API. It is safe for concurrent use.
type Store struct {
	db      *gorm.DB
	sqlDB   *sql.DB
	dialect Dialect
	now     func() time.Time
	// migrateDB runs goose. On SQLite it is a separate pool without the
	// custom time format, which goose's own timestamp column cannot decode.
	migrateDB *sql.DB
	onEvent   func(event string)
	maxOwned  int
	// gate admits database work first come, first served, at most one unit
	// per pooled connection. database/sql hands a freed connection to a
	// random waiter, so under load a few requests would wait many times
	// longer than the rest; queueing here instead keeps waits even.
	gate chan struct{}
	// shares caps the turns one caller holds at once (see WithShare).
	shares *keyed.Limiter
	// auditWindow and auditTimeout bound an audit-log listing (see
	// ListAuditLogs); fields so that tests can shrink them.
	auditWindow  int
	auditTimeout time.Duration
	// externalStmt is the provider callers' lookup, prepared once: on
	// SQLite, preparing the three-table join costs more than running it.
	externalStmt struct {
		sync.Mutex
		stmt *sql.Stmt
	}
	// url reaches the database outside the pool (TryLock's connections).
	url string
	// localLocks are TryLock's locks on SQLite, by name.
	localLocks sync.Map
	// configuredSecret and secret: the API keys' HMAC key (see authSecret).
	configuredSecret string
	secret           secretCache
	moveLogo         LogoMover
	logoGrace        time.Duration
	// queue inserts delivery jobs in the store's transactions; queueDB and
	// queueDriver are River's pool and driver (see openQueue).
	queue       *river.Client[*sql.Tx]
	queueDB     *sql.DB
	queueDriver riverdriver.Driver[*sql.Tx]
	// webhookKey and webhookKeysOld: the webhook data key's material and
	// the keys it replaced (see webhookBox).
	webhookKey      []byte
	webhookKeysOld  [][]byte
	webhookUpstream string
	box             boxCache
}

// DialectFor tells which database a DATABASE_URL names: PostgreSQL for
// postgres:// and postgresql:// URLs, otherwise a SQLite file path.
func DialectFor(databaseURL string) Dialect {
	if strings.HasPrefix(databaseURL, "postgres://") || strings.HasPrefix(databaseURL, "postgresql://") {
		return Postgres
	}
	return SQLite
}

// Open connects to the database named by databaseURL. It does not migrate.
func Open(ctx context.Context, databaseURL string, opts Options) (*Store, error) {
	if databaseURL == "" {
		return nil, errors.New("store: empty database URL")
	}
	cfg := &gorm.Config{
		Logger:                                   logger.Discard,
		DisableForeignKeyConstraintWhenMigrating: true,
		// Each write already runs in an explicit transaction of ours.
		SkipDefaultTransaction: true,
		NowFunc:                func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) },
	}
	d := DialectFor(databaseURL)
	var dialector gorm.Dialector
	var migrateDB *sql.DB
	switch d {
	case Postgres:
		dialector = postgres.Open(databaseURL)
	default:
		dsn, err := sqliteDSN(databaseURL, true)
		if err != nil {
			return nil, err
		}
		dialector = gormlite.Open(dsn)
		plain, _ := sqliteDSN(databaseURL, false)
		if migrateDB, err = sql.Open("sqlite3", plain); err != nil {
			return nil, fmt.Errorf("store: open sqlite: %w", err)
		}
		migrateDB.SetMaxOpenConns(1)
	}
	db, err := gorm.Open(dialector, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", d, err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	maxOpen := opts.MaxOpenConns
	if maxOpen <= 0 {
		maxOpen = max(4, runtime.NumCPU())
	}
	sqlDB.SetMaxOpenConns(maxOpen)
	sqlDB.SetMaxIdleConns(maxOpen)
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	if migrateDB == nil {
		migrateDB = sqlDB
	}
	s := &Store{db: db, sqlDB: sqlDB, dialect: d, now: now, migrateDB: migrateDB, onEvent: opts.OnEvent,
		maxOwned: opts.MaxOwnedOrganizations, gate: make(chan struct{}, maxOpen), url: databaseURL,
		shares:      keyed.New(shareLimit(maxOpen)),
		auditWindow: AuditSearchWindow, auditTimeout: AuditQueryTimeout,
		configuredSecret: opts.AuthSecret, moveLogo: opts.MoveLogo, logoGrace: opts.LogoGrace,
		webhookKey: opts.WebhookSecretKey, webhookKeysOld: opts.WebhookSecretKeysOld,
		webhookUpstream: opts.WebhookUpstreamSecret}
	if err := s.openQueue(); err != nil {
		_ = s.Close()
		return nil, err
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := sqlDB.PingContext(pingCtx); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("store: connect %s: %w", d, err)
	}
	return s, nil
}

// sqliteDSN turns a file path into the driver's URI with the settings this
// store depends on.
func sqliteDSN(path string, appTime bool) (string, error) {
	if strings.ContainsAny(path, "?#") {
		return "", fmt.Errorf("store: SQLite path %q must not contain '?' or '#'", path)
	}
	q := url.Values{}
	// BEGIN IMMEDIATE: a write transaction takes SQLite's write lock up front,
	// so two transactions cannot both read "another owner exists" and then
	// both write (GORM's FOR UPDATE is dropped on SQLite).
	q.Set("_txlock", "immediate")
	if appTime {
		q.Set("_timefmt", sqliteTimeLayout)
	}
	q.Add("_pragma", "busy_timeout(10000)") // wait for the write lock instead of failing at once
	q.Add("_pragma", "foreign_keys(1)")     // cascades on purge, integrity everywhere
	q.Add("_pragma", "journal_mode(wal)")   // readers do not block the writer
	q.Add("_pragma", "synchronous(normal)") // durable at checkpoints; safe with WAL
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode(), nil
}

// Dialect reports which database the store uses.
func (s *Store) Dialect() Dialect { return s.dialect }

// Close releases the connection pool.
func (s *Store) Close() error {
	var err error
	s.externalStmt.Lock()
	if s.externalStmt.stmt != nil {
		err = s.externalStmt.stmt.Close()
	}
	s.externalStmt.Unlock()
	err = errors.Join(err, s.sqlDB.Close())
	if s.queueDB != nil && s.queueDB != s.migrateDB {
		err = errors.Join(err, s.queueDB.Close())
	}
	if s.migrateDB != s.sqlDB {
		err = errors.Join(err, s.migrateDB.Close())
	}
	return err
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.sqlDB.PingContext(ctx); err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return nil
}

// DB exposes the pool's stats and raw access to tests and metrics.
func (s *Store) DB() *sql.DB { return s.sqlDB }

// migrationProvider runs the embedded migrations. locked providers hold the
// migration lock (PostgreSQL) around every step; see Migrate.
func (s *Store) migrationProvider(locked bool) (*goose.Provider, error) {
	sub, err := fs.Sub(migrationFiles, "migrations/"+string(s.dialect))
	if err != nil {
		return nil, err
	}
	gd := goose.DialectPostgres
	if s.dialect == SQLite {
		gd = goose.DialectSQLite3
	}
	var opts []goose.ProviderOption
	if locked && s.dialect == Postgres {
		opts = append(opts, goose.WithSessionLocker(migrationLocker{}))
	}
	return goose.NewProvider(gd, s.migrateDB, sub, opts...)
}

// MigrationResult describes one applied migration.
type MigrationResult struct {
	Version  int64
	Source   string
	Duration time.Duration
}

// Migrate applies every pending migration, in order, each in its own
// transaction. Data is kept: migrations only ever move forward. progress,
// when set, is called after each one with how many of how many are done.
//
// On PostgreSQL any number of processes may migrate at once: each step runs
// under an advisory lock and rereads the applied versions under it, so
// exactly one process applies each migration and the others wait, then find
// nothing left to do. The result lists only what this process applied.
// SQLite has one writer and is served by one process.
func (s *Store) Migrate(ctx context.Context, progress ...func(m MigrationResult, done, total int)) ([]MigrationResult, error) {
	p, err := s.migrationProvider(true)
	if err != nil {
		return nil, fmt.Errorf("store: migrations: %w", err)
	}
	total, err := pending(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("store: migration status: %w", err)
	}
	var out []MigrationResult
	for {
		r, err := p.UpByOne(ctx)
		if errors.Is(err, goose.ErrNoNextVersion) {
			break
		}
		if err != nil {
			return out, fmt.Errorf("store: migrate: %w", err)
		}
		m := MigrationResult{Version: r.Source.Version, Source: r.Source.Path, Duration: r.Duration}
		out = append(out, m)
		for _, fn := range progress {
			fn(m, len(out), total)
		}
	}
	start := time.Now()
	if n, err := s.migrateQueue(ctx); err != nil {
		return out, err
	} else if n > 0 {
		out = append(out, MigrationResult{Source: fmt.Sprintf("job queue (River): %d migrations", n), Duration: time.Since(start)})
	}
	if s.moveLogo == nil {
		return out, nil
	}
	// Data, not schema: logos older versions kept in organization rows go
	// to object storage (an outbound call, so not inside a migration's
	// transaction). It runs on every start and finds nothing once done.
	start = time.Now()
	moved, err := s.MoveLegacyLogos(ctx, s.moveLogo)
	if moved.Moved+moved.Dropped > 0 {
		out = append(out, MigrationResult{Source: fmt.Sprintf("organization logos to object storage: %d moved, %d unreadable cleared", moved.Moved, moved.Dropped),
			Duration: time.Since(start)})
	}
	return out, err
}

// MigrateTo applies pending migrations up to and including version, and
// nothing of what later versions do (upgrade tests start from there).
func (s *Store) MigrateTo(ctx context.Context, version int64) error {
	p, err := s.migrationProvider(true)
	if err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	if _, err := p.UpTo(ctx, version); err != nil {
		return fmt.Errorf("store: migrate to %d: %w", version, err)
	}
	return nil
}

// MigrationsPending reports how many known migrations are not applied yet.
// It takes no lock, so a readiness probe is never stuck behind a migration.
func (s *Store) MigrationsPending(ctx context.Context) (int, error) {
	p, err := s.migrationProvider(false)
	if err != nil {
		return 0, err
	}
	n, err := pending(ctx, p)
	if err != nil || n > 0 {
		return n, err
	}
	// So are the job queue's own migrations, and logos still in
	// organization rows.
	if q, err := s.queuePending(ctx); err != nil {
		return 0, err
	} else if q > 0 {
		return q, nil
	}
	if legacy, err := s.LegacyLogosPending(ctx); err != nil {
		return 0, err
	} else if legacy {
		n++
	}
	return n, nil
}

func pending(ctx context.Context, p *goose.Provider) (int, error) {
	st, err := p.Status(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, m := range st {
		if m.State == goose.StatePending {
			n++
		}
	}
	return n, nil
}

// clock returns the current time at the precision both databases keep.
func (s *Store) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

const maxTxAttempts = 5

// tx runs fn in a GORM transaction, retried as retry says.
func (s *Store) tx(ctx context.Context, fn func(tx *gorm.DB) error) error {
	return s.retry(ctx, func(events *[]string) error {
		if err := s.enter(ctx); err != nil {
			return err
		}
		defer s.exit(ctx)
		return s.db.WithContext(context.WithValue(ctx, eventsKey{}, events)).Transaction(fn)
	})
}

// retry runs one transaction attempt after another, a bounded number of
// times with jitter, while the database reports a serialization failure, a
// deadlock or a busy lock; other errors, and the last retryable one, are
// returned as they are. An attempt lists the audit events it wrote; they are
// reported once it has committed.
func (s *Store) retry(ctx context.Context, attempt func(events *[]string) error) error {
	var err error
	for n := 1; ; n++ {
		var events []string
		err = attempt(&events)
		if err == nil && s.onEvent != nil {
			for _, e := range events {
				s.onEvent(e)
			}
		}
		if err == nil || !retryable(err) || n == maxTxAttempts || ctx.Err() != nil {
			return classify(err)
		}
		backoff := time.Duration(n*n) * 5 * time.Millisecond
		jitter, _ := rand.Int(rand.Reader, big.NewInt(int64(backoff)))
		select {
		case <-ctx.Done():
			return classify(err)
		case <-time.After(backoff/2 + time.Duration(jitter.Int64())):
		}
	}
}

// eventsKey carries the audit events a transaction wrote, so they can be
// reported once it has committed.
type eventsKey struct{}

// read runs a read-only query function with connection failures classified.
func (s *Store) read(ctx context.Context, fn func(db *gorm.DB) error) error {
	return s.admit(ctx, func() error { return fn(s.db.WithContext(ctx)) })
}

// errStatementTimeout: a bounded read ran out of time at the database.
var errStatementTimeout = errors.New("store: statement timeout")

// readBounded is read with the time its statements spend at the database
// capped at limit (waiting for a turn does not count): on PostgreSQL by
// statement_timeout in a read-only transaction, so the server itself stops
// the statement and the connection stays usable; on SQLite by the driver,
// which interrupts a statement when its context ends. A statement stopped
// so is ErrUnavailable.
func (s *Store) readBounded(ctx context.Context, limit time.Duration, fn func(db *gorm.DB) error) error {
	return s.admit(ctx, func() error {
		if s.dialect == Postgres {
			err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
				if err := tx.Exec(fmt.Sprintf("SET LOCAL statement_timeout = %d", max(1, limit.Milliseconds()))).Error; err != nil {
					return err
				}
				return fn(tx)
			}, &sql.TxOptions{ReadOnly: true})
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) && pgErr.Code == "57014" && ctx.Err() == nil { // query_canceled
				return fmt.Errorf("%w: %w after %s: %v", ErrUnavailable, errStatementTimeout, limit, err)
			}
			return err
		}
		bounded, cancel := context.WithTimeout(ctx, limit)
		defer cancel()
		err := fn(s.db.WithContext(bounded))
		if err != nil && bounded.Err() != nil && ctx.Err() == nil {
			return fmt.Errorf("%w: %w after %s: %v", ErrUnavailable, errStatementTimeout, limit, err)
		}
		return err
	})
}

// admit runs fn on its turn at the database (see gate), with connection
// failures classified.
func (s *Store) admit(ctx context.Context, fn func() error) error {
	if err := s.enter(ctx); err != nil {
		return classify(err)
	}
	defer s.exit(ctx)
	return classify(fn())
}

// shareKey carries whom a context's database work is for (see WithShare).
type shareKey struct{}

// WithShare says that ctx's database work is done for key: one credential,
// such as a user id. Work for one key holds at most half of the store's
// turns at the database at once (at least one), so one caller's concurrent
// requests, however many, leave the other turns to everyone else. An empty
// key, or none, is not capped.
func WithShare(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, shareKey{}, key)
}

// ShareOf returns the key WithShare put in ctx.
func ShareOf(ctx context.Context) (string, bool) {
	key, ok := ctx.Value(shareKey{}).(string)
	return key, ok && key != ""
}

// shareLimit is how many turns of a gate of n one key may hold.
func shareLimit(n int) int { return max(1, n/2) }

// enter waits, in arrival order, for a turn at the database (see gate).
// A channel's blocked senders are served in the order they arrived. Work
// for a key (WithShare) first waits for one of its key's slots, so a key
// over its share queues behind itself, not ahead of others.
func (s *Store) enter(ctx context.Context) error {
	key, shared := ShareOf(ctx)
	if shared {
		if err := s.shares.Acquire(ctx, key); err != nil {
			return err
		}
	}
	select {
	case s.gate <- struct{}{}:
		return nil
	case <-ctx.Done():
		if shared {
			s.shares.Release(key)
		}
		return ctx.Err()
	}
}

// exit ends the turn enter(ctx) began.
func (s *Store) exit(ctx context.Context) {
	<-s.gate
	if key, shared := ShareOf(ctx); shared {
		s.shares.Release(key)
	}
}

func retryable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// serialization_failure, deadlock_detected
		return pgErr.Code == "40001" || pgErr.Code == "40P01"
	}
	var sqErr *sqlite3.Error
	if errors.As(err, &sqErr) {
		code := sqErr.Code()
		return code == sqlite3.BUSY || code == sqlite3.LOCKED
	}
	return false
}

// classify maps connection-level failures to ErrUnavailable so callers can
// answer 503 without knowing the driver; rule errors pass through unchanged.
func classify(err error) error {
	if err == nil {
		return nil
	}
	if isRuleError(err) {
		return err
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// Class 08: connection exception; 57P0x: admin/crash shutdown.
		if strings.HasPrefix(pgErr.Code, "08") || strings.HasPrefix(pgErr.Code, "57P") {
			return fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		return err
	}
	var connErr *pgconn.ConnectError
	if errors.As(err, &connErr) || errors.Is(err, sql.ErrConnDone) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if pgconn.SafeToRetry(err) || pgconn.Timeout(err) {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	var sqErr *sqlite3.Error
	if errors.As(err, &sqErr) && (sqErr.Code() == sqlite3.BUSY || sqErr.Code() == sqlite3.LOCKED) {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	// pgx and database/sql do not type every way a connection can die
	// (a peer that closed, a reset mid-query), so these are matched by text.
	if strings.Contains(err.Error(), "connection refused") || strings.Contains(err.Error(), "broken pipe") ||
		strings.Contains(err.Error(), "unexpected EOF") || strings.Contains(err.Error(), "conn closed") {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return err
}

var ruleErrors = []error{
	ErrNotFound, ErrUnauthenticated, ErrNoActiveOrganization, ErrOrganizationNotFound,
	ErrOrganizationFrozen, ErrNotMember, ErrForbidden, ErrOwnerRequired, ErrLastOwner,
	ErrMemberNotFound, ErrMemberNotSuspended, ErrActiveMembershipExists, ErrEmailTaken,
	ErrSlugTaken, ErrInvitationNotFound, ErrInvitationPending, ErrInvitationRevoked, ErrOrganizationLimit, ErrAlreadyScheduled,
	ErrNotScheduled, ErrInvalidInput, ErrInvalidCode, ErrCodeExpired, ErrCodeAttemptsExhausted, ErrNotDelivered, ErrInvalidCursor, ErrUnavailable, ErrInvalidIdentity,
	ErrAPIKeyNotFound, ErrAPIKeyLimit, ErrAlreadyVerified,
	ErrChallengeNotFound, ErrChallengeExpired, ErrTakeoverRequired, ErrDomainNotFound, ErrNoVerifiedDomain,
	ErrRedirectURINotFound, ErrRedirectURILimit, ErrRateLimited,
}

func isRuleError(err error) bool {
	for _, r := range ruleErrors {
		if errors.Is(err, r) {
			return true
		}
	}
	return false
}

// isUniqueViolation reports a unique-constraint failure on either database.
func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "23505"
	}
	var sqErr *sqlite3.Error
	if errors.As(err, &sqErr) {
		return sqErr.ExtendedCode() == sqlite3.CONSTRAINT_UNIQUE || sqErr.ExtendedCode() == sqlite3.CONSTRAINT_PRIMARYKEY
	}
	return false
}
