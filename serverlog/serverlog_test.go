package serverlog

import (
	"bytes"
	"log/slog"
	"reflect"
	"testing"
	"time"
)

// TestRoundTrip logs records as the server does, through slog's JSON
// handler, and decodes them.
func TestRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	want := Stats{Accepted: 84.5, Closed: 64, Submitted: 80, Completed: 79.5, Rejected: 1, Dropped: 0.5, Queued: 3, Running: 1, Connections: 10}
	log.Info(MsgReady, AttrAddr, "127.0.0.1:8080", "mode", "offload")
	log.LogAttrs(t.Context(), slog.LevelInfo, MsgStats, want.Attrs()...)

	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	if len(lines) != 2 {
		t.Fatalf("got %d lines:\n%s", len(lines), buf.Bytes())
	}
	ready, err := Decode(lines[0])
	if err != nil || ready.Msg != MsgReady || ready.Addr != "127.0.0.1:8080" || ready.Level != "INFO" {
		t.Errorf("ready record %+v, %v", ready, err)
	}
	stats, err := Decode(lines[1])
	if err != nil || stats.Msg != MsgStats || stats.Stats != want || time.Since(stats.Time) > time.Hour {
		t.Errorf("stats record %+v, %v; want %+v", stats, err, want)
	}
	if series := want.Series(); len(series) != reflect.TypeFor[Stats]().NumField() || series["accepted/s"] != 84.5 || series["connections"] != 10 {
		t.Errorf("Series = %v", series)
	}
	if _, err := Decode([]byte(`time=2026-01-02 msg=stats`)); err == nil {
		t.Error("a text log line decoded")
	}
}
