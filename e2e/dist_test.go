//go:build dist

// The release artifacts in dist/, installed as a user would install them:
// each into a fresh environment outside the checkout, then a two-phase
// worker (console, log, telemetry, log, span, shutdown) runs against the real
// Collector and its records must arrive. `make test-dist` builds dist/ first
// and runs these with -tags dist; without the tag they are not compiled, so
// `go test ./...` does not need dist/.
package e2e_test

import (
	"archive/zip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ffitel/ffitel/e2e"
)

// distVersion is the content of VERSION, the one source of the version.
func distVersion(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(e2e.RepoRoot(), "VERSION"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// distArtifact returns dist/NAME, failing when `make dist` did not write it.
func distArtifact(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join(e2e.RepoRoot(), "dist", name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s is missing: run `make dist` (make test-dist does): %v", p, err)
	}
	return p
}

// outside is a fresh directory outside the checkout, so nothing resolves
// through the source tree.
func outside(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if strings.HasPrefix(dir, e2e.RepoRoot()+string(os.PathSeparator)) {
		t.Fatalf("temporary directory %s is inside the checkout", dir)
	}
	return dir
}

// cleanEnv is the environment without anything that points into the
// checkout or at a library: the artifact alone must be enough.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "FFITEL_LIBRARY", "PYTHONPATH", "RUBYLIB", "RUBYOPT", "GEM_HOME", "GEM_PATH",
			"VIRTUAL_ENV", "PKG_CONFIG_PATH", "LD_LIBRARY_PATH", "PYTHONHOME":
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// pathWithoutGo is PATH minus every directory holding a `go` executable.
func pathWithoutGo() string {
	var keep []string
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		if st, err := os.Stat(filepath.Join(dir, "go")); err == nil && !st.IsDir() {
			continue
		}
		keep = append(keep, dir)
	}
	return strings.Join(keep, string(os.PathListSeparator))
}

func run(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir, cmd.Env = dir, env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// runFails runs a command that must fail and returns its output.
func runFails(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir, cmd.Env = dir, env
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("%s %s succeeded, want a failure:\n%s", name, strings.Join(args, " "), out)
	}
	return string(out)
}

// expectTwoPhaseRecords waits for the worker's records, told apart by
// service.name: its phase-1 and phase-2 log records and its span, with the
// log written inside the span carrying the span's ids.
func expectTwoPhaseRecords(t *testing.T, col *e2e.Collector, service string) {
	t.Helper()
	var mine []e2e.LogRecord
	var span *e2e.Span
	ok := e2e.WaitFor(15*time.Second, func() bool {
		logs, _ := col.Logs()
		spans, _ := col.Spans()
		mine, span = nil, nil
		for _, r := range logs {
			if v, _ := r.Resource.Attributes.Get("service.name"); v == service {
				mine = append(mine, r)
			}
		}
		for i, s := range spans {
			if v, _ := s.Resource.Attributes.Get("service.name"); v == service && s.Name == "dist span" {
				span = &spans[i]
			}
		}
		return span != nil && len(findLogs(mine, "inside span")) == 1 &&
			len(findLogs(mine, "phase two")) == 1 && len(findLogs(mine, "phase one")) == 1
	})
	if !ok {
		var bodies []string
		for _, r := range mine {
			bodies = append(bodies, r.Body.String())
		}
		t.Fatalf("collector got from %s: logs %q, span %v; want phase one, phase two, inside span and the span",
			service, bodies, span != nil)
	}
	inside := findLogs(mine, "inside span")[0]
	if inside.TraceID != span.TraceID || inside.SpanID != span.SpanID {
		t.Errorf("%s: the log inside the span has trace %s span %s, the span is %s/%s",
			service, inside.TraceID, inside.SpanID, span.TraceID, span.SpanID)
	}
}

const pythonWorker = `
import os, sys
import ffitel
print("module", ffitel.__file__)
print("version", ffitel.__version__, ffitel.version())
ffitel.init_console()
ffitel.info("phase one", python=sys.version.split()[0])
ffitel.init_telemetry()
ffitel.info("phase two")
with ffitel.span("dist span", attributes={"python": sys.version.split()[0]}):
    ffitel.info("inside span")
if not ffitel.shutdown(10.0):
    sys.exit("shutdown did not finish")
`

// runPythonWorker runs pythonWorker with python and checks that ffitel
// came from under prefix (a venv, never the checkout) at this version.
func runPythonWorker(t *testing.T, col *e2e.Collector, python, prefix, service string) {
	t.Helper()
	dir := outside(t)
	script := filepath.Join(dir, "worker.py")
	if err := os.WriteFile(script, []byte(pythonWorker), 0o644); err != nil {
		t.Fatal(err)
	}
	env := cleanEnv(append(col.Env(), "OTEL_SERVICE_NAME="+service)...)
	out := run(t, dir, env, python, script)
	m := regexp.MustCompile(`(?m)^module (.*)$`).FindStringSubmatch(out)
	if m == nil || !strings.HasPrefix(m[1], prefix+string(os.PathSeparator)) {
		t.Fatalf("ffitel was not imported from %s:\n%s", prefix, out)
	}
	v := distVersion(t)
	if !strings.Contains(out, "version "+v+" "+v+"\n") {
		t.Errorf("package and library version are not both %s:\n%s", v, out)
	}
	expectTwoPhaseRecords(t, col, service)
	runDoctor(t, dir, env, python, "-m", "ffitel", "doctor")
}

// pyenvPythons lists every CPython >= 3.9 pyenv has, failing with fewer than three.
func pyenvPythons(t *testing.T) map[string]string {
	t.Helper()
	rootOut, err := exec.Command("pyenv", "root").Output()
	if err != nil {
		t.Fatalf("pyenv is needed to test the wheel on several CPythons (`pyenv root`: %v)", err)
	}
	versOut, err := exec.Command("pyenv", "versions", "--bare").Output()
	if err != nil {
		t.Fatalf("pyenv versions --bare: %v", err)
	}
	root := strings.TrimSpace(string(rootOut))
	pythons := map[string]string{}
	re := regexp.MustCompile(`^3\.(\d+)\.\d+$`)
	for _, v := range strings.Fields(string(versOut)) {
		m := re.FindStringSubmatch(v)
		if m == nil || len(m[1]) == 1 && m[1] < "9" {
			continue
		}
		bin := filepath.Join(root, "versions", v, "bin", "python3")
		if _, err := os.Stat(bin); err == nil {
			pythons[v] = bin
		}
	}
	if len(pythons) < 3 {
		t.Fatalf("pyenv has %d CPythons >= 3.9 (%v), the wheel test needs at least three (e.g. 3.11, 3.12, 3.13): pyenv install them",
			len(pythons), pythons)
	}
	return pythons
}

func newVenv(t *testing.T, python string) string {
	t.Helper()
	venv := filepath.Join(outside(t), "venv")
	run(t, "/", cleanEnv(), python, "-m", "venv", venv)
	return venv
}

func TestDistWheelOnEveryCPython(t *testing.T) {
	wheel := distArtifact(t, "ffitel-"+distVersion(t)+"-py3-none-manylinux_2_17_x86_64.whl")
	pythons := pyenvPythons(t)
	col := e2e.StartCollector(t)
	versions := make([]string, 0, len(pythons))
	for v := range pythons {
		versions = append(versions, v)
	}
	sort.Strings(versions)
	for _, v := range versions {
		t.Run("python"+v, func(t *testing.T) {
			venv := newVenv(t, pythons[v])
			py := filepath.Join(venv, "bin", "python")
			run(t, "/", cleanEnv(), py, "-m", "pip", "install", "-q", "--no-index", "--disable-pip-version-check", wheel)
			runPythonWorker(t, col, py, venv, "dist-wheel-"+v)
		})
	}
}

func TestDistWheelCarriesTheLibraryAndAuditwheelAgrees(t *testing.T) {
	name := "ffitel-" + distVersion(t) + "-py3-none-manylinux_2_17_x86_64.whl"
	wheel := distArtifact(t, name)
	zr, err := zip.OpenReader(wheel)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var tag string
	hasLib := false
	for _, f := range zr.File {
		if f.Name == "ffitel/lib/libffitel.so" {
			hasLib = true
		}
		if strings.HasSuffix(f.Name, ".dist-info/WHEEL") {
			rc, _ := f.Open()
			b := make([]byte, f.UncompressedSize64)
			_, _ = rc.Read(b)
			rc.Close()
			if m := regexp.MustCompile(`(?m)^Tag: (.*)$`).FindSubmatch(b); m != nil {
				tag = string(m[1])
			}
		}
	}
	if !hasLib {
		t.Errorf("%s holds no ffitel/lib/libffitel.so", name)
	}
	if tag != "py3-none-manylinux_2_17_x86_64" {
		t.Errorf("WHEEL says Tag: %q, want py3-none-manylinux_2_17_x86_64", tag)
	}
	auditwheel := filepath.Join(e2e.RepoRoot(), ".cache", "distvenv", "bin", "auditwheel")
	out := run(t, "/", cleanEnv(), auditwheel, "show", wheel)
	if !strings.Contains(out, `is consistent with the
following platform tag: "manylinux_2_17_x86_64"`) {
		t.Errorf("auditwheel show does not agree with manylinux_2_17_x86_64:\n%s", out)
	}
}

func TestDistSdistBuildsWithGoAndFailsClearlyWithout(t *testing.T) {
	sdist := distArtifact(t, "ffitel-"+distVersion(t)+".tar.gz")
	pythons := pyenvPythons(t)
	py3 := pythons[newestPython(pythons)]
	col := e2e.StartCollector(t)

	venv := newVenv(t, py3)
	py := filepath.Join(venv, "bin", "python")
	out := runFails(t, "/", cleanEnv("PATH="+pathWithoutGo()), py, "-m", "pip", "install", "--disable-pip-version-check", sdist)
	if !strings.Contains(out, "ffitel: building from source compiles libffitel.so with Go, and `go` is not on PATH. Install a prebuilt wheel") {
		t.Errorf("pip install of the sdist without Go did not say to install a wheel or Go:\n%s", out)
	}

	run(t, "/", cleanEnv(), py, "-m", "pip", "install", "-q", "--disable-pip-version-check", sdist)
	runPythonWorker(t, col, py, venv, "dist-sdist")
}

func newestPython(pythons map[string]string) string {
	best := ""
	for v := range pythons {
		if best == "" || versionLess(best, v) {
			best = v
		}
	}
	return best
}

func versionLess(a, b string) bool {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) && i < len(bs); i++ {
		if len(as[i]) != len(bs[i]) {
			return len(as[i]) < len(bs[i])
		}
		if as[i] != bs[i] {
			return as[i] < bs[i]
		}
	}
	return len(as) < len(bs)
}

