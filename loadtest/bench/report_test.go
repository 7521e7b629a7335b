package bench

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMarkdownGolden renders each committed report JSON and compares
// it byte for byte with the markdown make bench wrote from the same report.
func TestMarkdownGolden(t *testing.T) {
	reports, err := filepath.Glob("../../docs/bench/report*.json")
	if err != nil || len(reports) == 0 {
		t.Fatalf("no committed reports in docs/bench (%v)", err)
	}
	for _, path := range reports {
		t.Run(filepath.Base(path), func(t *testing.T) {
			base := strings.TrimSuffix(path, ".json")
			js, err := os.ReadFile(base + ".json")
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(base + ".md")
			if err != nil {
				t.Fatal(err)
			}
			var rep Report
			if err := json.Unmarshal(js, &rep); err != nil {
				t.Fatal(err)
			}
			if got := rep.Markdown(); got != string(want) {
				t.Errorf("Markdown differs from %s.md:\n%s", base, got)
			}
		})
	}
}
