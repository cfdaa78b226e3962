package deptest

import (
	"encoding/json"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/tlsmux/tlsmux"

type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps=false", "-json", module+"/...")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 5 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	return pkgs
}

// benchMayImport are the project packages bench may import (bench contract): the load
// generator, SIP framing, the demo core and test certificates; never the daemon's own.
var benchMayImport = []string{"internal/loadgen", "internal/sipmsg", "internal/sipcore", "internal/testcert"}

// TestImportPolicy checks the rules of ARCHITECTURE.md §2 on production code (test files are
// not in Imports/Deps as listed here). "os" is allowed for its error sentinels (os.ErrDeadlineExceeded). internal/leakcheck is test support and may use testing.
func TestImportPolicy(t *testing.T) {
	local := func(p string) string { return strings.TrimPrefix(p, module+"/") }
	for _, p := range listPackages(t) {
		name := local(p.ImportPath)
		for _, dep := range p.Deps {
			if strings.HasPrefix(dep, "github.com/panjf2000/gnet") && name != "reactor" && !strings.HasPrefix(name, "cmd/") {
				t.Errorf("%s depends on gnet; only reactor may (ARCHITECTURE.md §2)", name)
			}
			if dep == "testing" && !strings.HasPrefix(name, "internal/leakcheck") && !strings.HasPrefix(name, "internal/deptest") {
				t.Errorf("%s (production code) depends on testing", name)
			}
		}
		for _, imp := range p.Imports {
			switch {
			case imp == module+"/config" && !strings.HasPrefix(name, "cmd/"):
				t.Errorf("%s imports config; runtime packages own their option types and cmd translates", name)
			case strings.HasPrefix(imp, module+"/cmd/"),
				strings.HasPrefix(imp, module+"/bench") && !strings.HasPrefix(name, "bench/"):
				// bench's own commands (bench/cmd/...) import its packages; nothing else may.
				t.Errorf("%s imports %s; nothing imports cmd or bench", name, local(imp))
			case strings.HasPrefix(name, "bench/") && strings.HasPrefix(imp, module+"/") &&
				!strings.HasPrefix(imp, module+"/bench/") && !slices.Contains(benchMayImport, local(imp)):
				t.Errorf("%s imports %s; bench drives the daemon as a black box and imports none of its packages", name, local(imp))
			}
		}
		if name == "config" {
			for _, imp := range p.Imports {
				if strings.HasPrefix(imp, module+"/") {
					t.Errorf("config imports %s; it must import no project package", local(imp))
				}
			}
		}
		if slices.Contains([]string{"tlsconn", "wq", "memguard", "internal/timerwheel"}, name) {
			for _, imp := range p.Imports {
				if slices.Contains([]string{"log", "log/slog", "os/exec", "net/http", "syscall"}, imp) {
					t.Errorf("%s imports %s; it must do no I/O and no logging (ARCHITECTURE.md §2)", name, imp)
				}
			}
		}
	}
}
