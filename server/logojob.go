package server

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/kayle-id/orgs-api/logo"
	"github.com/kayle-id/orgs-api/store"
)

// logoCleanupBatch is how many logo objects one claim takes.
const logoCleanupBatch = 50

// LogoCleanupJob deletes the logo objects whose deletion is due: uploads
// never used, logos replaced or cleared once their grace period is over,
// purged organizations' logos, uploads evicted beyond an organization's
// few unused ones. Rows are claimed in a transaction (which keeps them from
// being put in use again), the objects are deleted with no transaction
// open, then the rows. An object whose deletion fails stays due, for the
// next pass.
func LogoCleanupJob(st *store.Store, lib *logo.Library, interval time.Duration) Job {
	return Job{Name: "logo-cleanup", Interval: interval, Run: func(ctx context.Context, progress func(int)) (int, error) {
		start, done := time.Now(), 0
		for {
			ids, err := st.ClaimDueLogos(ctx, start, logoCleanupBatch)
			if err != nil || len(ids) == 0 {
				return done, err
			}
			var gone []uuid.UUID
			var failed error
			for _, id := range ids {
				if err := lib.Delete(ctx, id); err != nil {
					failed = err
					continue
				}
				gone = append(gone, id)
			}
			if err := st.ForgetLogos(ctx, gone); err != nil {
				return done, err
			}
			done += len(gone)
			progress(done)
			if failed != nil {
				return done, failed
			}
		}
	}}
}
