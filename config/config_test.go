package config

import (
	"flag"
	"strings"
	"testing"
	"time"
)

func TestDefaultIsValid(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
}

func TestValidateNamesEveryBadFlag(t *testing.T) {
	c := Default()
	c.Pool, c.Queue, c.Mode, c.ReadTimeout, c.MaxWork, c.AcceptPause = 0, -1, "fast", 0, time.Millisecond, 0
	err := c.Validate()
	if err == nil {
		t.Fatal("invalid config validated")
	}
	for _, flagName := range []string{"-pool 0", "-queue -1", `-mode "fast"`, "-read-timeout 0s", "-max-work 1ms", "-accept-pause 0s"} {
		if !strings.Contains(err.Error(), flagName) {
			t.Errorf("error does not name %s:\n%v", flagName, err)
		}
	}
}

func TestFlagsOverrideDefaults(t *testing.T) {
	c := Default()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	c.RegisterFlags(fs)
	if err := fs.Parse([]string{"-pool", "7", "-mode", "inline", "-work", "2ms", "-log-level", "debug"}); err != nil {
		t.Fatal(err)
	}
	if c.Pool != 7 || c.Mode != ModeInline || c.Work != 2*time.Millisecond || c.LogLevel.String() != "DEBUG" {
		t.Fatalf("flags not applied: %+v", c)
	}
	if c.Queue != Default().Queue {
		t.Fatal("an unset flag changed its default")
	}
}
