// Command benchspool measures the spool (FFITEL_SPOOL_DIR, docs/SPOOL.md)
// against the in-memory path, each run with a real Collector of its own:
// the host-thread CPU per ffitel_log_attrs call with the spool off and on
// (the "paced" row of build/bench_abi, FFITEL_LOG_OUTPUT=none, rounds
// interleaved); the shipping throughput, records per second delivered to
// the Collector when N records are logged at once and flushed, by the
// in-memory path and by the spool side by side (build/spool_worker log N 0
// MS); and the recovery of N records left by a SIGKILLed worker, shipped by
// the next one (spool_worker crash N, then spool_worker ship N MS).
//
//	make bench-spool
//	go run ./e2e/cmd/benchspool -n 100000 -rounds 3 -dir /tmp
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"

	"github.com/ffitel/ffitel/e2e"
	"github.com/ffitel/ffitel/metrics"
)

var (
	n      = flag.Int("n", 100000, "records per run")
	rounds = flag.Int("rounds", 3, "rounds of the host-thread measure (off and on interleaved)")
	lib    = flag.String("lib", "build/libffitel.so", "the library bench_abi loads")
	abi    = flag.String("abi", "build/bench_abi", "tests/c/bench_abi.c, built")
	worker = flag.String("worker", "build/spool_worker", "tests/c/spool_worker.c, built against -lib")
	dir    = flag.String("dir", os.TempDir(), "where spool directories are made (ext4 or tmpfs: say which)")
)

func main() {
	flag.Parse()
	fmt.Printf("spool directories under %s (%s)\n\n", *dir, fsType(*dir))
	hostThread()
	throughput()
	recovery()
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "benchspool: "+format+"\n", args...)
	os.Exit(1)
}

