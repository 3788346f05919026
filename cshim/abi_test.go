package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// builtLibrary is the library `make build` produces.
func builtLibrary(t *testing.T) string {
	t.Helper()
	p, _ := filepath.Abs(filepath.Join("..", "build", "libffitel.so"))
	if env := os.Getenv("FFITEL_LIBRARY"); env != "" {
		p = env
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s is missing: run `make build` first (make test does): %v", p, err)
	}
	return p
}

var declRE = regexp.MustCompile(`^(?:const\s+)?[a-z_0-9]+\s*\*?\s*(ffitel_[a-z_]+)\(`)

func TestHeaderDeclaresExactlyTheExportedSymbols(t *testing.T) {
	lib := builtLibrary(t)
	f, err := os.Open(filepath.Join("include", "ffitel.h"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	declared := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := declRE.FindStringSubmatch(strings.TrimSpace(sc.Text())); m != nil {
			declared[m[1]] = true
		}
	}
	if len(declared) < 20 {
		t.Fatalf("parsed only %d declarations from ffitel.h: %v", len(declared), declared)
	}
	out, err := exec.Command("nm", "-D", "--defined-only", lib).Output()
	if err != nil {
		t.Fatalf("nm: %v", err)
	}
	exported := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 3 && fields[1] == "T" && strings.HasPrefix(fields[2], "ffitel") {
			exported[fields[2]] = true
		}
	}
	var missing, extra []string
	for s := range declared {
		if !exported[s] {
			missing = append(missing, s)
		}
	}
	for s := range exported {
		if !declared[s] {
			extra = append(extra, s)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 || len(extra) > 0 {
		t.Errorf("header and library disagree:\n declared, not exported: %v\n exported, not declared: %v", missing, extra)
	}
}

// The contract of DESIGN.md: every function it names is in the header.
func TestHeaderHasEveryContractFunction(t *testing.T) {
	h, err := os.ReadFile(filepath.Join("include", "ffitel.h"))
	if err != nil {
		t.Fatal(err)
	}
	for _, fn := range []string{"ffitel_version", "ffitel_init_console", "ffitel_init_telemetry", "ffitel_shutdown",
		"ffitel_phase", "ffitel_last_error", "ffitel_log", "ffitel_log_enabled", "ffitel_span_start",
		"ffitel_span_set_attributes", "ffitel_span_add_event", "ffitel_span_end", "ffitel_span_traceparent",
		"ffitel_counter_add", "ffitel_histogram_record", "ffitel_task_start", "ffitel_task_start_ex", "ffitel_task_end",
		"ffitel_event_publish", "ffitel_event_subscribe", "ffitel_event_poll", "ffitel_event_unsubscribe",
		"ffitel_stats_json"} {
		if !strings.Contains(string(h), " "+fn+"(") && !strings.Contains(string(h), "*"+fn+"(") {
			t.Errorf("ffitel.h lacks %s", fn)
		}
	}
}
