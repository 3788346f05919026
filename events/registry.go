package events

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/ffitel/ffitel/internal/redact"
)

// SinkOpener opens the durable sink a URL names. It must not wait for the
// server (connect lazily) and must keep the URL's password out of its errors.
type SinkOpener func(ctx context.Context, url string) (Sink, error)

var (
	sinksMu sync.RWMutex
	sinks   = map[string]SinkOpener{}
)

// unlinked names the package that registers a scheme ffitel knows but this
// program may not link, for the error OpenSink returns without it.
var unlinked = map[string]string{
	"postgres":   "github.com/ffitel/ffitel/events/pgsink",
	"postgresql": "github.com/ffitel/ffitel/events/pgsink",
}

// RegisterSink makes OpenSink open URLs of scheme (lower case, without "://")
// with open. Sink packages call it from init, as database/sql drivers do:
// the PostgreSQL sink registers postgres and postgresql when
// github.com/ffitel/ffitel/events/pgsink is imported. The file scheme is
// built in. Registering a scheme twice, or file, panics.
func RegisterSink(scheme string, open SinkOpener) {
	scheme = strings.ToLower(scheme)
	if open == nil || !validScheme(scheme) || scheme == "file" {
		panic("events: RegisterSink: invalid scheme " + strconv.Quote(scheme) + " or nil opener")
	}
	sinksMu.Lock()
	defer sinksMu.Unlock()
	if _, dup := sinks[scheme]; dup {
		panic("events: RegisterSink called twice for scheme " + strconv.Quote(scheme))
	}
	sinks[scheme] = open
}

// SinkSchemes returns the schemes OpenSink opens in this program, sorted.
func SinkSchemes() []string {
	sinksMu.RLock()
	defer sinksMu.RUnlock()
	out := []string{"file"}
	for s := range sinks {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// OpenSink opens the durable sink a URL names (FFITEL_EVENTS_DURABLE_URL):
//
//	postgres://user:pass@host:port/db  (also postgresql://) — pgsink.PostgresSink,
//	                                     when events/pgsink is imported
//	file:///abs/path.jsonl[?fsync=true]                     — FileSink (built in)
//
// and any other scheme a package registered with RegisterSink. A postgres://
// URL in a program that does not import events/pgsink fails with an error
// that names the import. Errors never contain the URL's password.
func OpenSink(ctx context.Context, rawURL string) (Sink, error) {
	i := strings.Index(rawURL, ":")
	if strings.TrimSpace(rawURL) == "" || i <= 0 {
		return nil, fmt.Errorf("events: durable sink URL %s has no scheme: want postgres://, postgresql:// or file://", QuoteURL(rawURL))
	}
	scheme := strings.ToLower(rawURL[:i])
	if scheme == "file" {
		return openFileURL(rawURL)
	}
	sinksMu.RLock()
	open := sinks[scheme]
	sinksMu.RUnlock()
	if open != nil {
		return open(ctx, rawURL)
	}
	if pkg, ok := unlinked[scheme]; ok {
		return nil, fmt.Errorf("events: durable sink URL scheme %q needs a sink this program does not link: add import _ %q", scheme, pkg)
	}
	if !validScheme(scheme) {
		return nil, fmt.Errorf("events: durable sink URL %s has no scheme: want postgres://, postgresql:// or file://", QuoteURL(rawURL))
	}
	return nil, fmt.Errorf("events: durable sink URL scheme %q is not supported: want postgres://, postgresql:// or file://", scheme)
}

// QuoteURL is rawURL fit for an error message: redacted and quoted when it
// looks like a URL or a key=value string, else left out (a string of neither
// shape could be anything, a bare password included). For sink packages.
func QuoteURL(raw string) string {
	if strings.Contains(raw, "://") || strings.Contains(raw, "=") {
		return strconv.Quote(RedactURL(raw))
	}
	return "(neither a URL nor key=value settings)"
}

// RedactURL returns raw with its password replaced (the module's one form,
// see internal/redact); a URL that does not parse is reduced to its scheme.
func RedactURL(raw string) string { return redact.URL(raw) }

// PasswordOf returns the password in a postgres URL or libpq key=value
// string ("" if none), so callers can scrub it from anything they print.
func PasswordOf(raw string) string { return redact.Password(raw) }
