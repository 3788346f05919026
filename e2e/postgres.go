package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Postgres is a throwaway PostgreSQL server for one test: its own data
// directory under t.TempDir(), a loopback TCP port, and a superuser that
// logs in with a password (scram-sha-256). Stop and Start restart it on the
// same data directory and port, for reconnect tests.
type Postgres struct {
	URL      string // postgres://USER:PASSWORD@127.0.0.1:PORT/DATABASE
	Host     string
	Port     int
	User     string
	Password string
	Database string
	DataDir  string

	bindir  string
	logPath string
	cred    *syscall.Credential // run as this user (the postgres user when we are root)

	t    testing.TB
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// PostgresBinDir is FFITEL_PG_BINDIR, else the newest /usr/lib/postgresql/*/bin
// (the Debian layout), else the directory of initdb on PATH. It returns ""
// when no PostgreSQL server binaries are found.
func PostgresBinDir() string {
	if d := os.Getenv("FFITEL_PG_BINDIR"); d != "" {
		return d
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgMajor(dirs[i]) > pgMajor(dirs[j]) })
	for _, d := range dirs {
		if isExecutable(filepath.Join(d, "initdb")) && isExecutable(filepath.Join(d, "postgres")) {
			return d
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p)
	}
	return ""
}

func pgMajor(bindir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(bindir)))
	return n
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// StartPostgres initialises a fresh cluster in t.TempDir(), starts it on a
// free loopback port and stops it when the test ends. It fails (never skips)
// when the PostgreSQL binaries are missing.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	bindir := PostgresBinDir()
	for _, b := range []string{"initdb", "postgres", "pg_isready", "createdb"} {
		if bindir == "" || !isExecutable(filepath.Join(bindir, b)) {
			t.Fatalf("PostgreSQL server binaries are missing (looked for %s in FFITEL_PG_BINDIR, /usr/lib/postgresql/*/bin and PATH): "+
				"install the Debian package postgresql (make test does it) or set FFITEL_PG_BINDIR", b)
		}
	}
	p := &Postgres{
		Host:     "127.0.0.1",
		User:     "ffitel",
		Password: "pw-" + randomHex(12),
		Database: "ffitel",
		bindir:   bindir,
		t:        t,
	}
	root := t.TempDir()
	if err := p.prepare(root); err != nil {
		t.Fatalf("postgres: %v", err)
	}
	p.Port = FreePort(t)
	p.URL = fmt.Sprintf("postgres://%s:%s@%s:%d/%s?sslmode=disable", p.User, p.Password, p.Host, p.Port, p.Database)
	if err := p.initdb(root); err != nil {
		t.Fatalf("postgres: %v", err)
	}
	t.Cleanup(p.Stop)
	if err := p.start(); err != nil {
		t.Fatalf("postgres: %v", err)
	}
	if err := p.createdb(); err != nil {
		t.Fatalf("postgres: %v", err)
	}
	return p
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// prepare decides which user runs the server. initdb refuses root, so as root
// the data directory is handed to the `postgres` system user.
func (p *Postgres) prepare(root string) error {
	p.DataDir = filepath.Join(root, "data")
	p.logPath = filepath.Join(root, "postgres.log")
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return fmt.Errorf("running as root, and initdb refuses root: need the `postgres` system user (created by the Debian package): %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	p.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	// t.TempDir()'s parent is private to root; let the postgres user through.
	tmp := filepath.Clean(os.TempDir()) + string(filepath.Separator)
	for d := filepath.Dir(root); strings.HasPrefix(d, tmp); d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err != nil {
			return err
		}
		if st.Mode().Perm()&0o001 == 0 {
			if err := os.Chmod(d, st.Mode().Perm()|0o011); err != nil {
				return err
			}
		}
	}
	if err := os.Chown(root, uid, gid); err != nil {
		return err
	}
	return nil
}

func (p *Postgres) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(p.bindir, name), args...)
	if p.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	}
	cmd.Env = append(os.Environ(), "LC_ALL=C", "PGPASSWORD="+p.Password)
	cmd.Dir = filepath.Dir(p.DataDir)
	return cmd
}

func (p *Postgres) initdb(root string) error {
	pwfile := filepath.Join(root, "pwfile")
	if err := os.WriteFile(pwfile, []byte(p.Password+"\n"), 0o600); err != nil {
		return err
	}
	defer os.Remove(pwfile)
	if p.cred != nil {
		if err := os.Chown(pwfile, int(p.cred.Uid), int(p.cred.Gid)); err != nil {
			return err
		}
	}
	cmd := p.command("initdb", "-D", p.DataDir, "-U", p.User, "--pwfile="+pwfile,
		"--auth=scram-sha-256", "--encoding=UTF8", "--no-instructions", "--no-sync")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb in %s failed: %v\n%s", p.DataDir, err, out)
	}
	return nil
}

func (p *Postgres) createdb() error {
	cmd := p.command("createdb", "-h", p.Host, "-p", strconv.Itoa(p.Port), "-U", p.User, "-w", p.Database)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("createdb %s failed: %v\n%s", p.Database, err, out)
	}
	return nil
}

// Start restarts the server on the same data directory and port and waits
// until it accepts connections; it fails the test when it cannot. A no-op
// while the server runs. Call it from the test's goroutine.
func (p *Postgres) Start() {
	p.t.Helper()
	if err := p.start(); err != nil {
		p.t.Fatalf("postgres: restart: %v", err)
	}
}

func (p *Postgres) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return nil
	}
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := p.command("postgres", "-D", p.DataDir,
		"-c", "listen_addresses="+p.Host,
		"-c", "port="+strconv.Itoa(p.Port),
		"-c", "unix_socket_directories=",
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "max_connections=50",
		"-c", "shared_buffers=16MB",
	)
	cmd.Stdout = logf
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start postgres: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
	p.cmd, p.done = cmd, done

	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-done:
			p.cmd, p.done = nil, nil
			return fmt.Errorf("postgres exited during startup (%s): %s", cmd.ProcessState, p.logTail())
		default:
		}
		ready := p.command("pg_isready", "-q", "-h", p.Host, "-p", strconv.Itoa(p.Port), "-U", p.User, "-d", "postgres", "-t", "1")
		if ready.Run() == nil {
			return nil
		}
		if time.Now().After(deadline) {
			p.stopLocked()
			return fmt.Errorf("postgres did not accept connections on %s:%d within 30s: %s", p.Host, p.Port, p.logTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop shuts the server down (fast shutdown: open connections are
// terminated) and waits for it to exit. Idempotent.
func (p *Postgres) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopLocked()
}

func (p *Postgres) stopLocked() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGINT) // fast shutdown
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Signal(syscall.SIGQUIT) // immediate shutdown
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
	p.cmd, p.done = nil, nil
	// The port must be free again before a restart can bind it.
	for i := 0; i < 100; i++ {
		c, err := net.DialTimeout("tcp", net.JoinHostPort(p.Host, strconv.Itoa(p.Port)), 100*time.Millisecond)
		if err != nil {
			return
		}
		c.Close()
		time.Sleep(20 * time.Millisecond)
	}
}

// Log returns the server's log so far (for failure messages).
func (p *Postgres) Log() string {
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}

func (p *Postgres) logTail() string {
	b, _ := os.ReadFile(p.logPath)
	b = bytes.TrimSpace(b)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	if len(b) == 0 {
		return "(empty log)"
	}
	return "\n" + strings.TrimSpace(string(b))
}
