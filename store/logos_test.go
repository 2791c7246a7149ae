package store_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"image"
	"image/png"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kayle-id/orgs-api/blobstore"
	"github.com/kayle-id/orgs-api/internal/testdb"
	"github.com/kayle-id/orgs-api/logo"
	"github.com/kayle-id/orgs-api/store"
)

// A database from before logos moved to object storage keeps its logos:
// upgrading moves each image to the bucket and leaves its URL in the row.
func TestLegacyLogosMove(t *testing.T) {
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			url := testdb.URL(t, kind)
			old, err := store.Open(ctx, url, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer old.Close()
			if err := old.MigrateTo(ctx, 4); err != nil {
				t.Fatal(err)
			}
			var pngData bytes.Buffer
			if err := png.Encode(&pngData, image.NewGray(image.Rect(0, 0, 3, 2))); err != nil {
				t.Fatal(err)
			}
			notAnImage := []byte("GIF? no, plain text")
			user := uuid.NewString()
			if _, err := old.DB().Exec(`INSERT INTO users (id, email, name, created_at, updated_at) VALUES ($1, 'old@example.com', 'Old', $2, $2)`, user, "2025-01-01T00:00:00.000000Z"); err != nil {
				t.Fatal(err)
			}
			orgs := map[string]struct {
				logo, contentType any
			}{
				"with-png":    {base64.StdEncoding.EncodeToString(pngData.Bytes()), "image/png"},
				"mislabelled": {base64.StdEncoding.EncodeToString(pngData.Bytes()), "image/jpeg"},
				"not-image":   {base64.StdEncoding.EncodeToString(notAnImage), "image/gif"},
				"no-logo":     {nil, nil},
			}
			ids := map[string]string{}
			for slug, o := range orgs {
				ids[slug] = uuid.NewString()
				if _, err := old.DB().Exec(`INSERT INTO organizations (id, name, slug, logo, logo_content_type, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
					ids[slug], "Org "+slug, slug, o.logo, o.contentType, "2025-01-01T00:00:00.000000Z"); err != nil {
					t.Fatal(err)
				}
			}
			old.Close()

			bucket, err := blobstore.Open(ctx, filepath.Join(t.TempDir(), "objects"), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer bucket.Close()
			lib := &logo.Library{Bucket: bucket, Base: "https://cdn.example.com"}
			// Without object storage the step waits, and says so.
			plain, err := store.Open(ctx, url, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer plain.Close()
			if _, err := plain.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			if n, err := plain.MigrationsPending(ctx); err != nil || n != 1 {
				t.Fatalf("legacy logos not reported pending: %d %v", n, err)
			}

			st, err := store.Open(ctx, url, store.Options{MoveLogo: func(ctx context.Context, key uuid.UUID, data []byte, ct string) (string, error) {
				return lib.Put(ctx, key, data, ct)
			}})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			applied, err := st.Migrate(ctx)
			if err != nil || len(applied) != 1 {
				t.Fatalf("upgrade: %+v %v", applied, err)
			}
			if n, err := st.MigrationsPending(ctx); err != nil || n != 0 {
				t.Fatalf("pending after the move: %d %v", n, err)
			}
			for slug, want := range map[string]struct {
				data []byte
				ct   string
			}{
				"with-png":    {pngData.Bytes(), "image/png"},
				"mislabelled": {pngData.Bytes(), "image/png"}, // the bytes say what it is
				"not-image":   {notAnImage, "image/gif"},      // moved as it was
			} {
				var u *string
				var ct *string
				if err := st.DB().QueryRow(`SELECT logo, logo_content_type FROM organizations WHERE id = $1`, ids[slug]).Scan(&u, &ct); err != nil {
					t.Fatal(err)
				}
				if u == nil || ct != nil {
					t.Fatalf("%s: row after the move: logo %v, content type %v", slug, u, ct)
				}
				id, ok := lib.Parse(*u)
				if !ok {
					t.Fatalf("%s: %q is not a logo URL", slug, *u)
				}
				obj, err := lib.Open(ctx, id)
				if err != nil || !bytes.Equal(obj.Data, want.data) || obj.ContentType != want.ct {
					t.Fatalf("%s: object %q %q %v", slug, obj.Data, obj.ContentType, err)
				}
				// The moved object is recorded as the organization's logo in use.
				var inUse bool
				if err := st.DB().QueryRow(`SELECT in_use FROM logo_objects WHERE id = $1 AND organization_id = $2`, id.String(), ids[slug]).Scan(&inUse); err != nil || !inUse {
					t.Fatalf("%s: the moved logo is not recorded in use: %v %v", slug, inUse, err)
				}
			}
			var none *string
			if err := st.DB().QueryRow(`SELECT logo FROM organizations WHERE id = $1`, ids["no-logo"]).Scan(&none); err != nil || none != nil {
				t.Fatalf("an organization without a logo got one: %v %v", none, err)
			}
			// Again: nothing left to do.
			if again, err := st.Migrate(ctx); err != nil || len(again) != 0 {
				t.Fatalf("second upgrade: %+v %v", again, err)
			}
		})
	}
}

// Upgrading records the logos organizations already show, so that the
// cleanup never deletes them and replacing them releases them.
func TestLogoObjectsBackfill(t *testing.T) {
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			url := testdb.URL(t, kind)
			st, err := store.Open(ctx, url, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if err := st.MigrateTo(ctx, 6); err != nil {
				t.Fatal(err)
			}
			logoID := uuid.New()
			orgs := map[string]any{
				"uploaded": "https://cdn.example.com/logos/" + logoID.String(),
				"foreign":  "https://elsewhere.example.com/picture.png",
				"none":     nil,
			}
			ids := map[string]string{}
			for slug, l := range orgs {
				ids[slug] = uuid.NewString()
				if _, err := st.DB().Exec(`INSERT INTO organizations (id, name, slug, logo, created_at) VALUES ($1, $2, $3, $4, $5)`,
					ids[slug], "Org "+slug, slug, l, "2025-01-01T00:00:00.000000Z"); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := st.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			rows, err := st.DB().Query(`SELECT id, organization_id, in_use FROM logo_objects`)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			n := 0
			for rows.Next() {
				var id, org string
				var inUse bool
				if err := rows.Scan(&id, &org, &inUse); err != nil {
					t.Fatal(err)
				}
				if id != logoID.String() || org != ids["uploaded"] || !inUse {
					t.Fatalf("recorded %s of %s, in use %v", id, org, inUse)
				}
				n++
			}
			if n != 1 {
				t.Fatalf("%d logo objects recorded, want 1", n)
			}
		})
	}
}
