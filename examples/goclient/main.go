// Command goclient leaves the active organization through the generated Go
// client: the smallest complete program against this server. Run it from
// this folder with a session token (`kayleid tokens create`):
//
//	KAYLE_TOKEN=kid_… go run .
//
// KAYLE_API names the server (default http://127.0.0.1:8787).
package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"

	api "github.com/kayle-id/orgs-api/gen/api"
)

func main() {
	server := os.Getenv("KAYLE_API")
	if server == "" {
		server = "http://127.0.0.1:8787"
	}
	token := os.Getenv("KAYLE_TOKEN")

	c, err := api.NewClientWithResponses(server)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	auth := func(_ context.Context, r *http.Request) error {
		r.Header.Set("Authorization", "Bearer "+token)
		return nil
	}
	resp, err := c.LeaveOrganizationWithResponse(context.Background(), auth)
	switch {
	case err != nil:
		// The server could not be reached, or its answer could not be read.
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	case resp.JSON200 != nil:
		fmt.Println(resp.JSON200.Data.Message) // You left the organization.
	case resp.JSON409 != nil:
		fmt.Println(resp.JSON409.Error.Code, resp.JSON409.Error.Message) // LAST_OWNER …
	default:
		// Every other answer (401, 403, 410, 429, 503, …) is the same
		// {data, error} envelope: print its status and body.
		fmt.Println(resp.StatusCode(), strings.TrimSpace(string(resp.Body)))
	}
}
