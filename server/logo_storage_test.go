package server_test

import (
	"bytes"
	"context"
	"image"
	"image/color"
	_ "image/gif" // image.Decode reads every stored type
	_ "image/jpeg"
	_ "image/png"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kayle-id/orgs-api/blobstore"
	"github.com/kayle-id/orgs-api/internal/testdb"
	"github.com/kayle-id/orgs-api/internal/testimg"
	"github.com/kayle-id/orgs-api/logo"
	"github.com/kayle-id/orgs-api/server"
	"github.com/kayle-id/orgs-api/store"
)

// samePixels reports whether two encoded images show the same pixels.
func samePixels(t *testing.T, a, b []byte) bool {
	t.Helper()
	ma, _, err := image.Decode(bytes.NewReader(a))
	if err != nil {
		t.Fatalf("not an image: %v", err)
	}
	mb, _, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if ma.Bounds() != mb.Bounds() {
		return false
	}
	for y := ma.Bounds().Min.Y; y < ma.Bounds().Max.Y; y++ {
		for x := ma.Bounds().Min.X; x < ma.Bounds().Max.X; x++ {
			if color.NRGBA64Model.Convert(ma.At(x, y)) != color.NRGBA64Model.Convert(mb.At(x, y)) {
				return false
			}
		}
	}
	return true
}

func uploadLogo(t *testing.T, e *env, p person, data []byte, ct string) answer {
	t.Helper()
	return e.call(t, "POST", "/v1/auth/orgs/logo", p.Token, logoBody(testimg.Base64(data), ct))
}

func uploadedURL(t *testing.T, a answer) string {
	t.Helper()
	wantStatus(t, a, 200)
	var up struct {
		Data struct{ Logo string } `json:"data"`
	}
	a.decode(t, &up)
	return up.Data.Logo
}

func served(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.Bytes()
}

// The JPEG scan bomb, through both doors a logo comes in by, is answered
// at once with a refusal: nothing is decoded, nothing stored; meanwhile
// another user's upload goes through.
func TestLogoScanBombHTTP(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		owner, other := e.person("owner"), e.person("other")
		e.org(owner, "bomb-"+string(e.kind))
		e.org(other, "bomb-other-"+string(e.kind))
		bomb := testimg.ProgressiveJPEG(2048, 2048, 57000)
		if len(bomb) > logo.MaxBytes {
			t.Fatalf("%d bytes", len(bomb))
		}
		var wg sync.WaitGroup
		bombs := make([]answer, 2)
		for i := range bombs {
			wg.Add(1)
			go func() { defer wg.Done(); bombs[i] = uploadLogo(t, e, owner, bomb, "image/jpeg") }()
		}
		small := uploadLogo(t, e, other, testimg.PNG(8, 8), "image/png")
		wg.Wait()
		for _, a := range bombs {
			wantError(t, a, 400, "INVALID_LOGO", "Organization logo has too many JPEG scans to decode.")
		}
		uploadedURL(t, small)
		wantError(t, createOrgWithLogo(t, e, owner, "bomb-new-"+string(e.kind), testimg.Base64(bomb), "image/jpeg"), 400, "INVALID_LOGO",
			"Organization logo has too many JPEG scans to decode.")
		if n := objectCount(t, e.bucketDir()); n != 1 {
			t.Fatalf("%d objects stored, want the small upload's", n)
		}
	})
}

// What is served is the decoded image: bytes hidden after a valid image
// are not stored.
func TestLogoStoredWithoutTrailingBytes(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		owner := e.person("owner")
		e.org(owner, "trail-"+string(e.kind))
		payload := []byte("<html><script>alert('stored beside the image')</script></html>")
		img := testimg.PNG(16, 16)
		url := uploadedURL(t, uploadLogo(t, e, owner, append(append([]byte{}, img...), payload...), "image/png"))
		status, got := served(t, url)
		if status != 200 || bytes.Contains(got, payload) || !samePixels(t, got, img) {
			t.Fatalf("served %d, %d bytes, payload kept: %v", status, len(got), bytes.Contains(got, payload))
		}
	})
}

