// Package pgsink is the PostgreSQL durable sink of package events. Importing
// it registers the postgres:// and postgresql:// schemes of
// FFITEL_EVENTS_DURABLE_URL, as database/sql drivers register themselves:
//
//	import _ "github.com/ffitel/ffitel/events/pgsink"
//
// A program that does not import it does not link pgx. The C library
// (cshim) imports it, so libffitel.so always has it.
package pgsink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ffitel/ffitel/events"
	"github.com/ffitel/ffitel/internal/redact"
)

func init() {
	open := func(ctx context.Context, url string) (events.Sink, error) { return NewPostgresSink(ctx, url) }
	events.RegisterSink("postgres", open)
	events.RegisterSink("postgresql", open)
}

// QueueTableSuffix ends the name of every queue table: the events of
// namespace "payments" go to the table payments_domain_events.
const QueueTableSuffix = "_domain_events"

// maxIdentifier is PostgreSQL's identifier length limit (NAMEDATALEN-1).
const maxIdentifier = 63

// ErrInvalidNamespace is returned (wrapped) for a namespace that cannot name
// a queue table.
var ErrInvalidNamespace = errors.New("events: invalid namespace for a queue table")

var namespacePattern = regexp.MustCompile(`^[a-z0-9_]+$`)

// QueueTableName returns the queue table of a namespace:
// "<namespace>_domain_events". The namespace is lower-cased (PostgreSQL folds
// unquoted names the same way, so operators can type it bare) and must then
// consist of [a-z0-9_] only; anything else is rejected, never rewritten, so
// two namespaces never share a table by accident.
func QueueTableName(namespace string) (string, error) {
	ns := strings.ToLower(namespace)
	switch {
	case ns == "":
		return "", fmt.Errorf("%w: the namespace is empty", ErrInvalidNamespace)
	case !namespacePattern.MatchString(ns):
		return "", fmt.Errorf("%w: %q may contain only letters a-z, digits and underscores", ErrInvalidNamespace, namespace)
	case len(ns)+len(QueueTableSuffix) > maxIdentifier:
		return "", fmt.Errorf("%w: %q is longer than %d characters", ErrInvalidNamespace, namespace, maxIdentifier-len(QueueTableSuffix))
	}
	return ns + QueueTableSuffix, nil
}

// PostgresSink stores events in PostgreSQL, one queue table per namespace
// laid out like pgmq's queue tables, so operators query and consume them the
// same way:
//
//	msg_id      bigint generated always as identity primary key
//	read_ct     int not null default 0
//	enqueued_at timestamptz not null default now()
//	vt          timestamptz not null default now()
//	message     jsonb      -- the DomainEvent JSON
//
// Tables (and an index on vt and on the correlation id) are created on first
// use. The sink connects lazily: NewPostgresSink succeeds while the server is
// down, and Enqueue fails with a clear error until it is back, reconnecting
// on its own. Nothing it returns or prints contains the URL's password.
type PostgresSink struct {
	pool     *pgxpool.Pool
	display  string // postgres://user@host:port/db, never the password
	password string

	mu     sync.Mutex
	ready  map[string]bool // tables known to exist
	closed bool
}

var _ events.Sink = (*PostgresSink)(nil)

// NewPostgresSink opens a connection pool for url (postgres:// or
// postgresql://, or a libpq key=value string). It does not wait for the
// server: connections are made when events are enqueued.
func NewPostgresSink(ctx context.Context, url string) (*PostgresSink, error) {
	pw := redact.Password(url)
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, &redactedError{msg: "events: postgres sink: invalid URL " + events.QuoteURL(url) + ": " + redact.Scrub(unwrapParseError(err), pw), err: err}
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		// Bounds a connection attempt even when the caller's context has no deadline.
		cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "ffitel"
	}
	host := cfg.ConnConfig.Host
	if strings.Contains(host, ":") && !strings.HasPrefix(host, "/") {
		host = "[" + host + "]"
	}
	s := &PostgresSink{
		display:  fmt.Sprintf("postgres://%s@%s:%d/%s", cfg.ConnConfig.User, host, cfg.ConnConfig.Port, cfg.ConnConfig.Database),
		password: firstNonEmpty(cfg.ConnConfig.Password, pw),
		ready:    map[string]bool{},
	}
	s.pool, err = pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, s.errorf(err, "open connection pool")
	}
	return s, nil
}

// String names the server without the password.
func (s *PostgresSink) String() string { return "postgres sink " + s.display }

// Ping checks that the server is reachable and the credentials work.
func (s *PostgresSink) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return s.errorf(err, "ping")
	}
	return nil
}