const rubyWorker = `
require "ffitel"
puts "library #{Ffitel.library_path}"
Ffitel.init_console
puts "version #{Ffitel::VERSION} #{Ffitel.library_version}"
Ffitel.info("phase one", ruby: RUBY_VERSION)
Ffitel.init_telemetry
Ffitel.info("phase two")
Ffitel.span("dist span", attributes: { "ruby" => RUBY_VERSION }) do
  Ffitel.info("inside span")
end
abort "shutdown did not finish" unless Ffitel.shutdown(timeout: 10.0)
`

// gemInstall installs gem into a fresh GEM_HOME outside the checkout and
// returns the environment that uses it. ffi comes from the system (Debian's
// ruby-ffi), so the install skips dependencies and GEM_PATH keeps the
// system's gems (the trailing separator appends RubyGems' default path).
func gemInstall(t *testing.T, gem string, env []string) (gemHome string, useEnv []string, out string, err error) {
	t.Helper()
	gemHome = filepath.Join(outside(t), "gems")
	useEnv = append(cleanEnv(), "GEM_HOME="+gemHome, "GEM_PATH="+gemHome+string(os.PathListSeparator))
	cmd := exec.Command("gem", "install", "--local", "--no-document", "--ignore-dependencies", gem)
	cmd.Dir = outside(t)
	cmd.Env = append(append([]string{}, useEnv...), env...)
	b, err := cmd.CombinedOutput()
	return gemHome, useEnv, string(b), err
}

