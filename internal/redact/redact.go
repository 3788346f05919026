// Package redact removes secrets (URL passwords, credential query values,
// libpq passwords) from text ffitel prints. It is the one place the module
// decides what a redacted secret looks like: Mask.
package redact

import (
	"net/url"
	"regexp"
	"strings"
)

// Mask replaces every secret ffitel redacts.
const Mask = "REDACTED"

// Unparseable replaces a URL-like string without "://" that holds user
// information or a query it cannot locate reliably ("user:pw@host:port"
// parses as an opaque URL). One without '@' or '?' ("::::", "host:4317")
// holds no secret and is shown as it is.
const Unparseable = "REDACTED-UNPARSEABLE-URL"

// URL returns raw fit to print: a URL with its password and the values of
// query parameters whose name suggests a credential (pass, secret, token,
// key) replaced by Mask, or a libpq key=value string with its password
// replaced. A URL that does not parse is reduced to its scheme.
func URL(raw string) string {
	i := strings.Index(raw, "://")
	if i < 0 { // a libpq key=value string, a file path, or a bare host:port
		if p := Password(raw); p != "" {
			return Scrub(raw, p)
		}
		if strings.ContainsAny(raw, "@?") {
			return Unparseable
		}
		return raw // no user information, no query: nothing secret in it
	}
	u, err := url.Parse(raw)
	if err != nil {
		return raw[:i+3] + "…"
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), Mask)
	}
	if u.RawQuery != "" {
		q := u.Query()
		changed := false
		for k := range q {
			if credentialKey(k) {
				q.Set(k, Mask)
				changed = true
			}
		}
		if changed {
			u.RawQuery = q.Encode()
		}
	}
	return u.String()
}

func credentialKey(k string) bool {
	k = strings.ToLower(k)
	for _, s := range []string{"pass", "secret", "token", "key"} {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}

// Password returns the password of a URL (user information or a password
// query parameter) or of a libpq key=value string, "" if none. It does not
// validate the rest, so the password can be scrubbed even from parse errors.
func Password(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		if p, ok := u.User.Password(); ok {
			return p
		}
		if p := u.Query().Get("password"); p != "" {
			return p
		}
	}
	if i := strings.Index(raw, "://"); i >= 0 {
		rest := raw[i+3:]
		if at := strings.LastIndex(strings.SplitN(rest, "/", 2)[0], "@"); at >= 0 {
			if c := strings.Index(rest[:at], ":"); c >= 0 {
				return rest[c+1 : at]
			}
		}
	}
	if m := dsnPassword.FindStringSubmatch(raw); m != nil {
		return strings.Trim(m[1], "'")
	}
	return ""
}

var dsnPassword = regexp.MustCompile(`(?:^|\s)password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)`)

// Scrub replaces password in msg, as written and in its URL-escaped forms,
// by Mask.
func Scrub(msg, password string) string {
	if password == "" {
		return msg
	}
	for _, p := range []string{password, url.QueryEscape(password), url.PathEscape(password), url.UserPassword("", password).String()[1:]} {
		if p != "" && p != ":" {
			msg = strings.ReplaceAll(msg, p, Mask)
		}
	}
	return msg
}

// Secrets replaces every value of secrets in s by Mask. Callers pass the
// longest first, so that a whole value is replaced before its parts.
func Secrets(s string, secrets []string) string {
	for _, v := range secrets {
		s = strings.ReplaceAll(s, v, Mask)
	}
	return s
}

// Passwords returns every string that may be the password of raw: Password's
// answer and, for a URL that does not parse, what lies between the first ':'
// after "://" and the last '@' (a password may hold '/' or '@'). Scrubbing
// all of them keeps a secret out of output whatever the shape of the value.
func Passwords(raw string) []string {
	var out []string
	if p := Password(raw); p != "" {
		out = append(out, p)
	}
	if i := strings.Index(raw, "://"); i >= 0 {
		rest := raw[i+3:]
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if c := strings.Index(rest[:at], ":"); c >= 0 && c+1 < at {
				if p := rest[c+1 : at]; len(out) == 0 || out[0] != p {
					out = append(out, p)
				}
			}
		}
	}
	return out
}