// Enqueue inserts ev into the queue table of its namespace, creating the
// table on first use. It returns when ctx is done at the latest.
func (s *PostgresSink) Enqueue(ctx context.Context, ev events.DomainEvent) error {
	table, err := QueueTableName(ev.Metadata.Namespace)
	if err != nil {
		return fmt.Errorf("events: postgres sink: event %s (%s): %w", ev.EventID, ev.EventName, err)
	}
	msg, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("events: postgres sink: event %s (%s): encode: %w", ev.EventID, ev.EventName, err)
	}
	if s.isClosed() {
		return fmt.Errorf("events: %s is closed", s)
	}
	insert := "INSERT INTO " + pgx.Identifier{table}.Sanitize() + " (message) VALUES ($1::jsonb)"
	for attempt := 0; ; attempt++ {
		if err = s.ensureTable(ctx, table); err == nil {
			_, err = s.pool.Exec(ctx, insert, string(msg))
		}
		if err == nil {
			return nil
		}
		lost := isConnectionLost(err)
		if lost {
			// The server went away (restart, failover, network): every pooled
			// connection is likely dead, so drop them all and dial afresh.
			s.pool.Reset()
		}
		// Retry once when the statement never ran: nothing reached the server
		// (a connection found dead before sending), the server had already
		// terminated the session, or the table vanished since we created it.
		if attempt > 0 || ctx.Err() != nil {
			break
		}
		if isUndefinedTable(err) {
			s.forget(table)
		} else if !pgconn.SafeToRetry(err) && !isSessionTerminated(err) {
			break
		}
	}
	return s.errorf(err, "enqueue %s (%s) into %s", ev.EventID, ev.EventName, table)
}

// Close closes the pool; later Enqueue calls fail.
func (s *PostgresSink) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.pool.Close()
	return nil
}

func (s *PostgresSink) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

func (s *PostgresSink) forget(table string) {
	s.mu.Lock()
	delete(s.ready, table)
	s.mu.Unlock()
}

// ensureTable creates the queue table and its indexes once per process. An
// advisory lock serialises concurrent creators (CREATE TABLE IF NOT EXISTS
// alone can fail on a race between two sessions).
func (s *PostgresSink) ensureTable(ctx context.Context, table string) error {
	s.mu.Lock()
	ok := s.ready[table]
	s.mu.Unlock()
	if ok {
		return nil
	}
	t := pgx.Identifier{table}.Sanitize()
	ddl := []string{
		`CREATE TABLE IF NOT EXISTS ` + t + ` (
			msg_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
			read_ct int NOT NULL DEFAULT 0,
			enqueued_at timestamptz NOT NULL DEFAULT now(),
			vt timestamptz NOT NULL DEFAULT now(),
			message jsonb
		)`,
		`CREATE INDEX IF NOT EXISTS ` + pgx.Identifier{indexName(table, "vt_idx")}.Sanitize() + ` ON ` + t + ` (vt ASC)`,
		`CREATE INDEX IF NOT EXISTS ` + pgx.Identifier{indexName(table, "correlation_idx")}.Sanitize() + ` ON ` + t +
			` ((message->'metadata'->>'correlation_id'))`,
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, "ffitel_queue:"+table); err != nil {
			return err
		}
		for _, stmt := range ddl {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("create queue table: %w", err)
	}
	s.mu.Lock()
	s.ready[table] = true
	s.mu.Unlock()
	return nil
}

// indexName is "<table>_<suffix>", shortened with a hash when it would
// exceed the identifier limit (PostgreSQL would truncate it silently, and two
// long tables could then share an index name).
func indexName(table, suffix string) string {
	name := table + "_" + suffix
	if len(name) <= maxIdentifier {
		return name
	}
	h := fnv.New32a()
	h.Write([]byte(table))
	tag := strconv.FormatUint(uint64(h.Sum32()), 16)
	keep := maxIdentifier - len(suffix) - len(tag) - 2
	return table[:keep] + "_" + tag + "_" + suffix
}

// isSessionTerminated: the server ended the session before running the
// statement (shutdown, crash recovery, pg_terminate_backend).
func isSessionTerminated(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03")
}

// isConnectionLost reports errors after which the pool's connections are
// probably all dead.
func isConnectionLost(err error) bool {
	if isSessionTerminated(err) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return false // the server answered
	}
	return isConnectError(err) || pgconn.SafeToRetry(err) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE)
}

func isUndefinedTable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "42P01"
}

// errorf wraps err with what the sink was doing and where, with the password
// scrubbed from the message. errors.Is/As still see err.
func (s *PostgresSink) errorf(err error, format string, args ...any) error {
	what := fmt.Sprintf(format, args...)
	reason := err.Error()
	var pe *pgconn.PgError
	switch {
	case errors.As(err, &pe) && strings.HasPrefix(pe.Code, "28"):
		reason = "authentication failed: " + reason
	case isSessionTerminated(err):
		reason = "connection lost (server shutting down or restarting): " + reason
	case errors.As(err, &pe):
	case errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err):
		reason = "timed out: " + reason
	case errors.Is(err, context.Canceled):
		reason = "cancelled: " + reason
	case isConnectError(err):
		reason = "server unreachable: " + reason
	case isConnectionLost(err):
		reason = "connection lost: " + reason
	}
	return &redactedError{msg: "events: " + s.String() + ": " + what + ": " + redact.Scrub(reason, s.password), err: err}
}

func isConnectError(err error) bool {
	var ce *pgconn.ConnectError
	return errors.As(err, &ce)
}

// redactedError carries a message with secrets removed; Unwrap keeps the
// original for errors.Is/As.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// unwrapParseError drops the connection string pgconn repeats in its parse
// errors (already redacted by pgx, but we print our own redacted form).
func unwrapParseError(err error) string {
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) && pe.Unwrap() != nil {
		return pe.Unwrap().Error()
	}
	return err.Error()
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
