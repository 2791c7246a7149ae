// Package api is generated from openapi.json and api/overlay.yaml by
// oapi-codegen (see oapi-codegen.yaml). Do not edit: run `make generate`.
package api

//go:generate go -C ../.. tool oapi-codegen -config oapi-codegen.yaml openapi.json
