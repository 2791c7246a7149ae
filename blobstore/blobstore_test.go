package blobstore_test

import (
	"bytes"
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/kayle-id/orgs-api/blobstore"
	"github.com/kayle-id/orgs-api/internal/testnet"
)

// roundTrip is what every backend must do: store, read back with its
// content type, refuse oversize reads, report missing keys, delete.
func roundTrip(t *testing.T, b blobstore.Bucket) {
	t.Helper()
	ctx := context.Background()
	data := []byte("\x89PNG\r\n\x1a\nnot really")
	if err := b.Put(ctx, "logos/a", data, "image/png"); err != nil {
		t.Fatal(err)
	}
	obj, err := b.Get(ctx, "logos/a", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(obj.Data, data) || obj.ContentType != "image/png" {
		t.Fatalf("read back %q as %q", obj.Data, obj.ContentType)
	}
	if _, err := b.Get(ctx, "logos/a", int64(len(data)-1)); !errors.Is(err, blobstore.ErrTooLarge) {
		t.Fatalf("oversize read: %v", err)
	}
	if _, err := b.Get(ctx, "logos/missing", 1<<20); !errors.Is(err, blobstore.ErrNotFound) {
		t.Fatalf("missing key: %v", err)
	}
	if err := b.Delete(ctx, "logos/a"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, "logos/a", 1<<20); !errors.Is(err, blobstore.ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
	if err := b.Delete(ctx, "logos/a"); err != nil {
		t.Fatalf("deleting a missing key: %v", err)
	}
}

// A plain folder path is the embedded default: created when missing,
// objects as files in it.
func TestFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nested", "objects")
	b, err := blobstore.Open(context.Background(), dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Put(context.Background(), "logos/kept", []byte("x"), "image/gif"); err != nil {
		t.Fatal(err)
	}
	if raw, err := os.ReadFile(filepath.Join(dir, "logos", "kept")); err != nil || string(raw) != "x" {
		t.Fatalf("object not in the folder: %q %v", raw, err)
	}
	roundTrip(t, b)
}

func TestFileURL(t *testing.T) {
	dir := t.TempDir()
	b, err := blobstore.Open(context.Background(), "file://"+filepath.ToSlash(dir), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	roundTrip(t, b)
}

// s3:// goes through the AWS SDK to an S3-protocol server on loopback.
func TestS3(t *testing.T) {
	backend := s3mem.New()
	if err := backend.CreateBucket("logos"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	defer srv.Close()
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	b, err := blobstore.Open(context.Background(), "s3://logos?region=us-east-1&use_path_style=true&endpoint="+srv.URL, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	roundTrip(t, b)
}

// A store that accepts connections and never answers holds a call no
// longer than the timeout.
func TestDeadline(t *testing.T) {
	addr := testnet.Silent(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	b, err := blobstore.Open(context.Background(), "s3://logos?region=us-east-1&use_path_style=true&endpoint=http://"+addr, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for name, call := range map[string]func(ctx context.Context) error{
		"put":    func(ctx context.Context) error { return b.Put(ctx, "logos/x", []byte("x"), "image/png") },
		"get":    func(ctx context.Context) error { _, err := b.Get(ctx, "logos/x", 10); return err },
		"delete": func(ctx context.Context) error { return b.Delete(ctx, "logos/x") },
	} {
		start := time.Now()
		err := call(context.Background())
		if err == nil {
			t.Fatalf("%s against a silent store succeeded", name)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("%s took %s with a 300ms timeout", name, d)
		}
		// The caller's own, shorter deadline wins too.
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		start = time.Now()
		_ = call(ctx)
		cancel()
		if d := time.Since(start); d > 250*time.Millisecond {
			t.Fatalf("%s ignored the caller's deadline: %s", name, d)
		}
	}
}

// gs:// and azblob:// are wired in: opening them fails on missing
// credentials or settings, not on an unknown scheme.
func TestCloudSchemesRegistered(t *testing.T) {
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", filepath.Join(t.TempDir(), "none.json"))
	t.Setenv("AZURE_STORAGE_ACCOUNT", "")
	for _, u := range []string{"gs://bucket", "azblob://container"} {
		b, err := blobstore.Open(context.Background(), u, time.Second)
		if err == nil {
			b.Close()
			continue
		}
		if strings.Contains(err.Error(), "no driver registered") || strings.Contains(err.Error(), "unknown scheme") {
			t.Errorf("%s: %v", u, err)
		}
	}
	if _, err := blobstore.Open(context.Background(), "ftp://x/y", time.Second); err == nil {
		t.Error("an unsupported scheme was accepted")
	}
	if _, err := blobstore.Open(context.Background(), "  ", time.Second); err == nil {
		t.Error("an empty location was accepted")
	}
}
