// Command stubverifier serves the biometric verifier's contract (/health,
// /prewarm, /verify, the shared secret checked) on a loopback port, with
// verify/biometric/biotest's stub answers: a liveness video made by
// biotest.StubVideo (what verifyphone uploads) gets the verdict it names,
// so a walkthrough can take a session to succeeded without a real
// verifier. Nothing it answers says anything about a person.
//
//	go run ./internal/tools/stubverifier -addr 127.0.0.1:8790 -secret dev-verifier-secret
//
// then run the server with
//
//	KAYLE_BIOMETRIC_VERIFIER_URL=http://127.0.0.1:8790
//	KAYLE_BIOMETRIC_VERIFIER_SECRET=dev-verifier-secret
//	KAYLE_BIOMETRIC_VERIFIER_ALLOW_PRIVATE=true
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/kayle-id/orgs-api/verify/biometric/biotest"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8790", "loopback address to listen on")
	secret := flag.String("secret", os.Getenv("KAYLE_BIOMETRIC_VERIFIER_SECRET"),
		"the secret the server sends (default: $KAYLE_BIOMETRIC_VERIFIER_SECRET)")
	flag.Parse()
	if *secret == "" {
		fmt.Fprintln(os.Stderr, "stubverifier: give -secret or set KAYLE_BIOMETRIC_VERIFIER_SECRET")
		os.Exit(2)
	}
	s, err := biotest.Listen(*addr, *secret)
	if err != nil {
		fmt.Fprintf(os.Stderr, "stubverifier: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("stub biometric verifier on %s (Ctrl-C stops it)\n", s.URL)
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	<-stop
	s.Close()
	fmt.Printf("stopped after %d /verify requests\n", len(s.Requests()))
}
