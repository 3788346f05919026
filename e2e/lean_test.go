package e2e_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ffitel/ffitel/e2e"
)

// leanWorker is the smallest Go worker: phase 1, a log line, phase 2,
// shutdown, importing bootstrap and whatever extra imports.
const leanWorker = `package main

import (
	"context"
	"log/slog"

	"github.com/ffitel/ffitel/bootstrap"
%s)

func main() {
	if err := bootstrap.InitConsoleOnly(); err != nil {
		panic(err)
	}
	slog.Info("worker starting")
	ctx := context.Background()
	if err := bootstrap.InitTelemetry(ctx); err != nil {
		panic(err)
	}
	_ = bootstrap.Shutdown(ctx)
}
`

// buildLeanWorker builds leanWorker in a module of its own that requires
// ffitel through a replace to this checkout, as a user's worker would, and
// returns the modules `go version -m` lists in the binary.
func buildLeanWorker(t *testing.T, extraImports string) string {
	t.Helper()
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("main.go", strings.Replace(leanWorker, "%s", extraImports, 1))
	write("go.mod", "module example.com/leanworker\n\ngo 1.26\n\nrequire github.com/ffitel/ffitel v0.0.0\n\n"+
		"replace github.com/ffitel/ffitel => "+e2e.RepoRoot()+"\n")
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		// go.sum is written by tidy from the module cache (`go mod download`
		// in the checkout fills it; no network then).
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run("mod", "tidy")
	run("build", "-o", "worker", ".")
	return run("version", "-m", filepath.Join(dir, "worker"))
}

var heavyModules = []string{
	"github.com/jackc/pgx",
	"github.com/prometheus/client_golang",
	"go.opentelemetry.io/otel/exporters/prometheus",
}

// A Go worker that imports only bootstrap links neither pgx nor the
// Prometheus client; with the two blank imports (what cshim does) it links
// both, so the check below sees what it looks for.
func TestLeanWorkerLinksNoPgxNorPrometheus(t *testing.T) {
	lean := buildLeanWorker(t, "")
	if !strings.Contains(lean, "go.opentelemetry.io/otel/sdk") {
		t.Fatalf("go version -m lists no OpenTelemetry SDK; cannot judge the module list:\n%s", lean)
	}
	for _, m := range heavyModules {
		if strings.Contains(lean, m) {
			t.Errorf("a worker importing only bootstrap links %s:\n%s", m, lean)
		}
	}

	full := buildLeanWorker(t, "\t_ \"github.com/ffitel/ffitel/bootstrap/promexport\"\n\t_ \"github.com/ffitel/ffitel/events/pgsink\"\n")
	for _, m := range heavyModules {
		if !strings.Contains(full, m) {
			t.Errorf("a worker importing bootstrap/promexport and events/pgsink does not link %s:\n%s", m, full)
		}
	}
}
