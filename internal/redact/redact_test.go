package redact

import (
	"strings"
	"testing"
)

func TestURLMasksPasswordsAndCredentialQueries(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:p%40ss@h:5432/db?sslmode=disable": "postgres://u:REDACTED@h:5432/db?sslmode=disable",
		"postgres://u@h/db":                             "postgres://u@h/db",
		"postgres://h/db?password=secret":               "postgres://h/db?password=REDACTED",
		"https://c:4318/?token=s3cret&region=eu":        "https://c:4318/?region=eu&token=REDACTED",
		"host=h password=secret user=u":                 "host=h password=REDACTED user=u",
		"file:///tmp/x.jsonl":                           "file:///tmp/x.jsonl",
		"user:s3cret@collector:4317":                    Unparseable,
		"postgres://app:s3%cret@db/x":                   "postgres://…",
		"localhost:4317":                                "localhost:4317",
	} {
		if got := URL(in); got != want {
			t.Errorf("URL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestScrubRemovesEscapedForms(t *testing.T) {
	got := Scrub("dial p@ss/w or p%40ss%2Fw failed", "p@ss/w")
	if strings.Contains(got, "ss") {
		t.Errorf("Scrub left the password: %q", got)
	}
}
