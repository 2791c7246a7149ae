// Command kayleid is the Kayle ID organizations server and its admin CLI.
//
//	kayleid serve [flags]               serve the API
//	kayleid migrate                     apply pending migrations
//	kayleid users create --email E --name N
//	kayleid tokens create --email E [--org ORG_ID] [--ttl DURATION]
//	kayleid tokens revoke --token T|- | --email E
//	kayleid orgs purge                  purge organizations whose deletion time has passed
//	kayleid domains recheck             re-check verified domains due for their daily check
//
// `kayleid --help`, `kayleid <group> --help` and `kayleid <group> <command>
// --help` print each command's typed flags, with its default and its
// environment variable; flags win over the environment. Every command
// takes --database-url (DATABASE_URL, default kayle-id.db): postgres:// or
// postgresql:// is PostgreSQL, any other scheme:// is refused, anything
// else is a SQLite file, which must exist unless it is the default or
// --create-db (KAYLE_CREATE_DB=true) is given. Every value is checked
// before anything is opened.
//
// Exit status: 0 success, 1 failure, 2 bad flags or input (nothing opened
// or written).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
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
	"github.com/kayle-id/orgs-api/verify/truststore"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// run is main without the process: it returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	return parseAndRun(ctx, args, stdout, stderr, getenv)
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

func (m *migrateCmd) Run(e *runEnv) error {
	ctx, stdout := e.ctx, e.stdout
	sc, err := m.Storage.storage(e, m.Listen.Addr)
	if err != nil {
		return err
	}
	db, err := m.DB.database(e)
	if err != nil {
		return err
	}
	start := time.Now()
	logos, bucket, err := openLogos(ctx, sc, nil)
	if err != nil {
		return err
	}
	defer bucket.Close()
	st, err := store.Open(ctx, db, store.Options{MoveLogo: logoMover(logos)})
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

func (c *usersCreateCmd) Run(e *runEnv) error {
	ctx, stdout := e.ctx, e.stdout
	if c.Email == "" {
		return usagef("users create: --email is required")
	}
	addr, err := mail.ParseAddress(c.Email)
	if err != nil || addr.Name != "" || addr.Address != c.Email {
		return usagef("users create: --email %q is not an email address", c.Email)
	}
	if c.Name == "" || len(c.Name) > 200 {
		return usagef("users create: --name is required (at most 200 characters)")
	}
	db, err := c.DB.database(e)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, db, nil, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	u, err := st.CreateUser(ctx, addr.Address, c.Name)
	if errors.Is(err, store.ErrEmailTaken) {
		return inputf("users create: a user with email %q already exists", store.NormalizeEmail(addr.Address))
	}
	if err != nil {
		return err
	}
	return writeJSON(stdout, map[string]string{"id": u.ID.String(), "email": u.Email, "name": u.Name})
}

func (c *tokensCreateCmd) Run(e *runEnv) error {
	ctx, stdout := e.ctx, e.stdout
	if c.Email == "" {
		return usagef("tokens create: --email is required")
	}
	var orgID *uuid.UUID
	if c.Org != "" {
		id, err := uuid.Parse(c.Org)
		if err != nil {
			return usagef("tokens create: --org %q is not a UUID", c.Org)
		}
		orgID = &id
	}
	db, err := c.DB.database(e)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, db, nil, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	tok, err := st.CreateSession(ctx, c.Email, orgID, c.TTL)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("tokens create: no user has email %q (create one with: kayleid users create)", store.NormalizeEmail(c.Email))
	case errors.Is(err, store.ErrOrganizationNotFound):
		return fmt.Errorf("tokens create: organization %s does not exist", c.Org)
	case errors.Is(err, store.ErrNotMember):
		return fmt.Errorf("tokens create: %s is not an active member of organization %s", store.NormalizeEmail(c.Email), c.Org)
	case err != nil:
		return err
	}
	return writeJSON(stdout, map[string]string{"token": tok.Token, "expiresAt": tok.ExpiresAt.UTC().Format(time.RFC3339)})
}

// stdin is where `tokens revoke --token -` reads the token (tests replace it).
var stdin io.Reader = os.Stdin

func (c *tokensRevokeCmd) Run(e *runEnv) error {
	ctx, stdout := e.ctx, e.stdout
	tok, addr := c.Token, c.Email
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
			return inputf("tokens revoke: no token on standard input")
		}
	}
	db, err := c.DB.database(e)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, db, nil, store.Options{})
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

