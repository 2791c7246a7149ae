// Command contract checks the running server with a validator nobody here
// wrote: it starts `kayleid serve` on a fresh SQLite database, puts
// Stoplight Prism in front of it in proxy mode with --errors, replays the
// conformance scenario through the proxy, and fails on any violation Prism
// reports. `make contract` runs it.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/kayle-id/orgs-api/internal/dnstest"
	"github.com/kayle-id/orgs-api/internal/scenario"
	"github.com/kayle-id/orgs-api/store"
)

func main() {
	bin := flag.String("bin", "bin/kayleid", "the server binary")
	prism := flag.String("prism", "contract/node_modules/.bin/prism", "the Prism CLI")
	flag.Parse()
	if err := run(*bin, *prism); err != nil {
		fmt.Fprintf(os.Stderr, "contract: %v\n", err)
		os.Exit(1)
	}
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func waitFor(url string, ok func(int) bool, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		req, _ := http.NewRequest(http.MethodPost, url, nil)
		req.Header.Set("Authorization", "Bearer kid_probe") // Prism answers credential-less calls itself
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if ok(resp.StatusCode) {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer in %s (last error: %v)", url, d, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Prism logs a violation, or an answer it made up itself instead of
// forwarding (a request the spec says cannot be answered), like this.
var violationLine = regexp.MustCompile(`(?i)violation|Request terminated with error`)

func run(bin, prism string) error {
	dir, err := os.MkdirTemp("", "kayle-contract-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	db, mailDir := filepath.Join(dir, "contract.db"), filepath.Join(dir, "mail")
	addr, err := freePort()
	if err != nil {
		return err
	}
	proxyAddr, err := freePort()
	if err != nil {
		return err
	}
	// The server's resolver asks a real DNS server on loopback, which the
	// scenario fills with verification records and makes misbehave.
	dns, err := dnstest.Start()
	if err != nil {
		return err
	}
	defer dns.Close()
	serverLog, _ := os.Create(filepath.Join(dir, "server.log"))
	srv := exec.Command(bin, "serve")
	srv.Env = append(os.Environ(), "DATABASE_URL="+db, "KAYLE_CREATE_DB=true", "KAYLE_ADDR="+addr, "KAYLE_MAIL_DIR="+mailDir,
		"KAYLE_RATE_LIMIT=0", "KAYLE_RATE_LIMIT_READ=0", "KAYLE_RATE_LIMIT_IP=0", "KAYLE_LOG_FORMAT=text",
		"KAYLE_DNS_RESOLVER="+dns.Addr, "KAYLE_DNS_TIMEOUT=2s", "KAYLE_STORAGE_URL="+filepath.Join(dir, "objects"))
	srv.Stdout, srv.Stderr = serverLog, serverLog
	if err := srv.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", bin, err)
	}
	defer func() { srv.Process.Signal(os.Interrupt); srv.Wait() }()
	if err := waitFor("http://"+addr+"/v1/auth/orgs/members/leave", func(s int) bool { return s == 401 }, 30*time.Second); err != nil {
		return err
	}

	_, proxyPort, _ := net.SplitHostPort(proxyAddr)
	prismLogPath := filepath.Join(dir, "prism.log")
	prismLog, _ := os.Create(prismLogPath)
	px := exec.Command(prism, "proxy", "http://"+addr+"/openapi.json", "http://"+addr,
		"--errors", "--validate-request=false", "--host", "127.0.0.1", "--port", proxyPort)
	px.Stdout, px.Stderr = prismLog, prismLog
	if err := px.Start(); err != nil {
		return fmt.Errorf("starting Prism (%s; run `make contract`, which installs it): %w", prism, err)
	}
	defer func() { px.Process.Kill(); px.Wait() }()
	if err := waitFor("http://"+proxyAddr+"/v1/auth/orgs/members/leave", func(s int) bool { return s == 401 }, 60*time.Second); err != nil {
		out, _ := os.ReadFile(prismLogPath)
		return fmt.Errorf("%v\nPrism said:\n%s", err, out)
	}

	ctx := context.Background()
	st, err := store.Open(ctx, db, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	res, runErr := scenario.Run(ctx, scenario.Options{
		BaseURL:   "http://" + proxyAddr,
		Admin:     scenario.StoreAdmin{Store: st},
		MailDir:   mailDir,
		Anonymous: "kid_not-a-session",
		DNS:       dns,
		Check: func(op string, resp *http.Response) error {
			if v := resp.Header.Get("sl-violations"); v != "" {
				return fmt.Errorf("%s: Prism reports %s", op, v)
			}
			if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
				return fmt.Errorf("%s: Prism answered %d itself instead of forwarding", op, resp.StatusCode)
			}
			return nil
		},
	})
	time.Sleep(300 * time.Millisecond) // let Prism flush its log
	var violations []string
	f, _ := os.Open(prismLogPath)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if violationLine.MatchString(sc.Text()) {
			violations = append(violations, strings.TrimSpace(sc.Text()))
		}
	}
	f.Close()

	fmt.Printf("contract: %d calls through the Prism proxy (--errors), %d operations exercised\n", res.Calls, len(res.Statuses))
	if len(violations) > 0 {
		fmt.Printf("contract: Prism reported %d violations:\n  %s\n", len(violations), strings.Join(violations, "\n  "))
	}
	if runErr != nil {
		return runErr
	}
	if len(violations) > 0 {
		return fmt.Errorf("%d violations", len(violations))
	}
	fmt.Println("contract: 0 violations")
	return nil
}