// withCollector runs bin with a fresh Collector; extra is added to the
// environment. It returns stdout and how many log records with body the
// Collector received.
func withCollector(extra []string, body, bin string, args ...string) (string, int) {
	cdir, err := os.MkdirTemp("", "ffitel-collector-")
	if err != nil {
		fail("%v", err)
	}
	defer os.RemoveAll(cdir)
	col, err := e2e.Start(cdir)
	if err != nil {
		fail("collector: %v", err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(append(os.Environ(), col.Env()...), extra...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	runErr := cmd.Run()
	col.Stop()
	if runErr != nil {
		fail("%s %v: %v\n%s", bin, args, runErr, tail(errb.String()))
	}
	return out.String(), col.CountLogBodies(body)
}

func tail(s string) string {
	if len(s) > 2000 {
		return s[len(s)-2000:]
	}
	return s
}

func spoolDir() string {
	d, err := os.MkdirTemp(*dir, "ffitel-spool-")
	if err != nil {
		fail("%v", err)
	}
	return d
}

// fsType names the file system of path (from /proc/mounts: the longest
// mount point that is a prefix of it).
func fsType(path string) string {
	data, err := os.ReadFile("/proc/mounts")
	if err != nil {
		return "?"
	}
	best, typ := "", "?"
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 3 && strings.HasPrefix(path, f[1]) && len(f[1]) > len(best) {
			best, typ = f[1], f[2]
		}
	}
	return typ
}

var pacedRE = regexp.MustCompile(`(?m)^\| ffitel_log_attrs, paced[^|]*\|[^|]*\|\s*([0-9.]+)\s*\|`)
var faultsRE = regexp.MustCompile(`(?m)^\| paced: host-thread page faults[^|]*\|[^|]*\|\s*([^|]+?)\s*\|`)

func paced(spool string) (float64, string) {
	env := []string{"FFITEL_LOG_OUTPUT=none"}
	if spool != "" {
		env = append(env, "FFITEL_SPOOL_DIR="+spool)
		defer os.RemoveAll(spool)
	}
	out, _ := withCollector(env, "", *abi, *lib, strconv.Itoa(*n))
	m := pacedRE.FindStringSubmatch(out)
	if m == nil {
		fail("no paced row in bench_abi's output:\n%s", out)
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	faults := ""
	if f := faultsRE.FindStringSubmatch(out); f != nil {
		faults = f[1]
	}
	return v, faults
}

func hostThread() {
	fmt.Printf("Host-thread CPU per ffitel_log_attrs call, paced (bursts of 1000, 20 ms apart), %d calls,\n", *n)
	fmt.Printf("FFITEL_LOG_OUTPUT=none (build/bench_abi):\n\n")
	fmt.Println("| round | spool off, ns | spool on, ns | on / off | spool on: page faults (minor, major), worst burst |")
	fmt.Println("|---|---|---|---|---|")
	var sumOff, sumOn float64
	for r := 1; r <= *rounds; r++ {
		off, _ := paced("")
		on, faults := paced(spoolDir())
		sumOff += off
		sumOn += on
		fmt.Printf("| %d | %.0f | %.0f | %.2fx | %s |\n", r, off, on, on/off, faults)
	}
	fmt.Printf("| mean | %.0f | %.0f | %.2fx | |\n\n", sumOff/float64(*rounds), sumOn/float64(*rounds),
		sumOn/sumOff)
}

var timingRE = regexp.MustCompile(`timing logged_ms (\d+) flushed_ms (\d+)`)

// stats returns the stats documents a worker printed ("stats {...}").
func stats(out string) []metrics.Snapshot {
	var snaps []metrics.Snapshot
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if doc, ok := strings.CutPrefix(sc.Text(), "stats "); ok {
			var s metrics.Snapshot
			if err := json.Unmarshal([]byte(doc), &s); err != nil {
				fail("stats line: %v", err)
			}
			snaps = append(snaps, s)
		}
	}
	return snaps
}

func throughput() {
	fmt.Printf("Shipping throughput: %d records (3 typed attributes) logged at once, then ffitel_flush;\n", *n)
	fmt.Printf("delivered = received by the Collector (build/spool_worker log %d 0 120000):\n\n", *n)
	fmt.Println("| path | logged in | logged and delivered in | delivered | records/s delivered | dropped |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, withSpool := range []bool{false, true} {
		env := []string{"FFITEL_LOG_OUTPUT=none", "OTEL_METRICS_EXPORTER=none"}
		name := "in memory"
		if withSpool {
			d := spoolDir()
			defer os.RemoveAll(d)
			env = append(env, "FFITEL_SPOOL_DIR="+d)
			name = "spool"
		}
		out, got := withCollector(env, "spool log record", *worker, "log", strconv.Itoa(*n), "0", "120000")
		m := timingRE.FindStringSubmatch(out)
		snaps := stats(out)
		if m == nil || len(snaps) == 0 {
			fail("spool_worker log: no timing or stats:\n%s", out)
		}
		logged, _ := strconv.Atoi(m[1])
		flushed, _ := strconv.Atoi(m[2])
		fmt.Printf("| %s | %d ms | %d ms | %d | %.0f | %d |\n", name, logged, flushed, got,
			float64(got)/(float64(max(flushed, 1))/1000), snaps[0].Pipeline.Logs.Dropped)
	}
	fmt.Println()
}

// closedEndpoint is an address nothing listens on (a Collector that is down).
func closedEndpoint() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail("%v", err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

var recoveredRE = regexp.MustCompile(`recovered_ms (\d+)`)

func recovery() {
	d := spoolDir()
	defer os.RemoveAll(d)
	cmd := exec.Command(*worker, "crash", strconv.Itoa(*n))
	cmd.Env = append(os.Environ(), "TELEMETRY_ENABLED=true", "OTEL_EXPORTER_OTLP_ENDPOINT="+closedEndpoint(),
		"FFITEL_SPOOL_DIR="+d, "FFITEL_LOG_OUTPUT=none", "OTEL_METRICS_EXPORTER=none")
	out, _ := cmd.Output() // it dies of SIGKILL
	if !strings.Contains(string(out), fmt.Sprintf("logged %d", *n)) {
		fail("spool_worker crash: %s", out)
	}
	segs := 0
	if ents, err := os.ReadDir(d); err == nil {
		for _, e := range ents {
			if strings.HasSuffix(e.Name(), ".seg") {
				segs++
			}
		}
	}
	shipOut, got := withCollector([]string{"FFITEL_SPOOL_DIR=" + d, "FFITEL_LOG_OUTPUT=none",
		"OTEL_METRICS_EXPORTER=none"}, "spool crash record", *worker, "ship", strconv.Itoa(*n), "120000")
	m := recoveredRE.FindStringSubmatch(shipOut)
	if m == nil {
		fail("spool_worker ship: %s", shipOut)
	}
	ms, _ := strconv.Atoi(m[1])
	fmt.Printf("Recovery: %d records left by a SIGKILLed worker (%d segments) shipped by the next worker\n", *n, segs)
	fmt.Printf("(build/spool_worker crash %d, then ship %d 120000):\n\n", *n, *n)
	fmt.Println("| records | recovered in | records/s | delivered |")
	fmt.Println("|---|---|---|---|")
	fmt.Printf("| %d | %d ms | %.0f | %d |\n", *n, ms, float64(*n)/(float64(max(ms, 1))/1000), got)
}
