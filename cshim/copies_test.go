package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/ffitel/ffitel/bootstrap"
)

// The header is the one source of the version string and the result codes.
// The Go side of cshim uses it through cgo (C.FFITEL_E_*); bootstrap, the
// Python binding and the Ruby binding keep copies, checked here by parsing
// the files, wherever in their package the constants live.

var (
	headerCodeRE    = regexp.MustCompile(`(?m)^#define\s+FFITEL_(OK|E_[A-Z_]+|PY_USE_JSON|RB_USE_JSON)\s+\(?\s*(-?\d+)\s*\)?`)
	headerVersionRE = regexp.MustCompile(`(?m)^#define\s+FFITEL_VERSION\s+"([^"]*)"`)
	// E_INVALID = -1, also with a type annotation (E_INVALID: Final = -1).
	pyCodeRE      = regexp.MustCompile(`(?m)^\s*(OK|E_[A-Z_]+|PY_USE_JSON)\s*(?::[^=\n]+)?=\s*(-?\d+)\b`)
	pyCodeNameRE  = regexp.MustCompile(`\b(E_[A-Z_]+)\s*:\s*["']FFITEL_([A-Z_]+)["']`)
	pyVersionRE   = regexp.MustCompile(`(?m)^(__version__)\s*(?::[^=\n]+)?=\s*["']([^"']*)["']`)
	versionFileRE = regexp.MustCompile(`(?m)^()([0-9][^\s]*)\s*$`)
	pyProjectRE   = regexp.MustCompile(`(?m)^(version)\s*=\s*"([^"]*)"`)
	rbCodeRE      = regexp.MustCompile(`(?m)^\s*(OK|E_[A-Z_]+|RB_USE_JSON)\s*=\s*(-?\d+)\b`)
	rbVersionRE   = regexp.MustCompile(`(?m)^\s*(VERSION)\s*=\s*["']([^"']*)["']`)
	headerRelPath = filepath.Join("include", "ffitel.h")
)

// constant is one parsed definition and the file it came from.
type constant struct{ value, file string }

// scanFiles applies re (groups: name, value) to every file under root whose name
// ends in ext. A name defined twice with different values is reported.
func scanFiles(t *testing.T, root, ext string, re *regexp.Regexp) map[string]constant {
	t.Helper()
	found := map[string]constant{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ext) {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			if prev, ok := found[m[1]]; ok && prev.value != m[2] {
				t.Errorf("%s is %s in %s but %s in %s", m[1], prev.value, prev.file, m[2], path)
			}
			found[m[1]] = constant{m[2], path}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("reading %s: %v", root, err)
	}
	return found
}

// codeMismatches compares a binding's copies with the header's codes
// (names without the FFITEL_ prefix): a code missing from the copy, a
// different value, or a code the header does not have.
func codeMismatches(header map[string]string, copies map[string]constant) []string {
	var out []string
	for name, want := range header {
		got, ok := copies[name]
		switch {
		case !ok:
			out = append(out, name+" is missing (FFITEL_"+name+" = "+want+")")
		case got.value != want:
			out = append(out, name+" is "+got.value+" in "+got.file+"; FFITEL_"+name+" is "+want)
		}
	}
	for name, got := range copies {
		if _, ok := header[name]; !ok {
			out = append(out, name+" = "+got.value+" in "+got.file+" is not a code of ffitel.h")
		}
	}
	sort.Strings(out)
	return out
}

// headerConstants parses the codes and the version from ffitel.h.
func headerConstants(t *testing.T) (codes map[string]string, version string) {
	t.Helper()
	b, err := os.ReadFile(headerRelPath)
	if err != nil {
		t.Fatal(err)
	}
	codes = map[string]string{}
	for _, m := range headerCodeRE.FindAllStringSubmatch(string(b), -1) {
		codes[m[1]] = m[2]
	}
	if len(codes) < 9 || codes["OK"] != "0" || codes["E_INVALID"] != "-1" {
		t.Fatalf("parsed implausible codes from %s: %v", headerRelPath, codes)
	}
	v := headerVersionRE.FindStringSubmatch(string(b))
	if v == nil {
		t.Fatalf("no FFITEL_VERSION in %s", headerRelPath)
	}
	return codes, v[1]
}

// bindingCodes is the header's codes a binding must copy: OK, every E_*,
// and its own USE_JSON code.
func bindingCodes(header map[string]string, own string) map[string]string {
	out := map[string]string{}
	for name, v := range header {
		if name == "OK" || strings.HasPrefix(name, "E_") || name == own {
			out[name] = v
		}
	}
	return out
}

