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
