package experiment

import (
	"os"
	"testing"
)

func TestNewResultsDirAddsASuffix(t *testing.T) {
	base := t.TempDir()
	var dirs []string
	for range 3 {
		dir, err := NewResultsDir(base, "x")
		if err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, dir)
	}
	if dirs[1] != dirs[0]+"-2" && dirs[2] != dirs[1]+"-2" {
		t.Errorf("directories %q: want the same second's names suffixed -2, -3", dirs)
	}
	for _, d := range dirs {
		if info, err := os.Stat(d); err != nil || !info.IsDir() {
			t.Errorf("%s: %v, want a directory", d, err)
		}
	}
}
