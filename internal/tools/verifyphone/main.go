// Command verifyphone is a phone for walkthroughs: it verifies a session
// through the verify socket the way the iOS app does, with a synthetic
// passport (internal/verifytest) instead of a chip, printing every message.
//
// First make a document and its trust bundle, and import the bundle into
// the server's database (the document's CSCA becomes trusted there):
//
//	go run ./internal/tools/verifyphone document -out doc.json -bundle bundle.json
//	kayleid trust import --bundle bundle.json
//
// Then, for a session taken through consent and handoff (its id and the
// handoff's mobile_write_token), with the server's biometric verifier the
// stub (internal/tools/stubverifier) and App Attest off:
//
//	go run ./internal/tools/verifyphone run -server http://127.0.0.1:8787 \
//	    -session vs_… -token <mobile_write_token> -document doc.json
//
// The session ends succeeded with the fields chosen by -share (every
// requested one by default).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/kayle-id/orgs-api/internal/verifytest"
	"github.com/kayle-id/orgs-api/verify/biometric/biotest"
	"github.com/kayle-id/orgs-api/verify/proto"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "document":
		err = document(os.Args[2:])
	case "run":
		err = run(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "verifyphone: %v\n", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: verifyphone document -out FILE -bundle FILE\n       verifyphone run -server URL -session ID -token TOKEN -document FILE [-share k1,k2] [-verdict accept]")
	os.Exit(2)
}

func document(args []string) error {
	fs := flag.NewFlagSet("document", flag.ExitOnError)
	out := fs.String("out", "doc.json", "where to write the document (it holds the chip's private AA key)")
	bundle := fs.String("bundle", "bundle.json", "where to write the trust bundle for `kayleid trust import --bundle`")
	_ = fs.Parse(args)
	d, err := verifytest.MakeDocument()
	if err != nil {
		return err
	}
	b, err := d.MarshalFile()
	if err != nil {
		return err
	}
	if err := os.WriteFile(*out, b, 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(*bundle, d.Bundle, 0o644); err != nil {
		return err
	}
	fmt.Printf("document %s (ERIKSSON, ANNA MARIA, UTO passport L898902C3)\ntrust bundle %s: import it with `kayleid trust import --bundle %s`\n", *out, *bundle, *bundle)
	return nil
}

func run(args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	server := fs.String("server", "http://127.0.0.1:8787", "the server's base URL")
	session := fs.String("session", "", "the session id (vs_…)")
	token := fs.String("token", "", "the handoff's mobile_write_token")
	docFile := fs.String("document", "doc.json", "a document written by `verifyphone document`")
	share := fs.String("share", "", "comma-separated keys to share (default: every requested field)")
	verdict := fs.String("verdict", biotest.Accept, "the stub verifier's verdict the video asks for: accept, reject_liveness, reject_pad, reject_face_mismatch")
	device := fs.String("device", "verifyphone", "the device id the hello carries (a resume must use the same)")
	timeout := fs.Duration("timeout", 2*time.Minute, "the whole run's deadline")
	_ = fs.Parse(args)
	if *session == "" || *token == "" {
		return fmt.Errorf("give -session and -token")
	}
	raw, err := os.ReadFile(*docFile)
	if err != nil {
		return err
	}
	d, err := verifytest.LoadDocument(raw)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	c, err := verifytest.Dial(ctx, *server, *session, nil)
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	defer c.Close()
	w := verifytest.Walk{SessionID: *session, Token: *token, DeviceID: *device, Doc: d, Video: biotest.StubVideo(*verdict),
		Log: func(dir, msg string) { fmt.Println(dir, msg) }}
	if *share != "" {
		keys := strings.Split(*share, ",")
		w.Select = func(fields []proto.ShareField) []string {
			var out []string
			for _, f := range fields {
				if slices.Contains(keys, f.Key) {
					out = append(out, f.Key)
				}
			}
			return out
		}
	}
	ready, err := w.Run(ctx, c)
	if err != nil {
		return err
	}
	fmt.Printf("verified: session %s shared %v\n", ready.SessionID, ready.SelectedFieldKeys)
	return nil
}
