// Package work is the CPU-bound job offload serves on /data: a Go port of the
// original experiment's cpu_intensive_work, plus the start-up calibration
// that turns a wanted duration ("4ms of CPU") into an iteration count.
//
// The original formatted "Value: i" into a fresh heap string on every
// iteration. This port formats into one reusable scratch buffer instead, so
// the cost is CPU, not garbage: the garbage collector's work would otherwise
// land on other goroutines and blur what "one unit of work" costs.
package work

import (
	"strconv"
)

// Street is the constant street of the response document.
const Street = "10 Downing Street"

// Scratch is reusable memory for Compute. The zero value is ready to use.
// A Scratch must not be used by two goroutines at once.
type Scratch struct {
	value []byte
}

// Compute runs n iterations of the work and appends its JSON result,
// {"street":"10 Downing Street","city":"Value: <n-1>","count":<sum>}, to dst.
// Iteration i formats "Value: i" and adds its length to the count; city is
// the last formatted value ("" when n is 0).
func Compute(dst []byte, n int, s *Scratch) []byte {
	v := s.value[:0]
	count := 0
	for i := range n {
		v = append(v[:0], "Value: "...)
		v = strconv.AppendInt(v, int64(i), 10)
		count += len(v)
	}
	s.value = v
	return appendJSON(dst, v, count)
}

// appendJSON writes the response document. city is "Value: " followed by
// decimal digits, which never need JSON escaping, so the document is built
// without reflection or allocation.
func appendJSON(dst, city []byte, count int) []byte {
	dst = append(dst, `{"street":"`+Street+`","city":"`...)
	dst = append(dst, city...)
	dst = append(dst, `","count":`...)
	dst = strconv.AppendInt(dst, int64(count), 10)
	return append(dst, '}')
}
