// Command cluster runs the shipped deployment on loopback for a person to
// try: a PostgreSQL (DATABASE_URL when it names one, otherwise a throwaway
// cluster), three `kayleid serve` replicas started at once, and HAProxy with
// deploy/haproxy.cfg in front. `make cluster` runs it. SIGHUP restarts the
// replicas one at a time, as a deployment would; a replica that exits is
// started again; Ctrl-C stops everything.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kayle-id/orgs-api/internal/cluster"
	"github.com/kayle-id/orgs-api/internal/testdb"
	"github.com/kayle-id/orgs-api/store"
)

func main() {
	bin := flag.String("bin", "bin/kayleid", "the kayleid binary")
	haproxy := flag.String("haproxy", "", "the haproxy binary (default: found on PATH or in /usr/sbin)")
	config := flag.String("config", "deploy/haproxy.cfg", "HAProxy configuration")
	lbAddr := flag.String("lb", "127.0.0.1:8080", "where the load balancer listens")
	statsAddr := flag.String("stats", "127.0.0.1:8404", "HAProxy's status page")
	replicaAddrs := flag.String("replicas", "127.0.0.1:8781,127.0.0.1:8782,127.0.0.1:8783", "the three replicas' addresses")
	drain := flag.Duration("drain", 3*time.Second, "KAYLE_SHUTDOWN_DRAIN of each replica")
	flag.Parse()
	if err := run(*bin, *haproxy, *config, *lbAddr, *statsAddr, strings.Split(*replicaAddrs, ","), *drain); err != nil {
		fmt.Fprintf(os.Stderr, "cluster: %v\n", err)
		os.Exit(1)
	}
}

func run(bin, haproxy, config, lbAddr, statsAddr string, addrs []string, drain time.Duration) error {
	if len(addrs) != 3 {
		return errors.New("-replicas: want three addresses (deploy/haproxy.cfg names three servers)")
	}
	if haproxy == "" {
		var err error
		if haproxy, err = exec.LookPath("haproxy"); err != nil {
			haproxy = "/usr/sbin/haproxy"
		}
	}
	if _, err := os.Stat(haproxy); err != nil {
		return fmt.Errorf("no haproxy (apt-get install haproxy): %w", err)
	}
	bin, _ = filepath.Abs(bin)
	dir, err := os.MkdirTemp("", "kayle-cluster-*")
	if err != nil {
		return err
	}

	url := os.Getenv("DATABASE_URL")
	if store.DialectFor(url) != store.Postgres {
		fmt.Println("starting a throwaway PostgreSQL (set DATABASE_URL=postgres://... to use another) ...")
		pg, err := testdb.StartCluster()
		if err != nil {
			return err
		}
		defer pg.Stop()
		url = pg.URL
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	replicas := make([]*cluster.Replica, len(addrs))
	for i, addr := range addrs {
		name := fmt.Sprintf("r%d", i+1)
		replicas[i] = &cluster.Replica{Name: name, Addr: addr, Bin: bin, LogPath: filepath.Join(dir, name+".log"), Env: []string{
			"DATABASE_URL=" + url,
			"KAYLE_TRUSTED_PROXIES=127.0.0.1/32",
			"KAYLE_SHUTDOWN_DRAIN=" + drain.String(),
			"KAYLE_MAIL_DIR=" + filepath.Join(dir, "mail"),
			"KAYLE_STORAGE_URL=" + filepath.Join(dir, "objects"), // shared, as a bucket would be
			// Clients reach the replicas through the balancer: logo URLs
			// start there, not at the replica's own address.
			"KAYLE_PUBLIC_URL=http://" + lbAddr,
		}}
	}
	defer func() {
		fmt.Println("stopping the replicas (each drains, then exits) ...")
		var wg sync.WaitGroup
		for _, r := range replicas {
			wg.Add(1)
			go func() { defer wg.Done(); _ = r.Stop(syscall.SIGTERM, 30*time.Second) }()
		}
		wg.Wait()
	}()
	// All three at once, on a database that may be new: they take turns
	// at the migrations.
	for _, r := range replicas {
		if err := r.Start(); err != nil {
			return err
		}
	}
	for _, r := range replicas {
		if err := r.WaitReady(ctx); err != nil {
			return err
		}
	}
	lb, err := cluster.StartBalancer(ctx, haproxy, config, map[string]string{
		"KAYLE_LB_ADDR": lbAddr, "KAYLE_LB_STATS_ADDR": statsAddr,
		"KAYLE_REPLICA_1": addrs[0], "KAYLE_REPLICA_2": addrs[1], "KAYLE_REPLICA_3": addrs[2],
	}, filepath.Join(dir, "haproxy.log"))
	if err != nil {
		return err
	}
	defer lb.Stop()
	for _, r := range replicas {
		if err := lb.WaitState(ctx, r.Name, "UP"); err != nil {
			return err
		}
	}

	fmt.Printf("\nKayle ID cluster on loopback (Ctrl-C stops it; logs in %s):\n", dir)
	fmt.Printf("  load balancer  http://%s   HAProxy, %s; status page http://%s/stats\n", lbAddr, config, statsAddr)
	for _, r := range replicas {
		fmt.Printf("  replica %s     http://%s   pid %d\n", r.Name, r.Addr, r.Pid())
	}
	fmt.Printf("  PostgreSQL     %s\n\n", url)
	fmt.Printf("Try it (in another terminal):\n")
	fmt.Printf("  export DATABASE_URL='%s'\n", url)
	fmt.Printf("  %s users create --email ada@example.com --name Ada\n", bin)
	fmt.Printf("  TOKEN=$(%s tokens create --email ada@example.com | sed -E 's/.*\"token\":\"([^\"]+)\".*/\\1/')\n", bin)
	fmt.Printf("  curl -s -X POST -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' -d '{\"name\":\"Acme\",\"slug\":\"acme\"}' http://%s/v1/auth/orgs\n", lbAddr)
	fmt.Printf("  curl -s -H \"Authorization: Bearer $TOKEN\" http://%s/v1/auth/orgs/members\n\n", lbAddr)
	fmt.Printf("Rolling restart: kill -HUP %d   (each replica in turn: SIGTERM, drain, exit, start, back in rotation)\n", os.Getpid())
	fmt.Printf("A replica that exits (kill -TERM <pid>) is started again.\n\n")

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-hup:
			for _, r := range replicas {
				began := time.Now()
				if err := cluster.Restart(ctx, r, lb); err != nil {
					fmt.Printf("rolling restart: %v\n", err)
					break
				}
				fmt.Printf("rolling restart: %s back in rotation after %.1fs (pid %d)\n", r.Name, time.Since(began).Seconds(), r.Pid())
			}
		case <-tick.C:
			for _, r := range replicas {
				select {
				case <-r.Exited():
				default:
					continue
				}
				fmt.Printf("%s exited; starting it again\n", r.Name)
				if err := r.Start(); err != nil {
					return err
				}
				if err := r.WaitReady(ctx); err == nil {
					fmt.Printf("%s ready (pid %d)\n", r.Name, r.Pid())
				}
			}
		}
	}
}
