package observe

import (
	"os"
	"testing"

	"offload/internal/testbin"
)

// serverBin is the real server, built once from this module for every test
// that needs a process.
var serverBin string

func TestMain(m *testing.M) {
	os.Exit(testbin.Main(m, func(bins []string) { serverBin = bins[0] }, "./cmd/server"))
}
