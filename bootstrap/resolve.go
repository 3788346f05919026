package bootstrap

import (
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

func isProduction(env string) bool {
	switch strings.ToLower(env) {
	case "production", "prod":
		return true
	}
	return false
}

func executable() string {
	if p, err := os.Executable(); err == nil {
		return p
	}
	if len(os.Args) > 0 {
		return os.Args[0]
	}
	return "unknown"
}

// resourceAttr finds key in an OTEL_RESOURCE_ATTRIBUTES value.
func resourceAttr(attrs, key string) string {
	for _, kv := range strings.Split(attrs, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if ok && strings.TrimSpace(k) == key {
			if dec, err := url.PathUnescape(strings.TrimSpace(v)); err == nil {
				return dec
			}
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// resolver reads and checks one variable at a time for LoadConfig, and
// collects a warning for every bad value (naming the value used instead).
type resolver struct {
	getenv   func(string) string
	warnings []string
	invalid  []string // the variables warned about
}

func (r *resolver) warn(key, value, used string) {
	r.warnings = append(r.warnings, fmt.Sprintf("invalid %s=%q; using %s", key, value, used))
	r.invalid = append(r.invalid, key)
}

// text reads key with surrounding space removed.
func (r *resolver) text(key string) string { return strings.TrimSpace(r.getenv(key)) }

func (r *resolver) boolean(key string, def bool) bool {
	v := strings.TrimSpace(r.getenv(key))
	switch strings.ToLower(v) {
	case "":
		return def
	case "true", "1", "yes", "on":
		return true
	case "false", "0", "no", "off":
		return false
	}
	r.warn(key, v, strconv.FormatBool(def))
	return def
}

func (r *resolver) integer(key string, def, min, max int) int {
	v := strings.TrimSpace(r.getenv(key))
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < min || n > max {
		r.warn(key, v, strconv.Itoa(def))
		return def
	}
	return n
}

// millis reads a positive duration in milliseconds: a zero interval would
// make a ticker panic or an export loop spin.
func (r *resolver) millis(key string, def time.Duration) time.Duration {
	v := strings.TrimSpace(r.getenv(key))
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 24*60*60*1000 {
		r.warn(key, v, strconv.FormatInt(def.Milliseconds(), 10)+" ms")
		return def
	}
	return time.Duration(n) * time.Millisecond
}

// listenAddr reads a host:port to listen on. A bare port, or one with an
// empty host, means loopback: the endpoint is never exposed by accident.
// A value that is not host:port with a numeric port is reported and left
// empty (nothing is served).
func (r *resolver) listenAddr(key string) string {
	v := r.text(key)
	if v == "" {
		return ""
	}
	addr := v
	if !strings.Contains(addr, ":") {
		addr = "127.0.0.1:" + addr
	} else if strings.HasPrefix(addr, ":") {
		addr = "127.0.0.1" + addr
	}
	host, port, err := net.SplitHostPort(addr)
	// A port, or a range first-last (each process of a prefork pool takes
	// the first free port of it).
	first, last, isRange := strings.Cut(port, "-")
	lo, perr := strconv.Atoi(first)
	hi := lo
	if isRange && perr == nil {
		hi, perr = strconv.Atoi(last)
	}
	if err != nil || perr != nil || lo < 0 || hi > 65535 || lo > hi || (isRange && lo < 1) ||
		strings.ContainsAny(host, " /") {
		r.warn(key, v, "nothing (host:port, a port, or host:first-last expected; /metrics and /healthz are not served)")
		return ""
	}
	return addr
}

func (r *resolver) oneOf(key, def string, allowed ...string) string {
	v := strings.ToLower(strings.TrimSpace(r.getenv(key)))
	if v == "" {
		return def
	}
	if strings.HasSuffix(key, "_PROTOCOL") {
		if v == "http" || v == "http/proto" {
			v = "http/protobuf"
		}
	}
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	r.warn(key, v, def)
	return def
}

func (r *resolver) identifier(key, def string) string {
	v := strings.TrimSpace(r.getenv(key))
	if v == "" {
		return def
	}
	for i, c := range v {
		ok := c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (i > 0 && c >= '0' && c <= '9')
		if !ok {
			r.warn(key, v, def)
			return def
		}
	}
	return v
}

func (r *resolver) level(key string, def slog.Level) slog.Level {
	v := strings.ToLower(strings.TrimSpace(r.getenv(key)))
	if v == "" {
		return def
	}
	if l, ok := parseLevel(v); ok {
		return l
	}
	r.warn(key, v, strings.ToLower(LevelName(def)))
	return def
}

var samplers = []string{"always_on", "always_off", "traceidratio",
	"parentbased_always_on", "parentbased_always_off", "parentbased_traceidratio"}

func (r *resolver) sampler() (string, float64) {
	name := strings.ToLower(strings.TrimSpace(r.getenv(envSampler)))
	argRaw := strings.TrimSpace(r.getenv(envSamplerArg))
	arg := dfltSamplerArg
	if argRaw != "" {
		f, err := strconv.ParseFloat(argRaw, 64)
		if err != nil || f < 0 || f > 1 {
			r.warn(envSamplerArg, argRaw, "1.0")
			argRaw = ""
		} else {
			arg = f
		}
	}
	if name == "" {
		if argRaw != "" {
			// ARG alone means a parent-based ratio: setting a ratio and
			// silently keeping always-on would surprise.
			return "parentbased_traceidratio", arg
		}
		return dfltSampler, 1
	}
	for _, s := range samplers {
		if s == name {
			return name, arg
		}
	}
	r.warn(envSampler, name, dfltSampler)
	return dfltSampler, 1
}

func (r *resolver) propagators() []string {
	v := strings.TrimSpace(r.getenv(envPropagators))
	if v == "" {
		return strings.Split(dfltPropagators, ",")
	}
	var out []string
	for _, p := range strings.Split(v, ",") {
		p = strings.ToLower(strings.TrimSpace(p))
		switch p {
		case "tracecontext", "baggage", "none":
			out = append(out, p)
		case "":
		default:
			r.warn(envPropagators, p, "nothing for it (supported: tracecontext, baggage, none)")
		}
	}
	if len(out) == 0 {
		return strings.Split(dfltPropagators, ",")
	}
	return out
}
