package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/time/rate"

	"github.com/kayle-id/orgs-api/handlers"
	"github.com/kayle-id/orgs-api/idp"
	"github.com/kayle-id/orgs-api/mail"
	"github.com/kayle-id/orgs-api/server"
	"github.com/kayle-id/orgs-api/store"
	"github.com/kayle-id/orgs-api/verify/flow"
	"github.com/kayle-id/orgs-api/verify/truststore"
	"github.com/kayle-id/orgs-api/webhooks/delivery"
)

// mailSendInterval is how often the outbox is looked at for notices to
// send (also retries that have come due).
const mailSendInterval = 5 * time.Second

// logoCleanupInterval is how often logo objects due for deletion are
// deleted from object storage.
const logoCleanupInterval = time.Minute

func (s *serveCmd) Run(re *runEnv) error {
	ctx, stderr := re.ctx, re.stderr
	cfg, err := s.config(re)
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg.LogFormat)
	log.Info("starting", "addr", cfg.Addr, "database", string(store.DialectFor(cfg.DatabaseURL)), "validation", string(cfg.Validation))

	var mailer mail.Mailer = &mail.Outbox{Dir: cfg.MailDir, From: cfg.MailFrom, Log: log}
	if cfg.SMTPURL != "" {
		m, err := mail.NewSMTP(cfg.SMTPURL, cfg.MailFrom, log)
		if err != nil {
			return usagef("%v", err)
		}
		mailer = m
	}

	provider, err := cfg.identityProvider(log)
	if err != nil {
		return usagef("%v", err)
	}
	if provider != nil {
		// A provider that is down at start-up delays nothing: provider
		// tokens get 503 and /readyz says so until its keys are fetched.
		lctx, cancel := context.WithTimeout(ctx, idp.DefaultFetchTimeout)
		if err := provider.Load(lctx); err != nil {
			log.Warn("identity provider keys not loaded yet", "issuer", cfg.OIDCIssuer, "error", err.Error())
		} else {
			log.Info("identity provider keys loaded", "issuer", cfg.OIDCIssuer)
		}
		cancel()
	}

	logos, bucket, err := openLogos(ctx, cfg.Storage, log)
	if err != nil {
		return err
	}
	defer bucket.Close()

	metrics := server.NewMetrics()
	st, err := openStore(ctx, cfg.DatabaseURL, log, store.Options{MaxOpenConns: cfg.DBMaxConns, OnEvent: metrics.Event, MaxOwnedOrganizations: cfg.MaxOrgsPerUser,
		AuthSecret: cfg.AuthSecret, MoveLogo: logoMover(logos), LogoGrace: cfg.LogoGrace,
		WebhookSecretKey: cfg.Webhooks.SecretKey, WebhookSecretKeysOld: cfg.Webhooks.SecretKeysOld,
		WebhookUpstreamSecret: cfg.Webhooks.UpstreamSecret})
	if err != nil {
		return err
	}
	defer st.Close()
	metrics.WatchDB(st.DB())
	if generated, err := st.AuthSecret(ctx); err != nil {
		return err
	} else if generated {
		log.Warn("KAYLE_AUTH_SECRET is not set: API keys are hashed with a secret generated once and kept in the database; " +
			"anyone who reads the database can then test guessed keys offline. Set KAYLE_AUTH_SECRET (see docs/operators.md, API keys).")
	}

	// The verify socket: the document checks over the trust store in this
	// database, App Attest, the biometric verifier.
	vc := cfg.Verify
	flowCfg := &flow.Config{Store: st,
		TrustStore: truststore.New(st.DB(), truststore.Dialect(st.Dialect()), truststore.Options{}).PassiveAuth(),
		Revocation: vc.Revocation, Attest: vc.AppAttest, RequireAttestation: vc.RequireAttestation,
		MinAppVersion: vc.MinAppVersion, Production: cfg.Production, BufferBudget: vc.BufferBudget, Log: log}
	if vc.Verifier != nil {
		flowCfg.Verifier = vc.Verifier
	} else {
		log.Warn("no biometric verifier (KAYLE_BIOMETRIC_VERIFIER_URL): liveness checks answer LIVENESS_CHALLENGE_UNAVAILABLE and no session can succeed")
	}
	if !vc.RequireAttestation {
		log.Warn("App Attest is off (KAYLE_VERIFY_REQUIRE_ATTESTATION): scans are not shown to come from a genuine app")
	}
	sockets := flow.NewServer(flowCfg, vc.Limits)
	attest := vc.AppAttest

	e, err := server.New(server.Config{
		Validation:     cfg.Validation,
		BodyLimit:      cfg.BodyLimit,
		RequestTimeout: cfg.RequestTimeout,
		Logger:         log,
		Metrics:        metrics,
		PublicMetrics:  cfg.MetricsPublic,
		MaxInFlight:    cfg.MaxInFlight,
		MaxConns:       cfg.MaxConns,
		// Per client address and per user.
		MaxInFlightPerAddress: cfg.MaxInFlightAddr, MaxInFlightPerCredential: cfg.MaxInFlightCred,
		MaxConnsPerAddress: cfg.MaxConnsAddr,
		RateLimit: server.RateLimit{
			PerCredential: rate.Limit(cfg.RateLimit), PerCredentialRead: rate.Limit(cfg.RateLimitRead),
			PerIP: rate.Limit(cfg.RateLimitIP), Burst: cfg.RateBurst,
		},
		DNS:                cfg.DNS,
		IdentityProvider:   provider,
		TrustedProxies:     cfg.TrustedProxies,
		Logos:              logos,
		ServeLogos:         cfg.Storage.CDNURL == "",
		Sessions:           handlers.SessionOptions{VerifyURL: cfg.VerifyURL, Production: cfg.Production},
		Webhooks:           handlers.WebhookOptions{AllowLoopback: cfg.Webhooks.AllowLoopback},
		Sandbox:            cfg.Sandbox,
		VerifySocket:       sockets,
		TrustStoreRequired: vc.TrustStoreRequired,
		AttestVerifier: handlers.AttestVerifierFunc(func(keyID, attestation []byte, cdh [32]byte) (handlers.AttestKey, error) {
			k, err := attest.VerifyAttestation(keyID, attestation, cdh)
			return handlers.AttestKey{KeyID: k.KeyID, PublicKeyCOSE: k.PublicKeyCOSE, Receipt: k.Receipt}, err
		}),
	}, st, mailer)
	if err != nil {
		return err
	}
	if cfg.MetricsAddr != "" {
		mln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			return fmt.Errorf("listen on %s: %w", cfg.MetricsAddr, err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", metrics.Handler())
		msrv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
			WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
		go func() { _ = msrv.Serve(mln) }()
		defer msrv.Close()
		log.Info("metrics listening", "addr", mln.Addr().String())
	}

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	srv := e.HTTPServer(slog.NewLogLogger(log.Handler(), slog.LevelWarn))
	log.Info("listening", "addr", ln.Addr().String())

	var jobs []server.Job
	if cfg.PurgeInterval > 0 {
		jobs = append(jobs, server.PurgeJob(st, cfg.PurgeInterval))
	}
	if cfg.RecheckInterval > 0 {
		jobs = append(jobs, server.RecheckJob(st, metrics.CountDNS(cfg.DNS), cfg.RecheckInterval, log, metrics))
	}
	if cfg.ExpiryInterval > 0 {
		jobs = append(jobs, server.SessionExpiryJob(st, cfg.ExpiryInterval))
	}
	if cfg.RetentionInt > 0 {
		jobs = append(jobs, server.RetentionJob(st, cfg.RetentionInt))
	}
	if cfg.Webhooks.SweepInterval > 0 {
		jobs = append(jobs, server.WebhookSweepJob(st, cfg.Webhooks.SweepInterval))
	}
	jobs = append(jobs, server.LogoCleanupJob(st, logos, logoCleanupInterval))
	jobs = append(jobs, server.MailJob(st, mailer, mailSendInterval, log, metrics))
	jobsCtx, stopJobs := context.WithCancel(ctx)
	jobsDone := make(chan struct{})
	go func() { server.RunJobs(jobsCtx, st, log, metrics, jobs...); close(jobsDone) }()
	defer func() { stopJobs(); <-jobsDone }()

	// Webhook deliveries: the queue's workers, stopped after the listener
	// (a request may still enqueue) and given the shutdown period to finish
	// their attempts; a run cut short is sent again on the next start.
	deliveries, err := delivery.New(st, delivery.Options{Workers: cfg.Webhooks.Workers, PerEndpoint: cfg.Webhooks.PerEndpoint,
		AllowLoopback: cfg.Webhooks.AllowLoopback, RescueAfter: cfg.Webhooks.RescueAfter, Log: log})
	if err != nil {
		return err
	}
	if err := deliveries.Start(ctx); err != nil {
		return fmt.Errorf("webhook deliveries: %w", err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		if err := deliveries.Stop(sctx); err != nil {
			log.Warn("webhook deliveries did not stop in time", "error", err)
		}
	}()

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(e.Listener(ln)) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// Readiness goes first, while everything else is still served: a load
	// balancer polling /readyz stops routing here during the drain, so once
	// the listener closes and idle keep-alive connections are dropped, none
	// of them is about to carry a new request. (Background jobs have
	// stopped with ctx.)
	e.Drain()
	if cfg.ShutdownDrain > 0 {
		log.Info("draining", "period", cfg.ShutdownDrain.String())
		select {
		case <-time.After(cfg.ShutdownDrain):
		case err := <-errc:
			return err
		}
	}
	// Shutdown closes the listener and idle connections, answers requests
	// in flight with Connection: close, and waits for them.
	log.Info("shutting down", "timeout", cfg.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	// Verify sockets left the HTTP server when they were upgraded: they are
	// closed (the app reconnects) and waited for in the same period.
	if err := sockets.Shutdown(sctx); err != nil {
		log.Warn("verify sockets still open at the end of the shutdown period were dropped", "error", err.Error())
	}
	log.Info("stopped")
	return nil
}
