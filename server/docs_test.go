package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/getkin/kin-openapi/openapi3"

	"github.com/kayle-id/orgs-api/internal/spec"
	"github.com/kayle-id/orgs-api/internal/testdb"
)

func chromiumPath(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("headless Chromium is required in CI (Debian package chromium)")
	}
	t.Skip("no Chromium on this machine (apt-get install chromium)")
	return ""
}

// The API reference renders in a real browser with no console errors and
// shows the leave operation. The screenshot is written to KAYLE_SCREENSHOT_DIR
// when set (CI keeps it as an artifact), else to the test's temp folder.
func TestDocsPageInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	bin := chromiumPath(t)
	e := newEnv(t, testdb.SQLite)
	allocCtx, cancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(bin), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900))
	defer cancel()
	var mu sync.Mutex
	var problems []string
	listener := func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError {
				var parts []string
				for _, a := range ev.Args {
					parts = append(parts, string(a.Value))
				}
				problems = append(problems, "console.error: "+strings.Join(parts, " "))
			}
		case *runtime.EventExceptionThrown:
			problems = append(problems, "exception: "+ev.ExceptionDetails.Text)
		}
	}
	ctx, cancel := chromedp.NewContext(allocCtx, chromedp.WithListener(listener))
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 90*time.Second)
	defer cancel()

	err := chromedp.Do(ctx,
		chromedp.Navigate(e.srv.URL+"/docs"),
		chromedp.WaitVisible(chromedp.CSS(`[data-section-id="tag/Organizations"]`)),
	)
	if err != nil {
		t.Fatalf("rendering /docs: %v", err)
	}
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
	if err != nil {
		t.Fatal(err)
	}
	shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text, "Leave the active organization") || !strings.Contains(text, "/v1/auth/orgs/members/leave") {
		t.Fatalf("the reference does not show the leave operation; page text starts: %.500s", text)
	}
	// It says what it is: this server, its extensions, how to get a token.
	for _, want := range []string{spec.Title, "Extensions", "POST /v1/auth/orgs/active", "Getting a token", "kayleid tokens create"} {
		if !strings.Contains(text, want) {
			t.Errorf("the reference page does not say %q; page text starts: %.800s", want, text)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(problems) > 0 {
		t.Fatalf("console errors on /docs: %v", problems)
	}
	dir := os.Getenv("KAYLE_SCREENSHOT_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "docs.jpg")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	if len(shot) < 10_000 {
		t.Fatalf("screenshot suspiciously small: %d bytes", len(shot))
	}
	t.Logf("screenshot: %s (%d bytes)", path, len(shot))
}

// The served document's info says what this server is: its name, how many
// of upstream's operations it serves, every extension it adds (the
// operations the overlay marks, which are exactly those upstream's
// openapi.json does not have) and how to get a token. /docs opens with it.
func TestServedDocumentSaysWhatItIs(t *testing.T) {
	e := newEnv(t, testdb.SQLite)
	resp, err := http.Get(e.srv.URL + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	served, err := openapi3.NewLoader().LoadFromData(raw)
	if err != nil {
		t.Fatal(err)
	}
	var upstream struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	up, err := os.ReadFile(filepath.Join("..", "openapi.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(up, &upstream); err != nil {
		t.Fatal(err)
	}
	desc := served.Info.Description
	if served.Info.Title != spec.Title {
		t.Errorf("title %q, want %q", served.Info.Title, spec.Title)
	}
	extensions, fromUpstream := 0, 0
	for path, item := range served.Paths.Map() {
		for method, op := range item.Operations() {
			_, inUpstream := upstream.Paths[path][strings.ToLower(method)]
			marked, _ := op.Extensions[spec.ExtensionKey].(bool)
			if marked == inUpstream {
				t.Errorf("%s %s: marked as an extension %v, in upstream's openapi.json %v", method, path, marked, inUpstream)
			}
			listed := strings.Contains(desc, "- `"+method+" "+path+"`")
			if listed != marked {
				t.Errorf("%s %s: listed among the extensions %v, an extension %v", method, path, listed, marked)
			}
			if marked {
				extensions++
			} else {
				fromUpstream++
			}
		}
	}
	if extensions < 10 || fromUpstream < 20 {
		t.Errorf("%d extensions and %d upstream operations served", extensions, fromUpstream)
	}
	for _, want := range []string{
		"**" + spec.Title + "**",
		fmt.Sprintf("It serves %d operations of upstream Kayle ID's API, version 1.5.0", fromUpstream),
		fmt.Sprintf("These %d operations are this server's own", extensions),
		"`kayleid tokens create --email E`", "`KAYLE_OIDC_ISSUER`",
		"Privacy-first identity verification.", // upstream's own description, kept
	} {
		if !strings.Contains(desc, want) {
			t.Errorf("the served description lacks %q:\n%s", want, desc)
		}
	}
}
