package appattest

// AppleRootDER exposes the embedded root's DER to the fingerprint test.
func AppleRootDER() []byte { return appleRootCert().Raw }
