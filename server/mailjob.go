package server

import (
	"context"
	"log/slog"
	"time"

	"github.com/kayle-id/orgs-api/mail"
	"github.com/kayle-id/orgs-api/store"
)

// DeliverMail sends the notices waiting in the outbox, one claimed batch
// at a time, until none is due. No transaction is held while a message is
// sent; each send has its own deadline. It returns how many were sent.
func DeliverMail(ctx context.Context, st *store.Store, mailer mail.Mailer, log *slog.Logger, m *Metrics) (int, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sent := 0
	for ctx.Err() == nil {
		batch, err := st.ClaimMail(ctx, 20)
		if err != nil || len(batch) == 0 {
			return sent, err
		}
		for _, n := range batch {
			msg, err := mail.Notice(n.Kind, n.Recipient, stringData(n.Data))
			if err == nil {
				sctx, cancel := context.WithTimeout(ctx, mailSendTimeout)
				err = mailer.Send(sctx, msg)
				cancel()
			}
			if err == nil {
				sent++
				m.mail("sent")
				if err := st.MailDelivered(ctx, n.ID); err != nil {
					return sent, err
				}
				continue
			}
			gaveUp, ferr := st.MailFailed(ctx, n, err)
			if ferr != nil {
				return sent, ferr
			}
			if gaveUp {
				m.mail("failed")
				log.Error("notice not delivered; giving up", "kind", n.Kind, "attempts", n.Attempts, "error", err.Error())
			} else {
				m.mail("retry")
				log.Warn("notice not delivered; will retry", "kind", n.Kind, "attempts", n.Attempts, "error", err.Error())
			}
		}
	}
	return sent, ctx.Err()
}

// mailSendTimeout bounds one message's delivery.
const mailSendTimeout = 30 * time.Second

func stringData(md store.Metadata) map[string]string {
	out := make(map[string]string, len(md))
	for k, v := range md {
		if s, ok := v.(string); ok {
			out[k] = s
		}
	}
	return out
}

// MailJob delivers the outbox's notices on the job runner, every
// interval, on every replica: notices are leased one by one (FOR UPDATE
// SKIP LOCKED), so two senders never send the same one, and the job's lock
// would only cost a database session every few seconds.
func MailJob(st *store.Store, mailer mail.Mailer, interval time.Duration, log *slog.Logger, m *Metrics) Job {
	return Job{Name: "mail-outbox", Interval: interval, Unlocked: true, Run: func(ctx context.Context, _ func(int)) (int, error) {
		return DeliverMail(ctx, st, mailer, log, m)
	}}
}