func runRubyWorker(t *testing.T, col *e2e.Collector, env []string, gemHome, service string) {
	t.Helper()
	dir := outside(t)
	script := filepath.Join(dir, "worker.rb")
	if err := os.WriteFile(script, []byte(rubyWorker), 0o644); err != nil {
		t.Fatal(err)
	}
	out := run(t, dir, append(append(env, col.Env()...), "OTEL_SERVICE_NAME="+service), "ruby", script)
	m := regexp.MustCompile(`(?m)^library (.*)$`).FindStringSubmatch(out)
	if m == nil || !strings.HasPrefix(m[1], gemHome+string(os.PathSeparator)) {
		t.Fatalf("libffitel.so was not loaded from the installed gem under %s:\n%s", gemHome, out)
	}
	v := distVersion(t)
	if !strings.Contains(out, "version "+v+" "+v+"\n") {
		t.Errorf("gem and library version are not both %s:\n%s", v, out)
	}
	expectTwoPhaseRecords(t, col, service)
	// The gem's executable, from the GEM_HOME's bin.
	runDoctor(t, dir, append(append(env, col.Env()...), "OTEL_SERVICE_NAME="+service),
		filepath.Join(gemHome, "bin", "ffitel"), "doctor")
}

func TestDistPlatformGem(t *testing.T) {
	gem := distArtifact(t, "ffitel-"+distVersion(t)+"-x86_64-linux.gem")
	col := e2e.StartCollector(t)
	// No Go on PATH: the platform gem needs none.
	gemHome, env, out, err := gemInstall(t, gem, []string{"PATH=" + pathWithoutGo()})
	if err != nil {
		t.Fatalf("gem install %s: %v\n%s", gem, err, out)
	}
	runRubyWorker(t, col, env, gemHome, "dist-platform-gem")
}

