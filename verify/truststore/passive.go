package truststore

import (
	"context"

	"github.com/kayle-id/orgs-api/verify/passiveauth"
)

// PassiveAuth is the store as passive authentication asks it: DER
// encodings by key, each lookup one indexed query (through the cache).
func (s *Store) PassiveAuth() passiveauth.TrustStore { return passiveStore{s} }

type passiveStore struct{ s *Store }

var _ passiveauth.TrustStore = passiveStore{}

func ders(cs []Certificate, err error) ([][]byte, error) {
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(cs))
	for i, c := range cs {
		out[i] = c.DER
	}
	return out, nil
}

func (p passiveStore) CSCAsBySubject(ctx context.Context, subject []byte) ([][]byte, error) {
	return ders(p.s.CSCAsBySubject(ctx, subject))
}

func (p passiveStore) CSCAsBySKI(ctx context.Context, ski []byte) ([][]byte, error) {
	return ders(p.s.CSCAsBySKI(ctx, ski))
}

func (p passiveStore) CSCAsByCountry(ctx context.Context, country string) ([][]byte, error) {
	return ders(p.s.CSCAsByCountry(ctx, country))
}

func (p passiveStore) DSCsByIssuerSerial(ctx context.Context, issuer, serial []byte) ([][]byte, error) {
	return ders(p.s.DSCsByIssuerSerial(ctx, issuer, serial))
}

func (p passiveStore) DSCsBySKI(ctx context.Context, ski []byte) ([][]byte, error) {
	return ders(p.s.DSCsBySKI(ctx, ski))
}

func (p passiveStore) CRLsByIssuer(ctx context.Context, issuer []byte) ([][]byte, error) {
	crls, err := p.s.CRLs(ctx, issuer)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(crls))
	for i, c := range crls {
		out[i] = c.DER
	}
	return out, nil
}
