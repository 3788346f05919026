package bootstrap

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdklog "go.opentelemetry.io/otel/sdk/log"
)

// frameCounter is a TCP proxy in front of an OTLP receiver that counts the
// HTTP/2 frames the client sends, by type (RFC 9113 §4.1).
type frameCounter struct {
	addr    string
	pings   atomic.Int64 // PING frames without ACK: pings the client started
	windows atomic.Int64 // WINDOW_UPDATE frames
	data    atomic.Int64 // DATA frames
}

func startFrameCounter(t *testing.T, upstream string) *frameCounter {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fc := &frameCounter{addr: l.Addr().String()}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", upstream)
			if err != nil {
				c.Close()
				continue
			}
			wg.Add(2)
			go func() { defer wg.Done(); _, _ = io.Copy(c, u); c.Close() }()
			go func() { defer wg.Done(); fc.relay(c, u); u.Close() }()
		}
	}()
	return fc
}

// relay copies the client's bytes to the receiver frame by frame.
func (fc *frameCounter) relay(client, upstream net.Conn) {
	preface := make([]byte, 24) // "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
	if _, err := io.ReadFull(client, preface); err != nil {
		return
	}
	if _, err := upstream.Write(preface); err != nil {
		return
	}
	head := make([]byte, 9)
	for {
		if _, err := io.ReadFull(client, head); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint32(append([]byte{0}, head[:3]...)))
		payload := make([]byte, n)
		if _, err := io.ReadFull(client, payload); err != nil {
			return
		}
		switch typ, flags := head[3], head[4]; {
		case typ == 0x0:
			fc.data.Add(1)
		case typ == 0x6 && flags&0x1 == 0:
			fc.pings.Add(1)
		case typ == 0x8:
			fc.windows.Add(1)
		}
		if _, err := upstream.Write(append(head, payload...)); err != nil {
			return
		}
	}
}

// The OTLP gRPC exporters receive only small responses, so they use a
// static receive window: gRPC's dynamic window would answer every response
// with a bandwidth-estimation PING (and the receiver's acknowledgement
// wakes the idle worker process once more per export). Fails with the
// default dial options: the client then sends a PING after each response.
func TestGRPCExportersSendNoPingsOfTheirOwn(t *testing.T) {
	ls, endpoint := startLogsServer(t)
	fc := startFrameCounter(t, strings.TrimPrefix(endpoint, "http://"))
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://"+fc.addr)
	t.Setenv("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
	t.Setenv("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "")
	t.Setenv("OTEL_LOGS_EXPORTER", "otlp")
	ctx := context.Background()
	cfg, _ := LoadConfig(os.Getenv)
	exp, err := newLogExporter(ctx, cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer exp.Shutdown(ctx)
	const exports = 20
	for i := 0; i < exports; i++ {
		var r sdklog.Record
		r.SetBody(attribute.StringValue(strings.Repeat("x", 4000)))
		if err := exp.Export(ctx, []sdklog.Record{r}); err != nil {
			t.Fatalf("export %d: %v", i, err)
		}
		// The responses' frames arrive; give the client time to answer them.
		time.Sleep(5 * time.Millisecond)
	}
	if got := len(ls.take()); got != exports {
		t.Fatalf("receiver got %d requests, want %d", got, exports)
	}
	if fc.data.Load() < exports {
		t.Fatalf("proxy counted %d DATA frames for %d requests: it did not see the traffic", fc.data.Load(), exports)
	}
	if p := fc.pings.Load(); p != 0 {
		t.Errorf("the exporter started %d PINGs over %d exports; want 0 (static receive window)", p, exports)
	}
	// One WINDOW_UPDATE at most: the connection window raised at start.
	if w := fc.windows.Load(); w > 1 {
		t.Errorf("the exporter sent %d WINDOW_UPDATE frames over %d exports; want at most 1", w, exports)
	}
}
