package truststore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Dialect names the database (the server's store.Dialect values).
type Dialect string

const (
	Postgres Dialect = "postgres"
	SQLite   Dialect = "sqlite"
)

// ErrNoMasterList: a master lists file of which no list verified; nothing
// is written, so a bad download cannot empty the CSCAs.
var ErrNoMasterList = errors.New("truststore: no master list in the file verified")

// Options tune a Store. The zero value is usable.
type Options struct {
	Now       func() time.Time
	Limits    Limits        // LDIF bounds; zero fields take DefaultLimits'
	CacheSize int           // lookups kept; 0 means 4096
	CacheTTL  time.Duration // how long a lookup is kept; 0 means one minute (another process's import shows after it)
}

// Store is the trust store in the server's database (migration 00011).
// Lookups are indexed queries behind a small cache; nothing loads the
// whole store.
type Store struct {
	db    *sql.DB
	pg    bool
	now   func() time.Time
	lim   Limits
	cache *lookupCache
}

// New wraps the server's database pool.
func New(db *sql.DB, d Dialect, opts Options) *Store {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	size, ttl := opts.CacheSize, opts.CacheTTL
	if size <= 0 {
		size = 4096
	}
	if ttl <= 0 {
		ttl = time.Minute
	}
	return &Store{db: db, pg: d == Postgres, now: now, lim: opts.Limits, cache: newCache(size, ttl, now)}
}

// q rewrites ? placeholders as $n for PostgreSQL.
func (s *Store) q(query string) string {
	if !s.pg {
		return query
	}
	var b strings.Builder
	n := 0
	for _, c := range query {
		if c == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// Input is what one import reads; a nil reader is a file not given.
type Input struct {
	Objects, MasterLists, Bundle io.Reader
	// Names are recorded in the import row (file paths, for operators).
	ObjectsName, MasterListsName, BundleName string
}

// Report is an import's outcome, printed by `kayleid trust import`.
type Report struct {
	ImportedAt  time.Time         `json:"importedAt"`
	MasterLists *MasterListCounts `json:"masterLists,omitempty"`
	Objects     *ObjectCounts     `json:"objects,omitempty"`
	Bundle      *BundleCounts     `json:"bundle,omitempty"`
	CRLs        CRLCounts         `json:"crls"`
	Store       StoreCounts       `json:"store"`
}

// CRLCounts says what happened to the CRLs read: stored (new or newer
// than the stored one of their issuer), unchanged (already stored) or
// keptNewer (the stored one of their issuer is newer, so it stays).
type CRLCounts struct {
	Stored    int `json:"stored"`
	Unchanged int `json:"unchanged"`
	KeptNewer int `json:"keptNewer"`
}

// StoreCounts is what the store holds after the import.
type StoreCounts struct {
	CSCAs       int `json:"cscas"`
	DSCs        int `json:"dscs"`
	CRLs        int `json:"crls"`
	Revocations int `json:"revocations"`
}

// Import reads the given files whole, verifies the master lists, and then
// in one transaction replaces the sets of the sources given: the master
// lists' CSCAs; the objects file's DSCs (unless it holds none: a CRL-only
// file refreshes CRLs and keeps the DSCs); the bundle's CSCAs and DSCs.
// CRLs are merged per issuer, newer wins. Importing the same files twice
// leaves the same store.
func (s *Store) Import(ctx context.Context, in Input) (*Report, error) {
	p := &parsed{cscas: map[string]*cscaItem{}, dscs: map[string]*item{}, crls: map[string]*crlItem{},
		bundleCSCAs: map[string]*cscaItem{}, bundleDSCs: map[string]*item{}, bundleCRLs: map[string]*crlItem{}}
	if in.MasterLists != nil {
		if err := p.readMasterLists(in.MasterLists, s.lim); err != nil {
			return nil, err
		}
		if p.masterLists.Verified == 0 {
			return nil, fmt.Errorf("%w (%d read, %d refused)", ErrNoMasterList, p.masterLists.Read, len(p.masterLists.Refused))
		}
	}
	if in.Objects != nil {
		if err := p.readObjects(in.Objects, s.lim); err != nil {
			return nil, err
		}
	}
	if in.Bundle != nil {
		if err := p.readBundle(in.Bundle); err != nil {
			return nil, err
		}
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	rep := &Report{ImportedAt: now}
	if p.hasMLs {
		ml := p.masterLists
		if ml.Refused == nil {
			ml.Refused = []RefusedListJSON{}
		}
		rep.MasterLists = &ml
	}
	if p.hasObjects {
		rep.Objects = &p.objects
	}
	if p.hasBundle {
		rep.Bundle = &p.bundle
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	if s.pg {
		// One import at a time: the CRL merge reads before it writes.
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(7310442)"); err != nil {
			return nil, err
		}
	}
	if p.hasMLs {
		if err := s.replaceCSCAs(ctx, tx, "master_lists", p.cscas, now); err != nil {
			return nil, err
		}
	}
	if p.hasObjects && p.objects.DSCs > 0 {
		if err := s.replaceDSCs(ctx, tx, "objects", p.dscs, now); err != nil {
			return nil, err
		}
	}
	if p.hasBundle {
		if err := s.replaceCSCAs(ctx, tx, "bundle", p.bundleCSCAs, now); err != nil {
			return nil, err
		}
		if err := s.replaceDSCs(ctx, tx, "bundle", p.bundleDSCs, now); err != nil {
			return nil, err
		}
	}
	for _, set := range []struct {
		source string
		crls   map[string]*crlItem
	}{{"objects", p.crls}, {"bundle", p.bundleCRLs}} {
		for _, c := range set.crls {
			if err := s.mergeCRL(ctx, tx, set.source, c, now, &rep.CRLs); err != nil {
				return nil, err
			}
		}
	}
	for _, c := range []struct {
		table string
		n     *int
	}{{"trust_store_cscas", &rep.Store.CSCAs}, {"trust_store_dscs", &rep.Store.DSCs}, {"trust_store_crls", &rep.Store.CRLs}, {"trust_store_crl_revocations", &rep.Store.Revocations}} {
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+c.table).Scan(c.n); err != nil {
			return nil, err
		}
	}
	sources, _ := json.Marshal(map[string]string{"objects": in.ObjectsName, "masterLists": in.MasterListsName, "bundle": in.BundleName})
	counts, _ := json.Marshal(rep)
	if _, err := tx.ExecContext(ctx, s.q("INSERT INTO trust_store_imports (id, imported_at, sources, counts) VALUES (?, ?, ?, ?)"),
		newID(), now, string(sources), string(counts)); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	s.cache.clear()
	return rep, nil
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

const certColumns = "fingerprint, country_code, subject_key, subject_name, issuer_key, serial_number_hex, ski_hex, aki_hex, not_before, not_after, der, source_country_code, source_dn, imported_at, source"

func certArgs(it *item, source string, now time.Time) []any {
	c := it.cert
	name, country := nameInfo(c.subject)
	return []any{c.fingerprint, country, hex.EncodeToString(c.subject), name, hex.EncodeToString(c.issuer),
		hex.EncodeToString(c.serial), hexOrNil(c.ski), hexOrNil(c.aki), c.notBefore, c.notAfter, c.der,
		it.sourceCountry, it.sourceDN, now, source}
}

func (s *Store) replaceCSCAs(ctx context.Context, tx *sql.Tx, source string, set map[string]*cscaItem, now time.Time) error {
	if _, err := tx.ExecContext(ctx, s.q("DELETE FROM trust_store_cscas WHERE source = ?"), source); err != nil {
		return err
	}
	stmt, err := tx.PrepareContext(ctx, s.q("INSERT INTO trust_store_cscas ("+certColumns+", master_list_sources) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"))
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, it := range set {
		srcs := it.sources
		if srcs == nil {
			srcs = []mlSource{}
		}
		js, _ := json.Marshal(srcs)
		if _, err := stmt.ExecContext(ctx, append(certArgs(&it.item, source, now), string(js))...); err != nil {
			return fmt.Errorf("store CSCA %s: %w", it.cert.fingerprint, err)
		}
	}
	return nil
}

func (s *Store) replaceDSCs(ctx context.Context, tx *sql.Tx, source string, set map[string]*item, now time.Time) error {
	if _, err := tx.ExecContext(ctx, s.q("DELETE FROM trust_store_dscs WHERE source = ?"), source); err != nil {
		return err
	}
	stmt, err := tx.PrepareContext(ctx, s.q("INSERT INTO trust_store_dscs ("+certColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"))
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, it := range set {
		if _, err := stmt.ExecContext(ctx, certArgs(it, source, now)...); err != nil {
			return fmt.Errorf("store DSC %s: %w", it.cert.fingerprint, err)
		}
	}
	return nil
}

// mergeCRL stores c unless its issuer's stored CRL is as new or newer.
func (s *Store) mergeCRL(ctx context.Context, tx *sql.Tx, source string, it *crlItem, now time.Time, n *CRLCounts) error {
	c := it.crl
	issuer := hex.EncodeToString(c.issuer)
	aki := hexOrNil(c.aki)
	same := "aki_hex IS ?" // SQLite's IS compares NULLs as equal
	if s.pg {
		same = "aki_hex IS NOT DISTINCT FROM ?"
	}
	rows, err := tx.QueryContext(ctx, s.q("SELECT fingerprint, this_update FROM trust_store_crls WHERE issuer_key = ? AND "+same), issuer, aki)
	if err != nil {
		return err
	}
	var older []string
	for rows.Next() {
		var fp string
		var this time.Time
		if err := rows.Scan(&fp, &this); err != nil {
			rows.Close()
			return err
		}
		switch {
		case fp == c.fingerprint:
			n.Unchanged++
			rows.Close()
			return nil
		case !this.Before(c.thisUpdate):
			n.KeptNewer++
			rows.Close()
			return nil
		}
		older = append(older, fp)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, fp := range older {
		// The revocations go with it (ON DELETE CASCADE); deleted here too
		// so SQLite without foreign keys on does not keep them.
		if _, err := tx.ExecContext(ctx, s.q("DELETE FROM trust_store_crl_revocations WHERE crl_fingerprint = ?"), fp); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q("DELETE FROM trust_store_crls WHERE fingerprint = ?"), fp); err != nil {
			return err
		}
	}
	name, country := nameInfo(c.issuer)
	var next any
	if !c.nextUpdate.IsZero() {
		next = c.nextUpdate
	}
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO trust_store_crls (fingerprint, source, country_code, issuer_key, issuer_name, aki_hex,
		this_update, next_update, der, source_country_code, source_dn, imported_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		c.fingerprint, source, country, issuer, name, aki, c.thisUpdate, next, c.der, it.sourceCountry, it.sourceDN, now); err != nil {
		return fmt.Errorf("store CRL %s: %w", c.fingerprint, err)
	}
	if len(c.revoked) > 0 {
		stmt, err := tx.PrepareContext(ctx, s.q("INSERT INTO trust_store_crl_revocations (crl_fingerprint, issuer_key, serial_number_hex) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"))
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, serial := range c.revoked {
			if _, err := stmt.ExecContext(ctx, c.fingerprint, issuer, hex.EncodeToString(serial)); err != nil {
				return err
			}
		}
	}
	n.Stored++
	return nil
}