func TestResultCodesOfTheBindingsMatchTheHeader(t *testing.T) {
	header, _ := headerConstants(t)
	py := filepath.Join("..", "python", "src", "ffitel")
	for _, m := range codeMismatches(bindingCodes(header, "PY_USE_JSON"), scanFiles(t, py, ".py", pyCodeRE)) {
		t.Errorf("Python (%s): %s", py, m)
	}
	// The names the Python binding prints for codes (E_FULL: "FFITEL_E_FULL").
	for name, c := range scanFiles(t, py, ".py", pyCodeNameRE) {
		if name != c.value {
			t.Errorf("Python (%s): code %s is printed as FFITEL_%s", c.file, name, c.value)
		}
	}
	rb := filepath.Join("..", "ruby", "lib")
	for _, m := range codeMismatches(bindingCodes(header, "RB_USE_JSON"), scanFiles(t, rb, ".rb", rbCodeRE)) {
		t.Errorf("Ruby (%s): %s", rb, m)
	}
}

func TestVersionOfEveryCopyMatchesTheHeader(t *testing.T) {
	_, want := headerConstants(t)
	if bootstrap.Version != want {
		t.Errorf("bootstrap.Version is %q; FFITEL_VERSION is %q", bootstrap.Version, want)
	}
	copies := map[string]map[string]constant{
		"Python __version__": scanFiles(t, filepath.Join("..", "python", "src", "ffitel"), ".py", pyVersionRE),
		"VERSION file":       scanFiles(t, filepath.Join("..", "VERSION"), "VERSION", versionFileRE),
		"Ruby VERSION":       scanFiles(t, filepath.Join("..", "ruby", "lib"), ".rb", rbVersionRE),
	}
	// pyproject.toml reads __version__ (dynamic), so it holds no copy.
	if b, err := os.ReadFile(filepath.Join("..", "python", "pyproject.toml")); err != nil {
		t.Error(err)
	} else if m := pyProjectRE.FindStringSubmatch(string(b)); m != nil {
		t.Errorf("python/pyproject.toml writes version %q; it should read ffitel.__version__", m[2])
	} else if !strings.Contains(string(b), `attr = "ffitel.__version__"`) {
		t.Errorf("python/pyproject.toml does not read its version from ffitel.__version__")
	}
	for what, found := range copies {
		if len(found) == 0 {
			t.Errorf("%s: no version found", what)
		}
		for _, c := range found {
			if c.value != want {
				t.Errorf("%s is %q in %s; FFITEL_VERSION is %q", what, c.value, c.file, want)
			}
		}
	}
}

// The comparison itself fails on a wrong, a missing and a stray copy.
func TestCodeMismatchesReportsEveryDifference(t *testing.T) {
	header := map[string]string{"OK": "0", "E_INVALID": "-1", "E_FULL": "-5"}
	copies := map[string]constant{
		"OK":        {"0", "a.py"},
		"E_FULL":    {"-6", "a.py"},
		"E_UNKNOWN": {"-9", "b.py"},
	}
	got := strings.Join(codeMismatches(header, copies), "\n")
	for _, want := range []string{"E_FULL is -6 in a.py", "E_INVALID is missing", "E_UNKNOWN = -9 in b.py is not a code"} {
		if !strings.Contains(got, want) {
			t.Errorf("mismatches lack %q:\n%s", want, got)
		}
	}
	if len(codeMismatches(header, map[string]constant{"OK": {"0", ""}, "E_INVALID": {"-1", ""}, "E_FULL": {"-5", ""}})) != 0 {
		t.Error("equal copies reported as different")
	}
}

// The ABI version: the header's FFITEL_ABI_VERSION, what ffitel_abi_version
// returns, and the copy each binding compares it with when it loads the
// library.
func TestABIVersionOfEveryCopyMatchesTheHeader(t *testing.T) {
	b, err := os.ReadFile(headerRelPath)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^#define\s+FFITEL_ABI_VERSION\s+(\d+)\s*$`).FindStringSubmatch(string(b))
	if m == nil {
		t.Fatalf("no FFITEL_ABI_VERSION in %s", headerRelPath)
	}
	want := m[1]
	if !regexp.MustCompile(`(?m)^int ffitel_abi_version\(void\);`).Match(b) {
		t.Errorf("%s does not declare int ffitel_abi_version(void)", headerRelPath)
	}
	abiRE := regexp.MustCompile(`(?m)^\s*(ABI_VERSION)\s*(?::[^=\n]+)?=\s*(\d+)\b`)
	for what, found := range map[string]map[string]constant{
		"Python ABI_VERSION": scanFiles(t, filepath.Join("..", "python", "src", "ffitel"), ".py", abiRE),
		"Ruby ABI_VERSION":   scanFiles(t, filepath.Join("..", "ruby", "lib"), ".rb", abiRE),
	} {
		c, ok := found["ABI_VERSION"]
		if !ok {
			t.Errorf("%s: not found", what)
			continue
		}
		if c.value != want {
			t.Errorf("%s is %s in %s; FFITEL_ABI_VERSION is %s", what, c.value, c.file, want)
		}
	}
}
