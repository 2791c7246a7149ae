package server

import (
	_ "embed"
	"net/http"

	"github.com/labstack/echo/v4"
)

// redocJS is Redoc's standalone build, vendored from the npm registry by
// `make vendor-docs` (docs-ui/package.json pins the version) and embedded,
// so the reference page needs nothing from the network.
//
//go:embed assets/redoc.standalone.js
var redocJS []byte

const docsPage = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Kayle ID organizations API reference</title>
<link rel="icon" href="data:,">
<style>body { margin: 0; padding: 0; }</style>
</head>
<body>
<div id="redoc"></div>
<script src="/docs/redoc.standalone.js"></script>
<script>
Redoc.init("/openapi.json", { hideDownloadButton: false, expandResponses: "200" }, document.getElementById("redoc"));
</script>
</body>
</html>
`

func mountDocs(e *echo.Echo) {
	e.GET("/docs", func(c echo.Context) error {
		return c.HTML(http.StatusOK, docsPage)
	})
	e.GET("/docs/redoc.standalone.js", func(c echo.Context) error {
		c.Response().Header().Set("Cache-Control", "public, max-age=86400")
		return c.Blob(http.StatusOK, "application/javascript; charset=utf-8", redocJS)
	})
}
