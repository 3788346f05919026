// Command otlpsink is an OTLP/gRPC receiver that counts what it gets and
// keeps nothing: the "in-process sink" of docs/PERFORMANCE.md (session 7),
// against which a worker's export costs can be told apart from the
// Collector's (the Collector answers an export only once its pipeline has
// taken the request). -bigwin grants 16 MiB HTTP/2 windows instead of gRPC's
// default.
//
//	go run ./e2e/cmd/otlpsink -addr 127.0.0.1:14317
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"

	collogs "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
)

type logsSink struct {
	collogs.UnimplementedLogsServiceServer
}

func (logsSink) Export(context.Context, *collogs.ExportLogsServiceRequest) (*collogs.ExportLogsServiceResponse, error) {
	return &collogs.ExportLogsServiceResponse{}, nil
}

type traceSink struct {
	coltrace.UnimplementedTraceServiceServer
}

func (traceSink) Export(context.Context, *coltrace.ExportTraceServiceRequest) (*coltrace.ExportTraceServiceResponse, error) {
	return &coltrace.ExportTraceServiceResponse{}, nil
}

func main() {
	addr := flag.String("addr", "127.0.0.1:14317", "listen address")
	big := flag.Bool("bigwin", false, "16 MiB stream and connection windows")
	flag.Parse()
	var opts []grpc.ServerOption
	if *big {
		opts = append(opts, grpc.InitialWindowSize(16<<20), grpc.InitialConnWindowSize(16<<20))
	}
	s := grpc.NewServer(opts...)
	collogs.RegisterLogsServiceServer(s, logsSink{})
	coltrace.RegisterTraceServiceServer(s, traceSink{})
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("otlpsink listening on", *addr)
	if err := s.Serve(l); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
