package server_test

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kayle-id/orgs-api/blobstore"
	api "github.com/kayle-id/orgs-api/gen/api"
	"github.com/kayle-id/orgs-api/internal/testimg"
	"github.com/kayle-id/orgs-api/logo"
	"github.com/kayle-id/orgs-api/mail"
	"github.com/kayle-id/orgs-api/server"
	"github.com/kayle-id/orgs-api/validator"
)

// objectCount counts the logos in a folder bucket.
func objectCount(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasSuffix(p, ".attrs") {
			n++
		}
		return err
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return n
}

func (e *env) bucketDir() string {
	return e.logos.Bucket.(*blobstore.Store).Location
}

func createOrgWithLogo(t *testing.T, e *env, p person, slug, data, contentType string) *api.CreateOrganizationResponse {
	t.Helper()
	body := `{"name":"Logo org","slug":"` + slug + `","logo":{"data":"` + data + `","contentType":"` + contentType + `"}}`
	r, err := e.c.CreateOrganizationWithBodyWithResponse(context.Background(), "application/json", strings.NewReader(body), bearer(p.Token))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Organization creation runs upstream's logo checks, with its words, and
// stores the image in object storage; its row holds the URL, which this
// server serves.
func TestCreateOrganizationLogo(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		owner := e.person("owner")
		before := rowCounts(t, e)
		for _, c := range []struct{ name, data, ct, message string }{
			{"PNG declared JPEG", testimg.Base64(testimg.PNG(2, 2)), "image/jpeg", "Organization logo content type does not match the file contents."},
			{"bare PNG signature", testimg.Base64([]byte("\x89PNG\r\n\x1a\n")), "image/png", "Organization logo dimensions could not be read."},
			{"4096×1 PNG", testimg.Base64(testimg.PNGHeader(4096, 1)), "image/png", "Organization logo dimensions exceed the maximum size."},
			{"bad base64", "not*base64", "image/png", "Organization logo data must be base64 encoded."},
			{"blank", " ", "image/png", "Organization logo is empty."},
			{"text", testimg.Base64([]byte("hello, world")), "image/gif", "Organization logo must be a PNG, JPEG, GIF, or WebP."},
			{"header without pixels", testimg.Base64(testimg.PNGHeader(1, 1)), "image/png", "Organization logo image data is damaged or incomplete."},
			{"over 1 MiB", testimg.Base64(testimg.PaddedPNG(logo.MaxBytes + 1)), "image/png", "Organization logo exceeds maximum size."},
		} {
			env := wantError(t, createOrgWithLogo(t, e, owner, "bad-logo", c.data, c.ct), 400, "INVALID_LOGO", c.message)
			if env.Error.Hint != "Provide a PNG, JPEG, GIF, or WebP image under 1 MiB whose content type matches its bytes." ||
				env.Error.Docs != "https://kayle.id/docs/api/errors#invalid_logo" {
				t.Errorf("%s: %+v", c.name, env.Error)
			}
		}
		if after := rowCounts(t, e); after != before || objectCount(t, e.bucketDir()) != 0 {
			t.Fatalf("refused logos left something behind: %s / %d objects", after, objectCount(t, e.bucketDir()))
		}

		img := testimg.GIF(40, 20)
		r := createOrgWithLogo(t, e, owner, "with-logo", testimg.Base64(img), "image/gif")
		wantStatus(t, r, 200)
		var url string
		if err := e.st.DB().QueryRow(`SELECT logo FROM organizations WHERE id = $1`, r.JSON200.Data.Id).Scan(&url); err != nil {
			t.Fatal(err)
		}
		if _, ok := e.logos.Parse(url); !ok || !strings.HasPrefix(url, e.srv.URL+"/logos/") {
			t.Fatalf("the row holds %q, not a logo URL", url)
		}
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		h := resp.Header
		if resp.StatusCode != 200 || !bytes.Equal(got, img) || h.Get("Content-Type") != "image/gif" || h.Get("X-Content-Type-Options") != "nosniff" ||
			h.Get("Content-Security-Policy") != "default-src 'none'; sandbox" || !strings.Contains(h.Get("Cache-Control"), "immutable") || h.Get("ETag") == "" {
			t.Fatalf("serving the logo: %d %v (%d bytes)", resp.StatusCode, h, len(got))
		}
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("If-None-Match", h.Get("ETag"))
		if again, err := http.DefaultClient.Do(req); err != nil || again.StatusCode != 304 {
			t.Fatalf("revalidation: %v %v", again, err)
		} else {
			again.Body.Close()
		}
		if head, err := http.Head(url); err != nil || head.StatusCode != 200 || head.Header.Get("Content-Type") != "image/gif" {
			t.Fatalf("HEAD: %v %v", head, err)
		}
		for _, bad := range []string{"/logos/" + strings.ToUpper(url[len(url)-36:]), "/logos/00000000-0000-4000-8000-000000000000", "/logos/..%2f..%2fetc", "/logos/x"} {
			status, body, _ := sendRaw(t, e, "GET", bad, "", "", nil)
			if status != 404 || !strings.Contains(string(body), `"code":"NOT_FOUND"`) {
				t.Errorf("GET %s: %d %s", bad, status, body)
			}
		}

		// A refused creation removes the logo it stored.
		n := objectCount(t, e.bucketDir())
		wantError(t, createOrgWithLogo(t, e, owner, "with-logo", testimg.Base64(testimg.PNG(5, 5)), "image/png"), 400, "SLUG_TAKEN", "")
		if got := objectCount(t, e.bucketDir()); got != n {
			t.Fatalf("a refused creation left its logo: %d objects, %d before", got, n)
		}
		_ = ctx
	})
}

