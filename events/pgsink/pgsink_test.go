package pgsink_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ffitel/ffitel/e2e"
	"github.com/ffitel/ffitel/events"
	"github.com/ffitel/ffitel/events/pgsink"
)

func newEvent(t *testing.T, name, namespace, correlationID string, payload string) events.DomainEvent {
	t.Helper()
	ev, err := events.NewEvent(name, json.RawMessage(payload), events.Metadata{
		TaskUUID:      "0190f5a2-0000-7000-8000-000000000001",
		Namespace:     namespace,
		CorrelationID: correlationID,
		FiredBy:       "postgres_test",
	})
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

func openPostgres(t *testing.T, url string) *pgsink.PostgresSink {
	t.Helper()
	s, err := pgsink.NewPostgresSink(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func enqueue(t *testing.T, s events.Sink, ev events.DomainEvent) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Enqueue(ctx, ev); err != nil {
		t.Fatalf("enqueue %s: %v", ev.EventName, err)
	}
}

func TestPostgresSinkQueueTableLayout(t *testing.T) {
	pg := e2e.StartPostgres(t)
	sink := openPostgres(t, pg.URL)
	ev := newEvent(t, "payment.processed", "payments", "corr-layout", `{"amount":5,"currency":"EUR"}`)
	enqueue(t, sink, ev)

	conn := connect(t, pg.URL)
	ctx := context.Background()

	// The table is <namespace>_domain_events with pgmq's queue-table columns.
	rows, err := conn.Query(ctx, `
		SELECT column_name, data_type, is_nullable, coalesce(column_default, ''), is_identity, coalesce(identity_generation, '')
		FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = 'payments_domain_events'
		ORDER BY ordinal_position`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var name, typ, nullable, def, identity, gen string
		if err := rows.Scan(&name, &typ, &nullable, &def, &identity, &gen); err != nil {
			t.Fatal(err)
		}
		got = append(got, strings.Join([]string{name, typ, nullable, def, identity, gen}, "|"))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"msg_id|bigint|NO||YES|ALWAYS",
		"read_ct|integer|NO|0|NO|",
		"enqueued_at|timestamp with time zone|NO|now()|NO|",
		"vt|timestamp with time zone|NO|now()|NO|",
		"message|jsonb|YES||NO|",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("columns of payments_domain_events:\n got %q\nwant %q", got, want)
	}
	var pk string
	if err := conn.QueryRow(ctx, `
		SELECT a.attname FROM pg_index i
		JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
		WHERE i.indrelid = 'payments_domain_events'::regclass AND i.indisprimary`).Scan(&pk); err != nil {
		t.Fatal(err)
	}
	if pk != "msg_id" {
		t.Fatalf("primary key is %q, want msg_id", pk)
	}

	// The row holds the event JSON, unchanged, with pgmq's bookkeeping.
	var (
		msgID      int64
		readCt     int
		enqueuedAt time.Time
		vt         time.Time
		message    []byte
	)
	if err := conn.QueryRow(ctx, `SELECT msg_id, read_ct, enqueued_at, vt, message FROM payments_domain_events`).
		Scan(&msgID, &readCt, &enqueuedAt, &vt, &message); err != nil {
		t.Fatal(err)
	}
	if msgID != 1 || readCt != 0 || time.Since(enqueuedAt) > time.Minute || vt.After(time.Now().Add(time.Minute)) {
		t.Fatalf("row bookkeeping: msg_id=%d read_ct=%d enqueued_at=%s vt=%s", msgID, readCt, enqueuedAt, vt)
	}
	var back events.DomainEvent
	if err := json.Unmarshal(message, &back); err != nil {
		t.Fatalf("message is not a DomainEvent: %v: %s", err, message)
	}
	if back.EventID != ev.EventID || back.EventName != ev.EventName || back.EventVersion != events.EventVersion ||
		back.Metadata.Namespace != "payments" || back.Metadata.CorrelationID != "corr-layout" ||
		!back.Metadata.FiredAt.Equal(ev.Metadata.FiredAt) {
		t.Fatalf("message round trip:\n got %+v\nwant %+v", back, ev)
	}
	var amount float64
	if err := conn.QueryRow(ctx, `SELECT (message->'payload'->>'amount')::float8 FROM payments_domain_events`).Scan(&amount); err != nil || amount != 5 {
		t.Fatalf("payload.amount = %v, %v", amount, err)
	}

	// One table per namespace; the second namespace gets its own table.
	enqueue(t, sink, newEvent(t, "order.created", "Orders", "corr-layout", `{}`))
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM orders_domain_events`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("orders_domain_events holds %d rows (%v), want 1", n, err)
	}
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM payments_domain_events`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("payments_domain_events holds %d rows (%v), want 1", n, err)
	}

	// Operators consume it the pgmq way: a visibility-timeout read.
	if err := conn.QueryRow(ctx, `
		UPDATE payments_domain_events SET read_ct = read_ct + 1, vt = now() + interval '30 seconds'
		WHERE msg_id = (SELECT msg_id FROM payments_domain_events WHERE vt <= now() ORDER BY msg_id LIMIT 1 FOR UPDATE SKIP LOCKED)
		RETURNING read_ct`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("pgmq-style read: read_ct=%d err=%v", n, err)
	}
}

func TestPostgresSinkEventsByCorrelationID(t *testing.T) {
	pg := e2e.StartPostgres(t)
	sink := openPostgres(t, pg.URL)

	want := map[string]bool{}
	var wg sync.WaitGroup
	var mu sync.Mutex
	errs := make(chan error, 64)
	for i := 0; i < 40; i++ {
		cid := "corr-other"
		if i%4 == 0 {
			cid = "corr-wanted"
		}
		ns := "payments"
		if i%3 == 0 {
			ns = "shipping" // the query is per queue table
		}
		ev := newEvent(t, fmt.Sprintf("payment.step%d", i), ns, cid, fmt.Sprintf(`{"i":%d}`, i))
		if cid == "corr-wanted" && ns == "payments" {
			want[ev.EventID] = true
		}
		wg.Add(1)
		go func() { // concurrent publishers: also exercises table creation races
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := sink.Enqueue(ctx, ev); err != nil {
				mu.Lock()
				errs <- err
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	conn := connect(t, pg.URL)
	// "All events for a correlation id" is this one query.
	rows, err := conn.Query(context.Background(),
		`SELECT message->>'event_id' FROM payments_domain_events
		 WHERE message->'metadata'->>'correlation_id' = $1 ORDER BY msg_id`, "corr-wanted")
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("query returned %d events, want %d: %v", len(got), len(want), got)
	}
	seen := map[string]bool{}
	for _, id := range got {
		if !want[id] || seen[id] {
			t.Fatalf("query returned %s, not one of the published events (or twice): got %v", id, got)
		}
		seen[id] = true
	}

	// The correlation index exists, so the query stays cheap on a long queue.
	var idx []string
	rows, err = conn.Query(context.Background(), `SELECT indexdef FROM pg_indexes WHERE tablename = 'payments_domain_events'`)
	if err != nil {
		t.Fatal(err)
	}
	idx, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(idx)
	if !strings.Contains(strings.Join(idx, "\n"), "correlation_id") || !strings.Contains(strings.Join(idx, "\n"), "(vt)") {
		t.Fatalf("indexes of payments_domain_events: %q", idx)
	}
}

func TestPostgresSinkSurvivesRestart(t *testing.T) {
	pg := e2e.StartPostgres(t)
	sink := openPostgres(t, pg.URL)
	enqueue(t, sink, newEvent(t, "payment.before", "payments", "corr-restart", `{}`))

	pg.Stop()
	// Down: each publish fails with a clear error, within its deadline.
	for i := 0; i < 3; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		start := time.Now()
		err := sink.Enqueue(ctx, newEvent(t, "payment.during", "payments", "corr-restart", `{}`))
		took := time.Since(start)
		cancel()
		if err == nil {
			t.Fatal("enqueue succeeded while the server is down")
		}
		if took > 2*time.Second+500*time.Millisecond {
			t.Fatalf("enqueue took %s, past its 2s deadline: %v", took, err)
		}
		msg := err.Error()
		if !strings.Contains(msg, "postgres sink") || !strings.Contains(msg, "payments_domain_events") {
			t.Fatalf("error does not say which sink and queue failed: %v", err)
		}
		if strings.Contains(msg, pg.Password) {
			t.Fatalf("error contains the password: %v", err)
		}
		t.Logf("while down (%s): %v", took.Round(time.Millisecond), err)
	}

	// A server that never answers: the caller's deadline still bounds Enqueue.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	start := time.Now()
	err := sink.Enqueue(ctx, newEvent(t, "payment.during", "payments", "corr-restart", `{}`))
	cancel()
	if err == nil || time.Since(start) > time.Second {
		t.Fatalf("short deadline: err=%v after %s", err, time.Since(start))
	}

	pg.Start()
	// Back: the pool reconnects on its own; the first publish succeeds.
	enqueue(t, sink, newEvent(t, "payment.after", "payments", "corr-restart", `{}`))
	for i := 0; i < 5; i++ {
		enqueue(t, sink, newEvent(t, "payment.after", "payments", "corr-restart", `{}`))
	}

	// A restart nobody published through: several pooled connections are
	// stale, and still every concurrent publish after it succeeds.
	concurrently := func(name string) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				errs <- sink.Enqueue(ctx, newEvent(t, name, "payments", "corr-restart", `{}`))
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
	}
	concurrently("payment.after")
	pg.Stop()
	pg.Start()
	concurrently("payment.after")

	conn := connect(t, pg.URL)
	var before, during, after int
	if err := conn.QueryRow(context.Background(), `
		SELECT count(*) FILTER (WHERE message->>'event_name' = 'payment.before'),
		       count(*) FILTER (WHERE message->>'event_name' = 'payment.during'),
		       count(*) FILTER (WHERE message->>'event_name' = 'payment.after')
		FROM payments_domain_events WHERE message->'metadata'->>'correlation_id' = 'corr-restart'`).Scan(&before, &during, &after); err != nil {
		t.Fatal(err)
	}
	if before != 1 || during != 0 || after != 22 {
		t.Fatalf("rows before/during/after the restart = %d/%d/%d, want 1/0/22", before, during, after)
	}
}

func TestPostgresSinkStartsWhileServerDown(t *testing.T) {
	pg := e2e.StartPostgres(t)
	pg.Stop()
	// Opening does not need the server (phase 2 must not fail on it) ...
	sink := openPostgres(t, pg.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	err := sink.Enqueue(ctx, newEvent(t, "payment.early", "payments", "c", `{}`))
	cancel()
	if err == nil {
		t.Fatal("enqueue succeeded with the server down")
	}
	// ... and the sink works once it is up.
	pg.Start()
	enqueue(t, sink, newEvent(t, "payment.late", "payments", "c", `{}`))
}

func TestPostgresSinkRejectsBadNamespace(t *testing.T) {
	pg := e2e.StartPostgres(t)
	sink := openPostgres(t, pg.URL)
	long := strings.Repeat("n", 50)
	for _, ns := range []string{"pay-ments", "pay ments", `x"; DROP TABLE y; --`, "zahlungsverkehr_ä", "a.b", long} {
		ev := newEvent(t, "payment.processed", ns, "c", `{}`)
		err := sink.Enqueue(context.Background(), ev)
		if err == nil {
			t.Fatalf("namespace %q accepted", ns)
		}
		if !errors.Is(err, pgsink.ErrInvalidNamespace) || !strings.Contains(err.Error(), "namespace") {
			t.Fatalf("namespace %q: unclear error: %v", ns, err)
		}
	}
	for _, ns := range []string{"payments", "Payments", "tenant_42", "9lives", strings.Repeat("n", 49)} {
		enqueue(t, sink, newEvent(t, "payment.processed", ns, "c", `{}`))
	}
	// Nothing but the accepted tables was created.
	conn := connect(t, pg.URL)
	rows, err := conn.Query(context.Background(),
		`SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"9lives_domain_events", strings.Repeat("n", 49) + "_domain_events", "payments_domain_events", "tenant_42_domain_events"}
	if strings.Join(tables, ",") != strings.Join(want, ",") {
		t.Fatalf("tables %v, want %v", tables, want)
	}
}

func TestQueueTableName(t *testing.T) {
	for in, want := range map[string]string{"payments": "payments_domain_events", "Payments": "payments_domain_events", "t_1": "t_1_domain_events"} {
		got, err := pgsink.QueueTableName(in)
		if err != nil || got != want {
			t.Errorf("QueueTableName(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "a-b", "ü", "a b", "a;b", strings.Repeat("x", 50)} {
		if _, err := pgsink.QueueTableName(in); !errors.Is(err, pgsink.ErrInvalidNamespace) {
			t.Errorf("QueueTableName(%q): err = %v, want ErrInvalidNamespace", in, err)
		}
	}
}

func TestPostgresSinkNeverShowsPassword(t *testing.T) {
	pg := e2e.StartPostgres(t)
	ctx := context.Background()

	good := openPostgres(t, pg.URL)
	if s := good.String(); strings.Contains(s, pg.Password) || !strings.Contains(s, pg.User) {
		t.Fatalf("String() = %q", s)
	}

	// Wrong password: authentication fails, the message names neither secret.
	wrong := strings.Replace(pg.URL, pg.Password, "Wr0ng-Secret-Pw", 1)
	bad := openPostgres(t, wrong)
	err := bad.Enqueue(ctx, newEvent(t, "payment.processed", "payments", "c", `{}`))
	if err == nil {
		t.Fatal("enqueue with a wrong password succeeded")
	}
	check := func(what, msg string) {
		t.Helper()
		for _, secret := range []string{pg.Password, "Wr0ng-Secret-Pw"} {
			if strings.Contains(msg, secret) {
				t.Fatalf("%s contains a password: %s", what, msg)
			}
		}
	}
	check("enqueue error", err.Error())
	check("ping error", fmt.Sprint(bad.Ping(ctx)))
	check("String()", bad.String())
	t.Logf("wrong password: %v", err)

	// Server unreachable.
	down := strings.Replace(pg.URL, fmt.Sprintf(":%d/", pg.Port), fmt.Sprintf(":%d/", e2e.FreePort(t)), 1)
	s := openPostgres(t, down)
	tctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	err = s.Enqueue(tctx, newEvent(t, "payment.processed", "payments", "c", `{}`))
	cancel()
	if err == nil {
		t.Fatal("enqueue to a closed port succeeded")
	}
	check("unreachable error", err.Error())

	// Invalid URLs, through both constructors.
	for _, u := range []string{
		"postgres://ffitel:Wr0ng-Secret-Pw@127.0.0.1:notaport/db",
		"postgres://ffitel:Wr0ng-Secret-Pw@127.0.0.1:5432/db?sslmode=bogus",
		"postgresql://ffitel:Wr0ng-Secret-Pw@[::1/db",
		"redis://ffitel:Wr0ng-Secret-Pw@127.0.0.1:6379",
		"host=127.0.0.1 password=Wr0ng-Secret-Pw",
		"Wr0ng-Secret-Pw",
	} {
		if _, err := pgsink.NewPostgresSink(ctx, u); err != nil {
			check("NewPostgresSink("+events.RedactURL(u)+")", err.Error())
		}
		sink, err := events.OpenSink(ctx, u)
		if err == nil {
			_ = sink.Close()
			if !strings.HasPrefix(u, "host=") {
				t.Fatalf("OpenSink(%s) accepted", events.RedactURL(u))
			}
			continue
		}
		check("OpenSink("+events.RedactURL(u)+")", err.Error())
		t.Logf("%s -> %v", events.RedactURL(u), err)
	}
}

func TestOpenSinkPostgres(t *testing.T) {
	pg := e2e.StartPostgres(t)
	for _, u := range []string{pg.URL, strings.Replace(pg.URL, "postgres://", "postgresql://", 1)} {
		s, err := events.OpenSink(context.Background(), u)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := s.(*pgsink.PostgresSink); !ok {
			t.Fatalf("OpenSink(%s) = %T", events.RedactURL(u), s)
		}
		enqueue(t, s, newEvent(t, "payment.processed", "payments", "c", `{}`))
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Enqueue(context.Background(), newEvent(t, "payment.processed", "payments", "c", `{}`)); err == nil {
			t.Fatal("enqueue after Close succeeded")
		}
	}
	// Importing pgsink registered the scheme: a bad URL reaches pgx's parser.
	_, err := events.OpenSink(context.Background(), "postgres://u:S3cret-pw@h:bad/db")
	if err == nil || !strings.Contains(err.Error(), "invalid URL") || strings.Contains(err.Error(), "S3cret-pw") {
		t.Fatalf("OpenSink(bad port): %v, want an invalid URL error without the password", err)
	}
}

// A server that accepts connections and never answers (a black-holed
// network, a hung server): Enqueue still returns at the caller's deadline.
func TestPostgresSinkHonoursDeadlineOnSilentServer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never answered
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	}()

	sink := openPostgres(t, fmt.Sprintf("postgres://u:Silent-Pw-123@%s/db?sslmode=disable", l.Addr()))
	for _, d := range []time.Duration{300 * time.Millisecond, 800 * time.Millisecond} {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		start := time.Now()
		err := sink.Enqueue(ctx, newEvent(t, "payment.processed", "payments", "c", `{}`))
		took := time.Since(start)
		cancel()
		if err == nil {
			t.Fatal("enqueue to a silent server succeeded")
		}
		if took > d+500*time.Millisecond {
			t.Fatalf("deadline %s, enqueue returned after %s: %v", d, took, err)
		}
		if strings.Contains(err.Error(), "Silent-Pw-123") || !strings.Contains(err.Error(), "timed out") {
			t.Fatalf("error: %v", err)
		}
		t.Logf("silent server, deadline %s, returned after %s: %v", d, took.Round(time.Millisecond), err)
	}
}
