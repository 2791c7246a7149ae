// Package specfile builds this server's documents from the repository's
// files: upstream's openapi.json, the overlay (api/overlay.yaml) and the
// served list in oapi-codegen.yaml, the way `make generate` reads them.
// `make breaking` and the tests use it; the server itself uses the
// generated, embedded copy.
package specfile

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/oapi-codegen/oapi-codegen/v2/pkg/codegen"
	"github.com/oapi-codegen/oapi-codegen/v2/pkg/util"
	"go.yaml.in/yaml/v3"

	"github.com/kayle-id/orgs-api/internal/spec"
)

// Config is the part of oapi-codegen.yaml this package reads.
type Config struct {
	// Served lists the operation ids the server serves
	// (output-options.include-operation-ids); nil means all of them.
	Served []string
	// Overlay is the overlay's path, relative to the repository root.
	Overlay string
}

// ReadConfig reads oapi-codegen.yaml under root.
func ReadConfig(root string) (Config, error) {
	raw, err := os.ReadFile(filepath.Join(root, "oapi-codegen.yaml"))
	if err != nil {
		return Config{}, err
	}
	var c codegen.Configuration
	if err := yaml.Unmarshal(raw, &c); err != nil {
		return Config{}, fmt.Errorf("oapi-codegen.yaml: %w", err)
	}
	// Without a list every operation is served (an openapi.json cut down by
	// hand, as older revisions of this repository had).
	return Config{Served: c.OutputOptions.IncludeOperationIDs, Overlay: c.OutputOptions.Overlay.Path}, nil
}

// Full loads specPath with the overlay at overlayPath applied strictly (as
// the generator applies it); an empty overlayPath applies none.
func Full(specPath, overlayPath string) (*openapi3.T, error) {
	return util.LoadSwaggerWithOverlay(specPath, util.LoadSwaggerWithOverlayOpts{Path: overlayPath, Strict: true})
}

// Build is the served document of the repository at root, made from its
// files: openapi.json, the overlay and the served list of oapi-codegen.yaml.
// specPath, when not empty, replaces root's openapi.json.
func Build(root, specPath string) (*openapi3.T, error) {
	cfg, err := ReadConfig(root)
	if err != nil {
		return nil, err
	}
	if specPath == "" {
		specPath = filepath.Join(root, "openapi.json")
	}
	overlay := ""
	if cfg.Overlay != "" {
		overlay = filepath.Join(root, cfg.Overlay)
	}
	doc, err := Full(specPath, overlay)
	if err != nil {
		return nil, err
	}
	return spec.Served(doc, cfg.Served)
}