// When object storage fails, creating an organization with a logo answers
// upstream's 500 and writes nothing.
func TestCreateOrganizationLogoStorageFailure(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		dir := t.TempDir()
		// A file where the logos folder must go: every write fails.
		if err := os.WriteFile(filepath.Join(dir, "logos"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		bucket, err := blobstore.Open(context.Background(), dir, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer bucket.Close()
		logs := &syncBuffer{}
		h, err := server.New(server.Config{Validation: validator.Full, Metrics: conformance, Logger: slog.New(slog.NewTextHandler(logs, nil)),
			Logos: &logo.Library{Bucket: bucket, Base: "http://127.0.0.1:8787"}}, e.st, &mail.Outbox{Dir: t.TempDir(), From: "x@kayle.id"})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(h)
		defer srv.Close()
		owner := e.person("owner")
		before := rowCounts(t, e)
		c, _ := api.NewClientWithResponses(srv.URL)
		r, err := c.CreateOrganizationWithBodyWithResponse(context.Background(), "application/json",
			strings.NewReader(`{"name":"X","slug":"storage-down","logo":{"data":"`+testimg.Base64(testimg.PNG(1, 1))+`","contentType":"image/png"}}`), bearer(owner.Token))
		if err != nil {
			t.Fatal(err)
		}
		env := wantError(t, r, 500, "INTERNAL_SERVER_ERROR", "Failed to upload organization logo.")
		if env.Error.Hint != "Please try again in a few moments." {
			t.Errorf("hint %q", env.Error.Hint)
		}
		if after := rowCounts(t, e); after != before {
			t.Fatalf("rows written: %s, before %s", after, before)
		}
		if !strings.Contains(logs.String(), "status=500") || !strings.Contains(logs.String(), "blobstore: put logos/") {
			t.Fatalf("the failure was not logged with its cause: %s", logs.String())
		}
		// The upload itself: the same 500, and no audit row.
		e.org(owner, "storage-down-"+string(e.kind))
		before = rowCounts(t, e)
		up, err := c.UploadOrganizationLogoWithBodyWithResponse(context.Background(), "application/json",
			strings.NewReader(logoBody(testimg.Base64(testimg.PNG(1, 1)), "image/png")), bearer(owner.Token))
		if err != nil {
			t.Fatal(err)
		}
		wantError(t, up, 500, "INTERNAL_SERVER_ERROR", "Failed to upload organization logo.")
		if after := rowCounts(t, e); after != before {
			t.Fatalf("rows written: %s, before %s", after, before)
		}

		// A creation its slug already refuses never reaches the storage:
		// the answer is the slug's 400, not the storage's 500.
		taken, err := c.CreateOrganizationWithBodyWithResponse(context.Background(), "application/json",
			strings.NewReader(`{"name":"X","slug":"storage-down-`+string(e.kind)+`","logo":{"data":"`+testimg.Base64(testimg.PNG(1, 1))+`","contentType":"image/png"}}`), bearer(owner.Token))
		if err != nil {
			t.Fatal(err)
		}
		wantError(t, taken, 400, "SLUG_TAKEN", "")
	})
}