func logoRows(t *testing.T, e *env, org uuid.UUID) (inUse, unused int) {
	t.Helper()
	rows, err := e.st.DB().Query(`SELECT in_use FROM logo_objects WHERE organization_id = $1`, org.String())
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var u bool
		if err := rows.Scan(&u); err != nil {
			t.Fatal(err)
		}
		if u {
			inUse++
		} else {
			unused++
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return inUse, unused
}

// Logo storage is bounded: an organization keeps a few unused uploads, a
// replaced or cleared logo is deleted once its grace period is over, a
// purged organization's at the next cleanup; an organization cannot take
// another's upload as its logo.
func TestLogoStorageLifecycle(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		owner, stranger := e.person("owner"), e.person("stranger")
		orgID := e.org(owner, "life-"+string(e.kind))
		e.org(stranger, "life-stranger-"+string(e.kind))
		cleanup := server.LogoCleanupJob(e.st, e.logos, time.Minute)
		runCleanup := func() int {
			n, err := cleanup.Run(ctx, func(int) {})
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		update := func(p person, logoJSON string) answer {
			return e.call(t, "POST", "/v1/auth/organization/update", p.Token, `{"data":{"logo":`+logoJSON+`}}`)
		}

		// Fifteen uploads keep the newest few; the first is gone already.
		var urls []string
		for i := range 15 {
			urls = append(urls, uploadedURL(t, uploadLogo(t, e, owner, testimg.PNG(i+1, 1), "image/png")))
		}
		if n := objectCount(t, e.bucketDir()); n != store.MaxUnusedLogos {
			t.Fatalf("%d objects after 15 uploads, want %d", n, store.MaxUnusedLogos)
		}
		if status, _ := served(t, urls[0]); status != 404 {
			t.Fatalf("the first upload is still served: %d", status)
		}
		// An evicted upload cannot become the logo; another organization's
		// upload cannot either.
		wantError(t, update(owner, `"`+urls[0]+`"`), 400, "INVALID_ORGANIZATION_LOGO", "")
		wantError(t, update(stranger, `"`+urls[14]+`"`), 400, "INVALID_ORGANIZATION_LOGO", "")

		wantStatus(t, update(owner, `"`+urls[14]+`"`), 200)
		if in, un := logoRows(t, e, orgID); in != 1 || un != store.MaxUnusedLogos-1 {
			t.Fatalf("rows: %d in use, %d unused", in, un)
		}
		// Within the grace period nothing is deleted, the logo never.
		if n := runCleanup(); n != 0 {
			t.Fatalf("the cleanup deleted %d objects within the grace period", n)
		}
		// Replace it, then clear the logo: both stay served for a while...
		next := uploadedURL(t, uploadLogo(t, e, owner, testimg.PNG(3, 3), "image/png"))
		wantStatus(t, update(owner, `"`+next+`"`), 200)
		wantStatus(t, update(owner, `null`), 200)
		for _, u := range []string{urls[14], next} {
			if status, _ := served(t, u); status != 200 {
				t.Fatalf("a just replaced logo is not served: %d", status)
			}
		}
		// ...and none after the grace period.
		e.clock.Advance(store.DefaultLogoGrace + time.Minute)
		if n := runCleanup(); n == 0 {
			t.Fatal("the cleanup deleted nothing")
		}
		if n := objectCount(t, e.bucketDir()); n != 0 {
			t.Fatalf("%d objects left once nothing is in use", n)
		}
		if in, un := logoRows(t, e, orgID); in+un != 0 {
			t.Fatalf("rows left: %d in use, %d unused", in, un)
		}
		for _, u := range append(urls, next) {
			if status, _ := served(t, u); status != 404 {
				t.Fatalf("%s is still served: %d", u, status)
			}
		}

		// A purged organization's logo goes with it.
		fresh := e.person("fresh")
		gone := createOrgWithLogo(t, e, fresh, "life-purged-"+string(e.kind), testimg.Base64(testimg.GIF(4, 4)), "image/gif")
		wantStatus(t, gone, 200)
		goneID := uuid.MustParse(gone.JSON200.Data.Id)
		var goneURL string
		if err := e.st.DB().QueryRow(`SELECT logo FROM organizations WHERE id = $1`, goneID.String()).Scan(&goneURL); err != nil {
			t.Fatal(err)
		}
		if in, _ := logoRows(t, e, goneID); in != 1 {
			t.Fatalf("the created organization's logo is not recorded in use: %d", in)
		}
		scheduleDeletion(t, e, fresh, goneID)
		e.clock.Advance(49 * time.Hour)
		if res, err := e.st.PurgeDue(ctx, nil); err != nil || res.Organizations != 1 {
			t.Fatalf("purge: %+v %v", res, err)
		}
		if n := runCleanup(); n != 1 {
			t.Fatalf("the cleanup after the purge deleted %d objects", n)
		}
		if status, _ := served(t, goneURL); status != 404 || objectCount(t, e.bucketDir()) != 0 {
			t.Fatalf("the purged organization's logo is still served: %d", status)
		}
	})
}

// answerLost is object storage that writes an object and then never
// answers, as a store whose reply is lost does: the upload fails at its
// deadline with the object already there.
type answerLost struct{ blobstore.Bucket }

func (b answerLost) Put(ctx context.Context, key string, data []byte, contentType string) error {
	if err := b.Bucket.Put(context.WithoutCancel(ctx), key, data, contentType); err != nil {
		return err
	}
	<-ctx.Done()
	return ctx.Err()
}

// An object whose write answered too late to be recorded is still deleted
// once its grace period is over: it was reserved before it was written.
func TestLogoWrittenButNotRecorded(t *testing.T) {
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			var dir string
			e := newEnv(t, kind, func(c *server.Config) {
				c.RequestTimeout = time.Second
				dir = c.Logos.Bucket.(*blobstore.Store).Location
				c.Logos.Bucket = answerLost{c.Logos.Bucket}
			})
			owner := e.person("owner")
			e.org(owner, "lost-"+string(kind))
			if a := uploadLogo(t, e, owner, testimg.PNG(2, 2), "image/png"); a.status < 500 {
				t.Fatalf("an upload whose write never answered: %d", a.status)
			}
			if n := objectCount(t, dir); n != 1 {
				t.Fatalf("%d objects written, want the one whose answer was lost", n)
			}
			cleanup := server.LogoCleanupJob(e.st, e.logos, time.Minute)
			if n, err := cleanup.Run(context.Background(), func(int) {}); err != nil || n != 0 {
				t.Fatalf("within the grace period the cleanup deleted %d (%v)", n, err)
			}
			e.clock.Advance(store.DefaultLogoGrace + time.Minute)
			if n, err := cleanup.Run(context.Background(), func(int) {}); err != nil || n != 1 {
				t.Fatalf("after the grace period the cleanup deleted %d (%v), want the unrecorded object", n, err)
			}
			if n := objectCount(t, dir); n != 0 {
				t.Fatalf("%d objects left", n)
			}
			var rows int
			if err := e.st.DB().QueryRow(`SELECT count(*) FROM logo_objects`).Scan(&rows); err != nil || rows != 0 {
				t.Fatalf("%d logo rows left (%v)", rows, err)
			}
		})
	}
}
