// Command kayleid is the Kayle ID organizations server and its admin CLI.
//
//	kayleid serve                       serve the API
//	kayleid migrate                     apply pending migrations
//	kayleid users create --email E --name N
//	kayleid tokens create --email E [--org ORG_ID] [--ttl DURATION]
//	kayleid tokens revoke --token T|- | --email E
//	kayleid orgs purge                  purge organizations whose deletion time has passed
//	kayleid domains recheck             re-check verified domains due for their daily check
//
// Exit status: 0 success, 1 failure, 2 bad flags or input (nothing written).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/mail"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/google/uuid"

	"github.com/kayle-id/orgs-api/server"
	"github.com/kayle-id/orgs-api/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

const usage = `usage: kayleid <command> [flags]

commands:
  serve                                   serve the API (see kayleid serve --help)
  migrate                                 apply pending database migrations
  users create --email E --name N         create a user; prints {"id","email"}
  tokens create --email E [--org ORG_ID] [--ttl DURATION]
                                          issue a session token; prints {"token","expiresAt"}
  tokens revoke --token T|-               revoke a session token at once (- reads it from standard input)
  tokens revoke --email E                 revoke every session of a user (sign out everywhere); prints {"revoked","sessions"}
  orgs purge                              purge organizations whose deletion time has passed
  domains recheck [--dns-resolver R]      re-check the verified domains due for their daily check

Every command uses DATABASE_URL (default kayle-id.db, a SQLite file).
`

// run is main without the process: it returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	err := dispatch(ctx, args, stdout, stderr, getenv)
	var ue *usageError
	switch {
	case err == nil, errors.Is(err, errHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "kayleid: %v\n", err)
		return 2
	default:
		fmt.Fprintf(stderr, "kayleid: %v\n", err)
		return 1
	}
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usagef("no command given")
	}
	cmd, rest := args[0], args[1:]
	sub := ""
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		sub = rest[0]
	}
	switch {
	case cmd == "-h" || cmd == "--help" || cmd == "help":
		fmt.Fprint(stdout, usage)
		return nil
	case cmd == "serve":
		return cmdServe(ctx, rest, stdout, stderr, getenv)
	case cmd == "migrate":
		return cmdMigrate(ctx, rest, stdout, getenv)
	case cmd == "users" && sub == "create":
		return cmdUsersCreate(ctx, rest[1:], stdout, getenv)
	case cmd == "tokens" && sub == "create":
		return cmdTokensCreate(ctx, rest[1:], stdout, getenv)
	case cmd == "tokens" && sub == "revoke":
		return cmdTokensRevoke(ctx, rest[1:], stdout, getenv)
	case cmd == "orgs" && sub == "purge":
		return cmdOrgsPurge(ctx, rest[1:], stdout, getenv)
	case cmd == "domains" && sub == "recheck":
		return cmdDomainsRecheck(ctx, rest[1:], stdout, getenv)
	}
	fmt.Fprint(stderr, usage)
	return usagef("unknown command %q", strings.TrimSpace(strings.Join(args[:min(2, len(args))], " ")))
}

// openStore connects and brings the schema up to date.
func openStore(ctx context.Context, databaseURL string, log *slog.Logger, opts store.Options) (*store.Store, error) {
	st, err := store.Open(ctx, databaseURL, opts)
	if err != nil {
		return nil, err
	}
	applied, err := st.Migrate(ctx)
	for _, m := range applied {
		if log != nil {
			log.Info("migration applied", "version", m.Version, "source", m.Source, "duration_ms", m.Duration.Milliseconds())
		}
	}
	if err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	return enc.Encode(v)
}

func dbFlag(fs *flag.FlagSet, getenv func(string) string) *string {
	return register(fs, getenv, sDatabaseURL)[sDatabaseURL.flag]
}

func cmdMigrate(ctx context.Context, args []string, stdout io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	db := dbFlag(fs, getenv)
	storage := storageFlags(fs, getenv)
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	sc, err := storage()
	if err != nil {
		return err
	}
	start := time.Now()
	logos, bucket, err := openLogos(ctx, sc, nil)
	if err != nil {
		return err
	}
	defer bucket.Close()
	st, err := store.Open(ctx, *db, store.Options{MoveLogo: logoMover(logos)})
	if err != nil {
		return err
	}
	defer st.Close()
	applied, err := st.Migrate(ctx, func(m store.MigrationResult, done, total int) {
		fmt.Fprintf(stdout, "[%d/%d] applied %05d %s (%s)\n", done, total, m.Version, m.Source, m.Duration.Round(time.Millisecond))
	})
	for _, m := range applied {
		if m.Version == 0 {
			fmt.Fprintf(stdout, "moved %s (%s)\n", m.Source, m.Duration.Round(time.Millisecond))
		}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "migrate: %d applied, schema current (%s, %s)\n", len(applied), st.Dialect(), time.Since(start).Round(time.Millisecond))
	return nil
}

