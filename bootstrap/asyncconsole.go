package bootstrap

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// asyncConsole takes the console off the host thread in phase 2: the host
// queues the record (the same copy the export queue keeps) and returns; a
// goroutine formats what has gathered, at most about every linger, and writes
// it in one write(2). Lines keep their order and none is dropped: past
// maxQueue records (the console is slower than the host) the caller formats
// and writes the queue itself, as a synchronous logger would. Records at
// ERROR and above, and ffitel's own lifecycle lines, are written before the
// call returns, with everything queued before them: they may be the last
// lines before a crash. Phase 1 stays synchronous: the host is still
// starting and may not live to see a goroutine run.
type asyncConsole struct {
	out      io.Writer
	linger   time.Duration
	maxQueue int

	mu     sync.Mutex // guards queue, idle, closed
	queue  []consoleItem
	idle   bool // the goroutine waits on wake
	closed bool

	writeMu sync.Mutex // one drainer at a time; guards spare and line
	spare   []consoleItem
	line    []byte // what the console handlers write while draining

	wake chan struct{}
	done chan struct{}
}

// consoleItem is one queued record and the console handler (the logger's
// WithAttrs/WithGroup chain applied) that formats it.
type consoleItem struct {
	h  slog.Handler
	it logItem
}

const (
	asyncLinger   = time.Millisecond
	asyncMaxQueue = 16384
	// asyncIdleFor is how many lingers without a record the goroutine
	// waits before it parks. Each linger is a wake-up of the process
	// (polling at 1 ms cost a worker logging in bursts ~2 µs per record
	// in CPU, docs/PERFORMANCE.md); parking costs the next record's caller
	// one channel send, once per burst.
	asyncIdleFor = 1
	asyncMaxLine = 1 << 20
)

func newAsyncConsole(out io.Writer) *asyncConsole {
	c := &asyncConsole{out: out, linger: asyncLinger, maxQueue: asyncMaxQueue,
		wake: make(chan struct{}, 1), done: make(chan struct{})}
	go c.run()
	return c
}

// sink is the io.Writer of the phase-2 console handlers. They only write
// while draining, with writeMu held.
type asyncSink struct{ c *asyncConsole }

var _ io.Writer = asyncSink{}

func (s asyncSink) Write(p []byte) (int, error) {
	s.c.line = append(s.c.line, p...)
	return len(p), nil
}

// add queues a record for console h.
func (c *asyncConsole) add(h slog.Handler, it logItem) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		c.writeMu.Lock()
		c.drainLocked() // what was queued before Close goes first
		c.format(h, &it)
		c.writeOutLocked()
		c.writeMu.Unlock()
		return
	}
	c.queue = append(c.queue, consoleItem{h: h, it: it})
	now := len(c.queue) >= c.maxQueue || it.record.Level >= slog.LevelError
	wake := c.idle
	c.idle = false
	c.mu.Unlock()
	if wake {
		// Only when the goroutine is parked: a busy console costs the host
		// no wake-up per record. Sent on every path that cleared idle, so
		// the goroutine never sleeps through later records.
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
	if now {
		_ = c.Flush()
	}
}

// Flush formats and writes everything queued so far before it returns.
func (c *asyncConsole) Flush() error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	c.drainLocked()
	return c.writeOutLocked()
}

func (c *asyncConsole) drainLocked() {
	c.mu.Lock()
	c.queue, c.spare = c.spare[:0], c.queue
	c.mu.Unlock()
	for i := range c.spare {
		c.format(c.spare[i].h, &c.spare[i].it)
		if len(c.line) >= asyncMaxLine {
			_ = c.writeOutLocked()
		}
	}
	clear(c.spare) // drop the records' references
	if cap(c.spare) > 4*c.maxQueue {
		c.spare = nil
	}
}

func (c *asyncConsole) format(h slog.Handler, it *logItem) {
	ctx := context.Background()
	if it.span.IsValid() {
		ctx = trace.ContextWithSpanContext(ctx, it.span)
	}
	if len(it.fields) > 0 {
		ctx = context.WithValue(ctx, fieldsKey{}, it.fields)
	}
	_ = h.Handle(ctx, it.record)
	it.release() // the console is done with the record
	it.logEntry = nil
}

func (c *asyncConsole) writeOutLocked() error {
	if len(c.line) == 0 {
		return nil
	}
	_, err := c.out.Write(c.line)
	if cap(c.line) > 4*asyncMaxLine {
		c.line = nil
	}
	c.line = c.line[:0]
	return err
}

func (c *asyncConsole) run() {
	defer close(c.done)
	quiet := 0
	for {
		c.mu.Lock()
		if len(c.queue) == 0 {
			if c.closed {
				c.mu.Unlock()
				return
			}
			if quiet >= asyncIdleFor {
				c.idle = true
				c.mu.Unlock()
				<-c.wake
				quiet = 0
				continue
			}
			c.mu.Unlock()
			quiet++
			time.Sleep(c.linger)
			continue
		}
		c.mu.Unlock()
		quiet = 0
		_ = c.Flush()
		time.Sleep(c.linger) // let the next records gather into one write
	}
}

// Close writes what is queued and stops the goroutine; later records are
// written on the caller's thread. It waits for the goroutine until ctx ends.
func (c *asyncConsole) Close(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	select {
	case <-c.done:
	case <-ctx.Done():
	}
	return c.Flush()
}
