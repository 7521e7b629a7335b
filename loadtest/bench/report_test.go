package bench

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"
)

// TestWriteMarkdownGolden renders each committed report JSON and compares
// it byte for byte with the markdown make bench wrote from the same report.
func TestWriteMarkdownGolden(t *testing.T) {
	for _, name := range []string{"report", "report-1259"} {
		t.Run(name, func(t *testing.T) {
			base := "../../docs/bench/" + name
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
