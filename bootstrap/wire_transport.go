package bootstrap

// The wire paths' transport: the OTLP gRPC exporters are built as usual
// (environment, TLS, headers, compression, reconnection), with a unary
// interceptor that swaps the request the exporter built for one placeholder
// against the bytes the encoder made (wire_export.go, span_wire_export.go)
// and reads the answer back: partial success, or a refusal for size.

import (
	"context"
	"fmt"
	"strings"
	"sync"

	collogpb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"

	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	sdklog "go.opentelemetry.io/otel/sdk/log"
)

const logsExportMethod = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"

// wireCall carries one batch's encoded request into the interceptor and its
// outcome back.
type wireCall struct {
	body     []byte
	sent     bool  // the interceptor saw the call
	err      error // the last attempt's transport error
	rejected int64 // partial success: records the receiver rejected
	message  string
}

type wireCallKey struct{}

// wireDialOption is the gRPC dial option the OTLP log and trace exporters
// are built with so that the wire paths can send their bytes through it. Calls without a
// wireCall in their context pass through untouched.
func wireDialOption() grpc.DialOption {
	return grpc.WithChainUnaryInterceptor(wireInterceptor)
}

func wireInterceptor(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn,
	invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	wc, _ := ctx.Value(wireCallKey{}).(*wireCall)
	if wc == nil || (method != logsExportMethod && method != tracesExportMethod) {
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	wc.sent = true
	err := invoker(ctx, method, rawMessage(wc.body), reply, cc, append(opts, grpc.ForceCodecV2(rawCodec{}))...)
	wc.err = err
	wc.rejected, wc.message = 0, ""
	switch resp := reply.(type) {
	case *collogpb.ExportLogsServiceResponse:
		if ps := resp.GetPartialSuccess(); ps != nil {
			wc.rejected, wc.message = ps.GetRejectedLogRecords(), ps.GetErrorMessage()
		}
	case *coltracepb.ExportTraceServiceResponse:
		if ps := resp.GetPartialSuccess(); ps != nil {
			wc.rejected, wc.message = ps.GetRejectedSpans(), ps.GetErrorMessage()
		}
	}
	return err
}

// wireError is the error of a wire call: a request the receiver refused
// for its size becomes a *tooLargeError, which the queue answers by
// splitting the batch (batch.go).
func wireError(wc *wireCall, err error) error {
	if wc.err != nil && isTooLarge(wc.err) {
		return &tooLargeError{err: err}
	}
	return err
}

// isTooLarge: the gRPC status of a message over the receiver's (or the
// sender's) size limit: ResourceExhausted, "... larger than max (N vs. M)".
// A Collector's memory limiter also answers ResourceExhausted, with another
// message: that one is retried as usual.
func isTooLarge(err error) bool {
	s, ok := status.FromError(err)
	return ok && s.Code() == codes.ResourceExhausted && strings.Contains(s.Message(), "larger than max")
}

// rawMessage is a request already encoded.
type rawMessage []byte

// rawCodec sends a rawMessage as it is and leaves everything else
// (the response) to the protobuf codec.
type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	if m, ok := v.(rawMessage); ok {
		// A copy, which gRPC frees once written: the transport may still be
		// writing after the call has returned (the receiver refused the
		// request part-way, or its deadline passed), while the encoder
		// already fills its buffer with the next request.
		return mem.BufferSlice{mem.Copy(m, requestBuffers)}, nil
	}
	return encoding.GetCodecV2("proto").Marshal(v)
}

// requestBuffers holds the copies of sent requests for the next ones.
// gRPC's default pool is a sync.Pool, emptied by every collection, that
// zeroes a buffer on each Get: at 10 000 spans/s a fresh 128 KiB buffer was
// allocated for most requests (a seventh of all the bytes the span pipeline
// allocated) and cleared for every one. This free list survives
// collections and does not zero (the copy overwrites what is used).
var requestBuffers = &requestPool{}

type requestPool struct {
	mu   sync.Mutex
	free []*[]byte
}

// maxFreeRequests bounds the buffers kept (requests in flight at once are
// one or two per signal).
const maxFreeRequests = 4

func (p *requestPool) Get(n int) *[]byte {
	p.mu.Lock()
	for i := len(p.free) - 1; i >= 0; i-- {
		if b := p.free[i]; cap(*b) >= n {
			p.free = append(p.free[:i], p.free[i+1:]...)
			p.mu.Unlock()
			*b = (*b)[:n]
			return b
		}
	}
	p.mu.Unlock()
	// Room to grow: a request is usually about the size of the last one.
	b := make([]byte, n, max(n+n/4, 64<<10))
	return &b
}

func (p *requestPool) Put(b *[]byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.free) < maxFreeRequests {
		p.free = append(p.free, b)
		return
	}
	// Keep the bigger buffers: b replaces the smallest if it is bigger.
	small := 0
	for i, f := range p.free {
		if cap(*f) < cap(*p.free[small]) {
			small = i
		}
	}
	if cap(*p.free[small]) < cap(*b) {
		p.free[small] = b
	}
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	return encoding.GetCodecV2("proto").Unmarshal(data, v)
}

// wireLogExporter is the OTLP gRPC log exporter built with wireDialOption:
// the converter sends encoded requests through it.
type wireLogExporter struct{ *otlploggrpc.Exporter }

// newWireGRPCLogExporter builds the OTLP gRPC log exporter from opts and the
// environment, with the wire path's interceptor. otlploggrpc.WithDialOption
// replaces earlier dial options rather than adding to them, so any other
// dial options must come in dialOpts, not in opts.
func newWireGRPCLogExporter(ctx context.Context, dialOpts []grpc.DialOption, opts ...otlploggrpc.Option) (sdklog.Exporter, error) {
	dialOpts = append(dialOpts[:len(dialOpts):len(dialOpts)], wireDialOption())
	exp, err := otlploggrpc.New(ctx, append(opts, otlploggrpc.WithDialOption(dialOpts...))...)
	if err != nil {
		return nil, err
	}
	return wireLogExporter{exp}, nil
}

// rejectedError reports a partial success: the receiver accepted the batch
// but rejected n of its records (what: "spans"; log records when empty).
// The queue counts those as failed and the rest as exported, and does not
// retry.
type rejectedError struct {
	n    int
	msg  string
	what string
}

func (e *rejectedError) Error() string {
	what := e.what
	if what == "" {
		what = "log records"
	}
	return fmt.Sprintf("OTLP partial success: %s (%d %s rejected)", e.msg, e.n, what)
}
