// Package cluster runs the shipped deployment on loopback: `kayleid serve`
// replicas over one PostgreSQL, behind HAProxy with deploy/haproxy.cfg.
// `make cluster` starts one for a person to try; the cluster test drives one
// (concurrent start, races across replicas, a rolling restart under load).
package cluster

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Replica is one `kayleid serve` process.
type Replica struct {
	Name    string
	Addr    string   // KAYLE_ADDR
	Bin     string   // the kayleid binary
	Env     []string // on top of this process's environment
	LogPath string   // stdout and stderr, appended across restarts

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	err    error
}

// Start starts the process; it does not wait for it to be ready.
func (r *Replica) Start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil && !closed(r.exited) {
		return fmt.Errorf("%s is already running", r.Name)
	}
	cmd, exited, err := startProcess(r.Bin, []string{"serve"}, append([]string{"KAYLE_ADDR=" + r.Addr}, r.Env...), r.LogPath)
	if err != nil {
		return fmt.Errorf("%s: %w", r.Name, err)
	}
	r.cmd, r.exited, r.err = cmd, exited, nil
	go func() {
		err := cmd.Wait()
		r.mu.Lock()
		r.err = err
		r.mu.Unlock()
		close(exited)
	}()
	return nil
}

// Pid is the running process's id (0 before Start).
func (r *Replica) Pid() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		return 0
	}
	return r.cmd.Process.Pid
}

// Exited is closed when the process started last has exited.
func (r *Replica) Exited() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.exited
}

// Stop sends sig and waits up to timeout for the process to exit. It
// returns the process's exit error (nil for status 0).
func (r *Replica) Stop(sig os.Signal, timeout time.Duration) error {
	r.mu.Lock()
	cmd, exited := r.cmd, r.exited
	r.mu.Unlock()
	if cmd == nil || closed(exited) {
		return nil
	}
	if err := cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-exited:
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-exited
		return fmt.Errorf("%s did not exit within %s of %v", r.Name, timeout, sig)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// probe is the client of the harness's own polls: a replica or balancer
// that hangs fails a poll instead of holding it past its deadline.
var probe = &http.Client{Timeout: 2 * time.Second}

// WaitReady polls /readyz until it answers 200.
func (r *Replica) WaitReady(ctx context.Context) error {
	return poll(ctx, 20*time.Millisecond, func() error {
		select {
		case <-r.Exited():
			return errStop{fmt.Errorf("%s exited (see %s)", r.Name, r.LogPath)}
		default:
		}
		resp, err := probe.Get("http://" + r.Addr + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s /readyz: %d", r.Name, resp.StatusCode)
		}
		return nil
	})
}

// Balancer is an HAProxy process.
type Balancer struct {
	Addr, StatsAddr string
	Path, Config    string // the haproxy binary and its configuration file
	LogPath         string
	cmd             *exec.Cmd
	exited          chan struct{}
}

// StartBalancer runs haproxy in the foreground with the configuration file
// and the environment it reads (KAYLE_LB_ADDR, KAYLE_REPLICA_1, ..., and
// the limits KAYLE_LB_WRITE_RATE, KAYLE_LB_CONN_PER_SOURCE,
// KAYLE_LB_CONN_RATE, KAYLE_LB_HEAD_TIMEOUT, where deploy/haproxy.cfg has
// their defaults), and waits until it accepts connections.
func StartBalancer(ctx context.Context, haproxy, config string, env map[string]string, logPath string) (*Balancer, error) {
	var kv []string
	for k, v := range env {
		kv = append(kv, k+"="+v)
	}
	cmd, exited, err := startProcess(haproxy, []string{"-db", "-f", config}, kv, logPath)
	if err != nil {
		return nil, err
	}
	b := &Balancer{Addr: env["KAYLE_LB_ADDR"], StatsAddr: env["KAYLE_LB_STATS_ADDR"], Path: haproxy, Config: config, LogPath: logPath, cmd: cmd, exited: exited}
	go func() { _ = cmd.Wait(); close(exited) }()
	err = poll(ctx, 20*time.Millisecond, func() error {
		if closed(exited) {
			log, _ := os.ReadFile(logPath)
			return errStop{fmt.Errorf("haproxy exited: %s", log)}
		}
		c, err := net.Dial("tcp", b.Addr)
		if err == nil {
			c.Close()
		}
		return err
	})
	if err != nil {
		b.Stop()
		return nil, err
	}
	return b, nil
}

// States reads each replica's state from HAProxy's status page: "UP",
// "DOWN", or a transition such as "UP 1/2".
func (b *Balancer) States() (map[string]string, error) {
	resp, err := probe.Get("http://" + b.StatsAddr + "/stats;csv")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	rows, err := csv.NewReader(resp.Body).ReadAll()
	if err != nil || len(rows) == 0 {
		return nil, fmt.Errorf("haproxy stats: %v", err)
	}
	col := map[string]int{}
	for i, name := range rows[0] {
		col[strings.TrimPrefix(name, "# ")] = i
	}
	out := map[string]string{}
	for _, row := range rows[1:] {
		if row[col["pxname"]] == "replicas" && row[col["svname"]] != "BACKEND" {
			out[row[col["svname"]]] = row[col["status"]]
		}
	}
	return out, nil
}

// WaitState waits until HAProxy reports the replica in the state.
func (b *Balancer) WaitState(ctx context.Context, replica, state string) error {
	return poll(ctx, 20*time.Millisecond, func() error {
		st, err := b.States()
		if err != nil {
			return err
		}
		if st[replica] != state {
			return fmt.Errorf("haproxy: %s is %q, waiting for %q", replica, st[replica], state)
		}
		return nil
	})
}

// Stop stops HAProxy (SIGUSR1 would let connections finish; this is the
// end of a run, so SIGTERM).
func (b *Balancer) Stop() {
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.exited:
	case <-time.After(5 * time.Second):
		_ = b.cmd.Process.Kill()
		<-b.exited
	}
}

