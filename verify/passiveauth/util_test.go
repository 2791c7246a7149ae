package passiveauth_test

import (
	"crypto/x509"
	"encoding/asn1"
)

func asn1Unmarshal(b []byte, v any) ([]byte, error) { return asn1.Unmarshal(b, v) }

func x509Parse(der []byte) (*x509.Certificate, error) { return x509.ParseCertificate(der) }
