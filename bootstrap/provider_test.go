package bootstrap

import (
	"os"
	"testing"
)

func TestResourceNamesTheProcess(t *testing.T) {
	res := newResource(Config{ServiceName: "svc", Environment: "test"})
	for _, kv := range res.Attributes() {
		if kv.Key == "process.pid" {
			if got := kv.Value.AsInt64(); got != int64(os.Getpid()) {
				t.Fatalf("process.pid = %d, want %d", got, os.Getpid())
			}
			return
		}
	}
	t.Fatalf("no process.pid in the resource: %v", res.Attributes())
}

func TestResourceServiceVersionFollowsTheConfiguration(t *testing.T) {
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "service.version=1.0,team=core")
	t.Setenv("OTEL_SERVICE_VERSION", "9.9.9")
	cfg, _ := LoadConfig(os.Getenv)
	res := newResource(cfg)
	got := map[string]string{}
	for _, kv := range res.Attributes() {
		got[string(kv.Key)] = kv.Value.Emit()
	}
	if got["service.version"] != cfg.ServiceVersion || cfg.ServiceVersion != "9.9.9" {
		t.Errorf("resource service.version %q, configuration %q: want both 9.9.9", got["service.version"], cfg.ServiceVersion)
	}
	if got["team"] != "core" {
		t.Errorf("resource attributes lost: %v", got)
	}
}
