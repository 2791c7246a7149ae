-- +goose Up
-- The document trust store (ICAO 9303-12): CSCAs from the ICAO master
-- lists, DSCs and CRLs from the PKD objects file, or all three from a
-- bundle JSON. source says which import wrote a row, so a re-import
-- replaces that source's set only. Lookup keys are lowercase hex: of the
-- DER Name (subject_key, issuer_key), of the serial INTEGER's content
-- octets as encoded (serial_number_hex, a leading 00 kept) and of the key
-- identifiers (ski_hex, aki_hex; NULL when absent). fingerprint is the
-- SHA-256 of der.
CREATE TABLE trust_store_cscas (
    source              TEXT NOT NULL CHECK (source IN ('master_lists', 'bundle')),
    fingerprint         TEXT NOT NULL,
    country_code        TEXT NOT NULL,
    subject_key         TEXT NOT NULL,
    subject_name        TEXT NOT NULL,
    issuer_key          TEXT NOT NULL,
    serial_number_hex   TEXT NOT NULL,
    ski_hex             TEXT,
    aki_hex             TEXT,
    not_before          DATETIME NOT NULL,
    not_after           DATETIME NOT NULL,
    der                 BLOB NOT NULL,
    source_country_code TEXT NOT NULL,
    source_dn           TEXT NOT NULL,
    -- [{dn, countryCode}]: every master list that carried the certificate.
    master_list_sources TEXT NOT NULL DEFAULT '[]',
    imported_at         DATETIME NOT NULL,
    PRIMARY KEY (source, fingerprint)
);
CREATE INDEX trust_store_cscas_subject_idx ON trust_store_cscas (subject_key);
CREATE INDEX trust_store_cscas_ski_idx ON trust_store_cscas (ski_hex);
CREATE INDEX trust_store_cscas_country_idx ON trust_store_cscas (country_code);

CREATE TABLE trust_store_dscs (
    source              TEXT NOT NULL CHECK (source IN ('objects', 'bundle')),
    fingerprint         TEXT NOT NULL,
    country_code        TEXT NOT NULL,
    subject_key         TEXT NOT NULL,
    subject_name        TEXT NOT NULL,
    issuer_key          TEXT NOT NULL,
    serial_number_hex   TEXT NOT NULL,
    ski_hex             TEXT,
    aki_hex             TEXT,
    not_before          DATETIME NOT NULL,
    not_after           DATETIME NOT NULL,
    der                 BLOB NOT NULL,
    source_country_code TEXT NOT NULL,
    source_dn           TEXT NOT NULL,
    imported_at         DATETIME NOT NULL,
    PRIMARY KEY (source, fingerprint)
);
CREATE INDEX trust_store_dscs_issuer_serial_idx ON trust_store_dscs (issuer_key, serial_number_hex);
CREATE INDEX trust_store_dscs_ski_idx ON trust_store_dscs (ski_hex);
CREATE INDEX trust_store_dscs_country_idx ON trust_store_dscs (country_code);

-- One CRL per issuer (issuer_key, aki_hex): an import keeps the newer of
-- the stored and the incoming (by this_update), whatever its source, so
-- an old file cannot bring back a revoked certificate.
CREATE TABLE trust_store_crls (
    fingerprint         TEXT PRIMARY KEY,
    source              TEXT NOT NULL CHECK (source IN ('objects', 'bundle')),
    country_code        TEXT NOT NULL,
    issuer_key          TEXT NOT NULL,
    issuer_name         TEXT NOT NULL,
    aki_hex             TEXT,
    this_update         DATETIME NOT NULL,
    next_update         DATETIME,
    der                 BLOB NOT NULL,
    source_country_code TEXT NOT NULL,
    source_dn           TEXT NOT NULL,
    imported_at         DATETIME NOT NULL
);
CREATE INDEX trust_store_crls_issuer_idx ON trust_store_crls (issuer_key);
CREATE INDEX trust_store_crls_next_update_idx ON trust_store_crls (next_update);

CREATE TABLE trust_store_crl_revocations (
    crl_fingerprint   TEXT NOT NULL REFERENCES trust_store_crls (fingerprint) ON DELETE CASCADE,
    issuer_key        TEXT NOT NULL,
    serial_number_hex TEXT NOT NULL,
    PRIMARY KEY (crl_fingerprint, serial_number_hex)
);
CREATE INDEX trust_store_crl_revocations_serial_idx ON trust_store_crl_revocations (issuer_key, serial_number_hex);

-- One row per import: when, from what, and the counts it wrote.
CREATE TABLE trust_store_imports (
    id          TEXT PRIMARY KEY,
    imported_at DATETIME NOT NULL,
    sources     TEXT NOT NULL,
    counts      TEXT NOT NULL
);
CREATE INDEX trust_store_imports_at_idx ON trust_store_imports (imported_at);

-- +goose Down
DROP TABLE trust_store_imports;
DROP TABLE trust_store_crl_revocations;
DROP TABLE trust_store_crls;
DROP TABLE trust_store_dscs;
DROP TABLE trust_store_cscas;
