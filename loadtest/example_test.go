package loadtest_test

import (
	"context"
	"encoding/json"
	"log"
	"os"
	"time"

	"offload/loadtest"
)

// An open-loop run stepping through three rates, printed for a person and
// then as JSON.
func ExampleRun() {
	res, err := loadtest.Run(context.Background(), loadtest.Config{
		URL:      "http://127.0.0.1:8080/data",
		Rates:    []float64{200, 400, 800}, // over equal thirds of Duration
		Duration: 30 * time.Second,
		Warmup:   5 * time.Second,
		Timeout:  2 * time.Second,
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := res.WriteText(os.Stdout); err != nil {
		log.Fatal(err)
	}
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		log.Fatal(err)
	}
	// For percentiles beyond the summary, in microseconds:
	_ = res.Histogram.ValueAtQuantile(99.99)
}