// Restart stops a replica with SIGTERM, waits for it to exit (status 0
// required), starts it again, and waits until it is ready and HAProxy has
// put it back in rotation.
func Restart(ctx context.Context, r *Replica, lb *Balancer) error {
	if err := r.Stop(syscall.SIGTERM, 30*time.Second); err != nil {
		return fmt.Errorf("%s: exit after SIGTERM: %w", r.Name, err)
	}
	if err := r.Start(); err != nil {
		return err
	}
	if err := r.WaitReady(ctx); err != nil {
		return err
	}
	return lb.WaitState(ctx, r.Name, "UP")
}

// FreeAddrs returns n loopback addresses with ports free at the time.
func FreeAddrs(n int) ([]string, error) {
	var out []string
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		out = append(out, l.Addr().String())
	}
	return out, nil
}

// startProcess starts bin in its own process group (a terminal's Ctrl-C
// reaches only the parent, which stops children in order), killed if the
// parent dies, with output appended to logPath.
func startProcess(bin string, args, env []string, logPath string) (*exec.Cmd, chan struct{}, error) {
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return nil, nil, err
	}
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, err
	}
	defer logFile.Close() // the child has its own copy
	cmd := exec.Command(bin, args...)
	// The cluster's settings only: none inherited from the caller's shell.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KAYLE_") && !strings.HasPrefix(kv, "DATABASE_URL=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	return cmd, make(chan struct{}), nil
}

// errStop ends a poll early.
type errStop struct{ error }

func poll(ctx context.Context, every time.Duration, try func() error) error {
	for {
		err := try()
		if err == nil {
			return nil
		}
		var stop errStop
		if errors.As(err, &stop) {
			return stop.error
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-time.After(every):
		}
	}
}

func closed(c chan struct{}) bool {
	if c == nil {
		return false
	}
	select {
	case <-c:
		return true
	default:
		return false
	}
}
