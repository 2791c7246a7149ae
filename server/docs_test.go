package server_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

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
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(80))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text, "Leave the active organization") || !strings.Contains(text, "/v1/auth/orgs/members/leave") {
		t.Fatalf("the reference does not show the leave operation; page text starts: %.500s", text)
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
