package experiment

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// The golden tests read the results committed in docs/, write them again
// with WriteFiles and compare every file the JSON determines byte for byte:
// the JSON itself (so that its keys and values round-trip), the CSV files
// and the markdown tables. The charts are drawn but not compared.

// golden maps a file WriteFiles writes to the committed file it must equal.
type golden map[string]string

func checkGolden(t *testing.T, src string, res interface{ WriteFiles(string) error }, files golden) {
	t.Helper()
	readJSON(t, src, res)
	dir := t.TempDir()
	if err := res.WriteFiles(dir); err != nil {
		t.Fatal(err)
	}
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		exp, err := os.ReadFile(want)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, exp) {
			t.Errorf("%s differs from %s:\n%s", name, want, firstDiff(got, exp))
		}
	}
}

// readJSON decodes the JSON file at path into v.
func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// firstDiff shows the first line where got and want differ.
func firstDiff(got, want []byte) string {
	g, w := bytes.Split(got, []byte("\n")), bytes.Split(want, []byte("\n"))
	for i := range max(len(g), len(w)) {
		var gl, wl []byte
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if !bytes.Equal(gl, wl) {
			return "line " + itoa(int64(i+1)) + ":\n got: " + string(gl) + "\nwant: " + string(wl)
		}
	}
	return "(lengths differ)"
}

func TestGoldenSweep(t *testing.T) {
	for _, name := range []string{"sweep", "wrk-sweep"} {
		t.Run(name, func(t *testing.T) {
			d := "../../docs/experiment/" + name
			var res SweepResult
			checkGolden(t, d+"-results.json", &res, golden{
				SweepJSON:       d + "-results.json",
				SweepCSV:        d + "-results.csv",
				SweepSummaryCSV: d + "-summary.csv",
				SweepTable:      d + "-table.md",
			})
			// The committed summary is what Summarize made of the rows.
			if got := Summarize(res.Rows); !reflect.DeepEqual(got, res.Summary) {
				t.Errorf("Summarize(rows) = %+v\nwant the committed summary %+v", got, res.Summary)
			}
		})
	}
}

func TestGoldenAcceptVsDone(t *testing.T) {
	d := "../../docs/experiment/accept-vs-done"
	checkGolden(t, d+"-results.json", &AcceptVsDoneResult{}, golden{
		AcceptVsDoneJSON:   d + "-results.json",
		AcceptVsDoneSeries: d + "-series.csv",
		AcceptVsDoneSteps:  d + "-steps.csv",
		AcceptVsDoneTable:  d + "-table.md",
	})
}

func TestGoldenOverload(t *testing.T) {
	d := "../../docs/overload/"
	checkGolden(t, d+"overload.json", &OverloadResult{}, golden{
		OverloadJSON:  d + "overload.json",
		OverloadTable: d + "overload-table.md",
	})
}

// TestGoldenChartInputs pins what the charts are drawn from, as a hash of
// the points, panels and titles computed from results kept in testdata/
// (copies of an earlier docs/ run, so that re-running the experiments
// into docs/ does not move the hashes).
func TestGoldenChartInputs(t *testing.T) {
	var sweep, wrkSweep SweepResult
	var avd AcceptVsDoneResult
	var over OverloadResult
	readJSON(t, "testdata/charts/sweep-results.json", &sweep)
	readJSON(t, "testdata/charts/wrk-sweep-results.json", &wrkSweep)
	readJSON(t, "testdata/charts/accept-vs-done-results.json", &avd)
	readJSON(t, "testdata/charts/overload.json", &over)
	for _, tt := range []struct {
		name string
		v    any
		want string
	}{
		{
			"sweep", []any{sweep.chartTitle(), sweep.ChartPoints()},
			"6de49db8c762fa216c2852904d65e88ed642793e01050a788b619508c8285f18",
		},
		{
			"wrk-sweep", []any{wrkSweep.chartTitle(), wrkSweep.ChartPoints()},
			"a0c90fe387d2cbb0b1366ec75f663ed9ceedcbbf14b519158c51a3b1a46b6992",
		},
		{
			"accept-vs-done", []any{acceptVsDoneTitle, avd.Panels()},
			"0400012c0ce06d5e2b9224ef7ac90e055e31b51dc30a36e8eb4d5e882b80ac2c",
		},
		{
			"overload", []any{over.latencyPanels(), over.statePanels()},
			"be2f85b3a41e615e4e3d3fc2377987fb66cd09de52d1a40f5941b23ef623d2fa",
		},
	} {
		data, err := json.Marshal(tt.v)
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprintf("%x", sha256.Sum256(data)); got != tt.want {
			t.Errorf("%s: chart inputs hash %s, want %s", tt.name, got, tt.want)
		}
	}
}
