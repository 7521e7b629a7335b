package config

import (
	"flag"
	"reflect"
	"runtime"
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
	c.Pool, c.Queue, c.Mode, c.ReadTimeout, c.MaxWork, c.AcceptPause = -1, -1, "fast", 0, time.Millisecond, 0
	err := c.Validate()
	if err == nil {
		t.Fatal("invalid config validated")
	}
	for _, flagName := range []string{"-pool -1", "-queue -1", `-mode "fast"`, "-read-timeout 0s", "-max-work 1ms", "-accept-pause 0s"} {
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

func TestResolvedFollowsGOMAXPROCS(t *testing.T) {
	procs := runtime.GOMAXPROCS(0)
	c := Default().Resolved()
	if c.Acceptors != procs || c.Pool != procs {
		t.Errorf("resolved acceptors %d, pool %d; want GOMAXPROCS %d", c.Acceptors, c.Pool, procs)
	}
	c.Acceptors, c.Pool = procs+3, procs+5
	if r := c.Resolved(); r.Acceptors != procs+3 || r.Pool != procs+5 {
		t.Errorf("Resolved changed explicit settings: acceptors %d, pool %d", r.Acceptors, r.Pool)
	}
}

// TestArgsRoundTrip changes every field of a Config, through reflection so
// that a field added later is covered too, and parses its Args back: a
// setting without a flag, or one whose flag does not read its own text,
// fails here.
func TestArgsRoundTrip(t *testing.T) {
	if args := Default().Args(); len(args) != 0 {
		t.Errorf("Default().Args() = %q, want none", args)
	}
	want := Default()
	v := reflect.ValueOf(&want).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.String:
			f.SetString(f.String() + "x y")
		case reflect.Int, reflect.Int64:
			f.SetInt(f.Int() + 3)
		case reflect.Float64:
			f.SetFloat(f.Float() + 42.125)
		default:
			t.Fatalf("field %s has kind %s: extend this test", v.Type().Field(i).Name, f.Kind())
		}
	}
	args := want.Args()
	if len(args) != v.NumField() {
		t.Errorf("Args gave %d flags for %d changed fields: %q", len(args), v.NumField(), args)
	}
	got := Default()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	got.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse %q: %v", args, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip of %q:\ngot  %+v\nwant %+v", args, got, want)
	}
}
