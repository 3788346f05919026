package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
)

// FileSink appends events to a JSONL file, one DomainEvent JSON per line: the
// durable sink for development (FFITEL_EVENTS_DURABLE_URL=file:///path.jsonl).
// Each line is written with a single write on a file opened for appending, so
// concurrent writers in one process never interleave; with fsync on, Enqueue
// returns only after the line reached the disk.
type FileSink struct {
	path string

	mu     sync.Mutex
	f      *os.File
	fsync  bool
	closed bool
}

var _ Sink = (*FileSink)(nil)

// NewFileSink opens (creating it and its directory if needed) the file at
// path for appending.
func NewFileSink(path string) (*FileSink, error) {
	if path == "" {
		return nil, errors.New("events: file sink: empty path")
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("events: file sink: %w", err)
		}
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("events: file sink: %w", err)
	}
	return &FileSink{path: path, f: f}, nil
}

// SetFsync makes every Enqueue wait for the line to reach the disk (off by
// default).
func (s *FileSink) SetFsync(on bool) {
	s.mu.Lock()
	s.fsync = on
	s.mu.Unlock()
}

// Path is the file written to.
func (s *FileSink) Path() string { return s.path }

// String names the sink.
func (s *FileSink) String() string { return "file sink " + s.path }

// Enqueue appends ev as one JSON line. ctx is checked before writing (a file
// write cannot be interrupted).
func (s *FileSink) Enqueue(ctx context.Context, ev DomainEvent) error {
	b, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("events: file sink: event %s (%s): encode: %w", ev.EventID, ev.EventName, err)
	}
	b = append(b, '\n')
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("events: file sink: event %s (%s): %w", ev.EventID, ev.EventName, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("events: %s is closed", s)
	}
	if _, err := s.f.Write(b); err != nil {
		return fmt.Errorf("events: file sink: event %s (%s): %w", ev.EventID, ev.EventName, err)
	}
	if s.fsync {
		if err := s.f.Sync(); err != nil {
			return fmt.Errorf("events: file sink: event %s (%s): fsync: %w", ev.EventID, ev.EventName, err)
		}
	}
	return nil
}

// Close closes the file; later Enqueue calls fail. Idempotent.
func (s *FileSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.f.Close()
}

func validScheme(s string) bool {
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z':
		case i > 0 && (r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.'):
		default:
			return false
		}
	}
	return true
}

func openFileURL(rawURL string) (Sink, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("events: durable sink URL %s: %v", QuoteURL(rawURL), err)
	}
	path := u.Path
	switch {
	case u.Opaque != "": // file:relative/path.jsonl
		path = u.Opaque
	case u.Host != "" && u.Host != "localhost":
		return nil, fmt.Errorf("events: durable sink URL %q: a file URL names a local path: file:///absolute/path.jsonl (host %q given)", RedactURL(rawURL), u.Host)
	}
	if path == "" {
		return nil, fmt.Errorf("events: durable sink URL %q names no file: want file:///path.jsonl", RedactURL(rawURL))
	}
	fsync := false
	if v := u.Query().Get("fsync"); v != "" {
		fsync, err = strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("events: durable sink URL %q: fsync=%q is not a boolean", RedactURL(rawURL), v)
		}
	}
	s, err := NewFileSink(filepath.FromSlash(path))
	if err != nil {
		return nil, err
	}
	s.SetFsync(fsync)
	return s, nil
}