func TestDistSourceGemBuildsWithGo(t *testing.T) {
	gem := distArtifact(t, "ffitel-"+distVersion(t)+".gem")
	col := e2e.StartCollector(t)
	gemHome, env, out, err := gemInstall(t, gem, nil)
	if err != nil {
		t.Fatalf("gem install %s: %v\n%s", gem, err, out)
	}
	runRubyWorker(t, col, env, gemHome, "dist-source-gem")
}

// TestDistSourceGemWithoutGoSaysWhatToInstall reads the message RubyGems
// keeps from the failed extension build.
func TestDistSourceGemWithoutGoSaysWhatToInstall(t *testing.T) {
	gem := distArtifact(t, "ffitel-"+distVersion(t)+".gem")
	gemHome, _, out, err := gemInstall(t, gem, []string{"PATH=" + pathWithoutGo()})
	if err == nil {
		t.Fatalf("gem install of the source gem without Go succeeded:\n%s", out)
	}
	logs, _ := filepath.Glob(filepath.Join(gemHome, "extensions", "*", "*", "ffitel-*", "gem_make.out"))
	for _, l := range logs {
		b, _ := os.ReadFile(l)
		out += string(b)
	}
	if !strings.Contains(out, "ffitel: installing the source gem compiles libffitel.so with Go, and `go` is not on PATH. Install the prebuilt platform gem") {
		t.Errorf("gem install without Go did not say to install the platform gem or Go:\n%s", out)
	}
}

func TestDistCTarballThroughPkgConfig(t *testing.T) {
	v := distVersion(t)
	tarball := distArtifact(t, "libffitel-"+v+"-linux-x86_64.tar.gz")
	dir := outside(t)
	run(t, dir, cleanEnv(), "tar", "-xzf", tarball)
	prefix := filepath.Join(dir, "libffitel-"+v+"-linux-x86_64")
	for _, f := range []string{"lib/libffitel.so", "include/ffitel.h", "lib/pkgconfig/ffitel.pc"} {
		if _, err := os.Stat(filepath.Join(prefix, f)); err != nil {
			t.Fatalf("the tarball holds no %s: %v", f, err)
		}
	}
	env := cleanEnv("PKG_CONFIG_PATH=" + filepath.Join(prefix, "lib", "pkgconfig"))
	if got := strings.TrimSpace(run(t, dir, env, "pkg-config", "--modversion", "ffitel")); got != v {
		t.Errorf("pkg-config --modversion ffitel = %q, want %s", got, v)
	}
	worker := filepath.Join(e2e.RepoRoot(), "examples", "c", "worker.c")
	// The README's command, as a user types it.
	run(t, dir, env, "sh", "-c", `cc $(pkg-config --cflags --libs ffitel) "$0" -o cworker`, worker)

	col := e2e.StartCollector(t)
	runEnv := append(cleanEnv(col.Env()...), "OTEL_SERVICE_NAME=dist-c-tarball",
		"LD_LIBRARY_PATH="+filepath.Join(prefix, "lib"))
	out := run(t, dir, runEnv, filepath.Join(dir, "cworker"))
	if strings.Contains(out, "failed (") {
		t.Errorf("cworker reported a failed call:\n%s", out)
	}
	ldd := run(t, dir, runEnv, "ldd", filepath.Join(dir, "cworker"))
	if !strings.Contains(ldd, filepath.Join(prefix, "lib", "libffitel.so")) {
		t.Errorf("cworker did not resolve libffitel.so from the tarball:\n%s", ldd)
	}
	var logs []e2e.LogRecord
	var spans []e2e.Span
	if !e2e.WaitFor(15*time.Second, func() bool {
		logs, _ = col.Logs()
		spans, _ = col.Spans()
		return len(spans) >= 6 && len(findLogs(logs, "c job failed")) == 1
	}) {
		t.Fatalf("collector got %d logs and %d spans from the tarball's library, want the C worker's 6 spans and its failure log",
			len(logs), len(spans))
	}
}

