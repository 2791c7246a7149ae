package appattest

import (
	"errors"
	"fmt"
)

// Errors callers can tell apart with errors.Is. Every verification error
// also matches ErrInvalid.
var (
	ErrInvalid = errors.New("appattest: verification failed")

	ErrConfig      = newErr("configuration incomplete")
	ErrTooLarge    = newErr("input too large")
	ErrMalformed   = newErr("malformed CBOR or structure")
	ErrFormat      = newErr("fmt is not apple-appattest")
	ErrReceipt     = newErr("receipt missing")
	ErrChain       = newErr("certificate chain not trusted")
	ErrNonce       = newErr("nonce extension does not match")
	ErrKeyID       = newErr("key id does not match the certificate")
	ErrRPID        = newErr("rpIdHash does not match the app id")
	ErrFlags       = newErr("authenticator data flags not allowed")
	ErrAAGUID      = newErr("AAGUID does not match the environment")
	ErrCOSEKey     = newErr("COSE key invalid or not the certificate's key")
	ErrCounter     = newErr("counter not greater than the stored counter")
	ErrSignature   = newErr("assertion signature invalid")
	ErrAttestCount = newErr("attestation counter is not zero")
)

type verifyError struct{ msg string }

func (e *verifyError) Error() string        { return "appattest: " + e.msg }
func (e *verifyError) Is(target error) bool { return target == ErrInvalid }

func newErr(msg string) error { return &verifyError{msg} }

// fail wraps a sentinel with detail that is for logs, not for clients.
func fail(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", sentinel, fmt.Sprintf(format, args...))
}
