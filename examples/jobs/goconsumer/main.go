// Command goconsumer processes the jobs examples/jobs/producer.py enqueued,
// each attempt inside bootstrap.Tasks().Run: the Go side of job telemetry.
//
//	go run ./examples/jobs/goconsumer jobs.jsonl
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/ffitel/ffitel/bootstrap"
	"github.com/ffitel/ffitel/metrics"
)

type job struct {
	Type    string            `json:"type"`
	TaskID  string            `json:"task_id"`
	Attempt int               `json:"attempt"`
	Carrier map[string]string `json:"carrier"`
	Fail    bool              `json:"fail"`
}

// errReportFailed has a stable error.type for the metrics.
type errReportFailed struct{}

func (errReportFailed) Error() string     { return "renderer timed out" }
func (errReportFailed) ErrorType() string { return "ReportFailed" }

func main() {
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "goconsumer:", err)
		os.Exit(1)
	}
}

func run(path string) error {
	ctx := context.Background()
	if err := bootstrap.InitTelemetry(ctx); err != nil {
		return err
	}
	defer bootstrap.Shutdown(context.Background())
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var j job
		if err := json.Unmarshal(sc.Bytes(), &j); err != nil {
			return err
		}
		info := metrics.TaskInfo{Type: j.Type, Worker: "go-report-worker", ID: j.TaskID, Attempt: j.Attempt,
			Carrier: j.Carrier, Propagation: metrics.PropagationAuto}
		err := bootstrap.Tasks().Run(ctx, info, func(ctx context.Context) error {
			slog.InfoContext(ctx, "go consumer working", slog.String("task_id", j.TaskID), slog.Int("attempt", j.Attempt))
			if j.Fail {
				return errReportFailed{}
			}
			return nil
		})
		if errors.As(err, new(errReportFailed)) {
			slog.WarnContext(ctx, "job failed; the queue will retry it", slog.String("error", err.Error()))
		}
	}
	return sc.Err()
}
