package e2e_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/ffitel/ffitel/e2e"
)

// promtool comes with Debian's prometheus package (scripts/install-deps.sh).
func promtool(t *testing.T, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool is not installed (Debian package prometheus; make test installs it): %v", err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = filepath.Join(e2e.RepoRoot(), "deploy", "prometheus")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Every alert in deploy/prometheus/ffitel-rules.yml fires where it should and
// stays silent where it should (ffitel-rules.test.yml), and every recording
// rule computes what the test says.
func TestPrometheusRulesPassPromtool(t *testing.T) {
	promtool(t, "check", "rules", "ffitel-rules.yml")
	out := promtool(t, "test", "rules", "ffitel-rules.test.yml")
	if !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool test rules did not succeed:\n%s", out)
	}
}

// ruleFile is deploy/prometheus/ffitel-rules.yml reduced to what the
// dashboard test compares: each rule's expr, each recorded name, each alert.
type ruleFile struct {
	text    string
	exprs   map[string]bool
	records map[string]bool
	alerts  map[string]bool
}

var (
	exprLine   = regexp.MustCompile(`(?m)^\s+expr: (.+)$`)
	recordLine = regexp.MustCompile(`(?m)^\s+- record: (\S+)$`)
	alertLine  = regexp.MustCompile(`(?m)^\s+- alert: (\S+)$`)
	rulesFound = regexp.MustCompile(`SUCCESS: (\d+) rules found`)
)

// readRules reads the rules file line by line (one-line exprs), and checks
// against promtool that no rule was missed.
func readRules(t *testing.T) ruleFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(e2e.RepoRoot(), "deploy", "prometheus", "ffitel-rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	r := ruleFile{text: string(b), exprs: map[string]bool{}, records: map[string]bool{}, alerts: map[string]bool{}}
	for _, m := range exprLine.FindAllStringSubmatch(r.text, -1) {
		r.exprs[m[1]] = true
	}
	for _, m := range recordLine.FindAllStringSubmatch(r.text, -1) {
		r.records[m[1]] = true
	}
	for _, m := range alertLine.FindAllStringSubmatch(r.text, -1) {
		r.alerts[m[1]] = true
	}
	m := rulesFound.FindStringSubmatch(promtool(t, "check", "rules", "ffitel-rules.yml"))
	if m == nil {
		t.Fatal("promtool check rules did not report a rule count")
	}
	if n, _ := strconv.Atoi(m[1]); n != len(r.records)+len(r.alerts) || n != len(exprLine.FindAllString(r.text, -1)) {
		t.Fatalf("promtool counts %d rules, this test read %d records + %d alerts with %d one-line exprs: keep each expr on one line",
			n, len(r.records), len(r.alerts), len(exprLine.FindAllString(r.text, -1)))
	}
	return r
}

// The four PromQL queries of docs/EVENTS.md (the ones
// TestDomainEventQueriesAnswerInPrometheus runs against a real Prometheus).
func eventQueries(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(e2e.RepoRoot(), "docs", "EVENTS.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	start := strings.Index(doc, "```promql\n")
	if start < 0 {
		t.Fatal("docs/EVENTS.md has no ```promql block")
	}
	block := doc[start+len("```promql\n"):]
	block = block[:strings.Index(block, "```")]
	qs := strings.Split(strings.TrimSpace(block), "\n")
	if len(qs) != 4 {
		t.Fatalf("docs/EVENTS.md lists %d queries, want the four", len(qs))
	}
	return qs
}

// The rules record the four documented queries as written, so the
// dashboard, the alerts and docs/EVENTS.md agree.
func TestPrometheusRulesRecordTheFourEventQueries(t *testing.T) {
	rules := readRules(t)
	for _, q := range eventQueries(t) {
		if !rules.exprs[q] {
			t.Errorf("no rule in deploy/prometheus/ffitel-rules.yml has the expr %s", q)
		}
	}
}

// Every panel of deploy/grafana/ffitel-dashboard.json queries what the rules
// file computes (a rule's expr, a recorded series, or a part of a rule), or
// one of the four documented queries; all four are on the dashboard.
func TestGrafanaDashboardUsesTheRuleQueries(t *testing.T) {
	rules := readRules(t)
	queries := eventQueries(t)
	b, err := os.ReadFile(filepath.Join(e2e.RepoRoot(), "deploy", "grafana", "ffitel-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		UID    string `json:"uid"`
		Panels []struct {
			Type    string `json:"type"`
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("the dashboard is not valid JSON: %v", err)
	}
	if dash.Title == "" || dash.UID == "" {
		t.Errorf("dashboard title %q uid %q: both are needed to import it", dash.Title, dash.UID)
	}
	onDashboard := map[string]bool{}
	graphs := 0
	for _, p := range dash.Panels {
		if p.Type == "row" {
			continue
		}
		graphs++
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			onDashboard[tg.Expr] = true
			documented := false
			for _, q := range queries {
				documented = documented || tg.Expr == q
			}
			if tg.Expr == "" || !(documented || rules.exprs[tg.Expr] || rules.records[tg.Expr] || strings.Contains(rules.text, tg.Expr)) {
				t.Errorf("panel %q queries %q, which is neither in ffitel-rules.yml nor one of the four documented queries", p.Title, tg.Expr)
			}
		}
	}
	for _, q := range queries {
		if !onDashboard[q] {
			t.Errorf("the dashboard lacks the documented query %s", q)
		}
	}
	if graphs == 0 {
		t.Error("the dashboard has no panels")
	}
}

var (
	runbookLine = regexp.MustCompile(`runbook: docs/OPERATIONS\.md#(\S+)`)
	headingLine = regexp.MustCompile(`(?m)^#{1,6} (.+)$`)
	notSlug     = regexp.MustCompile(`[^a-z0-9 -]`)
)

// Every alert's runbook annotation points at a section of docs/OPERATIONS.md
// that exists (GitHub's heading anchors), and every alert is documented there.
func TestPrometheusAlertRunbooksExist(t *testing.T) {
	rules := readRules(t)
	b, err := os.ReadFile(filepath.Join(e2e.RepoRoot(), "docs", "OPERATIONS.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	anchors := map[string]bool{}
	for _, m := range headingLine.FindAllStringSubmatch(doc, -1) {
		slug := strings.ReplaceAll(notSlug.ReplaceAllString(strings.ToLower(m[1]), ""), " ", "-")
		anchors[slug] = true
	}
	links := runbookLine.FindAllStringSubmatch(rules.text, -1)
	if len(links) != len(rules.alerts) {
		t.Errorf("%d runbook annotations for %d alerts: give every alert one", len(links), len(rules.alerts))
	}
	for _, m := range links {
		if !anchors[m[1]] {
			t.Errorf("runbook docs/OPERATIONS.md#%s: no such heading", m[1])
		}
	}
	for alert := range rules.alerts {
		if !strings.Contains(doc, "`"+alert+"`") {
			t.Errorf("alert %s is not described in docs/OPERATIONS.md", alert)
		}
	}
}