func cmdUsersCreate(ctx context.Context, args []string, stdout io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("users create", flag.ContinueOnError)
	db := dbFlag(fs, getenv)
	email := fs.String("email", "", "the user's email address (required)")
	name := fs.String("name", "", "the user's display name (required)")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	addr, err := mail.ParseAddress(strings.TrimSpace(*email))
	if err != nil || addr.Name != "" || addr.Address != strings.TrimSpace(*email) {
		return usagef("users create: --email %q is not an email address", *email)
	}
	if strings.TrimSpace(*name) == "" || len(*name) > 200 {
		return usagef("users create: --name is required (at most 200 characters)")
	}
	st, err := openStore(ctx, *db, nil, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	u, err := st.CreateUser(ctx, addr.Address, *name)
	if errors.Is(err, store.ErrEmailTaken) {
		return usagef("users create: a user with email %q already exists", store.NormalizeEmail(addr.Address))
	}
	if err != nil {
		return err
	}
	return writeJSON(stdout, map[string]string{"id": u.ID.String(), "email": u.Email, "name": u.Name})
}

func cmdTokensCreate(ctx context.Context, args []string, stdout io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("tokens create", flag.ContinueOnError)
	db := dbFlag(fs, getenv)
	email := fs.String("email", "", "email of the user the token acts as (required)")
	org := fs.String("org", "", "organization id to select as the session's active organization")
	ttl := fs.String("ttl", "720h", "how long the token is valid")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if strings.TrimSpace(*email) == "" {
		return usagef("tokens create: --email is required")
	}
	d, err := time.ParseDuration(*ttl)
	if err != nil || d <= 0 {
		return usagef("tokens create: invalid --ttl %q: want a positive duration such as 24h", *ttl)
	}
	var orgID *uuid.UUID
	if *org != "" {
		id, err := uuid.Parse(*org)
		if err != nil {
			return usagef("tokens create: --org %q is not a UUID", *org)
		}
		orgID = &id
	}
	st, err := openStore(ctx, *db, nil, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	tok, err := st.CreateSession(ctx, *email, orgID, d)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("tokens create: no user has email %q (create one with: kayleid users create)", store.NormalizeEmail(*email))
	case errors.Is(err, store.ErrOrganizationNotFound):
		return fmt.Errorf("tokens create: organization %s does not exist", *org)
	case errors.Is(err, store.ErrNotMember):
		return fmt.Errorf("tokens create: %s is not an active member of organization %s", store.NormalizeEmail(*email), *org)
	case err != nil:
		return err
	}
	return writeJSON(stdout, map[string]string{"token": tok.Token, "expiresAt": tok.ExpiresAt.UTC().Format(time.RFC3339)})
}

// stdin is where `tokens revoke --token -` reads the token (tests replace it).
var stdin io.Reader = os.Stdin

func cmdTokensRevoke(ctx context.Context, args []string, stdout io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("tokens revoke", flag.ContinueOnError)
	db := dbFlag(fs, getenv)
	token := fs.String("token", "", "the token to revoke; - reads it from standard input, keeping it out of the process list")
	email := fs.String("email", "", "revoke every session of the user with this email (sign out everywhere)")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	tok, addr := strings.TrimSpace(*token), strings.TrimSpace(*email)
	if (tok == "") == (addr == "") {
		return usagef("tokens revoke: give either --token or --email")
	}
	if tok == "-" {
		// One line; a token is at most store.MaxTokenLength bytes.
		line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("tokens revoke: reading the token from standard input: %w", err)
		}
		if tok = strings.TrimSpace(line); tok == "" {
			return usagef("tokens revoke: no token on standard input")
		}
	}
	st, err := openStore(ctx, *db, nil, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	if addr != "" {
		n, err := st.RevokeSessions(ctx, addr)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("tokens revoke: no user has email %q", store.NormalizeEmail(addr))
		}
		if err != nil {
			return err
		}
		return writeJSON(stdout, map[string]any{"revoked": true, "sessions": n})
	}
	if err := st.RevokeToken(ctx, tok); errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("tokens revoke: no live session has that token")
	} else if err != nil {
		return err
	}
	return writeJSON(stdout, map[string]bool{"revoked": true})
}

func cmdOrgsPurge(ctx context.Context, args []string, stdout io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("orgs purge", flag.ContinueOnError)
	db := dbFlag(fs, getenv)
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	st, err := openStore(ctx, *db, nil, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	start := time.Now()
	shown := 0
	res, err := st.PurgeDue(ctx, func(done, total int) {
		// Every hundred, whatever the batch size (another purger running at
		// the same time takes its share of the count).
		if total >= 100 && (done/100 > shown/100 || done == total) {
			shown = done
			fmt.Fprintf(stdout, "purged %d/%d organizations\n", done, total)
		}
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "orgs purge: %d organizations purged in %s\n", res.Organizations, time.Since(start).Round(time.Millisecond))
	return nil
}

func cmdDomainsRecheck(ctx context.Context, args []string, stdout io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("domains recheck", flag.ContinueOnError)
	vals := register(fs, getenv, sDatabaseURL, sDNSResolver, sDNSTimeout)
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	cfg := Config{DatabaseURL: strings.TrimSpace(*vals[sDatabaseURL.flag])}
	if cfg.DatabaseURL == "" {
		return usagef("DATABASE_URL must not be empty")
	}
	if err := dnsConfig(&cfg, func(s setting) string { return strings.TrimSpace(*vals[s.flag]) }); err != nil {
		return err
	}
	st, err := openStore(ctx, cfg.DatabaseURL, nil, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	start := time.Now()
	rep, err := server.RecheckDomains(ctx, st, cfg.DNS, server.RecheckOptions{Progress: func(done, total int) {
		if total >= 50 && (done%50 == 0 || done == total) {
			fmt.Fprintf(stdout, "checked %d/%d domains\n", done, total)
		}
	}})
	fmt.Fprintf(stdout, "domains recheck: %s (%s)\n", rep, time.Since(start).Round(time.Millisecond))
	if rep.Downgraded > 0 {
		fmt.Fprintln(stdout, "domains recheck: owners of downgraded domains are mailed by the running server")
	}
	return err
}