// TestDistGemspecBuildsACompleteGemFromAnyDirectory runs the README's
// `gem build ruby/ffitel.gemspec` from the checkout's root and from an
// unrelated directory; both gems hold the Ruby sources and either the
// library or the Go sources with the extension that builds it.
func TestDistGemspecBuildsACompleteGemFromAnyDirectory(t *testing.T) {
	root := e2e.RepoRoot()
	gemspec := filepath.Join(root, "ruby", "ffitel.gemspec")
	elsewhere := outside(t)
	for _, where := range []string{root, elsewhere} {
		args := []string{"build", gemspec}
		if where == root { // keep the checkout clean; elsewhere the gem must land in the working directory
			args = append(args, "--output", filepath.Join(elsewhere, "from-root.gem"))
		}
		run(t, where, cleanEnv(), "gem", args...)
		gems, _ := filepath.Glob(filepath.Join(elsewhere, "*.gem"))
		if len(gems) != 1 {
			t.Fatalf("after gem build from %s, %s holds gems %v, want one", where, elsewhere, gems)
		}
		files := run(t, elsewhere, cleanEnv(), "ruby", "-rrubygems/package", "-e",
			`puts Gem::Package.new(ARGV[0]).spec.files`, gems[0])
		os.Remove(gems[0])
		list := strings.Fields(files)
		has := func(f string) bool {
			for _, g := range list {
				if g == f {
					return true
				}
			}
			return false
		}
		for _, f := range []string{"lib/ffitel.rb", "lib/ffitel/native.rb", "lib/ffitel/version.rb", "README.md"} {
			if !has(f) {
				t.Errorf("gem built from %s lacks %s; it holds %v", where, f, list)
			}
		}
		if !has("lib/ffitel/libffitel.so") && !(has("ext/ffitel/extconf.rb") && has("ext/ffitel/go/cshim/main.go")) {
			t.Errorf("gem built from %s holds neither the library nor the Go sources to build it: %v", where, list)
		}
		// What gem build copied into the checkout is gone: a stale copy
		// would shadow build/libffitel.so for the Ruby tests.
		for _, left := range []string{"ruby/lib/ffitel/libffitel.so", "ruby/ext/ffitel/go"} {
			if _, err := os.Stat(filepath.Join(root, left)); err == nil {
				t.Errorf("gem build from %s left %s in the checkout", where, left)
			}
		}
	}
}

// runDoctor runs an installed `ffitel doctor` with env (pointing at a live
// Collector) and expects exit 0 and ok for logs, traces and metrics.
func runDoctor(t *testing.T, dir string, env []string, name string, args ...string) {
	t.Helper()
	out := run(t, dir, env, name, args...)
	for _, signal := range []string{"logs", "traces", "metrics"} {
		if !regexp.MustCompile(`(?m)^  ` + signal + ` +ok \(\d+ ms\)`).MatchString(out) {
			t.Errorf("%s %s: %s is not ok:\n%s", name, strings.Join(args, " "), signal, out)
		}
	}
}
