package server

import (
	"errors"
	"net/http"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/kayle-id/orgs-api/blobstore"
	"github.com/kayle-id/orgs-api/handlers"
	"github.com/kayle-id/orgs-api/logo"
)

// errLogoNotFound answers a logo URL that names no stored logo.
var errLogoNotFound = &handlers.APIError{Status: http.StatusNotFound, Code: "NOT_FOUND", Message: "Logo not found.",
	Hint: "Use the URL the logo upload answered with.", Docs: handlers.DocsBase + "not_found"}

// logoTypes are the content types a logo is served as; anything else the
// bucket claims is served as opaque bytes.
var logoTypes = map[string]bool{logo.PNG: true, logo.JPEG: true, logo.GIF: true, logo.WebP: true}

// mountLogos serves the stored logos at /logos/<id>, when no CDN serves the
// bucket. A logo never changes (a new upload gets a new id), so answers are
// cacheable, for a day: one no longer in use is deleted after a while. The headers keep a browser from treating the bytes as
// anything but the declared image: no sniffing, and a policy that lets the
// answer, opened as a page, run and load nothing.
func mountLogos(e *echo.Echo, lib *logo.Library) {
	serve := func(c echo.Context) error {
		raw := c.Param("id")
		id, err := uuid.Parse(raw)
		if err != nil || id.String() != raw {
			return errLogoNotFound
		}
		etag := `"` + raw + `"`
		h := c.Response().Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
		h.Set("Cross-Origin-Resource-Policy", "cross-origin")
		// A day, not a year: a logo replaced, cleared or purged is deleted after
		// its grace period, and caches should not go on showing it for long.
		h.Set("Cache-Control", "public, max-age=86400, immutable")
		h.Set("ETag", etag)
		if c.Request().Header.Get("If-None-Match") == etag {
			return c.NoContent(http.StatusNotModified)
		}
		obj, err := lib.Open(c.Request().Context(), id)
		if errors.Is(err, blobstore.ErrNotFound) {
			h.Del("Cache-Control")
			h.Del("ETag")
			return errLogoNotFound
		}
		if err != nil {
			h.Del("Cache-Control")
			h.Del("ETag")
			return err
		}
		ct := obj.ContentType
		if !logoTypes[ct] {
			ct = "application/octet-stream"
		}
		if !obj.ModTime.IsZero() {
			h.Set("Last-Modified", obj.ModTime.UTC().Format(http.TimeFormat))
		}
		if c.Request().Method == http.MethodHead {
			h.Set(echo.HeaderContentType, ct)
			return c.NoContent(http.StatusOK)
		}
		return c.Blob(http.StatusOK, ct, obj.Data)
	}
	e.GET("/"+logo.Prefix+":id", serve)
	e.HEAD("/"+logo.Prefix+":id", serve)
}
