// Command withcollector runs a command with a real OpenTelemetry Collector
// listening and the environment pointing at it (TELEMETRY_ENABLED=true,
// OTEL_EXPORTER_OTLP_ENDPOINT, short export intervals), then stops the
// Collector and prints how many log records, spans and metric points it
// received. Benchmarks use it to count what was delivered.
//
//	go run ./e2e/cmd/withcollector -- build/bench_abi
package main

import (
	"fmt"
	"os"
	"os/exec"

	"github.com/ffitel/ffitel/e2e"
)

func main() {
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: withcollector -- command [args...]")
		os.Exit(2)
	}
	dir, err := os.MkdirTemp("", "ffitel-collector-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer os.RemoveAll(dir)
	col, err := e2e.Start(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), col.Env()...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	runErr := cmd.Run()
	col.Stop()
	logs, _ := col.Logs()
	spans, _ := col.Spans()
	ms, _ := col.Metrics()
	fmt.Printf("collector received: %d log records, %d spans, %d metrics\n", len(logs), len(spans), len(ms))
	if runErr != nil {
		fmt.Fprintln(os.Stderr, "withcollector:", runErr)
		os.Exit(1)
	}
}
