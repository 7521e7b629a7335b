package deploy

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"offload/config"
)

// k8sObject is what the test reads of each object in the manifest.
type k8sObject struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name   string            `yaml:"name"`
		Labels map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Spec struct {
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		ScaleTargetRef struct {
			Kind, Name string
		} `yaml:"scaleTargetRef"`
		Template struct {
			Metadata struct {
				Labels map[string]string `yaml:"labels"`
			} `yaml:"metadata"`
			Spec struct {
				TerminationGracePeriodSeconds int `yaml:"terminationGracePeriodSeconds"`
				Containers                    []struct {
					Args  []string `yaml:"args"`
					Ports []struct {
						Name          string `yaml:"name"`
						ContainerPort int    `yaml:"containerPort"`
					} `yaml:"ports"`
					LivenessProbe  probe `yaml:"livenessProbe"`
					ReadinessProbe probe `yaml:"readinessProbe"`
					Lifecycle      struct {
						PreStop struct {
							Sleep struct {
								Seconds int `yaml:"seconds"`
							} `yaml:"sleep"`
						} `yaml:"preStop"`
					} `yaml:"lifecycle"`
				} `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
	raw map[string]any
}

type probe struct {
	HTTPGet struct {
		Path string `yaml:"path"`
		Port string `yaml:"port"`
	} `yaml:"httpGet"`
}

func readManifest(t *testing.T) map[string]k8sObject {
	t.Helper()
	f, err := os.Open(filepath.Join("kubernetes", "offload.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	objects := map[string]k8sObject{}
	dec := yaml.NewDecoder(f)
	for {
		var node yaml.Node
		err := dec.Decode(&node)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("kubernetes/offload.yaml: %v", err)
		}
		var o k8sObject
		if err := node.Decode(&o); err != nil {
			t.Fatal(err)
		}
		if err := node.Decode(&o.raw); err != nil {
			t.Fatal(err)
		}
		if o.APIVersion == "" || o.Kind == "" || o.Metadata.Name == "" {
			t.Errorf("an object without apiVersion, kind or name: %+v", o.raw)
		}
		objects[o.Kind] = o
	}
	return objects
}

// TestKubernetesManifest checks what kubectl and a cluster would: the
// objects' shape, that they refer to each other, that the probes and the
// preStop pause fit the server's endpoints and drain, and that the
// container's arguments are flags the server accepts.
func TestKubernetesManifest(t *testing.T) {
	objects := readManifest(t)
	for kind, apiVersion := range map[string]string{
		"Deployment": "apps/v1", "Service": "v1", "PodDisruptionBudget": "policy/v1", "HorizontalPodAutoscaler": "autoscaling/v2",
	} {
		if o, ok := objects[kind]; !ok || o.APIVersion != apiVersion {
			t.Errorf("%s: %q, want apiVersion %s", kind, o.APIVersion, apiVersion)
		}
	}
	d := objects["Deployment"]
	pod := d.Spec.Template
	if !subset(d.Spec.Selector.MatchLabels, pod.Metadata.Labels) {
		t.Errorf("the Deployment's selector %v does not select its pods %v", d.Spec.Selector.MatchLabels, pod.Metadata.Labels)
	}
	svc := objects["Service"].raw["spec"].(map[string]any)["selector"].(map[string]any)
	for k, v := range svc {
		if pod.Metadata.Labels[k] != v {
			t.Errorf("the Service selects %s=%v, the pods have %q", k, v, pod.Metadata.Labels[k])
		}
	}
	if !subset(objects["PodDisruptionBudget"].Spec.Selector.MatchLabels, pod.Metadata.Labels) {
		t.Error("the PodDisruptionBudget does not select the pods")
	}
	if ref := objects["HorizontalPodAutoscaler"].Spec.ScaleTargetRef; ref.Kind != "Deployment" || ref.Name != d.Metadata.Name {
		t.Errorf("the autoscaler scales %s %s, not the Deployment", ref.Kind, ref.Name)
	}

	if len(pod.Spec.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Spec.Containers))
	}
	c := pod.Spec.Containers[0]
	if c.LivenessProbe.HTTPGet.Path != "/healthz" || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("probes: liveness %q, readiness %q; want /healthz and /readyz", c.LivenessProbe.HTTPGet.Path, c.ReadinessProbe.HTTPGet.Path)
	}

	// The arguments parse and validate as the server's own flags do.
	cfg := config.Default()
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg.RegisterFlags(fs)
	if err := fs.Parse(c.Args); err != nil || fs.NArg() > 0 {
		t.Fatalf("container args %q: %v, extra %q", c.Args, err, fs.Args())
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("container args %q: %v", c.Args, err)
	}
	ports := map[string]int{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	for name, addr := range map[string]string{"http": cfg.Addr, "metrics": cfg.MetricsAddr} {
		if _, port, _ := strings.Cut(addr, ":"); strconv.Itoa(ports[name]) != port {
			t.Errorf("container port %s is %d, the server listens on %q", name, ports[name], addr)
		}
	}
	for _, p := range []probe{c.LivenessProbe, c.ReadinessProbe} {
		if _, ok := ports[p.HTTPGet.Port]; !ok {
			t.Errorf("a probe uses port %q, which the container does not name", p.HTTPGet.Port)
		}
	}
	// The kubelet waits terminationGracePeriodSeconds for preStop and the
	// drain together before it sends SIGKILL.
	pause := time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
	grace := time.Duration(pod.Spec.TerminationGracePeriodSeconds) * time.Second
	if pause < 2*time.Second || grace < pause+cfg.ShutdownTimeout+2*time.Second {
		t.Errorf("preStop %v, -shutdown-timeout %v, grace period %v: want a pause, and the grace period longer than both",
			pause, cfg.ShutdownTimeout, grace)
	}
	if !slices.ContainsFunc(c.Args, func(a string) bool { return strings.HasPrefix(a, "-metrics-addr") }) {
		t.Error("the container does not set -metrics-addr")
	}
}

func subset(want, have map[string]string) bool {
	if len(want) == 0 {
		return false
	}
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}
