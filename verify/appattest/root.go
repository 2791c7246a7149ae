package appattest

import (
	"crypto/x509"
	_ "embed"
	"encoding/pem"
)

// appleRootPEM is Apple's App Attestation Root CA (P-384, valid 2020-03-18
// to 2045-03-15), published at
// https://www.apple.com/certificateauthority/Apple_App_Attestation_Root_CA.pem;
// SHA-256 1cb9823ba28ba6ad2d33a006941de2ae4f513ef1d4e831b9f7e0fa7b6242c932
// (pinned by TestAppleRootFingerprint). The bytes are those upstream embeds
// in apps/api/src/v1/verify/app-attest-root-ca.ts.
//
//go:embed apple_app_attestation_root_ca.pem
var appleRootPEM []byte

// AppleRoot returns a pool holding only Apple's App Attestation Root CA.
func AppleRoot() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(appleRootCert())
	return pool
}

func appleRootCert() *x509.Certificate {
	block, _ := pem.Decode(appleRootPEM)
	if block == nil {
		panic("appattest: embedded Apple root is not PEM")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		panic("appattest: embedded Apple root: " + err.Error())
	}
	return cert
}
