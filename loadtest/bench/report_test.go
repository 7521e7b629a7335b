package bench

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWriteMarkdownGolden renders each committed report JSON and compares
// it byte for byte with the markdown make bench wrote from the same report.
func TestWriteMarkdownGolden(t *testing.T) {
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
			var got bytes.Buffer
			if err := rep.WriteMarkdown(&got); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("WriteMarkdown differs from %s.md:\n%s", base, got.String())
			}
		})
	}
}
