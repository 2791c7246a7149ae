package server

import (
	"context"
	"log/slog"
	"time"

	"github.com/kayle-id/orgs-api/store"
)

// RunPurger purges organizations whose deletion time has passed, every
// interval, until ctx ends.
func RunPurger(ctx context.Context, st *store.Store, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		res, err := st.PurgeDue(ctx, nil)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("purge failed", "error", err.Error())
		case res.Organizations > 0:
			log.Info("purged organizations", "count", res.Organizations)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
