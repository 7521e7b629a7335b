// Package serverlog defines the server's log records that other programs
// read: the ready record, which carries the listening address, and the
// periodic stats record. The server writes them and the experiment kit
// decodes them from the JSON log (-log-format json) with these same
// definitions, so neither side parses the other's text.
package serverlog

import (
	"encoding/json"
	"fmt"
	"iter"
	"log/slog"
	"reflect"
	"time"
)

// Messages of the records programs read.
const (
	// MsgReady is logged once the listeners are bound, with AttrAddr.
	MsgReady = "offload ready"
	// MsgStats is logged every -stats-interval with the Stats attributes.
	MsgStats = "stats"
)

// AttrAddr is the ready record's listening address, host:port.
const AttrAddr = "addr"

// Stats is a stats record: connection and job rates per second over the
// last interval, and gauges at its end. The JSON names are the record's
// attribute names, in the text log as in the JSON one.
type Stats struct {
	Accepted    float64 `json:"accepted/s"`
	Closed      float64 `json:"closed/s"`
	Submitted   float64 `json:"submitted/s"`
	Completed   float64 `json:"completed/s"`
	Rejected    float64 `json:"rejected/s"`
	Dropped     float64 `json:"dropped/s"`
	Queued      float64 `json:"queued"`
	Running     float64 `json:"running"`
	Connections float64 `json:"connections"`
}

// Attrs returns the record's attributes, in field order.
func (s Stats) Attrs() []slog.Attr {
	attrs := make([]slog.Attr, 0, reflect.TypeFor[Stats]().NumField())
	for name, v := range s.fields() {
		attrs = append(attrs, slog.Float64(name, v))
	}
	return attrs
}

// Series returns the values by attribute name.
func (s Stats) Series() map[string]float64 {
	m := make(map[string]float64, reflect.TypeFor[Stats]().NumField())
	for name, v := range s.fields() {
		m[name] = v
	}
	return m
}

// fields yields each field's attribute name and value.
func (s Stats) fields() iter.Seq2[string, float64] {
	return func(yield func(string, float64) bool) {
		v := reflect.ValueOf(s)
		for i := range v.NumField() {
			if !yield(v.Type().Field(i).Tag.Get("json"), v.Field(i).Float()) {
				return
			}
		}
	}
}

// Record is one line of the server's JSON log, with the attributes of the
// records programs read; other attributes are ignored.
type Record struct {
	Time  time.Time `json:"time"`
	Level string    `json:"level"`
	Msg   string    `json:"msg"`
	// Addr is set in the MsgReady record.
	Addr string `json:"addr"`
	// Stats is set in MsgStats records.
	Stats
}

// Decode reads one line of the server's JSON log.
func Decode(line []byte) (Record, error) {
	var r Record
	if err := json.Unmarshal(line, &r); err != nil {
		return Record{}, fmt.Errorf("server log record: %w", err)
	}
	return r, nil
}
