package server

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/kayle-id/orgs-api/dnstxt"
	"github.com/kayle-id/orgs-api/validator"
)

// Metrics are the server's Prometheus series, on a registry of their own
// (so several servers can live in one process, as in tests).
type Metrics struct {
	registry    *prometheus.Registry
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	rejections  *prometheus.CounterVec
	memberships *prometheus.CounterVec
	dnsLookups  *prometheus.HistogramVec
	rechecks    *prometheus.CounterVec
	mailOutbox  *prometheus.CounterVec
	jobRuns     *prometheus.CounterVec
	jobItems    *prometheus.CounterVec
	jobDuration *prometheus.HistogramVec
	jobSuccess  *prometheus.GaugeVec
}

// NewMetrics registers the server's series and the Go runtime's.
func NewMetrics() *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kayle_http_requests_total", Help: "HTTP requests answered, by operation and status.",
		}, []string{"operation", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "kayle_http_request_duration_seconds", Help: "Time to answer HTTP requests, by operation and status.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"operation", "status"}),
		rejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kayle_validation_rejections_total", Help: "Requests and responses that broke the contract, by operation and direction.",
		}, []string{"operation", "direction"}),
		memberships: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kayle_membership_events_total", Help: "Committed audit events, by type.",
		}, []string{"event"}),
		dnsLookups: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "kayle_dns_lookups_seconds", Help: "DNS TXT lookups (verification and re-checks), by result.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"result"}),
		rechecks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kayle_domain_rechecks_total", Help: "Verified-domain re-checks, by outcome.",
		}, []string{"outcome"}),
		mailOutbox: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kayle_mail_outbox_deliveries_total", Help: "Outbox notice delivery attempts, by result (sent, retry, failed).",
		}, []string{"result"}),
		jobRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kayle_job_runs_total", Help: "Background job turns on this replica, by job and outcome (ok, failed, skipped: another replica held the lock, stopped: by shutdown).",
		}, []string{"job", "outcome"}),
		jobItems: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kayle_job_items_total", Help: "Items background jobs handled on this replica (organizations purged, ...), by job.",
		}, []string{"job"}),
		jobDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "kayle_job_duration_seconds", Help: "Time background job passes took on this replica, by job.",
			Buckets: []float64{.005, .025, .1, .5, 2.5, 10, 60, 300},
		}, []string{"job"}),
		jobSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kayle_job_last_success_timestamp_seconds", Help: "When a pass of the job last finished without error on this replica (the newest across replicas is the job's).",
		}, []string{"job"}),
	}
	m.registry.MustRegister(m.requests, m.duration, m.rejections, m.memberships, m.jobRuns, m.jobItems, m.jobDuration, m.jobSuccess,
		m.dnsLookups, m.rechecks, m.mailOutbox,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// WatchDB adds the database pool's stats (connections open, in use, waits).
func (m *Metrics) WatchDB(db *sql.DB) {
	m.registry.MustRegister(collectors.NewDBStatsCollector(db, "kayle"))
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// Event counts one committed audit event (store.Options.OnEvent).
func (m *Metrics) Event(event string) { m.memberships.WithLabelValues(event).Inc() }

// jobRun records one turn of a background job; m may be nil.
func (m *Metrics) jobRun(job, outcome string, items int, elapsed time.Duration) {
	if m == nil {
		return
	}
	m.jobRuns.WithLabelValues(job, outcome).Inc()
	if outcome == "skipped" {
		return
	}
	m.jobItems.WithLabelValues(job).Add(float64(items))
	m.jobDuration.WithLabelValues(job).Observe(elapsed.Seconds())
	if outcome == "ok" {
		m.jobSuccess.WithLabelValues(job).SetToCurrentTime()
	}
}

// Label values come from closed sets, whatever a client sends: every
// distinct value is a series held in memory for the life of the process,
// and /metrics serves them all.

// operationOf is the spec operation's id, the template of one of the
// server's own routes (health, spec, docs), or "unmatched" for anything
// else: unknown paths, and known paths with a method they do not serve.
func operationOf(c echo.Context, routes map[string]bool) string {
	if route, ok := validator.RouteFrom(c.Request().Context()); ok {
		return route.Operation.OperationID
	}
	if p := c.Path(); routes[c.Request().Method+" "+p] {
		return p
	}
	return "unmatched"
}

// methodLabel is the request method when it is a standard one, else OTHER.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return method
	}
	return "OTHER"
}

// observe counts one answered request. routes are the server's registered
// routes, "METHOD /template".
func (m *Metrics) observe(c echo.Context, routes map[string]bool, elapsed time.Duration) {
	op, status := operationOf(c, routes), strconv.Itoa(c.Response().Status)
	m.requests.WithLabelValues(op, methodLabel(c.Request().Method), status).Inc()
	m.duration.WithLabelValues(op, status).Observe(elapsed.Seconds())
}

// The validator reports only requests it matched to a spec operation, so
// their operation label is always an operation id.

func (m *Metrics) requestRejected(c echo.Context, _ *validator.RequestError) {
	m.rejections.WithLabelValues(operationOf(c, nil), "request").Inc()
}

func (m *Metrics) responseRejected(c echo.Context, _ *validator.ResponseError) {
	m.rejections.WithLabelValues(operationOf(c, nil), "response").Inc()
}

// Produced returns how many answers each operation gave with each status,
// as counted so far.
func (m *Metrics) Produced() (map[string]map[int]int, error) {
	families, err := m.registry.Gather()
	if err != nil {
		return nil, err
	}
	out := map[string]map[int]int{}
	for _, f := range families {
		if f.GetName() != "kayle_http_requests_total" {
			continue
		}
		for _, metric := range f.GetMetric() {
			var op string
			var status int
			for _, l := range metric.GetLabel() {
				switch l.GetName() {
				case "operation":
					op = l.GetValue()
				case "status":
					status, _ = strconv.Atoi(l.GetValue())
				}
			}
			if out[op] == nil {
				out[op] = map[int]int{}
			}
			out[op][status] += int(metric.GetCounter().GetValue())
		}
	}
	return out, nil
}

func (m *Metrics) recheck(outcome string) {
	if m != nil {
		m.rechecks.WithLabelValues(outcome).Inc()
	}
}

func (m *Metrics) mail(result string) {
	if m != nil {
		m.mailOutbox.WithLabelValues(result).Inc()
	}
}

// CountDNS wraps a resolver so that its lookups are timed and counted by
// result (answer, nxdomain, unavailable, bad_response).
func (m *Metrics) CountDNS(r dnstxt.Looker) dnstxt.Looker { return countingLooker{r, m} }

type countingLooker struct {
	next dnstxt.Looker
	m    *Metrics
}

func (c countingLooker) LookupTXT(ctx context.Context, name string) ([]string, error) {
	start := time.Now()
	values, err := c.next.LookupTXT(ctx, name)
	result := "answer"
	switch {
	case err == nil:
	case errors.Is(err, dnstxt.ErrNoSuchName):
		result = "nxdomain"
	case errors.Is(err, dnstxt.ErrUnavailable):
		result = "unavailable"
	case errors.Is(err, dnstxt.ErrBadResponse):
		result = "bad_response"
	default:
		result = "error"
	}
	c.m.dnsLookups.WithLabelValues(result).Observe(time.Since(start).Seconds())
	return values, err
}