// Run records the owner check that the onboarding gate of POST /v1/sessions
// requires, until the verification flow can record it itself.
func (c *orgsOwnerVerifiedCmd) Run(e *runEnv) error {
	ctx, stdout := e.ctx, e.stdout
	if c.Org == "" {
		return usagef("orgs owner-verified: --org is required")
	}
	at := c.At
	if at.IsZero() {
		at = time.Now()
	}
	db, err := c.DB.database(e)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, db, nil, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	id, err := uuid.Parse(c.Org)
	if err != nil {
		id, err = st.OrganizationIDBySlug(ctx, c.Org)
	}
	if errors.Is(err, store.ErrNotFound) {
		return inputf("orgs owner-verified: no organization has id or slug %q", c.Org)
	}
	if err != nil {
		return err
	}
	err = st.RecordOwnerCheck(ctx, id, at, c.By)
	var inv *store.InvalidInputError
	switch {
	case errors.Is(err, store.ErrNotFound):
		return inputf("orgs owner-verified: no organization has id %q", c.Org)
	case errors.Is(err, store.ErrOrganizationFrozen):
		return inputf("orgs owner-verified: the organization is scheduled for deletion")
	case errors.As(err, &inv):
		return usagef("orgs owner-verified: %v", err)
	case err != nil:
		return err
	}
	org, err := st.Organization(ctx, id)
	if err != nil {
		return err
	}
	return writeJSON(stdout, map[string]any{"id": org.ID, "slug": org.Slug, "ownerIdCheckedAt": org.OwnerIDCheckedAt.UTC().Format(time.RFC3339Nano)})
}

// Run rebuilds session_day_counts, which the analytics overview reads,
// from the rows: the counts are kept in the same transactions as the
// sessions, so only a change made around the store needs this.
func (c *sessionsRecountCmd) Run(e *runEnv) error {
	db, err := c.DB.database(e)
	if err != nil {
		return err
	}
	st, err := openStore(e.ctx, db, nil, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.RecountSessionDays(e.ctx); err != nil {
		return err
	}
	return writeJSON(e.stdout, map[string]bool{"recounted": true})
}

// Run imports the trust store (see truststore.Store.Import).
func (c *trustImportCmd) Run(e *runEnv) error {
	if c.Objects == "" && c.MasterLists == "" && c.Bundle == "" {
		return usagef("trust import: give --objects, --master-lists or --bundle (or several)")
	}
	in := truststore.Input{ObjectsName: c.Objects, MasterListsName: c.MasterLists, BundleName: c.Bundle}
	for _, f := range []struct {
		path string
		r    *io.Reader
	}{{c.Objects, &in.Objects}, {c.MasterLists, &in.MasterLists}, {c.Bundle, &in.Bundle}} {
		if f.path == "" {
			continue
		}
		file, err := os.Open(f.path)
		if err != nil {
			return inputf("trust import: %v", err)
		}
		defer file.Close()
		*f.r = file
	}
	db, err := c.DB.database(e)
	if err != nil {
		return err
	}
	st, err := openStore(e.ctx, db, nil, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	rep, err := truststore.New(st.DB(), truststore.Dialect(st.Dialect()), truststore.Options{}).Import(e.ctx, in)
	if err != nil {
		return inputf("trust import: %v", err)
	}
	return writeJSON(e.stdout, rep)
}

// Run reseals webhook secrets under the current data key (see
// store.ResealWebhookSecrets).
func (c *webhooksResealCmd) Run(e *runEnv) error {
	key, old, err := c.Keys.keys(e)
	if err != nil {
		return err
	}
	if key == nil && c.AuthSecret == "" {
		return usagef("%s (or KAYLE_AUTH_SECRET, when the key is derived from it) is required: without it nothing can be sealed anew", e.name("webhook-secret-key"))
	}
	db, err := c.DB.database(e)
	if err != nil {
		return err
	}
	st, err := openStore(e.ctx, db, nil, store.Options{AuthSecret: c.AuthSecret, WebhookSecretKey: key, WebhookSecretKeysOld: old,
		WebhookUpstreamSecret: c.Keys.UpstreamSecret})
	if err != nil {
		return err
	}
	defer st.Close()
	res, err := st.ResealWebhookSecrets(e.ctx)
	if err != nil {
		return err
	}
	return writeJSON(e.stdout, map[string]int{"secrets": res.Secrets, "heldPayloads": res.HeldPayloads})
}

func (c *orgsPurgeCmd) Run(e *runEnv) error {
	ctx, stdout := e.ctx, e.stdout
	db, err := c.DB.database(e)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, db, nil, store.Options{})
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

func (c *domainsRecheckCmd) Run(e *runEnv) error {
	ctx, stdout := e.ctx, e.stdout
	dns, err := c.DNS.resolver(e)
	if err != nil {
		return err
	}
	db, err := c.DB.database(e)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, db, nil, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	start := time.Now()
	rep, err := server.RecheckDomains(ctx, st, dns, server.RecheckOptions{Progress: func(done, total int) {
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
