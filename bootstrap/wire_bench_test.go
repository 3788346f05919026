package bootstrap

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/resource"

	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	collogpb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	"google.golang.org/grpc"
)

// discardLogsServer answers every export and keeps nothing.
type discardLogsServer struct {
	collogpb.UnimplementedLogsServiceServer
}

func (discardLogsServer) Export(context.Context, *collogpb.ExportLogsServiceRequest) (*collogpb.ExportLogsServiceResponse, error) {
	return &collogpb.ExportLogsServiceResponse{}, nil
}

// BenchmarkLogPathWire is BenchmarkLogPath's phase 2 with the OTLP/gRPC
// wire path (records encoded when queued) exporting to an in-process
// server, console off: the host's cost per record, the export's share
// spread over the records on ffitel's goroutine.
func BenchmarkLogPathWire(b *testing.B) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := grpc.NewServer()
	collogpb.RegisterLogsServiceServer(srv, discardLogsServer{})
	go func() { _ = srv.Serve(l) }()
	b.Cleanup(srv.Stop)
	exp, err := newWireGRPCLogExporter(context.Background(), nil, otlploggrpc.WithEndpointURL("http://"+l.Addr().String()))
	if err != nil {
		b.Fatal(err)
	}
	rt := New(Options{Getenv: mapEnv(map[string]string{"TELEMETRY_ENABLED": "true", "FFITEL_LOG_OUTPUT": "none"}),
		Output: io.Discard, testExporters: &exporters{logs: exp}})
	if err := rt.InitTelemetry(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = rt.Shutdown(context.Background()) })
	log := rt.Logger()
	attrs := []any{slog.Int("order_id", 42), slog.String("customer", "c-123"), slog.Bool("paid", true)}
	b.ReportAllocs()
	for b.Loop() {
		log.Info("charged card", attrs...)
	}
}

// BenchmarkWirePack is the host thread's share of the wire path: a record
// with three attributes copied from the caller's slog.Record and encoded
// into its queued bytes.
func BenchmarkWirePack(b *testing.B) {
	exp, err := newWireGRPCLogExporter(context.Background(), nil, otlploggrpc.WithEndpointURL("http://127.0.0.1:1"))
	if err != nil {
		b.Fatal(err)
	}
	conv := newLogConverter(resource.Empty(), exp)
	if conv.wire == nil {
		b.Fatal("no wire encoder")
	}
	r := slog.NewRecord(time.Now(), slog.LevelInfo, "charged card", 0)
	r.AddAttrs(slog.Int("order_id", 42), slog.String("customer", "c-123"), slog.Bool("paid", true))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		it := newOwnedLogItem(ctx, nil, r, 1)
		it = conv.wire.pack(it)
		if it.wire == nil {
			b.Fatal("not packed")
		}
	}
}
